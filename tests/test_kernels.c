/* Every kernel of every set (kernels.h, int8.h) against the plain C reference, in the manner
 * of FFmpeg's checkasm: the model's real shapes at 1920x1080, ratio 0.25 (Winograd rows wider
 * than its chunk of tiles, depthwise convolutions past 256 channels), random shapes and edge
 * shapes (one pixel, odd widths that leave vector tails, channel counts off the vector width,
 * strided views, rows split across calls as threads split them), NaN-aware comparisons with
 * a tolerance stated per kernel. Sets this CPU cannot run are reported as skipped.
 *
 * usage: test_kernels [--bench] [NAME]
 *   NAME    only the kernels whose name contains NAME (conv_dense, conv_depthwise,
 *           conv_winograd, blend_row, blend_rgb24, float_range, int8, resize, avgpool, input, channels, refiner, dgf,
 *           upsample_row, pixels, frames)
 *   --bench after the checks, ns per call of each kernel on its real shape, for the
 *           reference and every set this CPU runs
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kernels/int8.h"
#include "kernels/kernels.h"

static unsigned long long rng = 88172645463325252ull;
static unsigned next_u32(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng >> 16);
}
static int rand_int(int lo, int hi) { return lo + (int)(next_u32() % (unsigned)(hi - lo + 1)); }
static float rand_float(void) { return (float)(next_u32() % 20001) / 10000.f - 1.f; }

static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = rand_float();
}

static int passed, failed, skipped;

/* --bench: BENCH(name, call) times a kernel call (after the checks, as some work in place)
 * and records ns per call under name for the set being run: the fastest of 5 batches of about
 * 4 ms each (the machine may be shared; the minimum is the least disturbed). */
static int bench_mode;
static struct {
    const char *name;
    double ns;
} timings[32];
static int n_timings;
static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}
#define BENCH(kernel, call)                                                                     \
    do {                                                                                        \
        if (!bench_mode || n_timings == 32)                                                     \
            break;                                                                              \
        call; /* warm */                                                                        \
        double t0 = now_ns();                                                                   \
        call;                                                                                   \
        double one = now_ns() - t0, best = INFINITY;                                            \
        int reps = one > 0 ? (int)(4e6 / one) : 20; /* 1..20 calls a batch */                   \
        reps = reps < 1 ? 1 : reps > 20 ? 20 : reps;                                            \
        for (int batch = 0; batch < 5; batch++) {                                               \
            t0 = now_ns();                                                                      \
            for (int rep = 0; rep < reps; rep++)                                                \
                call;                                                                           \
            double ns = (now_ns() - t0) / reps;                                                 \
            best = ns < best ? ns : best;                                                       \
        }                                                                                       \
        timings[n_timings].name = kernel;                                                       \
        timings[n_timings++].ns = best;                                                         \
    } while (0)

/* A convolution case. rows > 0: only output rows (tile rows, for Winograd) [0, rows) and the
 * last `rows` are computed (the model's real shapes, at a test's cost). */
typedef struct {
    int depthwise, winograd, k, cin, cout, stride, dilation, h, w, extra, act, res, rows;
} conv_params;

/* > 0 (concat_shapes): the next run_conv's input is views of split[0], split[1] (if > 0) and
 * the rest of the channels, as the decoder concatenates them; else a dense convolution's
 * input is split at random. */
static int split[2];

static conv_params random_conv(int depthwise, int winograd)
{
    static const int ks[] = {1, 3, 5, 7};
    conv_params p = {.depthwise = depthwise, .winograd = winograd};
    p.k = depthwise ? ks[rand_int(1, 2)] : winograd ? 3 : ks[rand_int(0, 3)];
    p.cin = depthwise ? rand_int(1, 70) : rand_int(1, 90);
    p.cout = depthwise ? p.cin : rand_int(1, 70);
    p.stride = rand_int(1, 2), p.dilation = p.k > 1 ? rand_int(1, 2) : 1;
    if (p.stride == 2)
        p.dilation = 1;
    if (winograd)
        p.stride = p.dilation = 1;
    p.h = rand_int(1, 23), p.w = rand_int(1, 37), p.extra = rand_int(0, 5);
    p.act = rand_int(0, 5), p.res = rand_int(0, 1);
    return p;
}

/* The model's convolutions at 1920x1080, ratio 0.25 (MobileNetV3 input 480x270), then edge
 * shapes. {depthwise, winograd, k, cin, cout, stride, dilation, h, w, extra, act, res, rows} */
static const conv_params conv_shapes[] = {
    {0, 0, 3, 3, 16, 2, 1, 270, 480, 0, RVM_ACT_HARDSWISH, 0, 2},    /* stem */
    {0, 0, 3, 3, 16, 2, 1, 37, 61, 0, RVM_ACT_HARDSWISH, 0, 0},      /* stem: odd sides */
    {0, 0, 3, 3, 5, 2, 1, 8, 100, 0, RVM_ACT_RELU, 1, 0},            /* stem: 5 outputs */
    {0, 0, 3, 3, 16, 2, 1, 3, 2, 0, RVM_ACT_NONE, 1, 0},             /* stem: 1 pixel wide */
    {0, 0, 1, 16, 64, 1, 1, 135, 240, 0, RVM_ACT_RELU, 0, 2},        /* block 1 expand */
    {0, 0, 1, 960, 128, 1, 1, 17, 30, 0, RVM_ACT_RELU, 0, 2},        /* LR-ASPP */
    {0, 0, 1, 40, 120, 1, 1, 34, 60, 0, RVM_ACT_NONE, 1, 2},         /* residual 1x1 */
    {0, 0, 1, 16, 4, 1, 1, 270, 480, 0, RVM_ACT_NONE, 0, 2},         /* project_mat: 4 outputs */
    {0, 0, 1, 23, 4, 1, 1, 3, 29, 2, RVM_ACT_HARDSWISH, 1, 0},       /* 4 outputs, strided, tails */
    {0, 0, 1, 70, 4, 1, 1, 2, 20, 0, RVM_ACT_SIGMOID, 0, 0},         /* 4 outputs, > 64 inputs */
    {0, 0, 1, 240, 960, 1, 1, 1, 1, 0, RVM_ACT_HARDSIGMOID, 0, 0},   /* squeeze-excite: 1 pixel */
    {0, 0, 1, 37, 200, 1, 1, 1, 14, 3, RVM_ACT_RELU, 1, 0},          /* a block + 2 pixels alone */
    {0, 0, 1, 160, 40, 1, 1, 17, 30, 0, RVM_ACT_HARDSWISH, 1, 0},    /* 30x17: 6 pixels left */
    {1, 0, 3, 16, 16, 1, 1, 135, 240, 0, RVM_ACT_RELU, 0, 2},        /* block 0 */
    {1, 0, 3, 64, 64, 2, 1, 135, 240, 0, RVM_ACT_RELU, 0, 2},        /* block 1 */
    {1, 0, 5, 72, 72, 2, 1, 68, 120, 0, RVM_ACT_RELU, 0, 2},         /* block 3 */
    {1, 0, 3, 480, 480, 1, 1, 17, 30, 0, RVM_ACT_HARDSWISH, 0, 2},   /* blocks 8-9 */
    {1, 0, 5, 960, 960, 1, 2, 17, 30, 0, RVM_ACT_HARDSWISH, 0, 2},   /* blocks 13-14, dilated */
    {1, 0, 5, 120, 120, 1, 1, 34, 60, 0, RVM_ACT_HARDSWISH, 1, 2},   /* blocks 4-5, channel tail */
    {1, 0, 3, 16, 16, 1, 1, 6, 480, 0, RVM_ACT_NONE, 0, 0},          /* the refiner's box, a band */
    {0, 1, 3, 35, 16, 1, 1, 270, 480, 0, RVM_ACT_RELU, 0, 1},        /* decoder output, 120 tiles */
    {0, 1, 3, 59, 32, 1, 1, 135, 240, 0, RVM_ACT_RELU, 0, 1},        /* decode 1 */
    {0, 1, 3, 32, 32, 1, 1, 135, 240, 0, RVM_ACT_SIGMOID, 0, 1},     /* GRU ih */
    {0, 1, 3, 5, 7, 1, 1, 9, 150, 3, RVM_ACT_NONE, 1, 0},            /* 38 tiles */
    {0, 1, 3, 3, 17, 1, 1, 6, 147, 0, RVM_ACT_TANH, 0, 0},           /* 37 tiles, odd tail */
    {0, 1, 3, 1, 1, 1, 1, 1, 1, 0, RVM_ACT_NONE, 1, 0},
    {1, 0, 3, 300, 300, 2, 1, 7, 9, 2, RVM_ACT_RELU, 1, 0},          /* > 256 channels */
    {1, 0, 5, 257, 257, 1, 2, 6, 11, 0, RVM_ACT_HARDSIGMOID, 0, 0},
    {1, 0, 3, 1, 1, 1, 1, 1, 1, 0, RVM_ACT_NONE, 0, 0},
    {0, 0, 7, 3, 5, 2, 1, 3, 2, 1, RVM_ACT_HARDSWISH, 1, 0},
    {0, 0, 1, 1, 1, 1, 1, 1, 1, 0, RVM_ACT_NONE, 0, 0},
};

/* The decoder's Winograd convolutions on concatenations whose views' channel counts are off
 * the vector width (conv_winograd transforms the tail of one view and the head of the next
 * in one vector): the model's views, then edge ones. */
static const struct {
    conv_params p;
    int split[2];
} concat_shapes[] = {
    {{0, 1, 3, 59, 32, 1, 1, 135, 240, 0, RVM_ACT_RELU, 0, 1}, {40, 16}},     /* decode 1 */
    {{0, 1, 3, 107, 40, 1, 1, 68, 120, 0, RVM_ACT_RELU, 0, 1}, {80, 24}},     /* decode 2 */
    {{0, 1, 3, 40, 20, 1, 1, 68, 120, 0, RVM_ACT_TANH, 0, 1}, {20, 0}},       /* its GRU hh: 20+20 */
    {{0, 1, 3, 171, 80, 1, 1, 34, 60, 0, RVM_ACT_RELU, 0, 1}, {128, 40}},     /* decode 3 */
    {{0, 1, 3, 7, 9, 1, 1, 7, 13, 2, RVM_ACT_NONE, 1, 0}, {3, 2}},           /* three in one */
    {{0, 1, 3, 37, 5, 1, 1, 10, 9, 0, RVM_ACT_SIGMOID, 0, 0}, {1, 35}},      /* 1 + 35 + 1 */
};

/* Runs `fast` and the reference on rows [y0, y1) (or tile rows, for Winograd). */
static void conv_rows(const rvmi_kernels *fast, const conv_params *p, const rvmi_conv *cv,
                      const rvmi_inputs *ins, const rvmi_view *a, const rvmi_view *b,
                      const rvmi_view *r, const float *zeros, float *scratch, int y0, int y1)
{
    const rvmi_kernels *ref = &rvmi_kernels_reference;
    if (p->depthwise) {
        ref->conv_depthwise(cv, &ins->v[0], a, r, y0, y1);
        /* split rows in two calls, as threads do; past 16 channels, the second half of the
         * rows in two slices of channels, as threads split the wide layers (scratch.c) */
        const int mid = (y0 + y1) / 2;
        fast->conv_depthwise(cv, &ins->v[0], b, r, y0, mid);
        if (cv->cout <= RVM_COUT_BLOCK) {
            fast->conv_depthwise(cv, &ins->v[0], b, r, mid, y1);
            return;
        }
        const int c1 = RVM_COUT_BLOCK * rand_int(1, (cv->cout - 1) / RVM_COUT_BLOCK);
        for (int part = 0; part < 2; part++) {
            const int c0 = part ? c1 : 0, n = part ? cv->cout - c1 : c1;
            rvmi_conv sl = *cv;
            sl.wstride = rvmi_depthwise_wstride(cv);
            sl.cin = sl.cout = n, sl.weight += c0, sl.bias += c0;
            rvmi_view in = ins->v[0], out = *b, rs = r ? *r : out;
            in.data += c0, in.c = n, out.data += c0, out.c = n, rs.data += c0, rs.c = n;
            fast->conv_depthwise(&sl, &in, &out, r ? &rs : NULL, mid, y1);
        }
    } else if (p->winograd && !fast->conv_winograd) { /* the reference, in --bench */
        ref->conv_dense(cv, ins, a, r, 4 * y0, 4 * y1 < a->h ? 4 * y1 : a->h, zeros);
        fast->conv_dense(cv, ins, b, r, 4 * y0, 4 * y1 < a->h ? 4 * y1 : a->h, zeros);
    } else if (p->winograd) {
        int oy0 = 4 * y0, oy1 = 4 * y1 < a->h ? 4 * y1 : a->h;
        ref->conv_dense(cv, ins, a, r, oy0, oy1, zeros);
        fast->conv_winograd(cv, ins, b, r, y0, (y0 + y1) / 2, zeros, scratch);
        fast->conv_winograd(cv, ins, b, r, (y0 + y1) / 2, y1, zeros, scratch);
    } else {
        ref->conv_dense(cv, ins, a, r, y0, y1, zeros);
        fast->conv_dense(cv, ins, b, r, y0, (y0 + y1) / 2, zeros);
        fast->conv_dense(cv, ins, b, r, (y0 + y1) / 2, y1, zeros);
    }
}

