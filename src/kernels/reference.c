/* Plain C reference kernels: the definition the SIMD kernels are tested against.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

float rvmi_activate(rvmi_act act, float x)
{
    switch (act) {
    case RVM_ACT_NONE:
        return x;
    case RVM_ACT_RELU:
        return x > 0.f ? x : 0.f;
    case RVM_ACT_HARDSWISH:
        return x * fminf(fmaxf(x + 3.f, 0.f), 6.f) / 6.f;
    case RVM_ACT_HARDSIGMOID:
        return fminf(fmaxf(x + 3.f, 0.f), 6.f) / 6.f;
    case RVM_ACT_SIGMOID:
        return 1.f / (1.f + expf(-x));
    case RVM_ACT_TANH:
        return tanhf(x);
    }
    return x;
}

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

size_t rvmi_pack_dense_bytes(int cout, int cin, int kh, int kw)
{
    size_t blocks = (size_t)round_up(cout, RVM_COUT_BLOCK) / RVM_COUT_BLOCK;
    return (blocks * kh * kw * cin * RVM_COUT_BLOCK * sizeof(float) + 63) / 64 * 64;
}

void rvmi_pack_dense_into(float *p, const float *oihw, int cout, int cin, int kh, int kw)
{
    int blocks = round_up(cout, RVM_COUT_BLOCK) / RVM_COUT_BLOCK, taps = kh * kw;
    size_t n = (size_t)blocks * taps * cin * RVM_COUT_BLOCK;
    memset(p, 0, n * sizeof(float));
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int t = 0; t < taps; t++) {
                size_t dst = (((size_t)(o / RVM_COUT_BLOCK) * taps + t) * cin + i) * RVM_COUT_BLOCK +
                             o % RVM_COUT_BLOCK;
                p[dst] = oihw[((size_t)o * cin + i) * taps + t];
            }
}

float *rvmi_pack_dense(const float *oihw, int cout, int cin, int kh, int kw)
{
    float *p = aligned_alloc(64, rvmi_pack_dense_bytes(cout, cin, kh, kw));
    if (p)
        rvmi_pack_dense_into(p, oihw, cout, cin, kh, kw);
    return p;
}

size_t rvmi_pack_depthwise_bytes(int c, int kh, int kw)
{
    return ((size_t)kh * kw * round_up(c, RVM_COUT_BLOCK) * sizeof(float) + 63) / 64 * 64;
}

void rvmi_pack_depthwise_into(float *p, const float *oihw, int c, int kh, int kw)
{
    int cpad = round_up(c, RVM_COUT_BLOCK), taps = kh * kw;
    memset(p, 0, (size_t)taps * cpad * sizeof(float));
    for (int k = 0; k < c; k++)
        for (int t = 0; t < taps; t++)
            p[(size_t)t * cpad + k] = oihw[(size_t)k * taps + t];
}

float *rvmi_pack_depthwise(const float *oihw, int c, int kh, int kw)
{
    float *p = aligned_alloc(64, rvmi_pack_depthwise_bytes(c, kh, kw));
    if (p)
        rvmi_pack_depthwise_into(p, oihw, c, kh, kw);
    return p;
}

size_t rvmi_pack_winograd_bytes(int cout, int cin)
{
    size_t blocks = (size_t)(cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
    return (36 * blocks * cin * RVM_COUT_BLOCK * sizeof(float) + 63) / 64 * 64;
}

void rvmi_pack_winograd_into(float *packed, const float *oihw, int cout, int cin)
{
    /* G for F(4x4, 3x3) with interpolation points 0, 1, -1, 2, -2 and infinity */
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    /* Each transformed tap p straight to its place in the 36 matrices packed as
     * rvmi_pack_dense packs a 1x1 convolution (blocks of output channels, zero-padded),
     * with no whole transformed copy of the weights and no pass per tap between. */
    int blocks = (cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
    size_t pack = (size_t)blocks * cin * RVM_COUT_BLOCK;
    memset(packed, 0, 36 * pack * sizeof(float));
    for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++) {
            const float *g = oihw + ((size_t)o * cin + c) * 9;
            double t[6][3];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
            float *to = packed + ((size_t)(o / RVM_COUT_BLOCK) * cin + c) * RVM_COUT_BLOCK +
                        o % RVM_COUT_BLOCK;
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                    to[(size_t)(i * 6 + j) * pack] =
                        (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
}

float *rvmi_pack_winograd(const float *oihw, int cout, int cin)
{
    float *p = aligned_alloc(64, rvmi_pack_winograd_bytes(cout, cin));
    if (p)
        rvmi_pack_winograd_into(p, oihw, cout, cin);
    return p;
}

static float weight_dense(const rvmi_conv *cv, int o, int t, int i)
{
    int taps = cv->kh * cv->kw;
    return cv->weight[(((size_t)(o / RVM_COUT_BLOCK) * taps + t) * cv->cin + i) * RVM_COUT_BLOCK +
                      o % RVM_COUT_BLOCK];
}

/* Input channel i of a concatenation: its view and the channel within it. */
static const rvmi_view *input_channel(const rvmi_inputs *in, int *i)
{
    int k = 0;
    while (k + 1 < in->n && *i >= in->v[k].c)
        *i -= in->v[k++].c;
    return &in->v[k];
}

static void ref_conv(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                     const rvmi_view *res, int y0, int y1)
{
    int padh = (cv->kh - 1) / 2 * cv->dilation, padw = (cv->kw - 1) / 2 * cv->dilation;
    int cpad = cv->depthwise ? rvmi_depthwise_wstride(cv) : round_up(cv->cout, RVM_COUT_BLOCK);
    const int ih = in->v[0].h, iw = in->v[0].w;
    for (int oy = y0; oy < y1; oy++)
        for (int ox = 0; ox < out->w; ox++)
            for (int o = 0; o < cv->cout; o++) {
                float acc = 0.f;
                for (int ky = 0; ky < cv->kh; ky++) {
                    int iy = oy * cv->stride - padh + ky * cv->dilation;
                    if (iy < 0 || iy >= ih)
                        continue;
                    for (int kx = 0; kx < cv->kw; kx++) {
                        int ix = ox * cv->stride - padw + kx * cv->dilation;
                        if (ix < 0 || ix >= iw)
                            continue;
                        int t = ky * cv->kw + kx;
                        for (int i = 0; i < (cv->depthwise ? 1 : cv->cin); i++) {
                            int ch = cv->depthwise ? o : i;
                            const rvmi_view *v = input_channel(in, &ch);
                            float x = v->data[((size_t)iy * iw + ix) * v->stride + ch];
                            acc += x * (cv->depthwise ? cv->weight[(size_t)t * cpad + o]
                                                      : weight_dense(cv, o, t, i));
                        }
                    }
                }
                acc += cv->bias[o];
                if (res)
                    acc += res->data[((size_t)oy * res->w + ox) * res->stride + o];
                out->data[((size_t)oy * out->w + ox) * out->stride + o] = rvmi_activate(cv->act, acc);
            }
}

static void ref_conv_dense(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                           const rvmi_view *res, int y0, int y1, const float *zeros)
{
    (void)zeros;
    ref_conv(cv, in, out, res, y0, y1);
}

static void ref_conv_depthwise(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                               const rvmi_view *res, int y0, int y1)
{
    rvmi_inputs one = rvmi_inputs_of(in);
    ref_conv(cv, &one, out, res, y0, y1);
}

static float clamp01(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }

static void store(const rvmi_blend_out *out, void *row, ptrdiff_t i, float v)
{
    if (out->type == RVM_PIXEL_U8)
        ((uint8_t *)row)[i] = (uint8_t)(v * 255.f + 0.5f);
    else if (out->type == RVM_PIXEL_U16)
        ((uint16_t *)row)[i] = (uint16_t)(v * 65535.f + 0.5f);
    else
        ((float *)row)[i] = v;
}

static void ref_blend_row(const float *h0, const float *h1, size_t plane, float l0, float l1,
                          const float *const rgb[3], int width, const rvmi_blend_out *out,
                          float *tmp)
{
    (void)tmp;
    for (int x = 0; x < width; x++) {
        float v[8];
        for (int c = 0; c < 8; c++)
            v[c] = l0 * h0[c * plane + x] + l1 * h1[c * plane + x];
        float in[3], o[4];
        for (int k = 0; k < 3; k++)
            in[k] = rgb[k][x];
        float grey = (in[0] + in[1] + in[2]) / 3.f;
        for (int k = 0; k < 3; k++)
            o[k] = clamp01((v[k] * in[k] + v[4 + k]) + in[k]);
        o[3] = clamp01(v[3] * grey + v[7]);
        if (out->pha)
            store(out, out->pha, x, o[3]);
        if (!out->fgr)
            continue;
        for (int k = 0; k < 3; k++) {
            if (out->layout == RVM_FGR_PLANAR)
                store(out, (char *)out->fgr + k * out->fgr_plane, x, o[k]);
            else if (out->layout == RVM_FGR_RGBA_PREMULTIPLIED)
                store(out, out->fgr, 4 * x + k, o[k] * o[3]);
            else
                store(out, out->fgr, 3 * x + k, o[k]);
        }
        if (out->layout == RVM_FGR_RGBA_PREMULTIPLIED)
            store(out, out->fgr, 4 * x + 3, o[3]);
    }
}

static void ref_blend_rgb24(const float *h0, const float *h1, size_t plane, float l0, float l1,
                            const uint8_t *rgb, int width, const rvmi_blend_out *out)
{
    for (int x = 0; x < width; x++) {
        float in[3];
        for (int k = 0; k < 3; k++)
            in[k] = (float)rgb[3 * x + k] / 255.f;
        const float *planes[3] = {&in[0], &in[1], &in[2]};
        rvmi_blend_out px = *out;
        px.pha = out->pha ? (uint8_t *)out->pha + x : NULL;
        px.fgr = out->fgr ? (uint8_t *)out->fgr + 3 * x : NULL;
        ref_blend_row(h0 + x, h1 + x, plane, l0, l1, planes, 1, &px, NULL);
    }
}

static void ref_float_range(const float *v, int n, rvmi_float_range *r)
{
    for (int x = 0; x < n; x++) {
        if (v[x] != v[x]) {
            r->nonfinite = 1;
            continue;
        }
        r->lo = v[x] < r->lo ? v[x] : r->lo;
        r->hi = v[x] > r->hi ? v[x] : r->hi;
    }
    r->nonfinite |= r->hi == INFINITY || r->lo == -INFINITY;
}

const rvmi_kernels rvmi_kernels_reference = {
    .name = "reference",
    .conv_dense = ref_conv_dense,
    .conv_depthwise = ref_conv_depthwise,
    .blend_row = ref_blend_row,
    .blend_rgb24 = ref_blend_rgb24,
    .float_range = ref_float_range,
    .conv_winograd = NULL, /* the reference computes every convolution directly */
    .loops = &rvmi_loops_reference,
    .frames = &rvmi_frames_reference,
};
