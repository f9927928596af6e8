/* Builds the network from a checkpoint's tensors: detects the variant and refiner, checks
 * every shape, folds BatchNorm into the convolutions and packs weights for the kernels.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE /* dladdr */
#include "model/model.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/library.h"
#include "model/weights.h"

typedef struct {
    const rvmi_weights *w;
    unsigned char *used; /* which tensors the network consumed, to reject unknown ones */
    char *err;
    size_t errlen;
    int status;
} builder;

static int fail(builder *b, int status, const char *fmt, ...)
{
    if (b->status == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err, b->errlen, fmt, ap);
        va_end(ap);
        /* Tensor names come from the checkpoint and may hold any byte but NUL: keep the
         * message one line, without control characters (a terminal acts on escapes). */
        for (char *p = b->errlen ? b->err : NULL; p && *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        b->status = status;
    }
    return status;
}

static const rvmi_tensor *get(builder *b, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const rvmi_tensor *t = rvmi_weights_find(b->w, name);
    if (!t) {
        fail(b, RVM_EFORMAT, "checkpoint has no tensor '%s'", name);
        return NULL;
    }
    b->used[t - b->w->tensors] = 1;
    return t;
}

static int has(builder *b, const char *name) { return rvmi_weights_find(b->w, name) != NULL; }

static int check_shape(builder *b, const rvmi_tensor *t, int ndim, const int64_t *shape)
{
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[80] = "", got[80] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "x" : "",
                     (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "x" : "",
                     (long long)t->shape[i]);
        return fail(b, RVM_EFORMAT, "tensor '%s' has shape %s, expected %s", t->name,
                    t->ndim ? got : "scalar", want);
    }
    return 0;
}

/* Loads conv "<conv>.weight" (and "<conv>.bias" if has_bias), folds BatchNorm "<bn>.*" into it
 * when bn is not NULL, and packs it. */