/* Returns the max error of `fast` against the reference, in units of the rounding error that
 * a different summation order may add (float epsilon times the square root of the number of
 * terms, relative to 1 + |result|); NaN against a number is an infinite error. Below 30 is
 * agreement (the order of summation differs: blocks, taps, concatenated views); a wrong index
 * or tap gives errors of order 1e5. */
static double run_conv(const rvmi_kernels *fast, const conv_params *p, char *desc, size_t desclen)
{
    const int k = p->k, cin = p->cin, cout = p->cout, depthwise = p->depthwise;
    const int h = p->h, w = p->w, extra = p->extra;
    snprintf(desc, desclen, "%s k%d cin%d cout%d s%d d%d %dx%d act%d res%d",
             depthwise ? "depthwise" : p->winograd ? "winograd" : "dense", k, cin, cout, p->stride,
             p->dilation, w, h, p->act, p->res);

    float *oihw = malloc(sizeof(float) * cout * (depthwise ? 1 : cin) * k * k);
    fill(oihw, (size_t)cout * (depthwise ? 1 : cin) * k * k);
    rvmi_conv cv = {.cin = cin, .cout = cout, .kh = k, .kw = k, .stride = p->stride,
                   .dilation = p->dilation, .depthwise = depthwise, .act = (rvmi_act)p->act};
    cv.weight = depthwise ? rvmi_pack_depthwise(oihw, cout, k, k) : rvmi_pack_dense(oihw, cout, cin, k, k);
    if (p->winograd)
        cv.winograd = rvmi_pack_winograd(oihw, cout, cin);
    int cpad = (cout + 15) / 16 * 16;
    cv.bias = calloc(cpad, sizeof(float));
    fill(cv.bias, cout);

    /* the input is a channel slice of a wider buffer, as concatenations are */
    rvmi_view in = {.h = h, .w = w, .c = cin, .stride = cin + extra};
    float *in_buf = malloc(sizeof(float) * h * w * in.stride);
    fill(in_buf, (size_t)h * w * in.stride);
    in.data = in_buf;
    int oh = rvmi_conv_out_size(h, k, p->stride, p->dilation), ow = rvmi_conv_out_size(w, k, p->stride, p->dilation);
    size_t out_n = (size_t)oh * ow * (cout + extra);
    rvmi_view a = {malloc(sizeof(float) * out_n), oh, ow, cout, cout + extra};
    rvmi_view b = {malloc(sizeof(float) * out_n), oh, ow, cout, cout + extra};
    rvmi_view res = {malloc(sizeof(float) * oh * ow * cout), oh, ow, cout, cout};
    fill(res.data, (size_t)oh * ow * cout);
    for (size_t i = 0; i < out_n; i++) /* what no kernel writes stays NaN in both */
        a.data[i] = b.data[i] = NAN;
    float *zeros = calloc(cin + cpad + 16, sizeof(float)); /* padding, and zero bias for Winograd */
    float *scratch = p->winograd ? malloc(sizeof(float) * rvmi_winograd_scratch(cin, cout)) : NULL;

    /* dense convolutions read their input as up to three concatenated views */
    rvmi_inputs ins = rvmi_inputs_of(&in);
    if (split[0] > 0) {
        int c1 = split[0], c2 = split[1] > 0 ? split[1] : cin - c1;
        ins.n = c1 + c2 < cin ? 3 : 2;
        ins.v[0].c = c1;
        ins.v[1] = in, ins.v[1].data += c1, ins.v[1].c = c2;
        ins.v[2] = in, ins.v[2].data += c1 + c2, ins.v[2].c = cin - c1 - c2;
    } else if (!depthwise && cin >= 3 && rand_int(0, 1)) {
        int c1 = rand_int(1, cin - 2), c2 = rand_int(1, cin - c1 - 1);
        ins.n = 3;
        ins.v[0].c = c1;
        ins.v[1] = in, ins.v[1].data += c1, ins.v[1].c = c2;
        ins.v[2] = in, ins.v[2].data += c1 + c2, ins.v[2].c = cin - c1 - c2;
    }
    rvmi_view *r = p->res ? &res : NULL;
    int rows = p->winograd ? (oh + 3) / 4 : oh;
    if (p->rows > 0 && 2 * p->rows < rows) {
        conv_rows(fast, p, &cv, &ins, &a, &b, r, zeros, scratch, 0, p->rows);
        conv_rows(fast, p, &cv, &ins, &a, &b, r, zeros, scratch, rows - p->rows, rows);
    } else {
        conv_rows(fast, p, &cv, &ins, &a, &b, r, zeros, scratch, 0, rows);
    }
    double max_err = 0, unit = 1.2e-7 * sqrt((double)k * k * (depthwise ? 1 : cin) + 2);
    for (size_t i = 0; i < out_n; i++) {
        double e;
        if (isnan(a.data[i]) || isnan(b.data[i]))
            e = isnan(a.data[i]) && isnan(b.data[i]) ? 0 : INFINITY;
        else
            e = fabs((double)a.data[i] - b.data[i]) / (1.0 + fabs(a.data[i])) / unit;
        max_err = e > max_err ? e : max_err;
    }
    int band = p->rows > 0 && p->rows < rows ? p->rows : rows;
    if (depthwise)
        BENCH("conv_depthwise", fast->conv_depthwise(&cv, &in, &b, r, 0, band));
    else if (p->winograd && fast->conv_winograd)
        BENCH("conv_winograd", fast->conv_winograd(&cv, &ins, &b, r, 0, band, zeros, scratch));
    else if (p->winograd)
        BENCH("conv_winograd", fast->conv_dense(&cv, &ins, &b, r, 0, 4 * band < oh ? 4 * band : oh, zeros));
    else
        BENCH("conv_dense", fast->conv_dense(&cv, &ins, &b, r, 0, band, zeros));
    free(oihw), free(cv.weight), free(cv.bias), free(cv.winograd), free(in_buf), free(a.data), free(b.data);
    free(res.data), free(zeros), free(scratch);
    return max_err;
}

/* The refiner's full-resolution row against the reference, for every output type and
 * foreground layout. Returns the largest difference in output units (1 = one step of the 8- or
 * 16-bit output). */
static double run_blend(const rvmi_kernels *fast, rvm_pixel_type type, rvm_fgr_layout layout)
{
    int width = rand_int(1, 300);
    size_t plane = (size_t)width + rand_int(0, 20);
    float *h0 = malloc(sizeof(float) * 8 * plane), *h1 = malloc(sizeof(float) * 8 * plane);
    for (size_t i = 0; i < 8 * plane; i++) /* coefficients that land outside [0, 1] sometimes */
        h0[i] = 1.5f * rand_float(), h1[i] = 1.5f * rand_float();
    float *x = malloc(sizeof(float) * 3 * width);
    for (int i = 0; i < 3 * width; i++)
        x[i] = (float)(uint8_t)next_u32() / 255.f;
    const float *planes[3] = {x, x + width, x + 2 * width};
    float l1 = (float)(next_u32() % 1001) / 1000.f, l0 = 1.f - l1;
    size_t size = type == RVM_PIXEL_F32 ? 4 : type == RVM_PIXEL_U16 ? 2 : 1;
    int channels = layout == RVM_FGR_RGBA_PREMULTIPLIED ? 4 : 3;
    char *pa = calloc(width, size), *pb = calloc(width, size);
    char *fa = calloc((size_t)channels * width, size), *fb = calloc((size_t)channels * width, size);
    float *tmp = malloc(sizeof(float) * 4 * width);
    rvmi_blend_out oa = {type, layout, pa, fa, (ptrdiff_t)(width * size)};
    rvmi_blend_out ob = {type, layout, pb, fb, (ptrdiff_t)(width * size)};
    rvmi_kernels_reference.blend_row(h0, h1, plane, l0, l1, planes, width, &oa, tmp);
    fast->blend_row(h0, h1, plane, l0, l1, planes, width, &ob, tmp);
    double worst = 0;
    for (int i = 0; i < (channels + 1) * width; i++) {
        const char *a = i < width ? pa : fa, *b = i < width ? pb : fb;
        int k = i < width ? i : i - width;
        double va, vb;
        if (type == RVM_PIXEL_F32)
            va = ((const float *)a)[k] * 1e6, vb = ((const float *)b)[k] * 1e6; /* 1e-6 units */
        else if (type == RVM_PIXEL_U16)
            va = ((const uint16_t *)a)[k], vb = ((const uint16_t *)b)[k];
        else
            va = ((const uint8_t *)a)[k], vb = ((const uint8_t *)b)[k];
        worst = fabs(va - vb) > worst ? fabs(va - vb) : worst;
    }
    free(h0), free(h1), free(x), free(pa), free(pb), free(fa), free(fb), free(tmp);
    return worst;
}

/* ---- int8 ---- */

/* The weight scale int8.h describes, computed here independently of the packing: the
 * coarsest step amax / K, K <= RVM_Q8_WMAX, that every weight is a multiple of (within
 * RVM_Q8_GRID_TOLERANCE steps), else amax / RVM_Q8_WMAX. */
static float weight_scale(const float *w, int n)
{
    float amax = 0.f;
    for (int k = 0; k < n; k++)
        amax = fmaxf(amax, fabsf(w[k]));
    if (amax == 0.f)
        return 1.f;
    for (int k = 1; k <= RVM_Q8_WMAX; k++) {
        float step = amax / (float)k;
        int on_grid = 1;
        for (int i = 0; i < n && on_grid; i++)
            on_grid = fabs((double)(w[i] / step) - nearbyint((double)(w[i] / step))) <= RVM_Q8_GRID_TOLERANCE;
        if (on_grid)
            return step;
    }
    return amax / RVM_Q8_WMAX;
}

static float dequant_weight(const float *oi, int cin, int o, int i, float *scale_out)
{
    float scale = weight_scale(oi + (size_t)o * cin, cin);
    double q = nearbyint(oi[(size_t)o * cin + i] / scale);
    q = q > RVM_Q8_WMAX ? RVM_Q8_WMAX : q < -RVM_Q8_WMAX ? -RVM_Q8_WMAX : q;
    *scale_out = scale;
    return (float)q;
}

/* A random int8 1x1 convolution: `fast` against the reference (the same integers, so only
 * the float epilogue's rounding may differ), and the reference against the dequantised
 * product computed in double (that checks packing, zero point and scales). extreme: every
 * weight at +-RVM_Q8_WMAX and every input at 255, the case that saturates AVX2's int16 pairs
 * of products unless the weights are split (int8.c). Returns the larger error in units of 1e-6 relative. */
