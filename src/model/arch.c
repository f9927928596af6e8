/* The official MattingNetwork (model/model.py and the modules it uses), convolution by
 * convolution; arch.h says what each entry holds.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/arch.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

#define SLOT(field) offsetof(struct rvm_model, field)
#define BLOCK_SLOT(array, type, i, field)                                                       \
    (offsetof(struct rvm_model, array) + (size_t)(i) * sizeof(type) + offsetof(type, field))

/* The names are the official ones, all shorter than the fields. */
static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    assert(n < cap);
    if (n >= cap) /* without asserts: cut, never overflow */
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Appends conv c named name (and bn, or "" for none). */
static void add(rvmi_arch *a, const char *name, const char *bn, rvmi_arch_conv c)
{
    assert(a->n < RVMI_ARCH_MAX_CONVS);
    rvmi_arch_conv *d = &a->conv[a->n++];
    *d = c;
    copy_name(d->name, sizeof d->name, name);
    copy_name(d->bn, sizeof d->bn, bn);
    if (!d->stride)
        d->stride = 1;
    if (!d->dilation)
        d->dilation = 1;
    if (!d->repeat)
        d->repeat = 1;
}

/* torchvision's Conv2dNormActivation: "<prefix>.0" is the conv, "<prefix>.1" its BatchNorm. */
static void add_conv_bn(rvmi_arch *a, const char *prefix, rvmi_arch_conv c)
{
    char conv[80], bn[80]; /* room for any 64-byte prefix */
    snprintf(conv, sizeof conv, "%s.0", prefix);
    snprintf(bn, sizeof bn, "%s.1", prefix);
    add(a, conv, bn, c);
}

/* torchvision's _make_divisible(v, 8): the nearest multiple of 8, not below 8 and not more
 * than 10% below v. */
static int make_divisible8(int v)
{
    int r = (v + 4) / 8 * 8;
    if (r < 8)
        r = 8;
    if (r * 10 < v * 9)
        r += 8;
    return r;
}

/* torchvision MobileNetV3-Large as RVM's MobileNetV3LargeEncoder configures it (the last
 * three blocks dilated instead of strided): input, kernel, expanded and output channels,
 * squeeze-excitation, hardswish (else ReLU), stride, dilation. */
static const struct {
    int in, k, expand, out;
    bool se, hardswish;
    int stride, dilation;
} mnv3_blocks[RVM_MNV3_BLOCKS] = {
    {16, 3, 16, 16, false, false, 1, 1},    {16, 3, 64, 24, false, false, 2, 1},
    {24, 3, 72, 24, false, false, 1, 1},    {24, 5, 72, 40, true, false, 2, 1},
    {40, 5, 120, 40, true, false, 1, 1},    {40, 5, 120, 40, true, false, 1, 1},
    {40, 3, 240, 80, false, true, 2, 1},    {80, 3, 200, 80, false, true, 1, 1},
    {80, 3, 184, 80, false, true, 1, 1},    {80, 3, 184, 80, false, true, 1, 1},
    {80, 3, 480, 112, true, true, 1, 1},    {112, 3, 672, 112, true, true, 1, 1},
    {112, 5, 672, 160, true, true, 1, 2},   {160, 5, 960, 160, true, true, 1, 2},
    {160, 5, 960, 160, true, true, 1, 2},
};

