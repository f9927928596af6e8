/* The public stream API (include/rvm.h): a stream's lifetime, one frame in and the matte
 * out, and the internals the tests look at.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/threadpool.h"
#include "model/library.h"
#include "model/network.h"
#include "model/pixels.h"
#include "model/scratch.h"

static const char *const layer_names[] = {"src_sm", "f1", "f2", "f3", "f4", "aspp", "x4", "x3",
                                          "x2",     "x1", "x0", "proj", "seg"};

int rvmi_stream_fail(rvm_stream *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rvmi_vseterr(s->err, sizeof s->err, status, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- one frame ---- */

/* Checks a frame and a ratio, and gives the internal (downsampled) size: floor(size * ratio),
 * as F.interpolate computes it, or the frame's size at ratio 1 (no resize at all). */
static int internal_size(rvm_stream *s, const rvm_frame *f, double ratio, int *h0, int *w0)
{
    if (f->width < 1 || f->height < 1 || f->width > RVM_MAX_SIDE || f->height > RVM_MAX_SIDE)
        return rvmi_stream_fail(s, RVM_EINVAL, "frame size %dx%d is outside 1..%d", f->width,
                                f->height, RVM_MAX_SIDE);
    if (!(ratio > 0.0 && ratio <= 1.0))
        return rvmi_stream_fail(s, RVM_EINVAL, "downsample ratio %g: expected a number in (0, 1]", ratio);
    if (rvmi_internal_size(f->width, f->height, ratio, h0, w0))
        return rvmi_stream_fail(s, RVM_EINVAL,
                                "downsample ratio %g leaves no pixels of a %dx%d frame", ratio,
                                f->width, f->height);
    return 0;
}

