/* The library's input formats, output layouts, buffer checks and recurrent state, against the
 * packed-RGB path that the golden tests check against the official model:
 *  - BGR24, RGBA, BGRA, RGBX, BGRX and planar float32 (v/255) hold the same values as the RGB
 *    frame: their outputs must equal its outputs bit for bit (also with padded strides);
 *  - YUV to RGB (NV12, I420; BT.601/709; limited/full range) against the standard formulas
 *    computed here in double precision, and the textbook colours (limited BT.601 red is
 *    Y=81 U=90 V=240); NV12 and I420 of the same samples give the same outputs;
 *  - planar and premultiplied RGBA foregrounds against the interleaved one;
 *  - a state read out of one stream and put into another continues the video exactly;
 *  - every too-small stride or buffer is RVM_EINVAL, and nothing is written.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "model/network.h"
#include "model/pixels.h"

#define RATIO 0.5

static int W, H;

/* Runs frames through a fresh stream with one format; F32 alpha and interleaved fgr out. */
typedef struct {
    float *pha, *fgr;
} result;

static int run(const rvm_model *m, const rvm_frame *frames, int n, result *r)
{
    char err[256];
    rvm_stream *s = rvm_stream_create(m, 2, NULL, err, sizeof err);
    size_t px = (size_t)W * H;
    r->pha = malloc(sizeof(float) * px * n), r->fgr = malloc(sizeof(float) * 3 * px * n);
    int st = s ? 0 : -1;
    for (int t = 0; t < n && !st; t++) {
        rvm_output out = {.type = RVM_PIXEL_F32, .pha = r->pha + px * t,
                          .pha_stride = sizeof(float) * W, .fgr = r->fgr + 3 * px * t,
                          .fgr_stride = sizeof(float) * 3 * W};
        st = rvm_stream_process_frame(s, &frames[t], RATIO, &out);
        if (st)
            printf("process: %s\n", rvm_stream_error(s));
    }
    rvm_stream_free(s);
    return st;
}

static int same(const result *a, const result *b, int n)
{
    size_t px = (size_t)W * H * n;
    return memcmp(a->pha, b->pha, px * sizeof(float)) == 0 &&
           memcmp(a->fgr, b->fgr, 3 * px * sizeof(float)) == 0;
}

static void free_result(result *r) { free(r->pha), free(r->fgr); }

/* Packs RGB frames into a packed format with a padded stride. */
static rvm_frame packed(const uint8_t *rgb, rvm_format fmt, int bytes, const int order[3],
                        int pad)
{
    ptrdiff_t stride = (ptrdiff_t)bytes * W + pad;
    uint8_t *p = malloc((size_t)stride * H);
    memset(p, 0xA5, (size_t)stride * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++)
                p[y * stride + bytes * x + order[k]] = rgb[3 * ((size_t)y * W + x) + k];
    return (rvm_frame){.format = fmt, .width = W, .height = H, .planes = {p}, .strides = {stride}};
}

static double yuv_reference(int matrix, int range, int Y, int U, int V, int k)
{
    double kr = matrix == RVM_MATRIX_BT709 ? 0.2126 : 0.299;
    double kb = matrix == RVM_MATRIX_BT709 ? 0.0722 : 0.114, kg = 1 - kr - kb;
    double y = range == RVM_RANGE_FULL ? Y / 255.0 : (Y - 16) / 219.0;
    double u = range == RVM_RANGE_FULL ? (U - 128) / 255.0 : (U - 128) / 224.0;
    double v = range == RVM_RANGE_FULL ? (V - 128) / 255.0 : (V - 128) / 224.0;
    double rgb[3] = {y + 2 * (1 - kr) * v, y - 2 * (1 - kb) * kb / kg * u - 2 * (1 - kr) * kr / kg * v,
                     y + 2 * (1 - kb) * u};
    double c = rgb[k];
    return c < 0 ? 0 : c > 1 ? 1 : c;
}

