/* int8 kernels in plain C: weight quantisation and packing, activation quantisation, the
 * reference convolution the SIMD ones are tested against, and the run-time choice of set.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/int8.h"

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

float rvmi_q8_weight_scale(const float *w, int n)
{
    float amax = 0.f;
    for (int i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(w[i]));
    if (!(amax > 0.f) || !isfinite(amax))
        return 1.f;
    /* the coarsest step amax / K (K <= RVM_Q8_WMAX) that every weight is an integer multiple
     * of, within float rounding (the weights went through a few float multiplications, e.g.
     * a folded BatchNorm): most candidates fail at the first weights */
    for (int k = 1; k <= RVM_Q8_WMAX; k++) {
        float step = amax / (float)k;
        int i = 0;
        while (i < n && fabsf(w[i] / step - rintf(w[i] / step)) <= RVM_Q8_GRID_TOLERANCE)
            i++;
        if (i == n)
            return step;
    }
    return amax / RVM_Q8_WMAX;
}

int rvmi_q8_pack(rvmi_conv_q8 *cv, const float *oi)
{
    const int cpad = round_up(cv->cout, RVM_COUT_BLOCK);
    cv->kpad = round_up(cv->cin, 4);
    size_t n = (size_t)cpad * cv->kpad;
    cv->weight = aligned_alloc(64, (size_t)round_up((int)n, 64));
    cv->wscale = aligned_alloc(64, (size_t)cpad * sizeof(float));
    cv->wsum = aligned_alloc(64, (size_t)cpad * sizeof(int32_t));
    size_t n16 = (size_t)cpad * round_up(cv->cin, 2);
    cv->weight16 = aligned_alloc(64, (size_t)round_up((int)(n16 * 2), 64));
    if (!cv->weight || !cv->wscale || !cv->wsum || !cv->weight16) {
        rvmi_q8_release(cv);
        return -1;
    }
    memset(cv->weight, 0, n);
    memset(cv->weight16, 0, n16 * 2);
    cv->wabs = 0;
    for (int o = 0; o < cpad; o++) {
        cv->wscale[o] = 0.f;
        cv->wsum[o] = 0;
        if (o >= cv->cout)
            continue;
        float scale = rvmi_q8_weight_scale(oi + (size_t)o * cv->cin, cv->cin);
        cv->wscale[o] = scale;
        long abs_sum = 0;
        for (int i = 0; i < cv->cin; i++) {
            long q = lrintf(oi[(size_t)o * cv->cin + i] / scale);
            q = q > RVM_Q8_WMAX ? RVM_Q8_WMAX : q < -RVM_Q8_WMAX ? -RVM_Q8_WMAX : q;
            size_t at = (((size_t)(o / RVM_COUT_BLOCK) * (cv->kpad / 4) + i / 4) * RVM_COUT_BLOCK +
                         o % RVM_COUT_BLOCK) * 4 + i % 4;
            cv->weight[at] = (int8_t)q;
            cv->wsum[o] += (int32_t)q;
            at = (((size_t)(o / RVM_COUT_BLOCK) * (size_t)(round_up(cv->cin, 2) / 2) + i / 2) *
                      RVM_COUT_BLOCK + o % RVM_COUT_BLOCK) * 2 + i % 2;
            cv->weight16[at] = (int16_t)q;
            abs_sum += q < 0 ? -q : q;
        }
        cv->wabs = abs_sum > cv->wabs ? (int32_t)abs_sum : cv->wabs;
    }
    return 0;
}

void rvmi_q8_release(rvmi_conv_q8 *cv)
{
    free(cv->weight);
    free(cv->wscale);
    free(cv->wsum);
    free(cv->weight16);
    cv->weight16 = NULL;
    cv->weight = NULL;
    cv->wscale = NULL;
    cv->wsum = NULL;
}

void rvmi_q8_range(float lo, float hi, float *scale, int *zero)
{
    lo = fminf(lo, 0.f);
    hi = fmaxf(hi, 0.f);
    float s = (hi - lo) / 255.f;
    if (!(s > 0.f) || !isfinite(s))
        s = 1.f;
    long z = lrintf(-lo / s);
    *scale = s;
    *zero = z < 0 ? 0 : z > 255 ? 255 : (int)z;
}

int rvmi_q16_limit(const rvmi_conv_q8 *cv)
{
    long limit = cv->wabs > 0 ? 2147483647L / (2L * cv->wabs) : 32767;
    return limit > 32767 ? 32767 : (int)limit;
}

void rvmi_q16_range(float lo, float hi, int limit, float *scale, int *zero)
{
    lo = fminf(lo, 0.f);
    hi = fmaxf(hi, 0.f);
    float s = (hi - lo) / (2.f * (float)limit);
    if (!(s > 0.f) || !isfinite(s))
        s = 1.f;
    long z = lrintf(-lo / s) - limit;
    *scale = s;
    *zero = z < -limit ? -limit : z > limit ? limit : (int)z;
}