static void describe_mnv3(rvmi_arch *a)
{
    const double eps = 1e-3; /* torchvision MobileNetV3 BatchNorm */
    add_conv_bn(a, "backbone.features.0", (rvmi_arch_conv){.cout = 16, .cin = 3, .k = 3,
        .stride = 2, .act = RVM_ACT_HARDSWISH, .bn_eps = eps, .slot = SLOT(mnv3_stem)});
    for (int i = 0; i < RVM_MNV3_BLOCKS; i++) {
        int in = mnv3_blocks[i].in, ex = mnv3_blocks[i].expand, j = 0;
        rvmi_act act = mnv3_blocks[i].hardswish ? RVM_ACT_HARDSWISH : RVM_ACT_RELU;
        char p[64], fc[64];
#define MNV3_SLOT(field) BLOCK_SLOT(mnv3, rvmi_mnv3_block, i, field)
        if (ex != in) { /* torchvision omits the expansion when it would be the identity */
            snprintf(p, sizeof p, "backbone.features.%d.block.%d", i + 1, j++);
            add_conv_bn(a, p, (rvmi_arch_conv){.cout = ex, .cin = in, .k = 1, .act = act,
                .bn_eps = eps, .slot = MNV3_SLOT(expand)});
        }
        snprintf(p, sizeof p, "backbone.features.%d.block.%d", i + 1, j++);
        add_conv_bn(a, p, (rvmi_arch_conv){.cout = ex, .cin = ex, .k = mnv3_blocks[i].k,
            .stride = mnv3_blocks[i].stride, .dilation = mnv3_blocks[i].dilation,
            .depthwise = true, .act = act, .bn_eps = eps, .slot = MNV3_SLOT(depthwise)});
        if (mnv3_blocks[i].se) {
            int squeeze = make_divisible8(ex / 4);
            snprintf(fc, sizeof fc, "backbone.features.%d.block.%d.fc1", i + 1, j);
            add(a, fc, "", (rvmi_arch_conv){.cout = squeeze, .cin = ex, .k = 1, .bias = true,
                .act = RVM_ACT_RELU, .slot = MNV3_SLOT(se_reduce)});
            snprintf(fc, sizeof fc, "backbone.features.%d.block.%d.fc2", i + 1, j++);
            add(a, fc, "", (rvmi_arch_conv){.cout = ex, .cin = squeeze, .k = 1, .bias = true,
                .act = RVM_ACT_HARDSIGMOID, .slot = MNV3_SLOT(se_expand)});
        }
        snprintf(p, sizeof p, "backbone.features.%d.block.%d", i + 1, j);
        add_conv_bn(a, p, (rvmi_arch_conv){.cout = mnv3_blocks[i].out, .cin = ex, .k = 1,
            .act = RVM_ACT_NONE, .bn_eps = eps, .slot = MNV3_SLOT(project)});
#undef MNV3_SLOT
    }
    add_conv_bn(a, "backbone.features.16", (rvmi_arch_conv){.cout = 960, .cin = 160, .k = 1,
        .act = RVM_ACT_HARDSWISH, .bn_eps = eps, .slot = SLOT(mnv3_last)});
}

/* torchvision ResNet50 as RVM's ResNet50Encoder configures it: layer4 trades its stride for
 * dilation 2 (its first block keeps dilation 1). */
static void describe_r50(rvmi_arch *a)
{
    const double eps = 1e-5;
    static const int blocks[4] = {3, 4, 6, 3}, planes[4] = {64, 128, 256, 512};
    add(a, "backbone.conv1", "backbone.bn1", (rvmi_arch_conv){.cout = 64, .cin = 3, .k = 7,
        .stride = 2, .act = RVM_ACT_RELU, .bn_eps = eps, .slot = SLOT(r50_stem)});
    for (int l = 0, in = 64, idx = 0; l < 4; l++)
        for (int i = 0; i < blocks[l]; i++, idx++) {
            int p = planes[l], out = 4 * p;
            int stride = (i == 0 && (l == 1 || l == 2)) ? 2 : 1;
            int dilation = (l == 3 && i > 0) ? 2 : 1;
            char c[64], n[64];
#define NAME(buf, what) snprintf(buf, sizeof buf, "backbone.layer%d.%d.%s", l + 1, i, what)
#define R50_SLOT(field) BLOCK_SLOT(r50, rvmi_r50_block, idx, field)
            NAME(c, "conv1"), NAME(n, "bn1");
            add(a, c, n, (rvmi_arch_conv){.cout = p, .cin = in, .k = 1, .act = RVM_ACT_RELU,
                .bn_eps = eps, .slot = R50_SLOT(conv1)});
            NAME(c, "conv2"), NAME(n, "bn2");
            add(a, c, n, (rvmi_arch_conv){.cout = p, .cin = p, .k = 3, .stride = stride,
                .dilation = dilation, .act = RVM_ACT_RELU, .bn_eps = eps,
                .slot = R50_SLOT(conv2)});
            NAME(c, "conv3"), NAME(n, "bn3");
            add(a, c, n, (rvmi_arch_conv){.cout = out, .cin = p, .k = 1, .act = RVM_ACT_RELU,
                .bn_eps = eps, .slot = R50_SLOT(conv3)});
            if (i == 0) {
                NAME(c, "downsample.0"), NAME(n, "downsample.1");
                add(a, c, n, (rvmi_arch_conv){.cout = out, .cin = in, .k = 1, .stride = stride,
                    .act = RVM_ACT_NONE, .bn_eps = eps, .slot = R50_SLOT(downsample)});
            }
#undef R50_SLOT
#undef NAME
            in = out;
        }
}

/* LRASPP, RecurrentDecoder and the projections. feat: the encoder's f1..f4 channels (f4 after
 * LR-ASPP); dec: decode3..decode0's output channels (the official decoder_channels). */