static double run_q8_case(const rvmi_kernels_q8 *fast, int extreme, int s16, char *desc,
                          size_t desclen)
{
    /* 16-bit extreme cases: enough input channels that the activation limit (rvmi_q16_limit)
     * is below 32767, every weight +RVM_Q8_WMAX but one (+1, so that the weights' grid is
     * 1/127 of the largest): the sums reach the int32 range */
    int cin = s16 && extreme ? rand_int(600, 1000) : rand_int(1, 200);
    int cout = rand_int(1, 70), pixels = rand_int(1, 80);
    int extra = rand_int(0, 3), use_res = rand_int(0, 1);
    rvmi_act act = (rvmi_act)rand_int(0, 5);
    float *oi = malloc(sizeof(float) * cout * cin);
    int grid = !extreme && rand_int(0, 2) == 0; /* weights already on an 8-bit grid */
    snprintf(desc, desclen, "%s cin%d cout%d pixels%d act%d res%d%s", s16 ? "16-bit" : "8-bit", cin,
             cout, pixels, act, use_res, extreme ? " extreme" : grid ? " grid" : "");
    for (int i = 0; i < cout * cin; i++)
        oi[i] = extreme && s16 ? (i % cin ? 1.f : 1.f / RVM_Q8_WMAX) /* all at +127 but one */
              : extreme ? (rand_int(0, 1) ? 1.f : -1.f)
              : grid    ? (float)rand_int(-127, 127) * 0.0123f * (1 + (i / cin) % 5)
                        : rand_float() * (1 + i % 7);
    int cpad = (cout + 15) / 16 * 16;
    float *bias = calloc(cpad, sizeof(float));
    fill(bias, cout);
    rvmi_conv_q8 cv = {.cin = cin, .cout = cout, .act = act, .bias = bias};
    if (rvmi_q8_pack(&cv, oi)) {
        free(oi), free(bias);
        return INFINITY;
    }
    size_t stride = (size_t)cv.kpad + 4 * (size_t)rand_int(0, 2);
    /* activations as ints: 8-bit (0..255) or 16-bit (-limit..limit: the extreme case at the
     * limit, all of one sign, where the int32 sums come closest to overflowing) */
    const int limit = rvmi_q16_limit(&cv);
    int *x = malloc(sizeof(int) * stride * pixels);
    for (size_t i = 0; i < stride * pixels; i++)
        x[i] = !s16 ? (extreme ? 255 : (uint8_t)next_u32())
                    : (extreme ? limit : rand_int(-limit, limit));
    for (int p = 0; p < pixels; p++) /* the channels past cin are zero, as quantising leaves them */
        for (size_t i = (size_t)cin; i < stride; i++)
            x[p * stride + i] = 0;
    uint8_t *x8 = malloc(stride * pixels);
    int16_t *x16 = malloc(sizeof(int16_t) * stride * pixels);
    for (size_t i = 0; i < stride * pixels; i++)
        x8[i] = (uint8_t)x[i], x16[i] = (int16_t)x[i];
    int zero = !s16 ? rand_int(0, 255) : extreme ? -limit : rand_int(-limit, limit);
    rvmi_qtensor qt = {x8, stride, 0.001f + (float)(next_u32() % 1000) / 20000.f, zero};
    rvmi_qtensor16 qt16 = {x16, stride, s16 ? qt.scale / 128.f : 0.f, zero};
    rvmi_view a = {malloc(sizeof(float) * pixels * (cout + extra)), 1, pixels, cout, cout + extra};
    rvmi_view b = {malloc(sizeof(float) * pixels * (cout + extra)), 1, pixels, cout, cout + extra};
    rvmi_view res = {malloc(sizeof(float) * pixels * cout), 1, pixels, cout, cout};
    fill(res.data, (size_t)pixels * cout);
    memset(a.data, 0, sizeof(float) * pixels * (cout + extra));
    memset(b.data, 0, sizeof(float) * pixels * (cout + extra));
    rvmi_view *r = use_res ? &res : NULL;
    /* two calls, as threads and slices do: the second one's input starts at its first pixel */
    int half = pixels / 2;
    const float scale = s16 ? qt16.scale : qt.scale;
    if (s16) {
        rvmi_kernels_q8_reference.conv_1x1_s16(&cv, &qt16, &a, r, 0, pixels);
        fast->conv_1x1_s16(&cv, &qt16, &b, r, 0, half);
        rvmi_qtensor16 rest = qt16;
        rest.data += half * stride;
        fast->conv_1x1_s16(&cv, &rest, &b, r, half, pixels);
    } else {
        rvmi_kernels_q8_reference.conv_1x1(&cv, &qt, &a, r, 0, pixels);
        fast->conv_1x1(&cv, &qt, &b, r, 0, half);
        rvmi_qtensor rest = qt;
        rest.data += half * stride;
        fast->conv_1x1(&cv, &rest, &b, r, half, pixels);
    }
    /* the dequantised weights, once (weight_scale reads the whole row) */
    float *dq = malloc(sizeof(float) * cout * cin), *dqs = malloc(sizeof(float) * cout);
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            dq[(size_t)o * cin + i] = dequant_weight(oi, cin, o, i, &dqs[o]);
    double worst = 0;
    for (int p = 0; p < pixels; p++)
        for (int o = 0; o < cout + extra; o++) {
            size_t at = (size_t)p * (cout + extra) + o;
            double ref = a.data[at], e;
            if (o >= cout) { /* past cout: untouched */
                e = a.data[at] != 0.f || b.data[at] != 0.f ? INFINITY : 0;
            } else {
                double sum = 0, mag = fabs(bias[o]);
                float ws = dqs[o];
                for (int i = 0; i < cin; i++) {
                    double t = dq[(size_t)o * cin + i] * ((double)x[p * stride + i] - zero);
                    sum += t, mag += fabs(t) * scale * ws;
                }
                double v = sum * scale * ws + bias[o] + (r ? res.data[p * cout + o] : 0.0);
                v = rvmi_activate(act, (float)v);
                mag += 1.0 + (r ? fabs(res.data[p * cout + o]) : 0.0);
                e = fabs(ref - v) / mag * 1e6;
                double ef = fabs(ref - b.data[at]) / mag * 1e6;
                e = ef > e ? ef : e;
            }
            if (!(e <= worst))
                worst = isnan(e) ? INFINITY : e;
        }
    rvmi_q8_release(&cv);
    free(oi), free(bias), free(x), free(x8), free(x16), free(a.data), free(b.data), free(res.data);
    free(dq), free(dqs);
    return worst;
}

/* Quantising floats: q = clamp(round(x / scale) + zero, 0, 255) with 0 exact; a value within
 * 1e-4 of a rounding boundary may land on either side. */
static int run_q8_quantize(const rvmi_kernels_q8 *k)
{
    int bad = 0;
    for (int c = 0; c < 50; c++) {
        float lo = -rand_float() * 5.f - (c % 2 ? 0.f : 1.f), hi = rand_float() * 5.f + 1.f;
        if (c % 5 == 0)
            lo = 0.f; /* a ReLU's output: zero point 0 */
        float scale;
        int zero;
        rvmi_q8_range(lo, hi, &scale, &zero);
        int n = rand_int(1, 300), pad = n + rand_int(0, 3);
        float *x = malloc(sizeof(float) * (n + 1));
        uint8_t *q = malloc(pad + 1);
        for (int i = 0; i < n; i++)
            x[i] = i == 0 ? 0.f : lo * 1.2f + (hi - lo) * 1.4f * (rand_float() + 1.f) / 2.f;
        memset(q, 0xAB, pad + 1);
        k->quantize(x, n, 1.f / scale, zero, q, pad);
        float lo_seen = INFINITY, hi_seen = -INFINITY, lo_want = INFINITY, hi_want = -INFINITY;
        k->minmax(x, n, &lo_seen, &hi_seen);
        for (int i = 0; i < n; i++)
            lo_want = fminf(lo_want, x[i]), hi_want = fmaxf(hi_want, x[i]);
        bad += lo_seen != lo_want || hi_seen != hi_want;
        for (int i = 0; i < n; i++) {
            double v = (double)x[i] / scale + zero;
            double want = v < 0 ? 0 : v > 255 ? 255 : floor(v + 0.5);
            double tie = fabs(v - floor(v) - 0.5);
            if (q[i] != want && !(tie < 1e-4 && fabs(q[i] - want) <= 1))
                bad++;
        }
        if (q[0] != zero)
            bad++;
        for (int i = n; i < pad; i++)
            bad += q[i] != 0;
        bad += q[pad] != 0xAB;
        /* 16-bit activations: q = clamp(round(x / scale) + zero, -limit, limit), 0 exact */
        int limit = rand_int(100, 32767);
        float s16;
        int z16;
        rvmi_q16_range(lo, hi, limit, &s16, &z16);
        int16_t *q16 = malloc(sizeof(int16_t) * (pad + 1));
        for (int i = 0; i <= pad; i++)
            q16[i] = 0x5A5A;
        k->quantize_s16(x, n, 1.f / s16, z16, limit, q16, pad);
        for (int i = 0; i < n; i++) {
            double v = (double)x[i] / s16 + z16;
            double want = v < -limit ? -limit : v > limit ? limit : floor(v + 0.5);
            double tie = fabs(v - floor(v) - 0.5);
            if (q16[i] != want && !(tie < 1e-2 && fabs(q16[i] - want) <= 1))
                bad++;
            /* within the range, x to half a step (and float rounding: x / scale + zero is
             * computed in float, whose unit at |v| <= 32767 is at most 1/256 of a step) */
            if (x[i] >= lo && x[i] <= hi &&
                fabs((double)s16 * (q16[i] - z16) - x[i]) > (0.5 + 4e-3) * s16 + 1e-6 * fabs(x[i]))
                bad++;
        }
        if (q16[0] != z16)
            bad++;
        for (int i = n; i < pad; i++)
            bad += q16[i] != 0;
        bad += q16[pad] != 0x5A5A;
        free(q16);
        free(x), free(q);
    }
    return bad;
}

/* Weight quantisation: weights on a grid of at most RVM_Q8_WMAX steps each side (as the
 * official 8-bit release, BatchNorm scale folded in by a float multiplication) come back
 * exactly; other weights within half a step of amax / RVM_Q8_WMAX. Returns the count of
 * wrong rows. */
static int run_q8_weights(void)
{
    int bad = 0;
    for (int c = 0; c < 200; c++) {
        int cin = rand_int(2, 300), grid = c % 2 == 0, span = rand_int(1, RVM_Q8_WMAX);
        float step = 1e-3f * (float)rand_int(1, 1000), bn = 0.5f + rand_float();
        float *w = malloc(sizeof(float) * cin);
        for (int i = 0; i < cin; i++)
            w[i] = grid ? (float)rand_int(-span, span) * step * bn : rand_float() * step * 100.f;
        if (grid)
            w[rand_int(0, cin - 1)] = step * bn * (float)(rand_int(0, 1) ? span : -span);
        rvmi_conv_q8 cv = {.cin = cin, .cout = 1};
        if (rvmi_q8_pack(&cv, w)) {
            free(w);
            return bad + 1;
        }
        float amax = 0.f;
        for (int i = 0; i < cin; i++)
            amax = fmaxf(amax, fabsf(w[i]));
        double worst = 0; /* in units of amax / RVM_Q8_WMAX */
        for (int i = 0; i < cin; i++) {
            int8_t q = cv.weight[((size_t)(i / 4)) * RVM_COUT_BLOCK * 4 + i % 4];
            worst = fmax(worst, fabs((double)q * cv.wscale[0] - w[i]) / (amax / RVM_Q8_WMAX));
        }
        /* exact: float rounding of the grid's multiplications only */
        if (grid ? worst > 1e-4 : worst > 0.5 + 1e-4) {
            printf("FAIL int8 weights: %s row of %d, span %d: error %.3g steps\n", grid ? "grid" : "random",
                   cin, span, worst);
            bad++;
        }
        rvmi_q8_release(&cv);
        free(w);
    }
    return bad;
}