static void load_conv(builder *b, rvmi_conv *cv, const char *conv, const char *bn, double eps,
                      int cout, int cin, int k, int stride, int dilation, int depthwise,
                      int has_bias, rvmi_act act)
{
    if (b->status)
        return;
    memset(cv, 0, sizeof(*cv));
    cv->cin = cin;
    cv->cout = cout;
    cv->kh = cv->kw = k;
    cv->stride = stride;
    cv->dilation = dilation;
    cv->depthwise = depthwise;
    cv->act = act;
    const rvmi_tensor *w = get(b, "%s.weight", conv);
    if (!w || check_shape(b, w, 4, (int64_t[]){cout, depthwise ? 1 : cin, k, k}))
        return;
    const rvmi_tensor *bias = NULL, *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    if (has_bias && (!(bias = get(b, "%s.bias", conv)) ||
                     check_shape(b, bias, 1, (int64_t[]){cout})))
        return;
    if (bn) {
        g = get(b, "%s.weight", bn);
        beta = get(b, "%s.bias", bn);
        mean = get(b, "%s.running_mean", bn);
        var = get(b, "%s.running_var", bn);
        char nbt[160];
        snprintf(nbt, sizeof nbt, "%s.num_batches_tracked", bn);
        const rvmi_tensor *t = rvmi_weights_find(b->w, nbt);
        if (t) /* training bookkeeping, not used at inference */
            b->used[t - b->w->tensors] = 1;
        if (b->status)
            return;
        const rvmi_tensor *all[] = {g, beta, mean, var};
        for (int i = 0; i < 4; i++)
            if (check_shape(b, all[i], 1, (int64_t[]){cout}))
                return;
    }
    size_t per_out = (size_t)(depthwise ? 1 : cin) * k * k;
    float *scaled = malloc((size_t)cout * per_out * sizeof(float));
    int cpad = (cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
    cv->bias = aligned_alloc(64, (size_t)cpad * sizeof(float));
    if (!scaled || !cv->bias) {
        free(scaled);
        fail(b, RVM_ENOMEM, "out of memory packing '%s'", conv);
        return;
    }
    memset(cv->bias, 0, (size_t)cpad * sizeof(float));
    for (int o = 0; o < cout; o++) {
        /* y = (conv(x) + bias - mean) * g / sqrt(var + eps) + beta */
        double s = 1.0, shift = bias ? bias->data[o] : 0.0;
        if (bn) {
            double v = var->data[o] + eps;
            if (!(v > 0))
                v = eps; /* a negative variance is corrupt data; keep the numbers finite */
            s = g->data[o] / sqrt(v);
            shift = (shift - mean->data[o]) * s + beta->data[o];
        }
        for (size_t i = 0; i < per_out; i++)
            scaled[o * per_out + i] = (float)(w->data[o * per_out + i] * s);
        cv->bias[o] = (float)shift;
    }
    cv->weight = depthwise ? rvmi_pack_depthwise(scaled, cout, k, k)
                           : rvmi_pack_dense(scaled, cout, cin, k, k);
    int winograd = !depthwise && k == 3 && stride == 1 && dilation == 1;
    if (winograd)
        cv->winograd = rvmi_pack_winograd(scaled, cout, cin);
    free(scaled);
    if (!cv->weight || (winograd && !cv->winograd))
        fail(b, RVM_ENOMEM, "out of memory packing '%s'", conv);
}

static void conv_release(rvmi_conv *cv)
{
    free(cv->weight);
    free(cv->bias);
    free(cv->winograd);
    cv->weight = cv->bias = cv->winograd = NULL;
}

/* torchvision MobileNetV3-Large as RVM configures it (blocks 13-15 dilated). */
static const struct {
    int in, k, expand, out, se, hardswish, stride, dilation;
} mnv3_config[RVM_MNV3_BLOCKS] = {
    {16, 3, 16, 16, 0, 0, 1, 1},     {16, 3, 64, 24, 0, 0, 2, 1},
    {24, 3, 72, 24, 0, 0, 1, 1},     {24, 5, 72, 40, 1, 0, 2, 1},
    {40, 5, 120, 40, 1, 0, 1, 1},    {40, 5, 120, 40, 1, 0, 1, 1},
    {40, 3, 240, 80, 0, 1, 2, 1},    {80, 3, 200, 80, 0, 1, 1, 1},
    {80, 3, 184, 80, 0, 1, 1, 1},    {80, 3, 184, 80, 0, 1, 1, 1},
    {80, 3, 480, 112, 1, 1, 1, 1},   {112, 3, 672, 112, 1, 1, 1, 1},
    {112, 5, 672, 160, 1, 1, 1, 2},  {160, 5, 960, 160, 1, 1, 1, 2},
    {160, 5, 960, 160, 1, 1, 1, 2},
};

static int make_divisible8(int v)
{
    int n = (v + 4) / 8 * 8;
    if (n < 8)
        n = 8;
    if (n < 0.9 * v)
        n += 8;
    return n;
}

static void build_mnv3(builder *b, struct rvm_model *m)
{
    const double eps = 1e-3; /* torchvision MobileNetV3 BatchNorm */
    load_conv(b, &m->mnv3_stem, "backbone.features.0.0", "backbone.features.0.1", eps, 16, 3, 3,
              2, 1, 0, 0, RVM_ACT_HARDSWISH);
    for (int i = 0; i < RVM_MNV3_BLOCKS; i++) {
        rvmi_mnv3_block *blk = &m->mnv3[i];
        int in = mnv3_config[i].in, k = mnv3_config[i].k, ex = mnv3_config[i].expand;
        int out = mnv3_config[i].out, dil = mnv3_config[i].dilation;
        int stride = dil > 1 ? 1 : mnv3_config[i].stride;
        rvmi_act act = mnv3_config[i].hardswish ? RVM_ACT_HARDSWISH : RVM_ACT_RELU;
        char c[96], n[96];
        int j = 0;
        blk->has_expand = ex != in;
        blk->has_se = mnv3_config[i].se;
        blk->residual = stride == 1 && in == out;
        if (blk->has_expand) {
            snprintf(c, sizeof c, "backbone.features.%d.block.%d.0", i + 1, j);
            snprintf(n, sizeof n, "backbone.features.%d.block.%d.1", i + 1, j++);
            load_conv(b, &blk->expand, c, n, eps, ex, in, 1, 1, 1, 0, 0, act);
        }
        snprintf(c, sizeof c, "backbone.features.%d.block.%d.0", i + 1, j);
        snprintf(n, sizeof n, "backbone.features.%d.block.%d.1", i + 1, j++);
        load_conv(b, &blk->depthwise, c, n, eps, ex, ex, k, stride, dil, 1, 0, act);
        if (blk->has_se) {
            int sq = make_divisible8(ex / 4);
            snprintf(c, sizeof c, "backbone.features.%d.block.%d.fc1", i + 1, j);
            load_conv(b, &blk->se_reduce, c, NULL, 0, sq, ex, 1, 1, 1, 0, 1, RVM_ACT_RELU);
            snprintf(c, sizeof c, "backbone.features.%d.block.%d.fc2", i + 1, j++);
            load_conv(b, &blk->se_expand, c, NULL, 0, ex, sq, 1, 1, 1, 0, 1, RVM_ACT_HARDSIGMOID);
        }
        snprintf(c, sizeof c, "backbone.features.%d.block.%d.0", i + 1, j);
        snprintf(n, sizeof n, "backbone.features.%d.block.%d.1", i + 1, j);
        load_conv(b, &blk->project, c, n, eps, out, ex, 1, 1, 1, 0, 0, RVM_ACT_NONE);
    }
    load_conv(b, &m->mnv3_last, "backbone.features.16.0", "backbone.features.16.1", eps, 960, 160,
              1, 1, 1, 0, 0, RVM_ACT_HARDSWISH);
}

static void build_r50(builder *b, struct rvm_model *m)
{
    const double eps = 1e-5;
    static const int blocks[4] = {3, 4, 6, 3}, planes[4] = {64, 128, 256, 512};
    load_conv(b, &m->r50_stem, "backbone.conv1", "backbone.bn1", eps, 64, 3, 7, 2, 1, 0, 0,
              RVM_ACT_RELU);
    int in = 64, idx = 0;
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < blocks[l]; i++) {
            rvmi_r50_block *blk = &m->r50[idx++];
            int p = planes[l], out = p * 4;
            /* layer4 trades its stride for dilation 2; its first block keeps dilation 1. */
            int stride = (i == 0 && (l == 1 || l == 2)) ? 2 : 1;
            int dil = (l == 3 && i > 0) ? 2 : 1;
            char c[96], n[96];
#define NAME(buf, what) snprintf(buf, sizeof buf, "backbone.layer%d.%d.%s", l + 1, i, what)
            NAME(c, "conv1"), NAME(n, "bn1");
            load_conv(b, &blk->conv1, c, n, eps, p, in, 1, 1, 1, 0, 0, RVM_ACT_RELU);
            NAME(c, "conv2"), NAME(n, "bn2");
            load_conv(b, &blk->conv2, c, n, eps, p, p, 3, stride, dil, 0, 0, RVM_ACT_RELU);
            NAME(c, "conv3"), NAME(n, "bn3");
            /* ReLU comes after the residual add */
            load_conv(b, &blk->conv3, c, n, eps, out, p, 1, 1, 1, 0, 0, RVM_ACT_RELU);
            blk->has_downsample = i == 0;
            if (i == 0) {
                NAME(c, "downsample.0"), NAME(n, "downsample.1");
                load_conv(b, &blk->downsample, c, n, eps, out, in, 1, stride, 1, 0, 0, RVM_ACT_NONE);
            }
#undef NAME
            in = out;
        }
}