static void describe_decoder(rvmi_arch *a, int backbone_out, const int feat[4],
                             const int dec[4])
{
    const double eps = 1e-5;
    add(a, "aspp.aspp1.0", "aspp.aspp1.1", (rvmi_arch_conv){.cout = feat[3],
        .cin = backbone_out, .k = 1, .act = RVM_ACT_RELU, .bn_eps = eps, .slot = SLOT(aspp_main)});
    /* the gate branch is pool -> conv (no bias) -> sigmoid */
    add(a, "aspp.aspp2.1", "", (rvmi_arch_conv){.cout = feat[3], .cin = backbone_out, .k = 1,
        .act = RVM_ACT_SIGMOID, .slot = SLOT(aspp_gate)});
    /* decode4 runs its ConvGRU on half of f4; decode3..1 upsample, concatenate [x, f, image]
     * (3 channels), convolve, then run theirs on half of the result */
    int x = feat[3];
    for (int d = 4; d >= 1; d--) {
        int k = d - 1; /* up_conv[k], gru[k] */
        char c[64], n[64];
        if (d < 4) {
            snprintf(c, sizeof c, "decoder.decode%d.conv.0", d);
            snprintf(n, sizeof n, "decoder.decode%d.conv.1", d);
            add(a, c, n, (rvmi_arch_conv){.cout = dec[3 - d], .cin = x + feat[k] + 3, .k = 3,
                .act = RVM_ACT_RELU, .bn_eps = eps, .slot = SLOT(up_conv[0]) +
                (size_t)k * sizeof(rvmi_conv)});
            x = dec[3 - d];
        }
        int ch = x / 2;
        size_t gru = SLOT(gru) + (size_t)k * sizeof(rvmi_gru);
        snprintf(c, sizeof c, "decoder.decode%d.gru.ih.0", d);
        add(a, c, "", (rvmi_arch_conv){.cout = 2 * ch, .cin = 2 * ch, .k = 3, .bias = true,
            .act = RVM_ACT_SIGMOID, .slot = gru + offsetof(rvmi_gru, ih)});
        snprintf(c, sizeof c, "decoder.decode%d.gru.hh.0", d);
        add(a, c, "", (rvmi_arch_conv){.cout = ch, .cin = 2 * ch, .k = 3, .bias = true,
            .act = RVM_ACT_TANH, .slot = gru + offsetof(rvmi_gru, hh)});
    }
    add(a, "decoder.decode0.conv.0", "decoder.decode0.conv.1", (rvmi_arch_conv){
        .cout = dec[3], .cin = x + 3, .k = 3, .act = RVM_ACT_RELU, .bn_eps = eps,
        .slot = SLOT(out_conv[0])});
    add(a, "decoder.decode0.conv.3", "decoder.decode0.conv.4", (rvmi_arch_conv){
        .cout = dec[3], .cin = dec[3], .k = 3, .act = RVM_ACT_RELU, .bn_eps = eps,
        .slot = SLOT(out_conv[1])});
    add(a, "project_mat.conv", "", (rvmi_arch_conv){.cout = 4, .cin = dec[3], .k = 1,
        .bias = true, .act = RVM_ACT_NONE, .slot = SLOT(project_mat)});
    add(a, "project_seg.conv", "", (rvmi_arch_conv){.cout = 1, .cin = dec[3], .k = 1,
        .bias = true, .act = RVM_ACT_NONE, .slot = SLOT(project_seg)});
}

/* DeepGuidedFilterRefiner(hid_channels=16): a box filter on [x, y, x*y, x*x] (4 channels
 * each, one trained 3x3 filter per channel of a group), then three 1x1 convolutions. */
static void describe_dgf(rvmi_arch *a)
{
    const double eps = 1e-5;
    add(a, "refiner.box_filter", "", (rvmi_arch_conv){.cout = 4, .cin = 4, .k = 3,
        .depthwise = true, .repeat = 4, .act = RVM_ACT_NONE, .refiner = true,
        .slot = SLOT(dgf_box)});
    add(a, "refiner.conv.0", "refiner.conv.1", (rvmi_arch_conv){.cout = 16, .cin = 24, .k = 1,
        .act = RVM_ACT_RELU, .bn_eps = eps, .refiner = true, .slot = SLOT(dgf_conv[0])});
    add(a, "refiner.conv.3", "refiner.conv.4", (rvmi_arch_conv){.cout = 16, .cin = 16, .k = 1,
        .act = RVM_ACT_RELU, .bn_eps = eps, .refiner = true, .slot = SLOT(dgf_conv[1])});
    add(a, "refiner.conv.6", "", (rvmi_arch_conv){.cout = 4, .cin = 16, .k = 1, .bias = true,
        .act = RVM_ACT_NONE, .refiner = true, .slot = SLOT(dgf_conv[2])});
}

void rvmi_arch_describe(rvmi_arch *a, rvm_variant variant, bool with_dgf)
{
    memset(a, 0, sizeof *a);
    if (variant == RVM_VARIANT_RESNET50) {
        static const int feat[4] = {64, 256, 512, 256}, dec[4] = {128, 64, 32, 16};
        describe_r50(a);
        describe_decoder(a, 2048, feat, dec);
    } else {
        static const int feat[4] = {16, 24, 40, 128}, dec[4] = {80, 40, 32, 16};
        describe_mnv3(a);
        describe_decoder(a, 960, feat, dec);
    }
    if (with_dgf)
        describe_dgf(a);
}