static void test_int8(void)
{
    int wbad = run_q8_weights();
    printf("%s int8 weight quantisation: 200 rows (grid rows exact), %d wrong\n", wbad ? "FAIL" : "ok", wbad);
    wbad ? failed++ : passed++;
    const char *sets[] = {"reference", "avx2", "avxvnni", "avx512vnni"};
    for (int s = 0; s < 4; s++) {
        const rvmi_kernels_q8 *k = rvmi_kernels_q8_by_name(sets[s]);
        if (!k) {
            printf("skip int8 %s: this CPU cannot run it\n", sets[s]);
            skipped++;
            continue;
        }
        int bad = run_q8_quantize(k);
        printf("%s int8 %s quantisation (8- and 16-bit): 50 random tensors, %d wrong values or ranges\n",
               bad ? "FAIL" : "ok", sets[s], bad);
        bad ? failed++ : passed++;
        int nbad = 0;
        double worst = 0;
        for (int i = 0; i < 400; i++) {
            char desc[160];
            double e = run_q8_case(k, i % 10 == 9, i % 2, desc, sizeof desc);
            worst = e > worst ? e : worst;
            /* float32 epilogue: a few units of 1e-7 relative to the terms' magnitude */
            if (!(e <= 2.0)) {
                printf("FAIL int8 %s %s: error %.3g\n", sets[s], desc, e);
                nbad++;
            }
        }
        printf("%s int8 %s: 400 random 1x1 convolutions (8- and 16-bit activations), worst error %.3f (1e-6 relative)\n",
               nbad ? "FAIL" : "ok", sets[s], worst);
        nbad ? failed++ : passed++;
    }
}

/* ---- the loop kernels (rvmi_loops, rvmi_frame_loops) ---- */

/* Buffers of one case, freed together. */
static void *owned[64];
static int n_owned;
static void *own(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p || n_owned == 64) {
        fprintf(stderr, "test_kernels: out of memory\n");
        exit(1);
    }
    return owned[n_owned++] = p;
}
static void free_owned(void)
{
    while (n_owned)
        free(owned[--n_owned]);
}

/* A view of h x w pixels of c channels, `extra` floats of other channels between pixels (as
 * a slice of a concatenation has); values in [lo, hi], and one value in `nan_every` a NaN
 * (0: none). */
static rvmi_view new_view(int h, int w, int c, int extra, float lo, float hi, int nan_every)
{
    rvmi_view v = {own(sizeof(float) * ((size_t)h * w * (c + extra) + 1)), h, w, c, c + extra};
    for (size_t i = 0; i < (size_t)h * w * v.stride; i++) {
        v.data[i] = lo + (hi - lo) * (rand_float() + 1.f) / 2.f;
        if (nan_every && next_u32() % (unsigned)nan_every == 0)
            v.data[i] = NAN;
    }
    return v;
}

/* An output view: two copies (reference, fast) filled with NaN, so an element one of them
 * leaves unwritten, or writes outside its channels, shows. */
static void new_outputs(int h, int w, int c, int extra, rvmi_view *a, rvmi_view *b)
{
    *a = (rvmi_view){own(sizeof(float) * ((size_t)h * w * (c + extra) + 1)), h, w, c, c + extra};
    *b = *a;
    b->data = own(sizeof(float) * ((size_t)h * w * (c + extra) + 1));
    for (size_t i = 0; i < (size_t)h * w * a->stride; i++)
        a->data[i] = b->data[i] = NAN;
}

static rvmi_view copy_view(const rvmi_view *v)
{
    rvmi_view c = *v;
    size_t n = (size_t)v->h * v->w * v->stride;
    c.data = own(sizeof(float) * (n + 1));
    memcpy(c.data, v->data, sizeof(float) * n);
    return c;
}

/* NaN-aware comparison of n floats: a NaN agrees only with a NaN; otherwise the error is
 * |ref - got| / (1 + |ref|) / tol. tol 0: exact (any difference is an infinite error).
 * Returns the worst error (1 or less passes). */
static double compare_floats(const float *ref, const float *got, size_t n, double tol)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e;
        if (isnan(ref[i]) || isnan(got[i]))
            e = isnan(ref[i]) && isnan(got[i]) ? 0 : INFINITY;
        else if (ref[i] == got[i])
            e = 0;
        else
            e = tol > 0 ? fabs((double)ref[i] - got[i]) / (1.0 + fabs(ref[i])) / tol : INFINITY;
        worst = e > worst ? e : worst;
    }
    return worst;
}

static double compare_views(const rvmi_view *a, const rvmi_view *b, double tol)
{
    return compare_floats(a->data, b->data, (size_t)a->h * a->w * a->stride, tol);
}

static double compare_bytes(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) ? INFINITY : 0;
}

/* The shapes the kernels see at 1920x1080, ratio 0.25 (network input 480x270), first (the
 * one --bench times), then edge shapes: one pixel, odd widths that leave vector tails, channel
 * counts off the vector width, strided views. {h, w, c, extra} */
typedef struct {
    int h, w, c, extra;
} shape;
#define END {0, 0, 0, 0}

/* Bilinear resize by 2 (the decoder's upsampling), as network.c calls it. */
static double check_resize(const rvmi_kernels *k, const shape *s, char *desc)
{
    snprintf(desc, 160, "%dx%d c%d +%d -> x2", s->w, s->h, s->c, s->extra);
    rvmi_view in = new_view(s->h, s->w, s->c, s->extra, -1, 1, 997), a, b;
    int oh = 2 * s->h - (s->h > 2), ow = 2 * s->w - (s->w > 2); /* cropped, as decoders are */
    new_outputs(oh, ow, s->c, s->extra, &a, &b);
    rvmi_lerp *lx = own(sizeof(rvmi_lerp) * ow);
    for (int x = 0; x < ow; x++)
        lx[x] = rvmi_lerp_at(0.5f, x, s->w);
    rvmi_loops_reference.resize(&in, &a, 0.5f, lx, 0, 0, oh);
    /* in two calls, as threads do; the second into a view of its band alone, as the decoder's
     * banded last stage does */
    k->loops->resize(&in, &b, 0.5f, lx, 0, 0, oh / 2);
    rvmi_view band = b;
    band.data += (size_t)(oh / 2) * b.w * b.stride, band.h = oh - oh / 2;
    k->loops->resize(&in, &band, 0.5f, lx, oh / 2, oh / 2, oh);
    double e = compare_views(&a, &b, 1e-6);
    /* the set's own rows one call each (no two rows made together) give the very same floats
     * as its calls of many rows (rows that read the same input rows made together) */
    rvmi_view c1, c2;
    new_outputs(oh, ow, s->c, s->extra, &c1, &c2);
    for (int y = 0; y < oh; y++)
        k->loops->resize(&in, &c1, 0.5f, lx, 0, y, y + 1);
    double e1 = compare_views(&c1, &b, 0);
    e = e1 > e ? e1 : e;
    BENCH("resize", k->loops->resize(&in, &b, 0.5f, lx, 0, 0, oh));
    return e;
}
static const shape resize_shapes[] = {{68, 120, 40, 0}, {135, 240, 32, 0}, {17, 30, 128, 0},
                                      {1, 1, 1, 0}, {3, 5, 7, 2}, {9, 13, 17, 5}, {4, 33, 3, 1}, END};

/* The image pyramid's 2x2 average pooling (ceil mode: odd sides end in means of 2 or 1
 * pixels), in two calls of rows as threads split it; exact (the same sums in the same order). */
static double check_avgpool(const rvmi_kernels *k, const shape *s, char *desc)
{
    snprintf(desc, 160, "%dx%d c%d +%d -> /2", s->w, s->h, s->c, s->extra);
    rvmi_view in = new_view(s->h, s->w, s->c, s->extra, -1, 1, 0), a, b;
    for (int i = 0; i < s->h * s->w * in.stride; i += 7) /* -0 stays -0 only alone */
        in.data[i] = -0.f;
    int oh = (s->h + 1) / 2, ow = (s->w + 1) / 2;
    new_outputs(oh, ow, s->c, s->extra, &a, &b);
    rvmi_loops_reference.avgpool2(&in, &a, 0, oh);
    k->loops->avgpool2(&in, &b, 0, oh / 2);
    k->loops->avgpool2(&in, &b, oh / 2, oh);
    BENCH("avgpool2", k->loops->avgpool2(&in, &b, 0, oh));
    /* bit for bit: the signs of zeros too */
    return memcmp(a.data, b.data, sizeof(float) * (size_t)oh * ow * a.stride) ? INFINITY : 0;
}
static const shape avgpool_shapes[] = {{270, 480, 3, 0}, {135, 240, 3, 0}, {68, 120, 3, 0},
                                       {1, 1, 3, 0}, {3, 5, 3, 1}, {7, 1, 2, 0}, {1, 9, 5, 2},
                                       {5, 7, 17, 0}, {4, 6, 1, 3}, END};

/* The network's input from RGB24 (ratio 0.25 and 1) and from float planes. */
static double check_input(const rvmi_kernels *k, const shape *s, char *desc)
{
    /* c: 1 for ratio 1, else the downsampling factor; from 10 on, tenths (25: 1 / ratio 2.5,
     * whose weights are not powers of two, unlike every whole factor's: 1/2 or 0 and 1) */
    int ratio1 = s->c == 1;
    float factor = s->c >= 10 ? (float)s->c / 10.f : (float)s->c;
    int oh = ratio1 ? s->h : (int)ceilf((float)s->h / factor);
    int ow = ratio1 ? s->w : (int)ceilf((float)s->w / factor);
    snprintf(desc, 160, "%dx%d -> %dx%d", s->w, s->h, ow, oh);
    ptrdiff_t stride = 3 * (ptrdiff_t)s->w + s->extra;
    /* the frame ends where a page without access begins, the last row without its padding
     * (as a frame may): a read past its pixels (AVX-512 gathers 4 bytes a pixel) crashes */
    size_t bytes = (size_t)stride * (s->h - 1) + 3 * (size_t)s->w, page = 4096;
    size_t mapped = (bytes + page - 1) / page * page + page;
    uint8_t *map = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || mprotect(map + mapped - page, page, PROT_NONE)) {
        fprintf(stderr, "test_kernels: no memory for a guarded frame\n");
        exit(1);
    }
    uint8_t *rgb = map + mapped - page - bytes;
    for (size_t i = 0; i < bytes; i++)
        rgb[i] = (uint8_t)next_u32();
    float lut[256];
    for (int i = 0; i < 256; i++)
        lut[i] = (float)i / 255.f;
    rvmi_view a, b, pa, pb;
    new_outputs(oh, ow, 3, 0, &a, &b);
    new_outputs(oh, ow, 3, 0, &pa, &pb);
    float sy = 1.f;
    rvmi_lerp *lx = NULL;
    if (!ratio1) {
        sy = factor;
        lx = own(sizeof(rvmi_lerp) * ow);
        for (int x = 0; x < ow; x++)
            lx[x] = rvmi_lerp_at(sy, x, s->w);
    }
    rvmi_loops_reference.input_rgb24(rgb, stride, s->h, lut, sy, lx, &a, 0, oh);
    k->loops->input_rgb24(rgb, stride, s->h, lut, sy, lx, &b, 0, oh);
    BENCH("input_rgb24", k->loops->input_rgb24(rgb, stride, s->h, lut, sy, lx, &b, 0, oh));
    /* the same rows as planes */
    float *planes = own(sizeof(float) * 3 * s->w * s->h);
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++)
            for (int c = 0; c < 3; c++)
                planes[((size_t)c * s->h + y) * s->w + x] = lut[rgb[y * stride + 3 * x + c]];
    for (int y = 0; y < oh; y++) {
        rvmi_lerp ly = ratio1 ? (rvmi_lerp){y, y, 1.f, 0.f} : rvmi_lerp_at(sy, y, s->h);
        const float *p0[3], *p1[3];
        for (int c = 0; c < 3; c++)
            p0[c] = planes + ((size_t)c * s->h + ly.i0) * s->w,
            p1[c] = planes + ((size_t)c * s->h + ly.i1) * s->w;
        rvmi_loops_reference.input_planes(p0, p1, ly.l0, ly.l1, lx, &pa, y);
        k->loops->input_planes(p0, p1, ly.l0, ly.l1, lx, &pb, y);
        if (y == 0)
            BENCH("input_planes", k->loops->input_planes(p0, p1, ly.l0, ly.l1, lx, &pb, y));
    }
    double e = compare_views(&a, &b, 1e-6), ep = compare_views(&pa, &pb, 1e-6);
    munmap(map, mapped);
    return e > ep ? e : ep;
}
/* {h, w, factor (1: ratio 1; from 10 on, tenths), extra bytes per row}. {8, 64, 2, 0} and
 * {16, 96, 3, 0}: vectors of 16 outputs whose last reads the last input pixel of the last
 * row (AVX-512 gathers 4 bytes a pixel: not past the frame); 150 / 4: two vectors and a tail;
 * factors 2.5 and 3.7: weights that are not powers of two. */
