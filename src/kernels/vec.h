/* The float vector vocabulary of the hand-written kernels (simd.c, int8.c): one set of names
 * (vf, VLOAD, VFMA, VLOAD_PARTIAL, ...) for the vector of VL floats, which the including file
 * defines before including this: 16 (AVX-512), 8 (AVX2) or 4 (portable GCC vector extensions).
 * A kernel is written once against these names and compiled once per instruction set; what
 * only one kernel file needs (simd.c's exp, int8.c's integer vectors, tile sizes) stays there.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_KERNELS_VEC_H
#define RVM_KERNELS_VEC_H

#include <stdint.h>
#include <string.h>

#ifndef VL
#error "define VL (floats per vector) before including kernels/vec.h"
#endif

#if VL == 16
#include <immintrin.h>
typedef __m512 vf;
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c) /* a*b + c */
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VMAX(a, b) _mm512_max_ps(a, b)
#define VMIN(a, b) _mm512_min_ps(a, b)
#define VLOAD_PARTIAL(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTORE_PARTIAL(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#elif VL == 8
#include <immintrin.h>
typedef __m256 vf;
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
/* PARTIAL_MASK(n): the first n lanes set, for the masked loads and stores (AVX2 has no mask
 * registers; a window into this table is the mask) */
static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define PARTIAL_MASK(n) _mm256_loadu_si256((const __m256i *)(mask_table + 8 - (n)))
#define VLOAD_PARTIAL(p, n) _mm256_maskload_ps(p, PARTIAL_MASK(n))
#define VSTORE_PARTIAL(p, v, n) _mm256_maskstore_ps(p, PARTIAL_MASK(n), v)
#elif VL == 4
typedef float vf __attribute__((vector_size(VL * 4)));
typedef int32_t vmask __attribute__((vector_size(VL * 4)));
static inline vf VLOAD(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void VSTORE(float *p, vf v) { memcpy(p, &v, sizeof v); }
#define VSET1(x) ((vf){0} + (x))
#define VZERO() ((vf){0})
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
/* max and min keep b where either is NaN, as the x86 instructions do */
static inline vf vselect(vmask m, vf a, vf b) { return (vf)(((vmask)a & m) | ((vmask)b & ~m)); }
static inline vf VMAX(vf a, vf b) { return vselect(a > b, a, b); }
static inline vf VMIN(vf a, vf b) { return vselect(a < b, a, b); }
/* no masked loads: through a buffer (see load_partial) */
#else
#error "kernels/vec.h: VL must be 16, 8 or 4"
#endif

/* Loads/stores the first n (< VL) floats; the rest of the vector is zero. */
#ifdef VLOAD_PARTIAL
#define load_partial VLOAD_PARTIAL
#define store_partial VSTORE_PARTIAL
#else
static inline vf load_partial(const float *p, int n)
{
    float tmp[VL] = {0};
    memcpy(tmp, p, (size_t)n * sizeof(float));
    return VLOAD(tmp);
}
static inline void store_partial(float *p, vf v, int n)
{
    float tmp[VL];
    VSTORE(tmp, v);
    memcpy(p, tmp, (size_t)n * sizeof(float));
}
#endif

#endif
