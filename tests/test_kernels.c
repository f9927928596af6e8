/* Every SIMD kernel set against the plain C reference, on random shapes: odd sizes, channel
 * counts that are not multiples of the vector width, strides, dilations, residuals, and every
 * activation. Sets this CPU cannot run are reported as skipped.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
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