static const shape input_shapes[] = {{1080, 1920, 4, 0}, {1, 1, 1, 0}, {5, 7, 1, 3}, {7, 9, 2, 1},
                                     {31, 45, 3, 0}, {9, 17, 4, 5}, {8, 64, 2, 0}, {16, 96, 3, 0},
                                     {8, 64, 2, 7}, {12, 150, 4, 0}, {20, 161, 25, 0},
                                     {15, 112, 37, 2}, END};

/* SE and LR-ASPP: the channel mean, the gate, and the GRU's copy, reset gate and update. */
static double check_channels(const rvmi_kernels *k, const shape *s, char *desc)
{
    snprintf(desc, 160, "%dx%d c%d +%d", s->w, s->h, s->c, s->extra);
    rvmi_view in = new_view(s->h, s->w, s->c, s->extra, -1, 1, 0);
    double *sum = own(sizeof(double) * s->c);
    float *ma = own(sizeof(float) * s->c), *mb = own(sizeof(float) * s->c);
    rvmi_loops_reference.channel_mean(&in, sum, ma);
    k->loops->channel_mean(&in, sum, mb);
    double worst = compare_floats(ma, mb, s->c, 0); /* the same sums in the same order */
    BENCH("channel_mean", k->loops->channel_mean(&in, sum, mb));
    float *scale = own(sizeof(float) * s->c);
    for (int i = 0; i < s->c; i++)
        scale[i] = 1.f + 0.03f * rand_float();
    rvmi_view va = copy_view(&in), vb = copy_view(&in);
    rvmi_loops_reference.scale_channels(&va, scale, 0, s->h);
    k->loops->scale_channels(&vb, scale, 0, s->h / 2);
    k->loops->scale_channels(&vb, scale, s->h / 2, s->h);
    double e = compare_views(&va, &vb, 0);
    worst = e > worst ? e : worst;
    BENCH("scale_channels", k->loops->scale_channels(&vb, scale, 0, s->h));
    rvmi_view ca, cb;
    new_outputs(s->h, s->w, s->c, s->extra + 3, &ca, &cb);
    rvmi_loops_reference.copy_channels(&in, &ca, 0, s->h);
    k->loops->copy_channels(&in, &cb, 0, s->h);
    e = compare_views(&ca, &cb, 0);
    worst = e > worst ? e : worst;
    BENCH("copy_channels", k->loops->copy_channels(&in, &cb, 0, s->h));
    /* GRU: rz has 2c channels (r, z), the state c */
    rvmi_view rz = new_view(s->h, s->w, 2 * s->c, s->extra, 0, 1, 0);
    rvmi_view h = new_view(s->h, s->w, s->c, 0, -1, 1, 0), cand = new_view(s->h, s->w, s->c, 1, -1, 1, 0);
    rvmi_view ra, rb, oa, ob;
    new_outputs(s->h, s->w, s->c, 0, &ra, &rb);
    rvmi_loops_reference.multiply(&rz, &h, &ra, 0, s->h);
    k->loops->multiply(&rz, &h, &rb, 0, s->h);
    e = compare_views(&ra, &rb, 0);
    worst = e > worst ? e : worst;
    BENCH("multiply", k->loops->multiply(&rz, &h, &rb, 0, s->h));
    new_outputs(s->h, s->w, s->c, s->c, &oa, &ob); /* the state goes to half of a wider view */
    rvmi_view ha = copy_view(&h), hb = copy_view(&h);
    rvmi_loops_reference.gru_update(&rz, &cand, &ha, &oa, 0, s->h);
    k->loops->gru_update(&rz, &cand, &hb, &ob, 0, s->h);
    double eh = compare_views(&ha, &hb, 1e-6), eo = compare_views(&oa, &ob, 1e-6);
    worst = eh > worst ? eh : worst;
    BENCH("gru_update", k->loops->gru_update(&rz, &cand, &hb, &ob, 0, s->h));
    return eo > worst ? eo : worst;
}
static const shape channel_shapes[] = {{17, 30, 960, 0}, {34, 60, 40, 80}, {135, 240, 16, 0},
                                       {1, 1, 1, 0}, {3, 5, 7, 1}, {2, 3, 300, 2}, {5, 9, 19, 0}, END};

/* The guided filter, on a guide built from random pictures (as refiner.c chains it). */
static double check_refiner(const rvmi_kernels *k, const shape *s, char *desc)
{
    snprintf(desc, 160, "%dx%d", s->w, s->h);
    const rvmi_loops *ref = &rvmi_loops_reference;
    rvmi_view rgb = new_view(s->h, s->w, 3, s->extra, 0, 1, 0), proj = new_view(s->h, s->w, 4, 0, -0.5f, 1.5f, 0);
    rvmi_view ga, gb, ta, tb, ba, bb, cva, cvb;
    new_outputs(s->h, s->w, 16, 0, &ga, &gb);
    ref->guide(&rgb, &proj, &ga, 0, s->h);
    k->loops->guide(&rgb, &proj, &gb, 0, s->h);
    double worst = compare_views(&ga, &gb, 0), e;
    BENCH("guide", k->loops->guide(&rgb, &proj, &gb, 0, s->h));
    /* the horizontal means into a strided view (extra > 0): the box kernels take rows
     * without gaps as one run, these pixel by pixel */
    new_outputs(s->h, s->w, 16, s->extra, &ta, &tb);
    ref->box_horizontal(&ga, &ta, 0, s->h);
    k->loops->box_horizontal(&ga, &tb, 0, s->h);
    e = compare_views(&ta, &tb, 1e-6), worst = e > worst ? e : worst;
    BENCH("box_horizontal", k->loops->box_horizontal(&ga, &tb, 0, s->h));
    new_outputs(s->h, s->w, 16, 0, &ba, &bb);
    ref->box_vertical(&ta, &ba, 0, s->h);
    k->loops->box_vertical(&ta, &bb, 0, s->h / 2);
    k->loops->box_vertical(&ta, &bb, s->h / 2, s->h);
    e = compare_views(&ba, &bb, 1e-6), worst = e > worst ? e : worst;
    BENCH("box_vertical", k->loops->box_vertical(&ta, &bb, 0, s->h));
    new_outputs(s->h, s->w, 8, 0, &cva, &cvb);
    ref->cov_var(&ba, &cva, 0, s->h);
    k->loops->cov_var(&ba, &cvb, 0, s->h);
    e = compare_views(&cva, &cvb, 1e-6), worst = e > worst ? e : worst;
    BENCH("cov_var", k->loops->cov_var(&ba, &cvb, 0, s->h));
    /* A = cov / (var + 1e-5): an error of the order of float rounding in cov or var
     * (1e-7) is magnified by 1 / (var + 1e-5); measured relative to that */
    rvmi_view aa, ab;
    new_outputs(s->h, s->w, 8, 0, &aa, &ab);
    ref->fast_a(&ba, &aa, 0, s->h);
    k->loops->fast_a(&ba, &ab, 0, s->h);
    for (int i = 0; i < s->h * s->w; i++)
        for (int c = 0; c < 4; c++) {
            float x = aa.data[8 * i + c], y = ab.data[8 * i + c];
            const float *m = ba.data + 16 * i;
            double var = fabs(m[12 + c] - m[c] * m[c]) + 1e-5;
            double d = compare_floats(&x, &y, 1, 1e-6) * var;
            worst = d > worst ? d : worst;
        }
    BENCH("fast_a", k->loops->fast_a(&ba, &ab, 0, s->h));
    /* b = mean(y) - A mean(x), on the reference's A: error relative to the terms */
    memcpy(ab.data, aa.data, sizeof(float) * 8 * s->h * s->w);
    ref->offset(&ba, &aa, 0, s->h);
    k->loops->offset(&ba, &ab, 0, s->h);
    for (int i = 0; i < s->h * s->w; i++)
        for (int c = 0; c < 4; c++) {
            float x = aa.data[8 * i + 4 + c], y = ab.data[8 * i + 4 + c];
            const float *m = ba.data + 16 * i;
            double mag = 1 + fabs(m[4 + c]) + fabs(aa.data[8 * i + c] * m[c]);
            double d = compare_floats(&x, &y, 1, 1e-6) * (1 + fabs(x)) / mag;
            worst = d > worst ? d : worst;
        }
    BENCH("offset", k->loops->offset(&ba, &ab, 0, s->h));
    return worst;
}
static const shape refiner_shapes[] = {{6, 480, 0, 0}, {270, 480, 0, 0}, {1, 1, 0, 0}, {2, 3, 0, 1},
                                       {5, 17, 0, 2}, {3, 33, 0, 0}, {7, 1, 0, 0}, {1, 6, 0, 3}, END};

/* The deep guided filter's three 1x1 layers (24 -> 16 on [cov, var] and the hidden
 * features, 16 -> 16, 16 -> 4) as the refiner runs them on a band: dgf_mlp where the set has
 * it, against conv_dense layer by layer through two temporaries, the set's own (exactly: the
 * same sums in the same order) and the reference's (1e-5 of 1+|ref| over the three layers).
 * c 0: the model's activations (ReLU, ReLU, none); else layer l's is (c + l) % 6, and with
 * c 1 (ReLU, hardswish, hardsigmoid) one input value in 50 is a NaN (the vector sigmoid and
 * tanh do not keep NaNs, as the reference's do). extra: floats past the hidden features' 16. */
static void dgf_chain(const rvmi_kernels *k, const rvmi_conv cv[3], const rvmi_inputs *in,
                      const rvmi_view *out, const rvmi_view *t1, const rvmi_view *t2,
                      const float *zeros)
{
    rvmi_inputs i1 = rvmi_inputs_of(t1), i2 = rvmi_inputs_of(t2);
    k->conv_dense(&cv[0], in, t1, NULL, 0, out->h, zeros);
    k->conv_dense(&cv[1], &i1, t2, NULL, 0, out->h, zeros);
    k->conv_dense(&cv[2], &i2, out, NULL, 0, out->h, zeros);
}

static double check_dgf(const rvmi_kernels *k, const shape *s, char *desc)
{
    snprintf(desc, 160, "%dx%d act %d +%d", s->w, s->h, s->c, s->extra);
    static const int cin[3] = {24, 16, 16}, cout[3] = {16, 16, 4};
    static const rvmi_act model_act[3] = {RVM_ACT_RELU, RVM_ACT_RELU, RVM_ACT_NONE};
    rvmi_conv cv[3];
    for (int l = 0; l < 3; l++) {
        float *oihw = own(sizeof(float) * cin[l] * cout[l]);
        fill(oihw, (size_t)cin[l] * cout[l]);
        cv[l] = (rvmi_conv){.cin = cin[l], .cout = cout[l], .kh = 1, .kw = 1, .stride = 1,
                            .dilation = 1,
                            .act = s->c ? (rvmi_act)((s->c + l) % 6) : model_act[l]};
        cv[l].weight = own(sizeof(float) * 16 * cin[l]);
        float *packed = rvmi_pack_dense(oihw, cout[l], cin[l], 1, 1);
        memcpy(cv[l].weight, packed, sizeof(float) * 16 * cin[l]);
        free(packed);
        cv[l].bias = own(sizeof(float) * 16);
        fill(cv[l].bias, 16);
    }
    float *zeros = own(sizeof(float) * 64);
    memset(zeros, 0, sizeof(float) * 64);
    const int nan_every = s->c == 1 ? 50 : 0;
    rvmi_inputs in = {2, {new_view(s->h, s->w, 8, 0, 0, 0.3f, nan_every),
                          new_view(s->h, s->w, 16, s->extra, -1, 1, nan_every)}};
    /* into channels 0-3 of 8, as the refiner's A and b */
    rvmi_view a, b, c, unused, t1, t2; /* t1, t2: the chain's temporaries */
    new_outputs(s->h, s->w, 4, 4, &a, &b);
    new_outputs(s->h, s->w, 4, 4, &c, &unused);
    new_outputs(s->h, s->w, 16, 0, &t1, &t2);
    dgf_chain(&rvmi_kernels_reference, cv, &in, &a, &t1, &t2, zeros);
    dgf_chain(k, cv, &in, &c, &t1, &t2, zeros);
    if (k->dgf_mlp) { /* rows split in two calls, as threads do */
        if (!k->dgf_mlp(cv, &in, &b, 0, s->h / 2, zeros) ||
            !k->dgf_mlp(cv, &in, &b, s->h / 2, s->h, zeros))
            return INFINITY;
    } else {
        dgf_chain(k, cv, &in, &b, &t1, &t2, zeros);
    }
    double e = compare_views(&a, &b, 1e-5), exact = compare_views(&c, &b, 0);
    if (k->dgf_mlp)
        BENCH("dgf_mlp", k->dgf_mlp(cv, &in, &b, 0, s->h, zeros));
    else
        BENCH("dgf_mlp", dgf_chain(k, cv, &in, &b, &t1, &t2, zeros));
    return e > exact ? e : exact;
}
static const shape dgf_shapes[] = {{4, 480, 0, 0}, {270, 480, 0, 0}, {1, 1, 0, 0}, {3, 7, 1, 0},
                                   {2, 13, 2, 3}, {5, 37, 3, 1}, {1, 16, 4, 0}, {2, 17, 5, 2},
                                   {1, 31, 0, 0}, END};