static void build_decoder(builder *b, struct rvm_model *m, int backbone_out)
{
    const double eps = 1e-5;
    const int *f = m->feat_ch, *d = m->dec_ch;
    load_conv(b, &m->aspp_main, "aspp.aspp1.0", "aspp.aspp1.1", eps, f[3], backbone_out, 1, 1, 1,
              0, 0, RVM_ACT_RELU);
    load_conv(b, &m->aspp_gate, "aspp.aspp2.1", NULL, 0, f[3], backbone_out, 1, 1, 1, 0, 0,
              RVM_ACT_SIGMOID);
    /* decode4 runs its GRU on half of f4; decode3..1 upsample, concatenate [x, f, s], conv */
    int prev = f[3];
    for (int k = 3; k >= 0; k--) {
        char c[96], n[96];
        if (k < 3) {
            snprintf(c, sizeof c, "decoder.decode%d.conv.0", k + 1);
            snprintf(n, sizeof n, "decoder.decode%d.conv.1", k + 1);
            load_conv(b, &m->up_conv[k], c, n, eps, d[k], prev + f[k] + 3, 3, 1, 1, 0, 0,
                      RVM_ACT_RELU);
        }
        int ch = d[k] / 2;
        m->gru[k].channels = ch;
        snprintf(c, sizeof c, "decoder.decode%d.gru.ih.0", k + 1);
        load_conv(b, &m->gru[k].ih, c, NULL, 0, 2 * ch, 2 * ch, 3, 1, 1, 0, 1, RVM_ACT_SIGMOID);
        snprintf(c, sizeof c, "decoder.decode%d.gru.hh.0", k + 1);
        load_conv(b, &m->gru[k].hh, c, NULL, 0, ch, 2 * ch, 3, 1, 1, 0, 1, RVM_ACT_TANH);
        prev = d[k];
    }
    load_conv(b, &m->out_conv[0], "decoder.decode0.conv.0", "decoder.decode0.conv.1", eps, 16,
              d[0] + 3, 3, 1, 1, 0, 0, RVM_ACT_RELU);
    load_conv(b, &m->out_conv[1], "decoder.decode0.conv.3", "decoder.decode0.conv.4", eps, 16, 16,
              3, 1, 1, 0, 0, RVM_ACT_RELU);
    load_conv(b, &m->project_mat, "project_mat.conv", NULL, 0, 4, 16, 1, 1, 1, 0, 1, RVM_ACT_NONE);
    load_conv(b, &m->project_seg, "project_seg.conv", NULL, 0, 1, 16, 1, 1, 1, 0, 1, RVM_ACT_NONE);
}