static void check_yuv_rows(void)
{
    enum { w = 7, h = 3 }; /* odd: the last chroma sample serves one column */
    uint8_t Y[h][w], U[2][4], V[2][4], UV[2][8];
    unsigned seed = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            Y[y][x] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++) {
            U[y][x] = UV[y][2 * x] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
            V[y][x] = UV[y][2 * x + 1] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
        }
    double worst = 0;
    for (int matrix = 0; matrix < 2; matrix++)
        for (int range = 0; range < 2; range++)
            for (int nv12 = 0; nv12 < 2; nv12++) {
                rvm_frame f = {.format = nv12 ? RVM_FORMAT_NV12 : RVM_FORMAT_I420, .width = w,
                               .height = h, .planes = {Y, nv12 ? (void *)UV : (void *)U, V},
                               .strides = {w, nv12 ? 8 : 4, 4}, .matrix = matrix,
                               .range = range};
                char err[128];
                CHECK(rvmi_frame_check(&f, err, sizeof err) == 0, "yuv frame: %s", err);
                for (int y = 0; y < h; y++) {
                    float buf[3 * w];
                    const float *rgb[3];
                    rvmi_frame_row(rvmi_kernels_default(), &f, y, buf, rgb);
                    for (int x = 0; x < w; x++)
                        for (int k = 0; k < 3; k++) {
                            double e = fabs(rgb[k][x] - yuv_reference(matrix, range, Y[y][x],
                                                                      U[y / 2][x / 2],
                                                                      V[y / 2][x / 2], k));
                            worst = e > worst ? e : worst;
                        }
                }
            }
    CHECK(worst < 1e-5, "YUV rows differ from the formulas by %g", worst);
    /* Textbook colours: limited-range red, BT.601 (81, 90, 240) and BT.709 (63, 102, 240). */
    const uint8_t anchors[2][3] = {{81, 90, 240}, {63, 102, 240}};
    for (int matrix = 0; matrix < 2; matrix++) {
        const uint8_t *a = anchors[matrix];
        rvm_frame f = {.format = RVM_FORMAT_I420, .width = 1, .height = 1,
                       .planes = {&a[0], &a[1], &a[2]}, .strides = {1, 1, 1}, .matrix = matrix};
        float buf[3];
        const float *rgb[3];
        rvmi_frame_row(rvmi_kernels_default(), &f, 0, buf, rgb);
        CHECK(fabsf(rgb[0][0] - 1) < 0.01f && rgb[1][0] < 0.01f && rgb[2][0] < 0.01f,
              "red in %s: %.3f %.3f %.3f", matrix ? "BT.709" : "BT.601", rgb[0][0], rgb[1][0],
              rgb[2][0]);
    }
}