/* The full-resolution output's horizontal upsampling of 8 coefficient planes. */
static double check_upsample(const rvmi_kernels *k, const shape *s, char *desc)
{
    int in_w = s->c, width = s->w;
    snprintf(desc, 160, "%d -> %d", in_w, width);
    float *src = own(sizeof(float) * 8 * in_w);
    fill(src, 8 * (size_t)in_w);
    rvmi_lerp *lx = own(sizeof(rvmi_lerp) * width);
    for (int x = 0; x < width; x++)
        lx[x] = rvmi_lerp_at((float)in_w / (float)width, x, in_w);
    size_t plane = (size_t)width + s->extra;
    float *a = own(sizeof(float) * 8 * plane), *b = own(sizeof(float) * 8 * plane);
    for (size_t i = 0; i < 8 * plane; i++)
        a[i] = b[i] = NAN;
    rvmi_loops_reference.upsample_row(src, lx, width, a, plane);
    k->loops->upsample_row(src, lx, width, b, plane);
    double e = compare_floats(a, b, 8 * plane, 1e-6);
    BENCH("upsample_row", k->loops->upsample_row(src, lx, width, b, plane));
    return e;
}
/* {-, output width, input width, extra floats per plane} */
static const shape upsample_shapes[] = {{1, 1920, 480, 0}, {1, 1, 1, 0}, {1, 7, 3, 1},
                                        {1, 33, 9, 16}, {1, 641, 240, 3}, END};

/* Library input rows: 4:2:0 and NV12 YUV, packed RGB/BGR(A). */
static double check_pixels(const rvmi_kernels *k, const shape *s, char *desc)
{
    int w = s->w;
    snprintf(desc, 160, "width %d", w);
    uint8_t *p = own(4 * (size_t)w + 8);
    for (int i = 0; i < 4 * w + 8; i++)
        p[i] = (uint8_t)next_u32();
    float *a = own(sizeof(float) * 3 * w), *b = own(sizeof(float) * 3 * w);
    double worst = 0, e;
    static const int layouts[][4] = {{3, 0, 1, 2}, {3, 2, 1, 0}, {4, 0, 1, 2}, {4, 2, 1, 0}};
    for (int l = 0; l < 4; l++) {
        const int *L = layouts[l];
        rvmi_loops_reference.packed_row(p, L[0], L[1], L[2], L[3], w, a, a + w, a + 2 * w);
        k->loops->packed_row(p, L[0], L[1], L[2], L[3], w, b, b + w, b + 2 * w);
        e = compare_floats(a, b, 3 * (size_t)w, 0), worst = e > worst ? e : worst;
        if (l == 0)
            BENCH("packed_row", k->loops->packed_row(p, L[0], L[1], L[2], L[3], w, b, b + w, b + 2 * w));
    }
    rvmi_yuv_coeffs c = {16.f, 1.f / 219.f, 1.f / 224.f, 1.5748f, 0.1873f, 0.4681f, 1.8556f};
    for (int cstep = 1; cstep <= 2; cstep++) {
        const uint8_t *u = p + w, *v = p + w + (cstep == 2 ? 1 : (w + 1) / 2);
        rvmi_loops_reference.yuv_row(p, u, v, cstep, w, &c, a, a + w, a + 2 * w);
        k->loops->yuv_row(p, u, v, cstep, w, &c, b, b + w, b + 2 * w);
        e = compare_floats(a, b, 3 * (size_t)w, 1e-6), worst = e > worst ? e : worst;
        if (cstep == 1)
            BENCH("yuv_row i420", k->loops->yuv_row(p, u, v, cstep, w, &c, b, b + w, b + 2 * w));
        else
            BENCH("yuv_row nv12", k->loops->yuv_row(p, u, v, cstep, w, &c, b, b + w, b + 2 * w));
    }
    return worst;
}
static const shape pixel_shapes[] = {{1, 1920, 0, 0}, {1, 1, 0, 0}, {1, 2, 0, 0}, {1, 7, 0, 0},
                                     {1, 33, 0, 0}, {1, 641, 0, 0}, END};

/* The command's frames: 16 -> 8 bits, RGBA packing, compositing, grey -> limited-range luma,
 * 4:2:0 -> RGB24. Every set
 * must write the reference's bytes exactly. */
static double check_frames(const rvmi_kernels *k, const shape *s, char *desc)
{
    size_t n = (size_t)s->w * s->h;
    snprintf(desc, 160, "%dx%d", s->w, s->h);
    const rvmi_frame_loops *ref = &rvmi_frames_reference, *f = k->frames;
    uint16_t *fgr = own(6 * n), *pha = own(2 * n);
    uint8_t *bg = own(3 * n), *f8 = own(3 * n), *p8 = own(n);
    for (size_t i = 0; i < 3 * n; i++) {
        fgr[i] = (uint16_t)next_u32(), bg[i] = (uint8_t)next_u32(), f8[i] = (uint8_t)next_u32();
        if (i < n) /* alpha 0 and 65535 often, as mattes have */
            pha[i] = next_u32() % 4 == 0 ? 0 : next_u32() % 3 == 0 ? 65535 : (uint16_t)next_u32();
        if (i < n)
            p8[i] = (uint8_t)(pha[i] >> 8);
    }
    if (n >= 65536) /* every 16-bit value once */
        for (size_t i = 0; i < 65536; i++)
            fgr[i] = (uint16_t)i;
    if (3 * n >= 256) /* every 8-bit value once */
        for (size_t i = 0; i < 256; i++)
            f8[i] = (uint8_t)i;
    uint8_t *a = own(8 * n), *b = own(8 * n);
    double worst = 0, e;
#define SAME(kernel, call_ref, call_fast)                                                       \
    do {                                                                                        \
        memset(a, 0xA5, 8 * n), memset(b, 0xA5, 8 * n);                                         \
        call_ref;                                                                               \
        call_fast;                                                                              \
        e = compare_bytes(a, b, 8 * n), worst = e > worst ? e : worst;                          \
        BENCH(kernel, call_fast);                                                               \
    } while (0)
    SAME("u16_to_u8", ref->u16_to_u8(fgr, 3 * n, a), f->u16_to_u8(fgr, 3 * n, b));
    SAME("pack_rgba8", ref->pack_rgba8(fgr, pha, n, a), f->pack_rgba8(fgr, pha, n, b));
    SAME("pack_rgba16", ref->pack_rgba16(fgr, pha, n, (uint16_t *)a),
         f->pack_rgba16(fgr, pha, n, (uint16_t *)b));
    SAME("pack_rgba8_from8", ref->pack_rgba8_from8(f8, p8, n, a), f->pack_rgba8_from8(f8, p8, n, b));
    SAME("gray_to_luma", ref->gray_to_luma(f8, 3 * n, a), f->gray_to_luma(f8, 3 * n, b));
    SAME("over8", ref->over8(fgr, pha, bg, n, a), f->over8(fgr, pha, bg, n, b));
    SAME("over16", ref->over16(fgr, pha, bg, n, (uint16_t *)a), f->over16(fgr, pha, bg, n, (uint16_t *)b));
    /* 4:2:0: luma rows from f8, chroma rows from bg */
    int cw = (s->w + 1) / 2;
    float *tmp = own(sizeof(float) * rvmi_yuv420_tmp_floats(s->w));
    rvmi_yuv_matrix m = {16.f, 255.f / 219.f, 255.f / 224.f, 1.5748f, -0.1873f, -0.4681f, 1.8556f};
    memset(a, 0, 8 * n), memset(b, 0, 8 * n);
    for (int y = 0; y < s->h; y++) {
        const uint8_t *yr = f8 + (size_t)y * s->w, *c0 = bg + (size_t)(y / 2) * 2 * cw;
        const uint8_t *c1 = bg + (size_t)((y + 1) / 2 % ((s->h + 1) / 2)) * 2 * cw;
        ref->yuv420_row(yr, c0, c1, c0 + cw, c1 + cw, s->w, &m, a + (size_t)3 * y * s->w, tmp);
        f->yuv420_row(yr, c0, c1, c0 + cw, c1 + cw, s->w, &m, b + (size_t)3 * y * s->w, tmp);
    }
    e = compare_bytes(a, b, 3 * n), worst = e > worst ? e : worst;
    BENCH("yuv420_row", f->yuv420_row(f8, bg, bg, bg + cw, bg + cw, s->w, &m, b, tmp));
    /* RGB to 4:2:0: f8 as s->h rows of s->w pixels, in row pairs (an odd height's last row
     * alone, given twice); luma, then chroma rows after it */
    memset(a, 0, 8 * n), memset(b, 0, 8 * n);
    for (int y = 0; y < s->h; y += 2) {
        const uint8_t *r0 = f8 + (size_t)3 * y * s->w, *r1 = y + 1 < s->h ? r0 + 3 * s->w : r0;
        size_t y1 = y + 1 < s->h ? (size_t)(y + 1) * s->w : 6 * n; /* a row of its own */
        size_t c = n + (size_t)(y / 2) * cw, c2 = n + (size_t)((s->h + 1) / 2 + y / 2) * cw;
        ref->rgb24_to_yuv420(r0, r1, s->w, a + (size_t)y * s->w, a + y1, a + c, a + c2);
        f->rgb24_to_yuv420(r0, r1, s->w, b + (size_t)y * s->w, b + y1, b + c, b + c2);
    }
    e = compare_bytes(a, b, 8 * n), worst = e > worst ? e : worst;
    BENCH("rgb24_to_yuv420", f->rgb24_to_yuv420(f8, f8, s->w, a, b, a + n, b + n));
#undef SAME
    return worst;
}
static const shape frame_shapes[] = {{36, 1920, 0, 0}, {1, 1, 0, 0}, {2, 3, 0, 0}, {3, 7, 0, 0},
                                     {2, 513, 0, 0}, {5, 641, 0, 0}, END};

/* HDR tone mapping: the tables as reader.c's hdr_tables builds them (PQ: 1 = 203 cd/m2;
 * HLG: scene light 0..1; BT.1886's inverse for the output). */