static void build_dgf(builder *b, struct rvm_model *m, int use)
{
    const double eps = 1e-5;
    const rvmi_tensor *box = get(b, "refiner.box_filter.weight");
    if (!box || check_shape(b, box, 4, (int64_t[]){4, 1, 3, 3}))
        return;
    rvmi_conv dummy[3];
    rvmi_conv *conv = use ? m->dgf_conv : dummy;
    load_conv(b, &conv[0], "refiner.conv.0", "refiner.conv.1", eps, 16, 24, 1, 1, 1, 0, 0, RVM_ACT_RELU);
    load_conv(b, &conv[1], "refiner.conv.3", "refiner.conv.4", eps, 16, 16, 1, 1, 1, 0, 0, RVM_ACT_RELU);
    load_conv(b, &conv[2], "refiner.conv.6", NULL, 0, 4, 16, 1, 1, 1, 0, 1, RVM_ACT_NONE);
    if (!use) {
        for (int i = 0; i < 3; i++)
            conv_release(&dummy[i]);
        return;
    }
    if (b->status)
        return;
    /* One 16-channel depthwise pass filters [x, y, x*y, x*x]: channel j uses filter j % 4. */
    float w16[16 * 9];
    for (int j = 0; j < 16; j++)
        memcpy(w16 + j * 9, box->data + (j % 4) * 9, 9 * sizeof(float));
    rvmi_conv *cv = &m->dgf_box;
    *cv = (rvmi_conv){.cin = 16, .cout = 16, .kh = 3, .kw = 3, .stride = 1, .dilation = 1,
                     .depthwise = 1, .act = RVM_ACT_NONE};
    cv->weight = rvmi_pack_depthwise(w16, 16, 3, 3);
    cv->bias = aligned_alloc(64, 16 * sizeof(float));
    if (!cv->weight || !cv->bias) {
        fail(b, RVM_ENOMEM, "out of memory packing the refiner");
        return;
    }
    memset(cv->bias, 0, 16 * sizeof(float));
}