static void ref_quantize_s16(const float *x, int n, float inv_scale, int zero, int limit,
                             int16_t *dst, int pad)
{
    for (int i = 0; i < n; i++) {
        float v = x[i] * inv_scale + (float)zero;
        v = v < (float)-limit ? (float)-limit : v > (float)limit ? (float)limit : v;
        dst[i] = (int16_t)lrintf(v);
    }
    for (int i = n; i < pad; i++)
        dst[i] = 0;
}

/* Output o of pixel p from its int32 sum: the input's zero point taken off, scaled back to
 * float, bias, residual and activation. The 8-bit and 16-bit convolutions' one epilogue. */
static void store(const rvmi_conv_q8 *cv, int32_t acc, int zero, float scale,
                  const rvmi_view *out, const rvmi_view *res, size_t p, int o)
{
    acc -= zero * cv->wsum[o];
    float v = (float)acc * (scale * cv->wscale[o]) + cv->bias[o];
    if (res)
        v += res->data[p * res->stride + o];
    out->data[p * out->stride + o] = rvmi_activate(cv->act, v);
}

static void ref_conv_1x1_s16(const rvmi_conv_q8 *cv, const rvmi_qtensor16 *in,
                             const rvmi_view *out, const rvmi_view *res, size_t p0, size_t p1)
{
    const size_t pairs = (size_t)round_up(cv->cin, 2) / 2;
    for (size_t p = p0; p < p1; p++) {
        const int16_t *x = in->data + (p - p0) * in->stride;
        for (int o = 0; o < cv->cout; o++) {
            int32_t acc = 0;
            for (int i = 0; i < cv->cin; i++) {
                size_t at = (((size_t)(o / RVM_COUT_BLOCK) * pairs + i / 2) * RVM_COUT_BLOCK +
                             o % RVM_COUT_BLOCK) * 2 + i % 2;
                acc += (int32_t)x[i] * cv->weight16[at];
            }
            store(cv, acc, in->zero, in->scale, out, res, p, o);
        }
    }
}

static void ref_quantize(const float *x, int n, float inv_scale, int zero, uint8_t *dst, int pad)
{
    for (int i = 0; i < n; i++) {
        float v = x[i] * inv_scale + (float)zero;
        v = v < 0.f ? 0.f : v > 255.f ? 255.f : v;
        dst[i] = (uint8_t)lrintf(v);
    }
    for (int i = n; i < pad; i++)
        dst[i] = 0;
}

static void ref_minmax(const float *x, int n, float *lo, float *hi)
{
    for (int i = 0; i < n; i++) {
        *lo = fminf(*lo, x[i]);
        *hi = fmaxf(*hi, x[i]);
    }
}

static void ref_conv_1x1(const rvmi_conv_q8 *cv, const rvmi_qtensor *in, const rvmi_view *out,
                         const rvmi_view *res, size_t p0, size_t p1)
{
    for (size_t p = p0; p < p1; p++) {
        const uint8_t *x = in->data + (p - p0) * in->stride;
        for (int o = 0; o < cv->cout; o++) {
            int32_t acc = 0;
            for (int i = 0; i < cv->cin; i++) {
                size_t at = (((size_t)(o / RVM_COUT_BLOCK) * (cv->kpad / 4) + i / 4) * RVM_COUT_BLOCK +
                             o % RVM_COUT_BLOCK) * 4 + i % 4;
                acc += (int32_t)x[i] * cv->weight[at];
            }
            store(cv, acc, in->zero, in->scale, out, res, p, o);
        }
    }
}

const rvmi_kernels_q8 rvmi_kernels_q8_reference = {"reference",     ref_conv_1x1, ref_quantize,
                                                   ref_minmax,      ref_conv_1x1_s16,
                                                   ref_quantize_s16};

static int cpu_has(const char *isa)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512vnni") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") && avx2;
    if (strcmp(isa, "avxvnni") == 0)
        return avx2 && __builtin_cpu_supports("avxvnni");
    if (strcmp(isa, "avx2") == 0)
        return avx2;
#endif
    return strcmp(isa, "reference") == 0;
}

const rvmi_kernels_q8 *rvmi_kernels_q8_by_name(const char *name)
{
    static const rvmi_kernels_q8 *const all[] = {&rvmi_kernels_q8_avx512vnni, &rvmi_kernels_q8_avxvnni,
                                                &rvmi_kernels_q8_avx2, &rvmi_kernels_q8_reference};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return cpu_has(name) ? all[i] : NULL;
    return NULL;
}

const rvmi_kernels_q8 *rvmi_kernels_q8_select(void)
{
    const rvmi_kernels_q8 *k = rvmi_kernels_q8_by_name("avx512vnni");
    return k ? k : rvmi_kernels_q8_by_name("avxvnni");
}