static void hdr_tables(int pq, float *lin, uint8_t *oetf)
{
    for (int i = 0; i < 65536; i++) {
        double e = i / 65535.0, nits;
        if (pq) {
            const double m1 = 2610.0 / 16384, m2 = 2523.0 / 4096 * 128, c1 = 3424.0 / 4096,
                         c2 = 2413.0 / 4096 * 32, c3 = 2392.0 / 4096 * 32;
            double p = pow(e, 1 / m2);
            nits = 10000.0 * pow(fmax(p - c1, 0) / (c2 - c3 * p), 1 / m1) / 203.0;
        } else {
            const double a = 0.17883277, b = 1 - 4 * a, c = 0.5 - a * log(4 * a);
            nits = e <= 0.5 ? e * e / 3 : (exp((e - c) / a) + b) / 12;
        }
        lin[i] = (float)nits;
        oetf[i] = (uint8_t)lround(pow(e, 1 / 2.4) * 255);
    }
    oetf[65536] = oetf[65537] = oetf[65538] = 0xA5;
}

/* Rows of random codes, then (when there is room) every code of each channel once (three
 * different orders) and every grey; packed and in planes. PQ and the BT.709 identity must give the reference's
 * bytes exactly; HLG's power (computed in double, not by powf) may move a byte by one where
 * powf's result is not the correctly rounded one: every byte within 1, fewer than 0.1% off.
 * Error: 1 at 0.1% off (infinite for any byte off by more, or any off without HLG). */
static double check_hdr(const rvmi_kernels *k, const shape *s, char *desc)
{
    static float lin[2][65536];
    static uint8_t oetf[2][65539];
    static int made;
    if (!made) {
        hdr_tables(1, lin[1], oetf[1]);
        hdr_tables(0, lin[0], oetf[0]);
        made = 1;
    }
    static const float bt2020_to_709[9] = {1.6605f,  -0.5876f, -0.0728f, -0.1246f, 1.1329f,
                                           -0.0083f, -0.0182f, -0.1006f, 1.1187f};
    static const float same[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    size_t n = (size_t)s->w * s->h;
    uint16_t *src = own(6 * n);
    for (size_t i = 0; i < 3 * n; i++)
        src[i] = (uint16_t)next_u32();
    for (size_t i = 0; i < 65536 && i < n; i++) /* odd multipliers: each a permutation */
        src[3 * i] = (uint16_t)i, src[3 * i + 1] = (uint16_t)(i * 7919u),
                src[3 * i + 2] = (uint16_t)(i * 104729u + 12345u);
    for (size_t i = 65536; i < 131072 && i < n; i++)
        src[3 * i] = src[3 * i + 1] = src[3 * i + 2] = (uint16_t)i;
    /* the same samples in planes */
    uint16_t *pl = own(6 * n);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            pl[c * n + i] = src[3 * i + c];
    uint8_t *a = own(3 * n + 1), *b = own(3 * n + 1);
    /* PQ peaks 1000 and 4000 cd/m2, BT.2020 and BT.709 primaries; HLG (peak 1000) both */
    static const struct {
        int pq;
        double peak;
        const float *mx;
    } cases[] = {{1, 1000, bt2020_to_709}, {1, 4000, bt2020_to_709}, {1, 400, same},
                 {0, 1000, bt2020_to_709}, {0, 1000, same}};
    double worst = 0;
    size_t off_hlg = 0, all_hlg = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rvmi_hdr_tone t;
        memcpy(t.mx, cases[c].mx, sizeof t.mx);
        t.hlg = !cases[c].pq;
        t.knee = 0.8f;
        float peak = (float)(cases[c].peak / 203.0);
        t.m = (peak - t.knee) / (1 - t.knee);
        t.lin = lin[cases[c].pq];
        t.oetf = oetf[cases[c].pq];
        /* packed RGB48, then planes (the reference's packed bytes for both) */
        for (int planar = 0; planar < 2; planar++) {
            memset(a, 0x5A, 3 * n + 1), memset(b, 0x5A, 3 * n + 1);
            for (int y = 0; y < s->h; y++) {
                const uint16_t *row = src + (size_t)3 * y * s->w;
                const uint16_t *r = pl + (size_t)y * s->w, *g = r + n, *bl = g + n;
                rvmi_frames_reference.hdr_tone_row(row, row + 1, row + 2, 3, s->w, &t,
                                                   a + (size_t)3 * y * s->w);
                if (planar)
                    k->frames->hdr_tone_row(r, g, bl, 1, s->w, &t, b + (size_t)3 * y * s->w);
                else
                    k->frames->hdr_tone_row(row, row + 1, row + 2, 3, s->w, &t,
                                            b + (size_t)3 * y * s->w);
            }
            size_t off = 0;
            int most = 0;
            for (size_t i = 0; i < 3 * n + 1; i++) {
                int d = abs(a[i] - b[i]);
                off += d != 0, most = d > most ? d : most;
            }
            double e = off == 0                                     ? 0
                       : !t.hlg || most > 1 || b[3 * n] != 0x5A ? INFINITY
                                                                  : off / (3e-3 * n);
            worst = e > worst ? e : worst;
            if (t.hlg)
                off_hlg += off, all_hlg += 3 * n;
        }
        BENCH(cases[c].pq ? "hdr_tone_row pq planes" : "hdr_tone_row hlg planes",
              k->frames->hdr_tone_row(pl, pl + n, pl + 2 * n, 1, s->w, &t, b));
    }
    snprintf(desc, 160, "%dx%d (HLG: %zu of %zu bytes off by 1)", s->w, s->h, off_hlg, all_hlg);
    return worst;
}
static const shape hdr_shapes[] = {{72, 1920, 0, 0}, {1, 1, 0, 0}, {2, 15, 0, 0}, {3, 17, 0, 0},
                                   {1, 33, 0, 0}, {5, 641, 0, 0}, END};

typedef struct {
    const char *name;
    double (*check)(const rvmi_kernels *k, const shape *s, char *desc);
    const shape *shapes;
    const char *tolerance;
} loop_test;

static const loop_test loop_tests[] = {
    {"resize", check_resize, resize_shapes, "1e-6 of 1+|ref| (FMA contraction)"},
    {"avgpool", check_avgpool, avgpool_shapes, "exact"},
    {"input", check_input, input_shapes, "1e-6 of 1+|ref|"},
    {"channels", check_channels, channel_shapes, "exact; gru_update 1e-6 of 1+|ref|"},
    {"refiner", check_refiner, refiner_shapes,
     "guide exact; box, cov_var 1e-6 of 1+|ref|; fast_a 1e-6 of (1+|A|)/(var+1e-5); offset 1e-6 of 1+|b|+|A mean(x)|"},
    {"dgf", check_dgf, dgf_shapes, "exact against the set's own conv_dense; 1e-5 of 1+|ref| against the reference's"},
    {"upsample_row", check_upsample, upsample_shapes, "1e-6 of 1+|ref|"},
    {"pixels", check_pixels, pixel_shapes, "packed_row exact; yuv_row 1e-6 of 1+|ref|"},
    {"frames", check_frames, frame_shapes, "exact bytes"},
    {"hdr", check_hdr, hdr_shapes, "exact bytes; HLG each within 1, under 0.1% off"},
};

static void test_loops(const rvmi_kernels *k, const char *filter)
{
    for (size_t t = 0; t < sizeof loop_tests / sizeof loop_tests[0]; t++) {
        const loop_test *lt = &loop_tests[t];
        if (filter && !strstr(lt->name, filter))
            continue;
        double worst = 0;
        int bad = 0, cases = 0;
        for (const shape *s = lt->shapes; s->w; s++, cases++) {
            char desc[160];
            bench_mode = 0;
            double e = lt->check(k, s, desc);
            free_owned();
            worst = e > worst ? e : worst;
            if (!(e <= 1.0)) {
                printf("FAIL %s %s %s: error %.3g of the tolerance\n", k->name, lt->name, desc, e);
                bad++;
            }
        }
        printf("%s %s %s: %d shapes, worst error %.3f of the tolerance (%s)\n", bad ? "FAIL" : "ok",
               k->name, lt->name, cases, worst, lt->tolerance);
        bad ? failed++ : passed++;
    }
}

/* Random and real-shape convolutions of one set; name: conv_dense, conv_depthwise or
 * conv_winograd. Tolerance in rounding units (run_conv): 30 direct, 200 Winograd (its
 * transforms scale values by up to ~100 before the products). */
static void test_convs(const rvmi_kernels *k, const char *name, int random_cases)
{
    int depthwise = !strcmp(name, "conv_depthwise"), winograd = !strcmp(name, "conv_winograd");
    double limit = winograd ? 200.0 : 30.0, worst = 0;
    int bad = 0, cases = 0;
    for (int i = 0; i < random_cases + (int)(sizeof conv_shapes / sizeof conv_shapes[0]); i++) {
        conv_params p;
        if (i < random_cases) {
            p = random_conv(depthwise, winograd);
        } else {
            p = conv_shapes[i - random_cases];
            if (p.depthwise != depthwise || p.winograd != winograd)
                continue;
        }
        char desc[160];
        double e = run_conv(k, &p, desc, sizeof desc);
        cases++;
        worst = e > worst ? e : worst;
        if (!(e <= limit)) {
            printf("FAIL %s %s %s: error %.3g\n", k->name, name, desc, e);
            bad++;
        }
    }
    for (size_t i = 0; winograd && i < sizeof concat_shapes / sizeof concat_shapes[0]; i++) {
        char desc[160];
        split[0] = concat_shapes[i].split[0], split[1] = concat_shapes[i].split[1];
        double e = run_conv(k, &concat_shapes[i].p, desc, sizeof desc);
        split[0] = split[1] = 0;
        cases++;
        worst = e > worst ? e : worst;
        if (!(e <= limit)) {
            printf("FAIL %s %s %s split at %d, %d: error %.3g\n", k->name, name, desc,
                   concat_shapes[i].split[0], concat_shapes[i].split[1], e);
            bad++;
        }
    }
    printf("%s %s %s: %d convolutions (%d random), worst error %.2f rounding units (limit %.0f)\n",
           bad ? "FAIL" : "ok", k->name, name, cases, random_cases, worst, limit);
    bad ? failed++ : passed++;
}

/* One set's blend_row into interleaved RGB against the same set's planar foreground, 8- and
 * 16-bit: the same values (the interleaving stores only move them; a wrong lane fails).
 * Widths with vector tails. Returns the number of samples that differ. */
static long run_blend_interleaved(const rvmi_kernels *k, rvm_pixel_type type, int width)
{
    size_t plane = (size_t)width + rand_int(0, 20), size = type == RVM_PIXEL_U16 ? 2 : 1;
    float *h0 = malloc(sizeof(float) * 8 * plane), *h1 = malloc(sizeof(float) * 8 * plane);
    for (size_t i = 0; i < 8 * plane; i++)
        h0[i] = 1.5f * rand_float(), h1[i] = 1.5f * rand_float();
    float *x = malloc(sizeof(float) * 3 * width), *tmp = malloc(sizeof(float) * 4 * width);
    for (int i = 0; i < 3 * width; i++)
        x[i] = (float)(uint8_t)next_u32() / 255.f;
    const float *planes[3] = {x, x + width, x + 2 * width};
    float l1 = (float)(next_u32() % 1001) / 1000.f, l0 = 1.f - l1;
    /* one sample more than the row: it must stay untouched */
    char *fp = calloc(3 * (size_t)width, size), *fi = calloc(3 * (size_t)width + 1, size);
    rvmi_blend_out op = {type, RVM_FGR_PLANAR, NULL, fp, (ptrdiff_t)(width * size)};
    rvmi_blend_out oi = {type, RVM_FGR_RGB, NULL, fi, 0};
    k->blend_row(h0, h1, plane, l0, l1, planes, width, &op, tmp);
    k->blend_row(h0, h1, plane, l0, l1, planes, width, &oi, tmp);
    long bad = 0;
    for (int i = 0; i < width; i++)
        for (int c = 0; c < 3; c++) {
            size_t at = (size_t)c * width + i, to = 3 * (size_t)i + c;
            bad += type == RVM_PIXEL_U16 ? ((uint16_t *)fp)[at] != ((uint16_t *)fi)[to]
                                         : ((uint8_t *)fp)[at] != ((uint8_t *)fi)[to];
        }
    bad += type == RVM_PIXEL_U16 ? ((uint16_t *)fi)[3 * width] != 0 : fi[3 * width] != 0;
    free(h0), free(h1), free(x), free(tmp), free(fp), free(fi);
    return bad;
}

