/* Kernels of the network. Activations are NHWC float32 "views": pixel (y, x) channel k is
 * data[(y * w + x) * stride + k], so a view can be a channel slice of a wider buffer and
 * concatenation along channels costs nothing.
 *
 * Every kernel has a plain C reference (reference.c, reference_loops.c) and a fast version
 * compiled once per instruction set (simd.c: intrinsics; loops.c, frames.c: loops for the
 * compiler's vectoriser). dispatch.c picks the set at run time (RVM_ISA, or what the CPU
 * runs); tests/test_kernels.c runs each set against the reference.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_KERNELS_H
#define RVM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "rvm.h"

typedef struct {
    float *data;
    int h, w, c;
    int stride; /* floats from one pixel to the next, >= c */
} rvmi_view;

/* A dense convolution's input: up to RVM_MAX_INPUTS views of one size whose channels are
 * concatenated, so concatenations in the network cost no copy. */
#define RVM_MAX_INPUTS 3
typedef struct {
    int n;
    rvmi_view v[RVM_MAX_INPUTS];
} rvmi_inputs;

static inline rvmi_inputs rvmi_inputs_of(const rvmi_view *v)
{
    rvmi_inputs in = {1, {*v}};
    return in;
}

typedef enum {
    RVM_ACT_NONE = 0,
    RVM_ACT_RELU,
    RVM_ACT_HARDSWISH,   /* x * relu6(x + 3) / 6 */
    RVM_ACT_HARDSIGMOID, /* relu6(x + 3) / 6 */
    RVM_ACT_SIGMOID,
    RVM_ACT_TANH,
} rvmi_act;

/* Output channels are packed in blocks of this many. */
#define RVM_COUT_BLOCK 16

/* A convolution with BatchNorm folded in. Dense weights are packed as
 * [ceil(cout/16)][kh*kw][cin][16] (zero-padded channels), depthwise ones as [kh*kw][cpad]
 * with cpad = cout rounded up to 16. bias has cpad entries. Padding is (k-1)/2*dilation. */
typedef struct {
    int cin, cout, kh, kw, stride, dilation;
    int depthwise;
    rvmi_act act;
    float *weight;
    float *bias;
    /* 3x3 stride-1 dense convolutions also carry Winograd F(4x4, 3x3) weights U = G g G^T:
     * 36 packs, one per transform point, each laid out as a 1x1 convolution's weights. */
    float *winograd;
    /* Depthwise: floats from one tap's weights to the next's; 0 stands for cpad. A slice of
     * a layer's channels from a multiple of 16 on (weight and bias advanced by its first
     * channel, cin = cout its width, wstride the layer's cpad) is then a convolution of its
     * own: threads split the wide layers of the small maps by channels (scratch.c). */
    int wstride;
} rvmi_conv;

