/* Every SIMD kernel set against the plain C reference, on random shapes: odd sizes, channel
 * counts that are not multiples of the vector width, strides, dilations, residuals, and every
 * activation. Sets this CPU cannot run are reported as skipped.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static int force_winograd; /* run_case: 3x3 stride-1 dense through the Winograd kernel */

/* One random case: returns the max error of `fast` against the reference, in units of the
 * rounding error that a different summation order may add (float epsilon times the square
 * root of the number of terms, relative to 1 + |result|). Below 30 is agreement (the order
 * of summation differs: blocks, taps, concatenated views); a wrong index or tap gives errors
 * of order 1e5. */
static double run_case(const rvmi_kernels *fast, int depthwise, char *desc, size_t desclen)
{
    static const int ks[] = {1, 3, 5, 7};
    int k = depthwise ? ks[rand_int(1, 2)] : force_winograd ? 3 : ks[rand_int(0, 3)];
    int cin = depthwise ? rand_int(1, 70) : rand_int(1, 90);
    int cout = depthwise ? cin : rand_int(1, 70);
    int stride = rand_int(1, 2), dilation = k > 1 ? rand_int(1, 2) : 1;
    if (stride == 2)
        dilation = 1;
    if (force_winograd)
        stride = dilation = 1;
    int h = rand_int(1, 23), w = rand_int(1, 37), extra = rand_int(0, 5);
    rvmi_act act = (rvmi_act)rand_int(0, 5);
    int use_res = rand_int(0, 1);
    snprintf(desc, desclen, "%s k%d cin%d cout%d s%d d%d %dx%d act%d res%d",
             depthwise ? "depthwise" : "dense", k, cin, cout, stride, dilation, w, h, act, use_res);

    float *oihw = malloc(sizeof(float) * cout * (depthwise ? 1 : cin) * k * k);
    fill(oihw, (size_t)cout * (depthwise ? 1 : cin) * k * k);
    rvmi_conv cv = {.cin = cin, .cout = cout, .kh = k, .kw = k, .stride = stride,
                   .dilation = dilation, .depthwise = depthwise, .act = act};
    cv.weight = depthwise ? rvmi_pack_depthwise(oihw, cout, k, k) : rvmi_pack_dense(oihw, cout, cin, k, k);
    if (force_winograd)
        cv.winograd = rvmi_pack_winograd(oihw, cout, cin);
    int cpad = (cout + 15) / 16 * 16;
    cv.bias = calloc(cpad, sizeof(float));
    fill(cv.bias, cout);

    /* the input is a channel slice of a wider buffer, as concatenations are */
    rvmi_view in = {.h = h, .w = w, .c = cin, .stride = cin + extra};
    float *in_buf = malloc(sizeof(float) * h * w * in.stride);
    fill(in_buf, (size_t)h * w * in.stride);
    in.data = in_buf;
    int oh = rvmi_conv_out_size(h, k, stride, dilation), ow = rvmi_conv_out_size(w, k, stride, dilation);
    rvmi_view a = {malloc(sizeof(float) * oh * ow * (cout + extra)), oh, ow, cout, cout + extra};
    rvmi_view b = {malloc(sizeof(float) * oh * ow * (cout + extra)), oh, ow, cout, cout + extra};
    rvmi_view res = {malloc(sizeof(float) * oh * ow * cout), oh, ow, cout, cout};
    fill(res.data, (size_t)oh * ow * cout);
    memset(a.data, 0, sizeof(float) * oh * ow * (cout + extra));
    memset(b.data, 0, sizeof(float) * oh * ow * (cout + extra));
    float *zeros = calloc(cin + cpad + 16, sizeof(float)); /* padding, and zero bias for Winograd */

    const rvmi_kernels *ref = &rvmi_kernels_reference;
    /* dense convolutions read their input as up to three concatenated views */
    rvmi_inputs ins = rvmi_inputs_of(&in);
    if (!depthwise && cin >= 3 && rand_int(0, 1)) {
        int c1 = rand_int(1, cin - 2), c2 = rand_int(1, cin - c1 - 1);
        ins.n = 3;
        ins.v[0].c = c1;
        ins.v[1] = in, ins.v[1].data += c1, ins.v[1].c = c2;
        ins.v[2] = in, ins.v[2].data += c1 + c2, ins.v[2].c = cin - c1 - c2;
    }
    rvmi_view *r = use_res ? &res : NULL;
    if (depthwise) {
        ref->conv_depthwise(&cv, &in, &a, r, 0, oh);
        /* split rows in two calls, as threads do */
        fast->conv_depthwise(&cv, &in, &b, r, 0, oh / 2);
        fast->conv_depthwise(&cv, &in, &b, r, oh / 2, oh);
    } else if (force_winograd) {
        ref->conv_dense(&cv, &ins, &a, r, 0, oh, zeros);
        float *scratch = malloc(sizeof(float) * rvmi_winograd_scratch(cin, cout));
        int tiles = (oh + 3) / 4; /* split tile rows in two calls, as threads do */
        fast->conv_winograd(&cv, &ins, &b, r, 0, tiles / 2, zeros, scratch);
        fast->conv_winograd(&cv, &ins, &b, r, tiles / 2, tiles, zeros, scratch);
        free(scratch);
    } else {
        ref->conv_dense(&cv, &ins, &a, r, 0, oh, zeros);
        fast->conv_dense(&cv, &ins, &b, r, 0, oh / 2, zeros);
        fast->conv_dense(&cv, &ins, &b, r, oh / 2, oh, zeros);
    }
    double max_err = 0, unit = 1.2e-7 * sqrt((double)k * k * (depthwise ? 1 : cin) + 2);
    for (size_t i = 0; i < (size_t)oh * ow * (cout + extra); i++) {
        double scale = 1.0 + fabs(a.data[i]);
        double e = fabs((double)a.data[i] - b.data[i]) / scale / unit;
        if (!(e <= max_err))
            max_err = isnan(e) ? INFINITY : e;
    }
    free(oihw), free(cv.weight), free(cv.bias), free(cv.winograd), free(in_buf), free(a.data), free(b.data);
    free(res.data), free(zeros);
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

static float dequant_weight(const float *oi, int cin, int o, int i, float *scale_out)
{
    /* the quantisation int8.h describes, computed here independently of the packing */
    float amax = 0.f;
    for (int k = 0; k < cin; k++)
        amax = fmaxf(amax, fabsf(oi[(size_t)o * cin + k]));
    float scale = amax > 0.f ? amax / RVM_Q8_WMAX : 1.f;
    double q = nearbyint(oi[(size_t)o * cin + i] / scale);
    q = q > RVM_Q8_WMAX ? RVM_Q8_WMAX : q < -RVM_Q8_WMAX ? -RVM_Q8_WMAX : q;
    *scale_out = scale;
    return (float)q;
}

/* A random int8 1x1 convolution: `fast` against the reference (the same integers, so only
 * the float epilogue's rounding may differ), and the reference against the dequantised
 * product computed in double (that checks packing, zero point and scales). extreme: every
 * weight at +-64 and every input at 255, the case that would saturate AVX2's int16 pairs if
 * the weight range were wider. Returns the larger error in units of 1e-6 relative. */
static double run_q8_case(const rvmi_kernels_q8 *fast, int extreme, char *desc, size_t desclen)
{
    int cin = rand_int(1, 200), cout = rand_int(1, 70), pixels = rand_int(1, 80);
    int extra = rand_int(0, 3), use_res = rand_int(0, 1);
    rvmi_act act = (rvmi_act)rand_int(0, 5);
    snprintf(desc, desclen, "cin%d cout%d pixels%d act%d res%d%s", cin, cout, pixels, act, use_res,
             extreme ? " extreme" : "");
    float *oi = malloc(sizeof(float) * cout * cin);
    for (int i = 0; i < cout * cin; i++)
        oi[i] = extreme ? (rand_int(0, 1) ? 1.f : -1.f) : rand_float() * (1 + i % 7);
    int cpad = (cout + 15) / 16 * 16;
    float *bias = calloc(cpad, sizeof(float));
    fill(bias, cout);
    rvmi_conv_q8 cv = {.cin = cin, .cout = cout, .act = act, .bias = bias};
    if (rvmi_q8_pack(&cv, oi)) {
        free(oi), free(bias);
        return INFINITY;
    }
    size_t stride = (size_t)cv.kpad + 4 * (size_t)rand_int(0, 2);
    uint8_t *x = malloc(stride * pixels);
    for (size_t i = 0; i < stride * pixels; i++)
        x[i] = extreme ? 255 : (uint8_t)next_u32();
    for (int p = 0; p < pixels; p++) /* the channels past cin are zero, as quantising leaves them */
        memset(x + p * stride + cin, 0, stride - cin);
    rvmi_qtensor qt = {x, stride, 0.001f + (float)(next_u32() % 1000) / 20000.f, rand_int(0, 255)};
    rvmi_view a = {malloc(sizeof(float) * pixels * (cout + extra)), 1, pixels, cout, cout + extra};
    rvmi_view b = {malloc(sizeof(float) * pixels * (cout + extra)), 1, pixels, cout, cout + extra};
    rvmi_view res = {malloc(sizeof(float) * pixels * cout), 1, pixels, cout, cout};
    fill(res.data, (size_t)pixels * cout);
    memset(a.data, 0, sizeof(float) * pixels * (cout + extra));
    memset(b.data, 0, sizeof(float) * pixels * (cout + extra));
    rvmi_view *r = use_res ? &res : NULL;
    rvmi_kernels_q8_reference.conv_1x1(&cv, &qt, &a, r, 0, pixels);
    /* two calls, as threads and slices do: the second one's input starts at its first pixel */
    int half = pixels / 2;
    fast->conv_1x1(&cv, &qt, &b, r, 0, half);
    rvmi_qtensor rest = qt;
    rest.data += half * stride;
    fast->conv_1x1(&cv, &rest, &b, r, half, pixels);
    double worst = 0;
    for (int p = 0; p < pixels; p++)
        for (int o = 0; o < cout + extra; o++) {
            size_t at = (size_t)p * (cout + extra) + o;
            double ref = a.data[at], e;
            if (o >= cout) { /* past cout: untouched */
                e = a.data[at] != 0.f || b.data[at] != 0.f ? INFINITY : 0;
            } else {
                double sum = 0, mag = fabs(bias[o]);
                float ws = 0;
                for (int i = 0; i < cin; i++) {
                    double t = dequant_weight(oi, cin, o, i, &ws) * ((double)x[p * stride + i] - qt.zero);
                    sum += t, mag += fabs(t) * qt.scale * ws;
                }
                double v = sum * qt.scale * ws + bias[o] + (r ? res.data[p * cout + o] : 0.0);
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
    free(oi), free(bias), free(x), free(a.data), free(b.data), free(res.data);
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
        free(x), free(q);
    }
    return bad;
}

static void test_int8(void)
{
    const char *sets[] = {"reference", "avx2", "avxvnni", "avx512vnni"};
    for (int s = 0; s < 4; s++) {
        const rvmi_kernels_q8 *k = rvmi_kernels_q8_by_name(sets[s]);
        if (!k) {
            printf("skip int8 %s: this CPU cannot run it\n", sets[s]);
            skipped++;
            continue;
        }
        int bad = run_q8_quantize(k);
        printf("%s int8 %s quantisation: 50 random tensors, %d wrong values or ranges\n",
               bad ? "FAIL" : "ok", sets[s], bad);
        bad ? failed++ : passed++;
        int nbad = 0;
        double worst = 0;
        for (int i = 0; i < 200; i++) {
            char desc[160];
            double e = run_q8_case(k, i % 10 == 9, desc, sizeof desc);
            worst = e > worst ? e : worst;
            /* float32 epilogue: a few units of 1e-7 relative to the terms' magnitude */
            if (!(e <= 2.0)) {
                printf("FAIL int8 %s %s: error %.3g\n", sets[s], desc, e);
                nbad++;
            }
        }
        printf("%s int8 %s: 200 random 1x1 convolutions, worst error %.3f (1e-6 relative)\n",
               nbad ? "FAIL" : "ok", sets[s], worst);
        nbad ? failed++ : passed++;
    }
}

int main(void)
{
    test_int8();
    const char *sets[] = {"avx512", "avx2", "generic"};
    for (int s = 0; s < 3; s++) {
        const rvmi_kernels *k = rvmi_kernels_by_name(sets[s]);
        if (!k) {
            printf("skip %s: this CPU cannot run it\n", sets[s]);
            skipped++;
            continue;
        }
        int bad = 0;
        double worst = 0;
        for (int i = 0; i < 300; i++) {
            char desc[160];
            double e = run_case(k, i % 2, desc, sizeof desc);
            worst = e > worst ? e : worst;
            if (!(e <= 30.0)) {
                printf("FAIL %s %s: error %.3g\n", sets[s], desc, e);
                bad++;
            }
        }
        printf("%s %s: 300 random convolutions, worst error %.2f rounding units\n", bad ? "FAIL" : "ok",
               sets[s], worst);
        bad ? failed++ : passed++;
        /* Winograd F(4x4, 3x3) rounds differently (its transforms scale values by up to ~100
         * before the products) but must stay within a small multiple of direct rounding. */
        if (k->conv_winograd) {
            force_winograd = 1;
            double wworst = 0;
            int wbad = 0;
            for (int i = 0; i < 200; i++) {
                char desc[160];
                double e = run_case(k, 0, desc, sizeof desc);
                wworst = e > wworst ? e : wworst;
                if (!(e <= 200.0)) {
                    printf("FAIL %s winograd %s: error %.3g\n", sets[s], desc, e);
                    wbad++;
                }
            }
            force_winograd = 0;
            printf("%s %s: 200 random Winograd convolutions, worst error %.2f rounding units\n",
                   wbad ? "FAIL" : "ok", sets[s], wworst);
            wbad ? failed++ : passed++;
        }
        /* Rounding order may move a value across a rounding boundary: at most one step. */
        double blend = 0;
        for (int i = 0; i < 90; i++) {
            double e = run_blend(k, (rvm_pixel_type)(i % 3), (rvm_fgr_layout)(i / 3 % 3));
            blend = e > blend ? e : blend;
        }
        printf("%s %s: 90 random refiner rows (3 types, 3 layouts), worst difference %.2f output steps\n",
               blend <= 1.0 ? "ok" : "FAIL", sets[s], blend);
        blend <= 1.0 ? passed++ : failed++;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