int main(void)
{
    test_clip clip;
    if (test_clip_load(&clip))
        return check_report();
    H = clip.h, W = clip.w;
    enum { N = 2 };
    char err[256];
    rvm_model *m = test_shipped_model();
    if (!m)
        return check_report();
    const uint8_t *rgb[N];
    rvm_frame base[N];
    for (int t = 0; t < N; t++) {
        rgb[t] = clip.rgb + (size_t)t * W * H * 3;
        base[t] = (rvm_frame){.format = RVM_FORMAT_RGB24, .width = W, .height = H,
                              .planes = {rgb[t]}, .strides = {3 * W}};
    }
    result ref;
    CHECK(run(m, base, N, &ref) == 0, "RGB24 run");

    /* Packed formats, with padded strides. */
    static const struct {
        rvm_format f;
        const char *name;
        int bytes, order[3];
    } packs[] = {{RVM_FORMAT_RGB24, "RGB24+pad", 3, {0, 1, 2}}, {RVM_FORMAT_BGR24, "BGR24", 3, {2, 1, 0}},
                 {RVM_FORMAT_RGBA, "RGBA", 4, {0, 1, 2}},       {RVM_FORMAT_BGRA, "BGRA", 4, {2, 1, 0}},
                 {RVM_FORMAT_RGBX, "RGBX", 4, {0, 1, 2}},       {RVM_FORMAT_BGRX, "BGRX", 4, {2, 1, 0}}};
    for (size_t i = 0; i < sizeof packs / sizeof packs[0]; i++) {
        rvm_frame f[N];
        for (int t = 0; t < N; t++)
            f[t] = packed(rgb[t], packs[i].f, packs[i].bytes, packs[i].order, 13);
        result r;
        CHECK(run(m, f, N, &r) == 0 && same(&ref, &r, N), "%s differs from RGB24", packs[i].name);
        free_result(&r);
        for (int t = 0; t < N; t++)
            free((void *)f[t].planes[0]);
    }
    /* Planar floats (v/255), each plane with its own padded stride. */
    {
        rvm_frame f[N];
        float *mem[N];
        for (int t = 0; t < N; t++) {
            ptrdiff_t stride = W + 5; /* floats */
            mem[t] = malloc(sizeof(float) * 3 * stride * H);
            for (int k = 0; k < 3; k++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                        mem[t][(k * H + y) * stride + x] = rgb[t][3 * (y * W + x) + k] / 255.f;
            f[t] = (rvm_frame){.format = RVM_FORMAT_F32_PLANAR, .width = W, .height = H,
                               .planes = {mem[t], mem[t] + stride * H, mem[t] + 2 * stride * H},
                               .strides = {4 * stride, 4 * stride, 4 * stride}};
        }
        result r;
        CHECK(run(m, f, N, &r) == 0 && same(&ref, &r, N), "planar float differs from RGB24");
        free_result(&r);
        for (int t = 0; t < N; t++)
            free(mem[t]);
    }
    check_yuv_rows();
    /* NV12 and I420 holding the same samples give the same outputs. */
    {
        int cw = (W + 1) / 2, ch = (H + 1) / 2;
        uint8_t *y = malloc((size_t)W * H), *u = malloc((size_t)cw * ch), *v = malloc((size_t)cw * ch);
        uint8_t *uv = malloc((size_t)2 * cw * ch);
        for (int i = 0; i < W * H; i++)
            y[i] = (uint8_t)(16 + rgb[0][3 * i + 1] * 219 / 255);
        for (int i = 0; i < cw * ch; i++) {
            u[i] = uv[2 * i] = (uint8_t)(100 + i % 50);
            v[i] = uv[2 * i + 1] = (uint8_t)(150 - i % 40);
        }
        rvm_frame i420 = {.format = RVM_FORMAT_I420, .width = W, .height = H,
                          .planes = {y, u, v}, .strides = {W, cw, cw}, .matrix = RVM_MATRIX_BT709};
        rvm_frame nv12 = {.format = RVM_FORMAT_NV12, .width = W, .height = H, .planes = {y, uv},
                          .strides = {W, 2 * cw}, .matrix = RVM_MATRIX_BT709};
        result a, b;
        CHECK(run(m, &i420, 1, &a) == 0 && run(m, &nv12, 1, &b) == 0 && same(&a, &b, 1),
              "NV12 and I420 differ");
        free_result(&a), free_result(&b);
        free(y), free(u), free(v), free(uv);
    }

    /* Output layouts: planar and premultiplied RGBA against the interleaved foreground. */
    {
        rvm_stream *s = rvm_stream_create(m, 2, NULL, err, sizeof err);
        size_t px = (size_t)W * H;
        float *pl = malloc(sizeof(float) * 3 * px), *rgba = malloc(sizeof(float) * 4 * px);
        rvm_output o1 = {.type = RVM_PIXEL_F32, .fgr = pl, .fgr_stride = 4 * W,
                         .fgr_layout = RVM_FGR_PLANAR, .fgr_plane_stride = 4 * (ptrdiff_t)px};
        CHECK(rvm_stream_process_frame(s, &base[0], RATIO, &o1) == 0, "planar output");
        rvm_stream_reset(s);
        rvm_output o2 = {.type = RVM_PIXEL_F32, .fgr = rgba, .fgr_stride = 16 * W,
                         .fgr_layout = RVM_FGR_RGBA_PREMULTIPLIED};
        CHECK(rvm_stream_process_frame(s, &base[0], RATIO, &o2) == 0, "RGBA output");
        double wp = 0, wr = 0;
        for (size_t i = 0; i < px; i++) {
            float a = ref.pha[i];
            for (int k = 0; k < 3; k++) {
                wp = fmax(wp, fabs(pl[k * px + i] - ref.fgr[3 * i + k]));
                wr = fmax(wr, fabs(rgba[4 * i + k] - ref.fgr[3 * i + k] * a));
            }
            wr = fmax(wr, fabs(rgba[4 * i + 3] - a));
        }
        CHECK(wp == 0, "planar foreground differs by %g", wp);
        CHECK(wr < 1e-6, "premultiplied RGBA differs by %g", wr);

        /* Too-small strides and buffers: RVM_EINVAL, nothing written. */
        float canary = -7.f;
        float *seg = malloc(sizeof(float) * px);
        for (size_t i = 0; i < px; i++)
            seg[i] = canary;
        int sw, sh;
        CHECK(rvm_stream_segment_frame(s, &base[0], RATIO, NULL, 0, &sw, &sh) == 0 &&
                  sw == (int)(W * RATIO) && sh == (int)(H * RATIO),
              "segmentation size %dx%d", sw, sh);
        CHECK(rvm_stream_segment_frame(s, &base[0], RATIO, seg, (size_t)sw * sh - 1, &sw, &sh) ==
                  RVM_EINVAL && seg[0] == canary,
              "a too-small segmentation buffer was accepted");
        CHECK(rvm_stream_segment_frame(s, &base[0], RATIO, seg, (size_t)sw * sh, &sw, &sh) == 0 &&
                  seg[(size_t)sw * sh] == canary,
              "segmentation wrote past its capacity");
        rvm_frame bad = base[0];
        bad.strides[0] = 3 * W - 1;
        rvm_output ok = {.type = RVM_PIXEL_F32, .pha = ref.pha, .pha_stride = 4 * W};
        CHECK(rvm_stream_process_frame(s, &bad, RATIO, &ok) == RVM_EINVAL, "short input stride");
        bad = base[0];
        bad.format = RVM_FORMAT_I420;
        bad.strides[1] = (W + 1) / 2;
        CHECK(rvm_stream_process_frame(s, &bad, RATIO, &ok) == RVM_EINVAL, "I420 without planes");
        bad.format = (rvm_format)99;
        CHECK(rvm_stream_process_frame(s, &bad, RATIO, &ok) == RVM_EINVAL, "unknown format");
        rvm_output o = {.type = RVM_PIXEL_F32, .pha = ref.pha, .pha_stride = 4 * W - 1};
        CHECK(rvm_stream_process_frame(s, &base[0], RATIO, &o) == RVM_EINVAL, "short alpha stride");
        o = (rvm_output){.type = RVM_PIXEL_U8, .fgr = pl, .fgr_stride = 3 * W - 1};
        CHECK(rvm_stream_process_frame(s, &base[0], RATIO, &o) == RVM_EINVAL, "short fgr stride");
        o = (rvm_output){.type = RVM_PIXEL_U8, .fgr = pl, .fgr_stride = 4 * W - 1,
                         .fgr_layout = RVM_FGR_RGBA_PREMULTIPLIED};
        CHECK(rvm_stream_process_frame(s, &base[0], RATIO, &o) == RVM_EINVAL, "short RGBA stride");
        o = (rvm_output){.type = RVM_PIXEL_F32, .fgr = pl, .fgr_stride = 4 * W,
                         .fgr_layout = RVM_FGR_PLANAR, .fgr_plane_stride = 4 * (ptrdiff_t)px - 4};
        CHECK(rvm_stream_process_frame(s, &base[0], RATIO, &o) == RVM_EINVAL, "overlapping planes");
        o.fgr_layout = (rvm_fgr_layout)7;
        CHECK(rvm_stream_process_frame(s, &base[0], RATIO, &o) == RVM_EINVAL, "unknown layout");
        free(seg), free(pl), free(rgba);
        rvm_stream_free(s);
    }

    /* The state: read after frame 0 of a stream and put into a new one, frame 1 must come
     * out exactly as in the stream that ran both (NCHW tensors, as the official model's). */
    {
        rvm_stream *a = rvm_stream_create(m, 2, NULL, err, sizeof err);
        rvm_stream *b = rvm_stream_create(m, 2, NULL, err, sizeof err);
        rvm_tensor t[4];
        CHECK(rvm_stream_get_state(a, 0, &t[0]) == RVM_EINVAL, "state before any frame");
        size_t px = (size_t)W * H;
        float *pha = malloc(sizeof(float) * px);
        rvm_output o = {.type = RVM_PIXEL_F32, .pha = pha, .pha_stride = 4 * W};
        CHECK(rvm_stream_process_frame(a, &base[0], RATIO, &o) == 0, "frame 0");
        const int mnv3_channels[4] = {16, 20, 40, 64};
        for (int k = 0; k < 4; k++) {
            int c, h, w;
            CHECK(rvm_model_state_shape(m, k, W, H, RATIO, &c, &h, &w) == 0 &&
                      c == mnv3_channels[k] && h == (int)ceil(H * RATIO / (2 << k)) &&
                      w == (int)ceil(W * RATIO / (2 << k)),
                  "r%d shape %dx%dx%d", k + 1, c, h, w);
            t[k] = (rvm_tensor){malloc(sizeof(float) * c * h * w), c, h, w, (ptrdiff_t)h * w, w, 1};
            CHECK(rvm_stream_get_state(a, k, &t[k]) == 0, "get r%d: %s", k + 1, rvm_stream_error(a));
        }
        const rvm_tensor *r[4] = {&t[0], &t[1], &t[2], &t[3]};
        CHECK(rvm_stream_set_state(b, W, H, RATIO, r) == 0, "set: %s", rvm_stream_error(b));
        CHECK(rvm_stream_process_frame(a, &base[1], RATIO, &o) == 0, "frame 1 in a");
        float *pha_b = malloc(sizeof(float) * px);
        rvm_output ob = {.type = RVM_PIXEL_F32, .pha = pha_b, .pha_stride = 4 * W};
        CHECK(rvm_stream_process_frame(b, &base[1], RATIO, &ob) == 0, "frame 1 in b");
        CHECK(memcmp(pha, pha_b, sizeof(float) * px) == 0 &&
                  memcmp(pha, ref.pha + px, sizeof(float) * px) == 0,
              "a state put back does not continue the video");
        /* Wrong shapes: another resolution's state, or a wrong channel count. */
        CHECK(rvm_stream_set_state(b, W * 2, H, RATIO, r) == RVM_EINVAL, "state of another size");
        t[3].channels--;
        CHECK(rvm_stream_set_state(b, W, H, RATIO, r) == RVM_EINVAL, "wrong channels");
        CHECK(rvm_stream_get_state(a, 3, &t[3]) == RVM_EINVAL, "get into a wrong shape");
        t[3].channels++;
        CHECK(rvm_stream_set_state(b, W, H, 0, r) == RVM_EINVAL, "ratio 0");
        /* NULL: zeros, as a first frame starts. */
        const rvm_tensor *none[4] = {0};
        CHECK(rvm_stream_set_state(b, W, H, RATIO, none) == 0 &&
                  rvm_stream_process_frame(b, &base[0], RATIO, &ob) == 0 &&
                  memcmp(pha_b, ref.pha, sizeof(float) * px) == 0,
              "zero state differs from a first frame");
        for (int k = 0; k < 4; k++)
            free(t[k].data);
        free(pha), free(pha_b);
        rvm_stream_free(a), rvm_stream_free(b);
    }
    free_result(&ref);
    rvm_model_free(m);
    test_clip_free(&clip);
    return check_report();
}
