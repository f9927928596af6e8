/* The command's composition and matte computed straight into 8-bit 4:2:0 pictures
 * (rvmi_stream_yuv420, the pipeline's route for the README's outputs) must be, byte for
 * byte, what the route it replaced gives: the full-resolution results at 16 bits
 * (rvmi_stream_output_rows), composited by over8 and converted by rgb24_to_yuv420 in pairs of
 * rows (an odd height's last row paired with itself, its luma also in the padding row), the
 * matte by u16_to_u8 and gray_to_luma; those frame loops here the scalar reference's. On every
 * kernel set this CPU runs (the fused route calls the set's own kernels on strips of pixels:
 * their vector loops and tails must fall on the same pixels as on whole rows), on I420, NV12
 * and RGB24 frames, over a colour and over a picture, at widths below, at and above a strip
 * (256), odd and not a multiple of 16, odd heights, one and two threads. Nothing may be
 * written outside the pictures' rows (guard bytes past each row and below the last).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "kernels/kernels.h"
#include "model/network.h"

#define GUARD 0xa5
#define PAD 37 /* bytes of guard past each row */

/* Frame t of the golden clip stretched to w x h (nearest), with a little noise. */
static void make_rgb(const test_clip *c, int t, int w, int h, uint8_t *rgb)
{
    unsigned seed = (unsigned)(w * 131 + h * 7 + t);
    const uint8_t *f = c->rgb + (size_t)(t % c->count) * c->w * c->h * 3;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) {
                seed = seed * 1103515245u + 12345u;
                int v = f[((size_t)(y * c->h / h) * c->w + x * c->w / w) * 3 + k] +
                        (int)(seed >> 29) - 4;
                rgb[((size_t)y * w + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

typedef struct {
    uint8_t *y, *u, *v, *m;
    ptrdiff_t ys, cs, ms;
    int rows, crows; /* luma rows (height rounded up to even), chroma rows */
} pictures;

static void pictures_alloc(pictures *p, int w, int h)
{
    int cw = (w + 1) / 2;
    p->rows = h + (h & 1), p->crows = (h + 1) / 2;
    p->ys = w + PAD, p->cs = cw + PAD, p->ms = w + PAD;
    /* one guard row below each plane */
    p->y = malloc((size_t)p->ys * (p->rows + 1));
    p->u = malloc((size_t)p->cs * (p->crows + 1));
    p->v = malloc((size_t)p->cs * (p->crows + 1));
    p->m = malloc((size_t)p->ms * (h + 1));
    memset(p->y, GUARD, (size_t)p->ys * (p->rows + 1));
    memset(p->u, GUARD, (size_t)p->cs * (p->crows + 1));
    memset(p->v, GUARD, (size_t)p->cs * (p->crows + 1));
    memset(p->m, GUARD, (size_t)p->ms * (h + 1));
}

static void pictures_free(pictures *p)
{
    free(p->y), free(p->u), free(p->v), free(p->m);
}

/* Whether the first n bytes of rows rows of a and b (strides s) agree and every other byte
 * of b (rows + 1 rows of stride s) is a guard byte. */
/* The same bytes: the fused route computes each step as the kernel it stands for is compiled
 * in the optimised (Release, -O3) build, down to which multiply-adds become FMAs. Other builds
 * (the sanitizer build is RelWithDebInfo, -O2) compile those loops otherwise (the picture blend
 * fused differently), so there the routes may part by one code value; guard bytes stay exact. */
#ifdef RVM_ROUTES_EXACT
#define STEPS 0
#else
#define STEPS 1
#endif
static int same_plane(const uint8_t *a, const uint8_t *b, ptrdiff_t s, int n, int rows)
{
    for (int r = 0; r <= rows; r++)
        for (ptrdiff_t x = 0; x < s; x++) {
            int inside = r < rows && x < n;
            int want = inside ? a[r * s + x] : GUARD;
            if (abs(b[r * s + x] - want) > (inside ? STEPS : 0))
                return 0;
        }
    return 1;
}

static int compare(const rvm_model *model, const test_clip *clip, const char *isa, int w, int h,
                   double ratio, int threads, rvm_format format, int picture)
{
    char err[256];
    rvm_stream *s = rvm_stream_create(model, threads, NULL, err, sizeof err);
    CHECK(s != NULL, "stream: %s", err);
    if (!s)
        return -1;
    if (rvmi_stream_set_kernels(s, isa)) {
        printf("skip: %s (%s)\n", isa, rvm_stream_error(s));
        rvm_stream_free(s);
        return 0;
    }
    const rvmi_frame_loops *ref = rvmi_kernels_reference.frames;
    size_t n = (size_t)w * h;
    int cw = (w + 1) / 2, ch = (h + 1) / 2, hh = h + (h & 1);
    uint8_t *rgb = malloc(3 * n), *bg = malloc(3 * n), *com = malloc(3 * n + 3 * w);
    uint8_t *a8 = malloc(n);
    uint16_t *pha = malloc(2 * n), *fgr = malloc(6 * n);
    /* the input as 4:2:0 (one padding row for an odd height) and as NV12 */
    uint8_t *iy = malloc((size_t)w * hh), *iu = malloc((size_t)cw * ch), *iv = malloc((size_t)cw * ch);
    uint8_t *uv = malloc((size_t)2 * cw * ch);
    pictures want, got;
    pictures_alloc(&want, w, h);
    pictures_alloc(&got, w, h);
    int failed = 0, mixed = 0;
    for (int t = 0; t < 2 && !failed; t++) { /* two frames: the second with a recurrent state */
        make_rgb(clip, t, w, h, rgb);
        make_rgb(clip, t + 5, w, h, bg);
        for (int y = 0; y < h; y += 2)
            ref->rgb24_to_yuv420(rgb + (size_t)y * 3 * w, rgb + (size_t)(y + (y + 1 < h)) * 3 * w,
                                 w, iy + (size_t)y * w, iy + (size_t)(y + 1) * w,
                                 iu + (size_t)(y / 2) * cw, iv + (size_t)(y / 2) * cw);
        for (size_t i = 0; i < (size_t)cw * ch; i++)
            uv[2 * i] = iu[i], uv[2 * i + 1] = iv[i];
        rvm_frame f = {.format = format, .width = w, .height = h,
                       .matrix = RVM_MATRIX_BT709, .range = RVM_RANGE_LIMITED};
        if (format == RVM_FORMAT_RGB24)
            f.planes[0] = rgb, f.strides[0] = 3 * w;
        else if (format == RVM_FORMAT_I420)
            f.planes[0] = iy, f.planes[1] = iu, f.planes[2] = iv, f.strides[0] = w,
            f.strides[1] = f.strides[2] = cw;
        else
            f.planes[0] = iy, f.planes[1] = uv, f.strides[0] = w, f.strides[1] = 2 * cw;
        rvm_output out = {.type = RVM_PIXEL_U16, .pha = pha, .pha_stride = 2 * w, .fgr = fgr,
                          .fgr_stride = 6 * w};
        int st = rvmi_stream_matte(s, &f, ratio);
        st = st ? st : rvmi_stream_output_rows(s, &f, &out, 0, h);
        CHECK(st == 0, "%s %dx%d: %s", isa, w, h, rvm_stream_error(s));
        if (st) {
            failed = 1;
            break;
        }
        /* the route the pipeline took, frame loops of the reference */
        const uint8_t colour[3] = {120, 255, 155};
        uint8_t *crow = malloc(3 * (size_t)w);
        for (int x = 0; x < w; x++)
            memcpy(crow + 3 * x, colour, 3);
        for (int y = 0; y < h; y++)
            ref->over8(fgr + (size_t)y * 3 * w, pha + (size_t)y * w,
                       picture ? bg + (size_t)y * 3 * w : crow, (size_t)w, com + (size_t)y * 3 * w);
        free(crow);
        for (int y = 0; y < h; y += 2)
            ref->rgb24_to_yuv420(com + (size_t)y * 3 * w,
                                 com + (size_t)(y + (y + 1 < h)) * 3 * w, w,
                                 want.y + y * want.ys, want.y + (y + 1) * want.ys,
                                 want.u + (y / 2) * want.cs, want.v + (y / 2) * want.cs);
        ref->u16_to_u8(pha, n, a8);
        for (int y = 0; y < h; y++)
            ref->gray_to_luma(a8 + (size_t)y * w, (size_t)w, want.m + y * want.ms);
        for (size_t i = 0; i < n; i++)
            mixed += a8[i] > 0 && a8[i] < 255;
        /* the fused route, into pictures with strides of their own */
        rvmi_yuv420_out yo = {.bg = picture ? bg : NULL, .bg_stride = 3 * w,
                              .com = {got.y, got.u, got.v},
                              .com_stride = {got.ys, got.cs, got.cs},
                              .matte = got.m, .matte_stride = got.ms};
        memcpy(yo.colour, colour, 3);
        st = rvmi_stream_yuv420(s, &f, &yo);
        CHECK(st == 0, "%s %dx%d: %s", isa, w, h, rvm_stream_error(s));
        const char *fmt = format == RVM_FORMAT_RGB24 ? "rgb24" : format == RVM_FORMAT_I420 ? "i420" : "nv12";
        int ok[4] = {same_plane(want.y, got.y, got.ys, w, hh), same_plane(want.u, got.u, got.cs, cw, ch),
                     same_plane(want.v, got.v, got.cs, cw, ch), same_plane(want.m, got.m, got.ms, w, h)};
        const char *what[4] = {"composition Y", "composition U", "composition V", "matte"};
        for (int i = 0; i < 4; i++)
            CHECK(ok[i], "%s, %dx%d ratio %g, %d threads, %s, %s, frame %d: %s differs", isa, w, h,
                  ratio, threads, fmt, picture ? "picture" : "colour", t, what[i]);
        failed = st || !ok[0] || !ok[1] || !ok[2] || !ok[3];
    }
    /* a matte of only 0 and 255 would leave the composition's arithmetic untried */
    CHECK(failed || n < 100 || mixed > 0, "%s %dx%d: no alpha between 0 and 255", isa, w, h);
    pictures_free(&want);
    pictures_free(&got);
    free(rgb), free(bg), free(com), free(a8), free(pha), free(fgr);
    free(iy), free(iu), free(iv), free(uv);
    rvm_stream_free(s);
    return 0;
}

int main(void)
{
    rvm_model *model = test_shipped_model();
    test_clip clip;
    if (!model || test_clip_load(&clip)) {
        rvm_model_free(model);
        return check_report();
    }
    static const struct {
        int w, h;
        double ratio;
        int reference; /* small enough for the scalar reference kernels */
    } sizes[] = {
        {1920, 1080, 0.25, 0}, /* the README's */
        {1278, 718, 0.25, 0},  /* not a multiple of 16, five strips */
        {641, 359, 0.5, 1},    /* odd both ways */
        {256, 33, 1.0, 1},     /* one strip exactly */
        {17, 9, 1.0, 1},       /* less than a vector */
        {3, 1, 1.0, 1},        /* one row */
    };
    const char *isas[] = {"avx512", "avx2", "generic", "reference"};
    const rvm_format formats[] = {RVM_FORMAT_I420, RVM_FORMAT_NV12, RVM_FORMAT_RGB24};
    int k = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (int a = 0; a < 4; a++) {
            if (a == 3 && !sizes[i].reference)
                continue;
            for (int fi = 0; fi < 3; fi++, k++) {
                if (sizes[i].w == 1920 && (fi > 0 || a > 0))
                    continue; /* the real case: the decoder's I420, AVX-512 (long under ASan) */
                compare(model, &clip, isas[a], sizes[i].w, sizes[i].h, sizes[i].ratio,
                        1 + k % 2, formats[fi], k % 3 != 1);
            }
        }
    test_clip_free(&clip);
    rvm_model_free(model);
    return check_report();
}