int rvmi_model_build(struct rvm_model *m, const void *weights, rvm_variant want_variant,
                    rvm_refiner want_refiner, char *err, size_t errlen)
{
    const rvmi_weights *w = weights;
    builder b = {.w = w, .err = err, .errlen = errlen};
    memset(m, 0, sizeof(*m));
    b.used = calloc((size_t)w->count + 1, 1);
    if (!b.used)
        return fail(&b, RVM_ENOMEM, "out of memory");

    if (has(&b, "backbone.features.0.0.weight"))
        m->variant = RVM_VARIANT_MOBILENETV3;
    else if (has(&b, "backbone.conv1.weight"))
        m->variant = RVM_VARIANT_RESNET50;
    else {
        fail(&b, RVM_EFORMAT, "not an RVM checkpoint: no MobileNetV3 or ResNet50 backbone tensors");
        goto done;
    }
    if (want_variant != RVM_VARIANT_AUTO && want_variant != m->variant) {
        fail(&b, RVM_EMISMATCH, "checkpoint holds the %s variant, not %s",
             m->variant == RVM_VARIANT_MOBILENETV3 ? "mobilenetv3" : "resnet50",
             want_variant == RVM_VARIANT_MOBILENETV3 ? "mobilenetv3" : "resnet50");
        goto done;
    }
    m->has_dgf_weights = has(&b, "refiner.box_filter.weight");
    if (want_refiner == RVM_REFINER_DEEP_GUIDED_FILTER && !m->has_dgf_weights) {
        fail(&b, RVM_EMISMATCH,
             "checkpoint has no deep guided filter weights (it uses the fast guided filter)");
        goto done;
    }
    m->refiner = want_refiner == RVM_REFINER_AUTO
                     ? (m->has_dgf_weights ? RVM_REFINER_DEEP_GUIDED_FILTER
                                           : RVM_REFINER_FAST_GUIDED_FILTER)
                     : want_refiner;

    int backbone_out;
    if (m->variant == RVM_VARIANT_MOBILENETV3) {
        static const int f[4] = {16, 24, 40, 128}, d[4] = {32, 40, 80, 128};
        memcpy(m->feat_ch, f, sizeof f);
        memcpy(m->dec_ch, d, sizeof d);
        backbone_out = 960;
        build_mnv3(&b, m);
    } else {
        static const int f[4] = {64, 256, 512, 256}, d[4] = {32, 64, 128, 256};
        memcpy(m->feat_ch, f, sizeof f);
        memcpy(m->dec_ch, d, sizeof d);
        backbone_out = 2048;
        build_r50(&b, m);
    }
    build_decoder(&b, m, backbone_out);
    if (m->has_dgf_weights)
        build_dgf(&b, m, m->refiner == RVM_REFINER_DEEP_GUIDED_FILTER);
    if (b.status)
        goto done;
    for (int i = 0; i < w->count; i++)
        if (!b.used[i]) {
            fail(&b, RVM_EFORMAT, "checkpoint has an unexpected tensor '%s'", w->tensors[i].name);
            break;
        }
done:
    free(b.used);
    if (b.status)
        rvmi_model_release(m);
    return b.status;
}

void rvmi_model_release(struct rvm_model *m)
{
    conv_release(&m->mnv3_stem);
    conv_release(&m->mnv3_last);
    for (int i = 0; i < RVM_MNV3_BLOCKS; i++) {
        rvmi_mnv3_block *b = &m->mnv3[i];
        conv_release(&b->expand);
        conv_release(&b->depthwise);
        conv_release(&b->se_reduce);
        conv_release(&b->se_expand);
        conv_release(&b->project);
    }
    conv_release(&m->r50_stem);
    for (int i = 0; i < RVM_R50_BLOCKS; i++) {
        conv_release(&m->r50[i].conv1);
        conv_release(&m->r50[i].conv2);
        conv_release(&m->r50[i].conv3);
        conv_release(&m->r50[i].downsample);
    }
    conv_release(&m->aspp_main);
    conv_release(&m->aspp_gate);
    for (int k = 0; k < 4; k++) {
        conv_release(&m->gru[k].ih);
        conv_release(&m->gru[k].hh);
    }
    for (int k = 0; k < 3; k++)
        conv_release(&m->up_conv[k]);
    conv_release(&m->out_conv[0]);
    conv_release(&m->out_conv[1]);
    conv_release(&m->project_mat);
    conv_release(&m->project_seg);
    conv_release(&m->dgf_box);
    for (int k = 0; k < 3; k++)
        conv_release(&m->dgf_conv[k]);
}