/* The distance between a depthwise convolution's taps in its packed weights. */
static inline int rvmi_depthwise_wstride(const rvmi_conv *cv)
{
    return cv->wstride ? cv->wstride
                       : (cv->cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
}

/* Winograd F(4x4, 3x3): output tiles of 4x4 from input tiles of 6x6. Tiles are processed in
 * chunks of this many along a row (a multiple of every kernel's pixel block, 12, 6 and 3, so
 * that whole blocks take the fast strided path; small, so that a chunk's transformed input
 * and products stay in L2: 36 measured 10% slower on the large maps); scratch per thread:
 * rvmi_winograd_scratch() floats. A transformed tile holds up to cin + RVM_WINOGRAD_SLACK
 * floats: room for the last vector of a channel count off the vector width to be stored whole
 * (masked stores are slow; up to 15 floats past cin), rounded up to a multiple of 16 floats so
 * that every tile starts on a cache line (unaligned, each 64-byte store of the transform
 * touched two lines: 35 input channels at 480x72 measured 10% slower), plus 16 where that
 * makes a multiple of 128 (see conv_winograd). */
#define RVM_WINOGRAD_CHUNK 12
#define RVM_WINOGRAD_SLACK 46
static inline size_t rvmi_winograd_scratch(int cin, int cout)
{
    int cpad = (cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
    return (size_t)36 * RVM_WINOGRAD_CHUNK * (size_t)(cin + RVM_WINOGRAD_SLACK + cpad);
}
/* Transforms and packs OIHW 3x3 weights for the Winograd kernel; NULL on no memory. */
float *rvmi_pack_winograd(const float *oihw, int cout, int cin);
/* The same into rvmi_pack_winograd_bytes of 64-byte aligned memory the caller gives. */
size_t rvmi_pack_winograd_bytes(int cout, int cin);
void rvmi_pack_winograd_into(float *packed, const float *oihw, int cout, int cin);

static inline int rvmi_conv_out_size(int n, int k, int stride, int dilation)
{
    int pad = (k - 1) / 2 * dilation;
    return (n + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

/* Packs PyTorch OIHW weights (float) into the layouts above; returns NULL on no memory. */
float *rvmi_pack_dense(const float *oihw, int cout, int cin, int kh, int kw);
float *rvmi_pack_depthwise(const float *oihw, int c, int kh, int kw);
/* The same into ..._bytes of 64-byte aligned memory the caller gives (the model's block). */
size_t rvmi_pack_dense_bytes(int cout, int cin, int kh, int kw);
void rvmi_pack_dense_into(float *p, const float *oihw, int cout, int cin, int kh, int kw);
size_t rvmi_pack_depthwise_bytes(int c, int kh, int kw);
void rvmi_pack_depthwise_into(float *p, const float *oihw, int c, int kh, int kw);

/* One instruction set's kernels. Row-ranged kernels compute output rows [y0, y1), so callers
 * can split work across threads. zeros: at least cin zero floats (stands for padding). The
 * channels of all input views add up to cv->cin. */
/* Where a refiner row's results go: one row of alpha and of the foreground (either NULL), in
 * the output's pixel type and foreground layout (rvm.h); fgr_plane: bytes between the planes
 * of RVM_FGR_PLANAR. */
typedef struct {
    rvm_pixel_type type;
    rvm_fgr_layout layout;
    void *pha, *fgr;
    ptrdiff_t fgr_plane;
} rvmi_blend_out;

/* The smallest and largest value seen (NaN left out), and whether any was NaN or infinite. */
typedef struct {
    float lo, hi;
    int nonfinite;
} rvmi_float_range;

/* ---- loops over whole tensors and frames ---- */

/* Bilinear resampling (align_corners=False, PyTorch's index and weight rules): output index i
 * reads inputs i0 and i1 with weights l0 and l1. */
typedef struct {
    int i0, i1;
    float l0, l1;
} rvmi_lerp;

/* scale: input coordinate step per output pixel (1/ratio for "scale_factor" resizes,
 * in/out for "size" resizes), computed in float as PyTorch's CPU kernel does. */
static inline rvmi_lerp rvmi_lerp_at(float scale, int i, int in_size)
{
    float src = scale * ((float)i + 0.5f) - 0.5f;
    if (src < 0.f)
        src = 0.f;
    rvmi_lerp l;
    l.i0 = (int)src;
    if (l.i0 > in_size - 1)
        l.i0 = in_size - 1;
    l.i1 = l.i0 + (l.i0 < in_size - 1 ? 1 : 0);
    float f = src - (float)l.i0;
    l.l1 = f < 0.f ? 0.f : f > 1.f ? 1.f : f;
    l.l0 = 1.f - l.l1;
    return l;
}

/* YUV -> float RGB for the library's input frames: R = Y + rv*V, G = Y - gu*U - gv*V,
 * B = Y + bu*U, with Y = (y - y_off) * y_scale and U, V = (c - 128) * c_scale; clamped to
 * 0..1. */
typedef struct {
    float y_off, y_scale, c_scale;
    float rv, gu, gv, bu;
} rvmi_yuv_coeffs;

/* YUV -> 8-bit RGB for the command's 4:2:0 frames: Y' = (Y - y_off) * y_mul,
 * C' = (C - 128) * c_mul; R = Y' + cr_r Cr', G = Y' + cb_g Cb' + cr_g Cr', B = Y' + cb_b Cb',
 * rounded to nearest and clamped to 0..255. */
typedef struct {
    float y_off, y_mul, c_mul;
    float cr_r, cb_g, cr_g, cb_b;
} rvmi_yuv_matrix;

/* The network's and the refiner's loops over float tensors (NHWC views). Row-ranged ones
 * compute output rows [y0, y1). Plain loops written for the compiler's vectoriser (loops.c,
 * compiled once per instruction set) and a scalar reference (reference_loops.c). */
typedef struct {
    /* out = bilinear resize of in: output row y reads input rows lerp_at(sy, y, in->h) and
     * the columns lx[x] (out may be smaller than in * scale: the decoder's crop). out holds
     * the output's rows from `first` on (a band): row y goes to out's row y - first. */
    void (*resize)(const rvmi_view *in, const rvmi_view *out, float sy, const rvmi_lerp *lx,
                   int first, int y0, int y1);
    /* The network's input from packed 8-bit RGB (rows `stride` bytes apart, `height` rows),
     * each byte through lut, resized as `resize` does; lx NULL: the frame itself (ratio 1,
     * out as wide as the frame). */
    void (*input_rgb24)(const uint8_t *rgb, ptrdiff_t stride, int height, const float *lut,
                        float sy, const rvmi_lerp *lx, const rvmi_view *out, int y0, int y1);
    /* Output row y of the network's input from two input rows as float planes (R, G, B):
     * l0 * p0 + l1 * p1, columns through lx; lx NULL: p0 itself (p1, l0, l1 unused). */
    void (*input_planes)(const float *const p0[3], const float *const p1[3], float l0, float l1,
                         const rvmi_lerp *lx, const rvmi_view *out, int y);
    /* AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), output rows [y0, y1): each
     * output the mean of the 2x2 input pixels it covers (a last odd row or column: of those
     * that exist), summed from 0 in the order (0,0), (0,1), (1,0), (1,1), then divided by
     * their count. */
    void (*avgpool2)(const rvmi_view *in, const rvmi_view *out, int y0, int y1);
    /* mean[k] = the mean of channel k over all pixels, summed in double (sum: in->c
     * doubles of scratch). */
    void (*channel_mean)(const rvmi_view *in, double *sum, float *mean);
    /* v[k] *= scale[k] in every pixel (SE and LR-ASPP gates). */
    void (*scale_channels)(const rvmi_view *v, const float *scale, int y0, int y1);
    /* to = from, channel by channel (to is typically a slice of a wider buffer). */
    void (*copy_channels)(const rvmi_view *from, const rvmi_view *to, int y0, int y1);
    /* out = a * b over b's channels (a may have more: the GRU's reset gate r * h). */
    void (*multiply)(const rvmi_view *a, const rvmi_view *b, const rvmi_view *out, int y0,
                     int y1);
    /* ConvGRU update: h = (1 - z) * h + z * c, out = h, with z the second half of rz's
     * channels (state's channel count). */
    void (*gru_update)(const rvmi_view *rz, const rvmi_view *c, const rvmi_view *state,
                       const rvmi_view *out, int y0, int y1);
    /* The guided filter's inputs [x, y, x*y, x*x] (16 channels into out), x = [rgb,
     * mean(rgb)] from rgb (3 channels), y from proj (4 channels). */
    void (*guide)(const rvmi_view *rgb, const rvmi_view *proj, const rvmi_view *out, int y0,
                  int y1);
    /* The fast guided filter's box: 1x3 (horizontal) and 3x1 (vertical) means, each
     * a/3 + b/3 + c/3 with zeros outside the image. */
    void (*box_horizontal)(const rvmi_view *in, const rvmi_view *out, int y0, int y1);
    void (*box_vertical)(const rvmi_view *in, const rvmi_view *out, int y0, int y1);
    /* From box-filtered [x, y, x*y, x*x] (16 channels): cov = mean(xy) - mean(x)mean(y),
     * var = mean(xx) - mean(x)^2 into out's 8 channels. */
    void (*cov_var)(const rvmi_view *box, const rvmi_view *out, int y0, int y1);
    /* The fast guided filter's A = cov / (var + 1e-5) into out's 4 channels. */
    void (*fast_a)(const rvmi_view *box, const rvmi_view *out, int y0, int y1);
    /* b = mean(y) - A * mean(x): ab's channels 4..7 from its channels 0..3 (A) and box. */
    void (*offset)(const rvmi_view *box, const rvmi_view *ab, int y0, int y1);
    /* One row of 8-channel coefficients (src, interleaved) upsampled horizontally to width
     * pixels through lx, as 8 planes `plane` floats apart. */
    void (*upsample_row)(const float *src, const rvmi_lerp *lx, int width, float *planes,
                         size_t plane);
    /* One row of YUV to float planes r, g, b (rvmi_yuv_coeffs); the chroma sample for pixel x
     * is u[cstep * (x / 2)] (4:2:0 and NV12 rows). */
    void (*yuv_row)(const uint8_t *y, const uint8_t *u, const uint8_t *v, int cstep, int width,
                    const rvmi_yuv_coeffs *c, float *r, float *g, float *b);
    /* One row of packed 8-bit pixels (`bytes` per pixel, channels at byte offsets ro, go,
     * bo) to float planes r, g, b (value / 255). */
    void (*packed_row)(const uint8_t *p, int bytes, int ro, int go, int bo, int width,
                       float *r, float *g, float *b);
} rvmi_loops;

/* The command's loops over 8- and 16-bit frames (frames.c per instruction set, compiled
 * without contracting a*b + c into FMAs so every set gives the same bytes;
 * reference_loops.c). Inputs are the network's 16-bit outputs (round(v * 65535)): pha one
 * sample per pixel, fgr interleaved RGB; 8-bit results are round(x * 255 / 65535). n counts
 * pixels unless said otherwise. */
/* HDR tone mapping of one row (reader.c says what and why): 16-bit RGB still PQ, HLG or SDR coded
 * (sample x of each channel at r, g, b[x * step]: planes, step 1, or RGB48, g = r + 1,
 * b = r + 2, step 3) to 8-bit SDR RGB. Per pixel: lin[] of each channel (1 = reference white); for HLG the OOTF
 * (times 1000/203 * Ys^0.2, Ys = 0.2627 R + 0.6780 G + 0.0593 B); the 3x3 matrix mx (rows;
 * negatives to 0); above knee the largest channel rolls off (knee + (1 - knee) e (1 + e / m^2)
 * / (1 + e), e = (top - knee) / (1 - knee)), the three channels scaled together; then
 * oetf[(int)(v * 65535 + 0.5)], the index clamped to 0..65535. All in float, no a*b + c
 * fused, so the fast sets write the reference's bytes; only the HLG OOTF's power is computed
 * otherwise than powf (tests/test_kernels.c bounds the difference). */
typedef struct {
    const float *lin;     /* 65536 entries */
    const uint8_t *oetf;  /* 65536 entries, and 3 more bytes readable (a 4-byte gather) */
    float mx[9];
    float knee, m;
    int hlg;
} rvmi_hdr_tone;

/* One pair of full-resolution rows of the refiner (rows 1: an odd height's last row alone)
 * from 8-bit I420 straight to the command's 8-bit 4:2:0 composition and matte (blend_yuv420
 * below). Per row r: the upsampled coefficient rows h0[r], h1[r] (8 planes `plane` floats
 * apart) weighted l0[r], l1[r], as blend_row takes them; y[r] the input's luma row, u and v
 * its chroma row; bg[r] the background's packed RGB row, or NULL for colour; oy[r] the
 * composition's luma rows (oy[1] is written also when rows is 1), ou and ov its chroma row;
 * matte[r] the matte's luma rows, or NULL. */
typedef struct {
    const float *h0[2], *h1[2];
    float l0[2], l1[2];
    size_t plane;
    const uint8_t *y[2], *u, *v;
    const rvmi_yuv_coeffs *c;
    const uint8_t *bg[2];
    uint8_t colour[3];
    int rows;
    uint8_t *oy[2], *ou, *ov, *matte[2];
} rvmi_yuv420_pair;

typedef struct {
    /* n samples, 16 -> 8 bits. */
    void (*u16_to_u8)(const uint16_t *in, size_t n, uint8_t *out);
    /* RGBA: colour and alpha, colour zeroed where the written alpha is 0. */
    void (*pack_rgba8)(const uint16_t *fgr, const uint16_t *pha, size_t n, uint8_t *out);
    void (*pack_rgba16)(const uint16_t *fgr, const uint16_t *pha, size_t n, uint16_t *out);
    void (*pack_rgba8_from8)(const uint8_t *fgr, const uint8_t *pha, size_t n, uint8_t *out);
    /* fgr * a + bg * (1 - a) with bg packed 8-bit RGB (x257 on the 16-bit scale), in float,
     * rounded once to the output's depth. */
    void (*over8)(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                  uint8_t *out);
    void (*over16)(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                   uint16_t *out);
    /* n 8-bit grey samples (an alpha matte) to limited-range luma, 16 + 219 v / 255
     * rounded: (219 v + 127) / 255 + 16. */
    void (*gray_to_luma)(const uint8_t *in, size_t n, uint8_t *out);
    /* One row of 8-bit 4:2:0 to RGB24: chroma rows u0, v0 (weight 3/4) and u1, v1 (1/4),
     * upsampled horizontally from samples centred between their luma pixels (edges
     * repeated). tmp: rvmi_yuv420_tmp_floats(width) floats. */
    void (*yuv420_row)(const uint8_t *y, const uint8_t *u0, const uint8_t *u1,
                       const uint8_t *v0, const uint8_t *v1, int width,
                       const rvmi_yuv_matrix *m, uint8_t *rgb, float *tmp);
    /* Two rows of packed 8-bit RGB (rgb1 may be rgb0: an odd height's last row; y0 and y1
     * distinct rows all the same) to 8-bit
     * BT.709 limited-range 4:2:0, the encoders' pictures. Luma exactly as swscale's accurate
     * path computes it (coefficients scaled by 2^15, rounded in two steps):
     * t = (5983 r + 20127 g + 2032 b + (16 << 15) + 256) >> 9, y = (t + 32) >> 6. One chroma
     * row, centred between the four pixels it covers (the mean of pixels 2i, 2i+1 of both
     * rows, an odd width's last pixel repeated; the writer tags the siting), with swscale's
     * chroma coefficients, rounded once. */
    /* w pixels of 16-bit RGB to 8-bit RGB (rvmi_hdr_tone). */
    void (*hdr_tone_row)(const uint16_t *r, const uint16_t *g, const uint16_t *b, int step,
                         int w, const rvmi_hdr_tone *t, uint8_t *dst);
    void (*rgb24_to_yuv420)(const uint8_t *rgb0, const uint8_t *rgb1, int width, uint8_t *y0,
                            uint8_t *y1, uint8_t *u, uint8_t *v);
    /* Pixels [x0, x1) (x0 and x1 multiples of 16) of a pair of rows (rvmi_yuv420_pair) in
     * registers, the same bytes as this set's loops yuv_row (cstep 1), blend_row (16-bit
     * interleaved RGB and alpha), then over8, rgb24_to_yuv420, u16_to_u8 and gray_to_luma: the
     * values of each step computed as that step computes them (the same fused and unfused
     * multiply-adds). NULL in sets without it (the caller runs those kernels instead). */
    void (*blend_yuv420)(const rvmi_yuv420_pair *p, int x0, int x1);
} rvmi_frame_loops;

/* The reference tone mapping, also the AVX2 and generic sets' (only AVX-512 has the gathers
 * that make a vector version pay). */
void rvmi_hdr_tone_row_reference(const uint16_t *r, const uint16_t *g, const uint16_t *b,
                                 int step, int w, const rvmi_hdr_tone *t, uint8_t *dst);

static inline size_t rvmi_yuv420_tmp_floats(int width)
{
    size_t cw = ((size_t)width + 1) / 2;
    return 2 * (cw + 2) + 4 * cw + 3 * (size_t)width;
}

typedef struct {
    const char *name;
    /* out = act(conv(in) + bias + residual); residual may be NULL. */
    void (*conv_dense)(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                       const rvmi_view *residual, int y0, int y1, const float *zeros);
    void (*conv_depthwise)(const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                           const rvmi_view *residual, int y0, int y1);
    /* The same as conv_dense for a convolution with Winograd weights, for output tile rows
     * [ty0, ty1) (output rows 4*ty0 .. 4*ty1-1). zeros: at least max(cin, cout rounded up
     * to 16) floats. NULL in sets without it. */
    void (*conv_winograd)(const rvmi_conv *cv, const rvmi_inputs *in, const rvmi_view *out,
                          const rvmi_view *residual, int ty0, int ty1, const float *zeros,
                          float *scratch);
    /* The deep guided filter's three 1x1 layers per pixel, rows [y0, y1): cv[0] on the
     * concatenation in (16 outputs), cv[1] (16 -> 16), cv[2] (16 -> 4) into out, the values
     * never leaving registers between them. The same floats as conv_dense through two
     * temporaries. Returns 0, having done nothing, for other shapes. NULL in sets without
     * it (the caller runs the three conv_dense). */
    int (*dgf_mlp)(const rvmi_conv cv[3], const rvmi_inputs *in, const rvmi_view *out, int y0,
                   int y1, const float *zeros);
    /* One full-resolution output row of the refiner. h0 and h1 are the coefficient rows
     * [A0..A3, b0..b3] already upsampled horizontally to the frame's width, as 8 planes
     * `plane` floats apart; the row is l0*h0 + l1*h1. With x the input row as three planes
     * of floats (R, G, B) and grey = mean(x): fgr = clamp(A*x + b + x, 0, 1),
     * pha = clamp(A3*grey + b3, 0, 1), stored as out says. tmp: 4*width floats. */
    void (*blend_row)(const float *h0, const float *h1, size_t plane, float l0, float l1,
                      const float *const x[3], int width, const rvmi_blend_out *out,
                      float *tmp);
    /* blend_row for packed 8-bit RGB input (3 bytes a pixel, x = byte / 255) and 8-bit
     * output with the foreground as packed RGB (out->type RVM_PIXEL_U8, out->layout
     * RVM_FGR_RGB; pha or fgr may be NULL): the same values as blend_row on the converted
     * row. */
    void (*blend_rgb24)(const float *h0, const float *h1, size_t plane, float l0, float l1,
                        const uint8_t *rgb, int width, const rvmi_blend_out *out);
    /* Widens r by the n values at v (r starts as {INFINITY, -INFINITY, 0}): the check of
     * planar float input, run on each row as the full-resolution pass has it in cache. */
    void (*float_range)(const float *v, int n, rvmi_float_range *r);
    const rvmi_loops *loops;
    const rvmi_frame_loops *frames;
} rvmi_kernels;

extern const rvmi_kernels rvmi_kernels_reference;
extern const rvmi_kernels rvmi_kernels_generic;
extern const rvmi_kernels rvmi_kernels_avx2;
extern const rvmi_kernels rvmi_kernels_avx512;
extern const rvmi_loops rvmi_loops_reference, rvmi_loops_generic, rvmi_loops_avx2, rvmi_loops_avx512;
extern const rvmi_frame_loops rvmi_frames_reference, rvmi_frames_generic, rvmi_frames_avx2,
    rvmi_frames_avx512;

/* The fastest set this CPU runs, or the one named by the RVM_ISA environment variable
 * (reference, generic, avx2, avx512) when the CPU supports it. */
const rvmi_kernels *rvmi_kernels_select(void);
/* rvmi_kernels_select()'s choice, made once per process: for code without a stream (the
 * command's frame loops). */
const rvmi_kernels *rvmi_kernels_default(void);
/* The set by name if this CPU supports it, else NULL. */
const rvmi_kernels *rvmi_kernels_by_name(const char *name);

/* Scalar activation, shared by all sets for the transcendental ones. */
float rvmi_activate(rvmi_act act, float x);

#endif