static int prepare(rvm_stream *s, const rvm_frame *f, double ratio)
{
    int h0, w0, st = internal_size(s, f, ratio, &h0, &w0);
    if (st)
        return st;
    if ((st = rvmi_frame_check(f, s->err, sizeof s->err)))
        return st;
    rvmi_arena_reset(&s->scratch);
    memset(&s->layers, 0, sizeof s->layers);
    s->ab.data = NULL;
    s->ratio = ratio;
    if (h0 != s->h0 || w0 != s->w0 || !s->state[0]) {
        /* new internal size: the recurrent state starts over, as for a new video */
        if (s->state[0])
            rvmi_log(RVM_LOG_DEBUG, "stream: internal size %dx%d -> %dx%d, the recurrent state "
                     "starts over", s->w0, s->h0, w0, h0);
        s->h0 = h0, s->w0 = w0;
        int h = h0, w = w0;
        for (int k = 0; k < 4; k++) {
            h = (h + 1) / 2, w = (w + 1) / 2; /* r1 at 1/2, r2 at 1/4, r3 at 1/8, r4 at 1/16 */
            free(s->state[k]);
            s->state_h[k] = h, s->state_w[k] = w;
            s->state[k] = calloc((size_t)h * w * s->model->gru[k].channels, sizeof(float));
            if (!s->state[k])
                return rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* Checks the frame, sizes the state for it, and runs the network up to the decoder's output
 * x0 and its projection by `project` into proj (network.h). */
static int run_network(rvm_stream *s, const rvm_frame *in, double ratio,
                       const rvmi_conv *project, rvmi_view *x0, rvmi_view *src_sm,
                       rvmi_view *proj)
{
    int st = prepare(s, in, ratio);
    if (!st)
        st = rvmi_network_forward(s, in, project, x0, src_sm, proj);
    if (!st && !proj->data)
        CONV(*proj, project, *x0, NULL);
    return st;
}

/* Checks where the results go: a known type and layout, strides of at least a row. */
static int check_output(rvm_stream *s, const rvm_output *out, int width, int height)
{
    if (!out || out->type < RVM_PIXEL_F32 || out->type > RVM_PIXEL_U16)
        return rvmi_stream_fail(s, RVM_EINVAL, "no valid output description");
    if (out->fgr_layout < RVM_FGR_RGB || out->fgr_layout > RVM_FGR_RGBA_PREMULTIPLIED)
        return rvmi_stream_fail(s, RVM_EINVAL, "unknown foreground layout %d",
                                (int)out->fgr_layout);
    ptrdiff_t size = out->type == RVM_PIXEL_F32 ? 4 : out->type == RVM_PIXEL_U16 ? 2 : 1;
    if (out->pha && out->pha_stride < size * width)
        return rvmi_stream_fail(s, RVM_EINVAL,
                                "alpha row stride %td is less than a row's %td bytes",
                                out->pha_stride, size * width);
    if (!out->fgr)
        return 0;
    int channels = out->fgr_layout == RVM_FGR_RGB ? 3 : out->fgr_layout == RVM_FGR_PLANAR ? 1 : 4;
    if (out->fgr_stride < size * channels * width)
        return rvmi_stream_fail(s, RVM_EINVAL,
                                "foreground row stride %td is less than a row's %td bytes",
                                out->fgr_stride, size * channels * width);
    if (out->fgr_layout == RVM_FGR_PLANAR && out->fgr_plane_stride < out->fgr_stride * height)
        return rvmi_stream_fail(s, RVM_EINVAL,
                                "foreground plane stride %td is less than a plane's %td bytes",
                                out->fgr_plane_stride, out->fgr_stride * height);
    return 0;
}

int rvmi_stream_matte(rvm_stream *s, const rvm_frame *in, double ratio)
{
    if (!s)
        return RVM_EINVAL;
    s->ab.data = NULL;
    s->input_range = (rvmi_float_range){INFINITY, -INFINITY, 0};
    if (!in)
        return rvmi_stream_fail(s, RVM_EINVAL, "no frame");
    rvmi_view x0, src_sm, proj;
    int st = run_network(s, in, ratio, &s->model->project_mat, &x0, &src_sm, &proj);
    if (st)
        return st;
    s->layers.proj = proj;
    rvmi_view ab;
    if ((st = rvmi_refine_coefficients(s, &src_sm, &x0, &proj, &ab)))
        return st;
    s->ab = ab;
    s->ab_width = in->width, s->ab_height = in->height;
    return 0;
}

int rvmi_stream_output_rows(rvm_stream *s, const rvm_frame *in, const rvm_output *out, int first,
                            int count)
{
    if (!s)
        return RVM_EINVAL;
    if (!in || !s->ab.data || in->width != s->ab_width || in->height != s->ab_height)
        return rvmi_stream_fail(s, RVM_EINVAL, "not the frame matted last");
    if (first < 0 || count < 0 || first > in->height - count)
        return rvmi_stream_fail(s, RVM_EINVAL, "rows %d..%d are outside the frame's %d", first,
                                first + count, in->height);
    int st = check_output(s, out, in->width, count);
    return st ? st : rvmi_refine_rows(s, in, &s->ab, out, first, count);
}

int rvmi_stream_yuv420(rvm_stream *s, const rvm_frame *in, const rvmi_yuv420_out *out)
{
    if (!s)
        return RVM_EINVAL;
    if (!in || !s->ab.data || in->width != s->ab_width || in->height != s->ab_height)
        return rvmi_stream_fail(s, RVM_EINVAL, "not the frame matted last");
    if (!out || (!out->com[0] && !out->matte) || in->format == RVM_FORMAT_F32_PLANAR)
        return rvmi_stream_fail(s, RVM_EINVAL, "no 4:2:0 output for these frames");
    return rvmi_refine_yuv420(s, in, &s->ab, out);
}

rvmi_float_range rvmi_stream_input_range(const rvm_stream *s)
{
    return s->input_range;
}

int rvm_stream_process_frame(rvm_stream *s, const rvm_frame *in, double ratio,
                             const rvm_output *out)
{
    if (!s)
        return RVM_EINVAL;
    if (!in)
        return rvmi_stream_fail(s, RVM_EINVAL, "no frame");
    int st = check_output(s, out, in->width, in->height);
    if (st)
        return st;
    if ((st = rvmi_stream_matte(s, in, ratio)))
        return st;
    return rvmi_stream_output_rows(s, in, out, 0, in->height);
}

static rvm_frame rgb24_frame(const uint8_t *rgb, int width, int height, ptrdiff_t stride)
{
    return (rvm_frame){.format = RVM_FORMAT_RGB24, .width = width, .height = height,
                       .planes = {rgb}, .strides = {stride}};
}

int rvm_stream_process(rvm_stream *s, const uint8_t *rgb, int width, int height,
                       ptrdiff_t stride, double ratio, const rvm_output *out)
{
    rvm_frame in = rgb24_frame(rgb, width, height, stride);
    return rvm_stream_process_frame(s, &in, ratio, out);
}

int rvm_stream_segment_frame(rvm_stream *s, const rvm_frame *in, double ratio, float *seg,
                             size_t capacity, int *seg_w, int *seg_h)
{
    if (!s)
        return RVM_EINVAL;
    if (!in)
        return rvmi_stream_fail(s, RVM_EINVAL, "no frame");
    int h0, w0, st = internal_size(s, in, ratio, &h0, &w0);
    if (st)
        return st;
    if (seg_w)
        *seg_w = w0;
    if (seg_h)
        *seg_h = h0;
    if (!seg) /* size only */
        return 0;
    if (capacity < (size_t)w0 * h0)
        return rvmi_stream_fail(s, RVM_EINVAL,
                                "segmentation buffer of %zu floats is less than %dx%d", capacity,
                                w0, h0);
    rvmi_view x0, src_sm, out;
    if ((st = run_network(s, in, ratio, &s->model->project_seg, &x0, &src_sm, &out)))
        return st;
    s->layers.seg = out;
    memcpy(seg, out.data, (size_t)out.h * out.w * sizeof(float));
    return 0;
}

int rvm_stream_segment(rvm_stream *s, const uint8_t *rgb, int width, int height,
                       ptrdiff_t stride, double ratio, float *seg, size_t capacity, int *seg_w,
                       int *seg_h)
{
    rvm_frame in = rgb24_frame(rgb, width, height, stride);
    return rvm_stream_segment_frame(s, &in, ratio, seg, capacity, seg_w, seg_h);
}

double rvm_least_downsample_ratio(int width, int height)
{
    int small = width < height ? width : height;
    if (small < 1)
        return 1.0;
    /* k / 1000.0 is the double "0.0k" parses to, so the number printed works too. */
    int k = (int)ceil(1000.0 / small);
    while (k < 1000 && floor(small * (k / 1000.0)) < 1.0)
        k++;
    return k < 1000 ? k / 1000.0 : 1.0;
}

double rvm_auto_downsample_ratio(int width, int height)
{
    int m = width > height ? width : height;
    if (m <= 0)
        return 1.0;
    double r = 512.0 / m;
    return r < 1.0 ? r : 1.0;
}

/* ---- stream lifetime ---- */

rvm_stream *rvm_stream_create(const rvm_model *model, int threads, int *status, char *err,
                              size_t errlen)
{
    char dummy[8];
    int ignored;
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof dummy;
    if (!status)
        status = &ignored;
    *status = RVM_OK;
    if (!model) {
        snprintf(err, errlen, "no model");
        *status = RVM_EINVAL;
        return NULL;
    }
    if (threads < 0) {
        snprintf(err, errlen, "threads %d: give 1 or more, or 0 for one per core", threads);
        *status = RVM_EINVAL;
        return NULL;
    }
    if (threads == 0)
        threads = rvm_cpu_count();
    if (threads > RVM_MAX_THREADS)
        threads = RVM_MAX_THREADS;
    rvm_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        *status = RVM_ENOMEM;
        return NULL;
    }
    s->model = model;
    s->kernels = rvmi_kernels_select();
    s->pool = rvmi_pool_create(threads);
    s->zeros = calloc(RVM_MAX_CIN, sizeof(float));
    if (!s->pool || !s->zeros) {
        rvm_stream_free(s);
        snprintf(err, errlen, "cannot start %d threads", threads);
        *status = RVM_ENOMEM;
        return NULL;
    }
    for (int i = 0; i < 256; i++)
        s->u8_to_float[i] = (float)i / 255.f;
    rvmi_log(RVM_LOG_INFO, "stream: %s kernels, %d thread%s", s->kernels->name, threads,
             threads == 1 ? "" : "s");
    return s;
}

int rvm_stream_set_helper_nice(rvm_stream *s, int increment)
{
    if (!s)
        return RVM_EINVAL;
    if (increment < 0 || increment > 19)
        return rvmi_stream_fail(s, RVM_EINVAL, "helper nice %d: give 0 to 19", increment);
#ifdef __linux__
    rvmi_pool_set_helper_nice(s->pool, increment);
    return 0;
#else
    return rvmi_stream_fail(s, RVM_EUNSUPPORTED, "helper priorities need Linux");
#endif
}

void rvm_stream_reset(rvm_stream *s)
{
    if (!s)
        return;
    for (int k = 0; k < 4; k++) {
        free(s->state[k]);
        s->state[k] = NULL;
    }
}

void rvm_stream_free(rvm_stream *s)
{
    if (!s)
        return;
    rvm_stream_reset(s);
    rvmi_q8_free(s->q8);
    rvmi_arena_free(&s->scratch);
    rvmi_pool_free(s->pool);
    free(s->zeros);
    free(s);
}

const char *rvm_stream_error(const rvm_stream *s) { return s ? s->err : "no stream"; }

int rvmi_stream_set_kernels(rvm_stream *s, const char *isa)
{
    const rvmi_kernels *k = rvmi_kernels_by_name(isa);
    if (!k)
        return rvmi_stream_fail(s, RVM_EUNSUPPORTED, "this CPU cannot run the %s kernels", isa);
    s->kernels = k;
    rvmi_log(RVM_LOG_INFO, "stream: %s kernels (asked for)", k->name);
    return 0;
}

const rvmi_view *rvmi_stream_layer(const rvm_stream *s, const char *name)
{
    const rvmi_view *all[] = {&s->layers.src_sm, &s->layers.f[0], &s->layers.f[1], &s->layers.f[2],
                             &s->layers.f[3],   &s->layers.aspp, &s->layers.x[3], &s->layers.x[2],
                             &s->layers.x[1],   &s->layers.x[0], &s->layers.x0,   &s->layers.proj,
                             &s->layers.seg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, layer_names[i]) == 0)
            return all[i]->data ? all[i] : NULL;
    if (name[0] == 'r' && name[1] >= '1' && name[1] <= '4' && !name[2])
        return s->layers.r[name[1] - '1'].data ? &s->layers.r[name[1] - '1'] : NULL;
    return NULL;
}

const char *rvm_status_string(int status)
{
    switch (status) {
    case RVM_OK: return "ok";
    case RVM_EINVAL: return "invalid argument";
    case RVM_ENOMEM: return "out of memory";
    case RVM_EIO: return "input/output error";
    case RVM_EFORMAT: return "invalid file format";
    case RVM_EMISMATCH: return "weights do not match the request";
    case RVM_EUNSUPPORTED: return "not supported";
    }
    return "unknown error";
}