/* ---- public model API ---- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The installed layout: <prefix>/lib[/<arch>]/librvm.so and <prefix>/share/rvm/models. The
 * library looks beside itself first, so an installation moved to another prefix (or a
 * temporary one, as the install test makes) still finds its model. */
static char installed_model[PATH_MAX];

static void find_model_beside_library(void)
{
    Dl_info info;
    if (!dladdr((void *)rvm_default_model_path, &info) || !info.dli_fname)
        return;
    char lib[PATH_MAX];
    if (!realpath(info.dli_fname, lib))
        return;
    char *slash = strrchr(lib, '/');
    if (!slash)
        return;
    *slash = 0; /* the library's folder */
    static const char *const up[] = {"/..", "/../.."}; /* lib/ or lib/<arch>/ */
    for (int i = 0; i < 2; i++) {
        char dir[PATH_MAX];
        int n = snprintf(dir, sizeof dir, "%s%s/share/rvm/models/rvm_mobilenetv3_tfjs_int8", lib,
                         up[i]);
        if (n > 0 && (size_t)n < sizeof dir && is_dir(dir) && realpath(dir, installed_model))
            return;
    }
    installed_model[0] = 0;
}

static const char *model_beside_library(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_model_beside_library);
    return installed_model[0] ? installed_model : NULL;
}

const char *rvm_default_model_path(void)
{
    const char *env = getenv("RVM_MODEL_DIR");
    if (env && is_dir(env))
        return env;
    const char *beside = model_beside_library();
    if (beside)
        return beside;
    if (is_dir(RVM_MODEL_INSTALL_DIR))
        return RVM_MODEL_INSTALL_DIR;
    if (is_dir(RVM_MODEL_SOURCE_DIR))
        return RVM_MODEL_SOURCE_DIR;
    return NULL;
}

static const char *variant_name(rvm_variant v)
{
    return v == RVM_VARIANT_RESNET50 ? "resnet50" : "mobilenetv3";
}

static const char *refiner_name(rvm_refiner r)
{
    return r == RVM_REFINER_DEEP_GUIDED_FILTER ? "deep guided filter" : "fast guided filter";
}

rvm_model *rvm_model_load(const char *path, rvm_variant variant, rvm_refiner refiner,
                          int *status, char *err, size_t errlen)
{
    char dummy[8];
    int ignored;
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!status)
        status = &ignored;
    err[0] = 0;
    *status = RVM_OK;
    if (!path && !(path = rvm_default_model_path())) {
        snprintf(err, errlen, "the shipped model was not found (set RVM_MODEL_DIR)");
        *status = RVM_EIO;
        return NULL;
    }
    int tfjs = is_dir(path) || ends_with(path, ".json");
    rvmi_weights w = {0};
    int st = tfjs ? rvmi_tfjs_load(path, &w, err, errlen) : rvmi_pth_load(path, &w, err, errlen);
    if (st) {
        *status = st;
        return NULL;
    }
    rvm_model *m = malloc(sizeof(*m));
    if (!m) {
        rvmi_weights_free(&w);
        snprintf(err, errlen, "out of memory");
        *status = RVM_ENOMEM;
        return NULL;
    }
    char msg[256];
    st = rvmi_model_build(m, &w, variant, refiner, msg, sizeof msg);
    rvmi_weights_free(&w);
    if (st) {
        snprintf(err, errlen, "%s: %s", path, msg);
        free(m);
        *status = st;
        return NULL;
    }
    rvmi_log(RVM_LOG_INFO, "model: %s with the %s, from %s (%s)", variant_name(m->variant),
             refiner_name(m->refiner), path, tfjs ? "TF.js" : "PyTorch checkpoint");
    return m;
}

void rvm_model_free(rvm_model *m)
{
    if (!m)
        return;
    rvmi_model_release(m);
    free(m);
}

rvm_variant rvm_model_variant(const rvm_model *m) { return m->variant; }
rvm_refiner rvm_model_refiner(const rvm_model *m) { return m->refiner; }