/* The refiner's full-resolution row: at most one output step apart (rounding order may move a
 * value across a rounding boundary). */
static void test_blend(const rvmi_kernels *k)
{
    long differ = 0;
    for (int i = 0; i < 60; i++)
        differ += run_blend_interleaved(k, i % 2 ? RVM_PIXEL_U16 : RVM_PIXEL_U8,
                                        i < 40 ? rand_int(1, 70) : 1920 + i % 20);
    printf("%s %s blend_row: interleaved 8- and 16-bit RGB = the same set's planes (60 rows), %ld samples differ\n",
           differ ? "FAIL" : "ok", k->name, differ);
    differ ? failed++ : passed++;
    double blend = 0;
    for (int i = 0; i < 90; i++) {
        double e = run_blend(k, (rvm_pixel_type)(i % 3), (rvm_fgr_layout)(i / 3 % 3));
        blend = e > blend ? e : blend;
    }
    printf("%s %s blend_row: 90 random refiner rows (3 types, 3 layouts), worst difference %.2f output steps\n",
           blend <= 1.0 ? "ok" : "FAIL", k->name, blend);
    blend <= 1.0 ? passed++ : failed++;
}

/* blend_rgb24 (packed 8-bit RGB in, 8-bit packed RGB and alpha out) against the same set's
 * blend_row on the row converted to floats (the same bytes: it promises the same values) and
 * against the reference's blend_rgb24 (one step): random widths with vector tails, the real
 * width, no alpha or no foreground; bytes past the row's end must stay untouched. Returns the
 * number of bytes that differ from blend_row's, -1 for a write past the end. */
static long run_blend_rgb24(const rvmi_kernels *fast, int width, int which, long *ref_steps)
{
    size_t plane = (size_t)width + rand_int(0, 20);
    float *h0 = malloc(sizeof(float) * 8 * plane), *h1 = malloc(sizeof(float) * 8 * plane);
    for (size_t i = 0; i < 8 * plane; i++)
        h0[i] = 1.5f * rand_float(), h1[i] = 1.5f * rand_float();
    uint8_t *rgb = malloc(3 * (size_t)width);
    float *x = malloc(sizeof(float) * 3 * width);
    for (int i = 0; i < width; i++)
        for (int c = 0; c < 3; c++) {
            rgb[3 * i + c] = (uint8_t)next_u32();
            x[c * width + i] = (float)rgb[3 * i + c] / 255.f;
        }
    const float *planes[3] = {x, x + width, x + 2 * width};
    float l1 = (float)(next_u32() % 1001) / 1000.f, l0 = 1.f - l1;
    enum { GUARD = 64 };
    uint8_t *out[3][2]; /* [blend_row, blend_rgb24, reference][alpha, foreground] */
    for (int v = 0; v < 3; v++)
        for (int c = 0; c < 2; c++) {
            out[v][c] = malloc((size_t)(c ? 3 : 1) * width + GUARD);
            memset(out[v][c], 0xA5, (size_t)(c ? 3 : 1) * width + GUARD);
        }
    float *tmp = malloc(sizeof(float) * 4 * width);
    rvmi_blend_out o[3];
    for (int v = 0; v < 3; v++)
        o[v] = (rvmi_blend_out){RVM_PIXEL_U8, RVM_FGR_RGB, which != 1 ? out[v][0] : NULL,
                                which != 2 ? out[v][1] : NULL, 0};
    fast->blend_row(h0, h1, plane, l0, l1, planes, width, &o[0], tmp);
    fast->blend_rgb24(h0, h1, plane, l0, l1, rgb, width, &o[1]);
    rvmi_kernels_reference.blend_rgb24(h0, h1, plane, l0, l1, rgb, width, &o[2]);
    long differ = 0;
    for (int c = 0; c < 2; c++) {
        size_t n = (size_t)(c ? 3 : 1) * width;
        for (size_t i = 0; i < n + GUARD; i++) {
            if (i >= n) {
                if (out[1][c][i] != 0xA5 || out[2][c][i] != 0xA5)
                    differ = -1;
                continue;
            }
            if (differ >= 0)
                differ += out[0][c][i] != out[1][c][i];
            *ref_steps += abs(out[2][c][i] - out[1][c][i]) > 1;
        }
    }
    for (int v = 0; v < 3; v++)
        free(out[v][0]), free(out[v][1]);
    free(h0), free(h1), free(rgb), free(x), free(tmp);
    return differ;
}

static void test_blend_rgb24(const rvmi_kernels *k)
{
    long differ = 0, far = 0;
    int rows = 0;
    for (int i = 0; i < 120; i++, rows++) {
        int width = i < 3 ? 1920 : i < 40 ? i - 2 : rand_int(1, 300);
        long d = run_blend_rgb24(k, width, i % 3, &far);
        differ = d < 0 || differ < 0 ? -1 : differ + d;
    }
    int ok = differ == 0 && far == 0;
    printf("%s %s blend_rgb24: %d rows (widths 1..37, random, 1920; without alpha or "
           "foreground): %ld bytes unlike blend_row's%s, %ld more than one step from the "
           "reference\n",
           ok ? "ok" : "FAIL", k->name, rows, differ < 0 ? 0 : differ,
           differ < 0 ? " (and a write past the row)" : "", far);
    ok ? passed++ : failed++;
}

/* --bench: one 1080p row, 8-bit in and out, through blend_rgb24 and the way it replaces
 * (packed_row into float planes, then blend_row). */
static void bench_blend_rgb24(const rvmi_kernels *k)
{
    enum { W = 1920 };
    size_t plane = W;
    float *h = malloc(sizeof(float) * 16 * plane), *x = malloc(sizeof(float) * 3 * W);
    float *tmp = malloc(sizeof(float) * 4 * W);
    uint8_t *rgb = malloc(3 * W), *fgr = malloc(3 * W), *pha = malloc(W);
    for (size_t i = 0; i < 16 * plane; i++)
        h[i] = 1.5f * rand_float();
    for (int i = 0; i < 3 * W; i++)
        rgb[i] = (uint8_t)next_u32();
    const float *planes[3] = {x, x + W, x + 2 * W};
    rvmi_blend_out o = {RVM_PIXEL_U8, RVM_FGR_RGB, pha, fgr, 0};
    BENCH("blend_rgb24", k->blend_rgb24(h, h + 8 * plane, plane, 0.3f, 0.7f, rgb, W, &o));
    BENCH("packed+blend_row", (k->loops->packed_row(rgb, 3, 0, 1, 2, W, x, x + W, x + 2 * W),
                               k->blend_row(h, h + 8 * plane, plane, 0.3f, 0.7f, planes, W, &o,
                                            tmp)));
    free(h), free(x), free(tmp), free(rgb), free(fgr), free(pha);
}

/* float_range (the range check of planar float frames) against a plain loop: every length to
 * 80 and offset to 3 (vector tails), a NaN, an infinity or an extreme at every place, the
 * range carried over from an earlier row. */
static void test_float_range(const rvmi_kernels *k)
{
    float buf[88];
    unsigned seed = 777;
    int wrong = 0, rows = 0;
    for (int n = 0; n <= 80; n++)
        for (int off = 0; off < 4; off++)
            for (int at = -1; at < n; at++)
                for (int kind = 0; kind < 4; kind++, rows++) {
                    float *v = buf + off;
                    for (int i = 0; i < n; i++)
                        v[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / (1 << 24) * 3 - 1;
                    if (at >= 0)
                        v[at] = kind == 0 ? NAN : kind == 1 ? INFINITY : kind == 2 ? -INFINITY : -7.5f;
                    rvmi_float_range r = {-0.25f, 0.5f, 0}; /* as left by an earlier row */
                    k->float_range(v, n, &r);
                    float lo = -0.25f, hi = 0.5f;
                    int bad = 0;
                    for (int i = 0; i < n; i++) {
                        if (v[i] != v[i]) {
                            bad = 1;
                            continue;
                        }
                        lo = v[i] < lo ? v[i] : lo, hi = v[i] > hi ? v[i] : hi;
                    }
                    bad |= hi == INFINITY || lo == -INFINITY;
                    wrong += r.lo != lo || r.hi != hi || !r.nonfinite != !bad;
                }
    printf("%s %s float_range: %d rows (NaN, infinities, extremes at every place), %d wrong\n",
           wrong ? "FAIL" : "ok", k->name, rows, wrong);
    wrong ? failed++ : passed++;
}

static int wanted(const char *name, const char *filter) { return !filter || strstr(name, filter); }

/* --bench: every kernel on its real shape (the first of its list) for one set. */
static void bench_set(const rvmi_kernels *k, const char *filter)
{
    bench_mode = 1;
    n_timings = 0;
    static const char *convs[] = {"conv_dense", "conv_depthwise", "conv_winograd"};
    for (int c = 0; c < 3; c++) {
        if (!wanted(convs[c], filter))
            continue;
        for (size_t i = 0; i < sizeof conv_shapes / sizeof conv_shapes[0]; i++) {
            const conv_params *p = &conv_shapes[i];
            if (p->depthwise == (c == 1) && p->winograd == (c == 2)) {
                char desc[160];
                run_conv(k, p, desc, sizeof desc);
                break;
            }
        }
    }
    if (wanted("blend_rgb24", filter))
        bench_blend_rgb24(k);
    for (size_t t = 0; t < sizeof loop_tests / sizeof loop_tests[0]; t++) {
        if (!wanted(loop_tests[t].name, filter))
            continue;
        char desc[160];
        loop_tests[t].check(k, &loop_tests[t].shapes[0], desc);
        free_owned();
    }
    bench_mode = 0;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int bench = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bench"))
            bench = 1;
        else if (argv[i][0] == '-' || filter) {
            fprintf(stderr, "usage: test_kernels [--bench] [NAME]\n");
            return 2;
        } else
            filter = argv[i];
    }
    if (wanted("int8", filter))
        test_int8();
    if (wanted("float_range", filter))
        test_float_range(&rvmi_kernels_reference);
    const char *sets[] = {"avx512", "avx2", "generic"};
    for (int s = 0; s < 3; s++) {
        const rvmi_kernels *k = rvmi_kernels_by_name(sets[s]);
        if (!k) {
            printf("skip %s: this CPU cannot run it\n", sets[s]);
            skipped++;
            continue;
        }
        if (wanted("conv_dense", filter))
            test_convs(k, "conv_dense", 150);
        if (wanted("conv_depthwise", filter))
            test_convs(k, "conv_depthwise", 150);
        if (k->conv_winograd && wanted("conv_winograd", filter))
            test_convs(k, "conv_winograd", 200);
        if (wanted("blend_row", filter))
            test_blend(k);
        if (wanted("blend_rgb24", filter))
            test_blend_rgb24(k);
        if (wanted("float_range", filter))
            test_float_range(k);
        test_loops(k, filter);
    }
    if (bench) {
        /* the reference's timings, then each set's beside them */
        bench_set(&rvmi_kernels_reference, filter);
        int n = n_timings;
        static struct {
            const char *name;
            double ns;
        } ref[32];
        memcpy(ref, timings, sizeof ref);
        printf("bench: ns per call on the real shapes (1920x1080, ratio 0.25); x = reference / set\n");
        printf("%-18s %12s", "kernel", "reference");
        int nrun = 0;
        double ns[3][32];
        for (int s = 0; s < 3; s++) {
            const rvmi_kernels *k = rvmi_kernels_by_name(sets[s]);
            if (!k)
                continue;
            bench_set(k, filter);
            for (int i = 0; i < n && i < n_timings; i++)
                ns[nrun][i] = timings[i].ns;
            nrun++;
            printf(" %12s %6s", k->name, "x");
        }
        printf("\n");
        for (int i = 0; i < n; i++) {
            printf("%-18s %12.0f", ref[i].name, ref[i].ns);
            for (int r = 0; r < nrun; r++)
                printf(" %12.0f %6.1f", ns[r][i], ref[i].ns / ns[r][i]);
            printf("\n");
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (!passed && !failed) {
        fprintf(stderr, "test_kernels: no kernel name contains \"%s\"\n", filter ? filter : "");
        return 2;
    }
    return failed ? 1 : 0;
}
