/* The GStreamer plugin "rvm" and its element rvmmatte: a GstVideoFilter that runs Robust
 * Video Matting on each frame, in the streaming thread (no internal queue: a buffer leaves
 * the element when its frame is done, so the latency is one frame's processing time).
 *
 * The recurrent state follows the stream: it is forgotten on a flush (seek), a buffer marked
 * DISCONT, a caps change and the "reset" action signal. Property changes take effect at the
 * next frame; a new model or thread count makes a new rvm stream there (which starts from a
 * zero state). Errors post a GStreamer error message and return GST_FLOW_ERROR (the pipeline
 * stops); the library never prints.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

#include "io/compose.h"
#include "rvm.h"

#define GST_TYPE_RVM_MATTE (gst_rvm_matte_get_type())
G_DECLARE_FINAL_TYPE(GstRvmMatte, gst_rvm_matte, GST, RVM_MATTE, GstVideoFilter)

GST_DEBUG_CATEGORY_STATIC(rvm_matte_debug);
#define GST_CAT_DEFAULT rvm_matte_debug

typedef enum {
    RVM_MATTE_OUTPUT_RGBA = 0,
    RVM_MATTE_OUTPUT_COMPOSITE = 1,
    RVM_MATTE_OUTPUT_ALPHA = 2,
} RvmMatteOutput;

#define GST_TYPE_RVM_MATTE_OUTPUT (rvm_matte_output_get_type())
static GType rvm_matte_output_get_type(void)
{
    static gsize type = 0;
    static const GEnumValue values[] = {
        {RVM_MATTE_OUTPUT_RGBA, "RGBA: the foreground colours with the matte as alpha", "rgba"},
        {RVM_MATTE_OUTPUT_COMPOSITE, "RGB or RGBA (opaque): the person over the background colour",
         "composite"},
        {RVM_MATTE_OUTPUT_ALPHA, "GRAY8 or GRAY16_LE: the matte alone", "alpha"},
        {0, NULL, NULL},
    };
    if (g_once_init_enter(&type)) {
        GType t = g_enum_register_static("GstRvmMatteOutput", values);
        g_once_init_leave(&type, t);
    }
    return (GType)type;
}

/* The official converter's green (120, 255, 155). */
#define DEFAULT_BACKGROUND 0x78ff9bu
#define DEFAULT_RATIO 0.0
#define DEFAULT_THREADS 0
#define DEFAULT_OUTPUT RVM_MATTE_OUTPUT_RGBA

enum { PROP_0, PROP_MODEL, PROP_DOWNSAMPLE_RATIO, PROP_THREADS, PROP_OUTPUT, PROP_BACKGROUND };
enum { SIGNAL_RESET, N_SIGNALS };
static guint signals[N_SIGNALS];

struct _GstRvmMatte {
    GstVideoFilter parent;

    /* Properties (under the object lock). */
    gchar *model_path;   /* NULL: the shipped model */
    gdouble ratio;       /* 0: the official auto rule */
    gint threads;        /* 0: one per CPU this process can use */
    RvmMatteOutput output;
    guint background;    /* 0xRRGGBB */
    gboolean rebuild;    /* model or threads changed: a new stream at the next frame */

    /* Set from any thread, acted on in the streaming thread before the next frame. */
    gint reset_pending;
    /* Caps refused at negotiation have been explained (once a run: start() clears it). */
    gint caps_refused;

    /* Streaming thread only (and start/stop). */
    rvm_model *model;
    rvm_stream *stream;
    /* How frames reach the library: directly in their own format (every input format, and
     * YUV in the BT.601 and BT.709 matrices), or converted to packed RGB first (YUV in
     * other matrices). */
    gboolean direct;
    rvm_format format;
    rvm_matrix matrix;
    rvm_range range;
    GstVideoConverter *convert;
    GstVideoInfo rgb_info;
    GstBuffer *rgb;             /* the converted frame */
    guint8 *scratch;            /* the network's outputs when they are packed afterwards */
    gsize scratch_size;
};

G_DEFINE_TYPE(GstRvmMatte, gst_rvm_matte, GST_TYPE_VIDEO_FILTER)

#define INPUT_FORMATS "{ RGB, BGR, RGBx, BGRx, RGBA, BGRA, NV12, I420 }"
#define OUTPUT_FORMATS "{ RGBA, RGB, GRAY8, GRAY16_LE }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(INPUT_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(OUTPUT_FORMATS)));

/* ---- the network ---------------------------------------------------------------------- */

static void free_network(GstRvmMatte *self)
{
    rvm_stream_free(self->stream);
    self->stream = NULL;
    rvm_model_free(self->model);
    self->model = NULL;
}

/* Loads the model and makes a stream with the current properties. Posts an error and
 * returns FALSE on failure. */
static gboolean build_network(GstRvmMatte *self)
{
    GST_OBJECT_LOCK(self);
    gchar *path = g_strdup(self->model_path);
    gint threads = self->threads;
    self->rebuild = FALSE;
    GST_OBJECT_UNLOCK(self);

    free_network(self);
    char err[512];
    self->model = rvm_model_load(path, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, NULL, err, sizeof err);
    if (!self->model) {
        /* err names the file */
        GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("rvmmatte: cannot load the model: %s", err),
                          (NULL));
        g_free(path);
        return FALSE;
    }
    g_free(path);
    self->stream = rvm_stream_create(self->model, threads, NULL, err, sizeof err);
    if (!self->stream) {
        GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("rvmmatte: %s", err), (NULL));
        free_network(self);
        return FALSE;
    }
    return TRUE;
}

/* A downsample-ratio the library takes: 0 (the automatic rule) or in (0, 1]. */
static gboolean ratio_valid(GstRvmMatte *self, gdouble ratio)
{
    if (ratio == 0.0 || (ratio > 0.0 && ratio <= 1.0))
        return TRUE;
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS,
                      ("rvmmatte: downsample-ratio %g: expected a number in (0, 1], or 0 for "
                       "the official rule min(512 / max(width, height), 1)",
                       ratio),
                      (NULL));
    return FALSE;
}


static gint min_side(gdouble ratio);
static const char *size_problem(gint w, gint h, gdouble ratio, char *buf, gsize len);
static const char *interlace_problem(const char *mode, char *buf, gsize len);

static gboolean gst_rvm_matte_start(GstBaseTransform *trans)
{
    /* The settings are checked and the model loaded here (READY -> PAUSED), so that a bad
     * one fails the state change with a clear error before any data flows (an error from
     * the first buffer, during preroll, can leave gst-launch-1.0 waiting: seen 1 run in 6). */
    GstRvmMatte *self = GST_RVM_MATTE(trans);
    GST_OBJECT_LOCK(self);
    gdouble ratio = self->ratio;
    GST_OBJECT_UNLOCK(self);
    g_atomic_int_set(&self->caps_refused, 0);
    if (!ratio_valid(self, ratio))
        return FALSE;
    /* The one frame size upstream offers, when it offers one (a caps filter), and the one
     * interlaced mode, when it offers only that. */
    gint w = 0, h = 0;
    char buf[300];
    const char *interlaced = NULL;
    GstCaps *up = gst_pad_peer_query_caps(GST_BASE_TRANSFORM_SINK_PAD(trans), NULL);
    for (guint i = 0; up && !gst_caps_is_any(up) && i < gst_caps_get_size(up); i++) {
        const char *why = interlace_problem(
            gst_structure_get_string(gst_caps_get_structure(up, i), "interlace-mode"), buf,
            sizeof buf);
        if (i == 0 || interlaced)
            interlaced = why;
    }
    for (guint i = 0; up && i < gst_caps_get_size(up); i++) {
        const GstStructure *s = gst_caps_get_structure(up, i);
        gint sw, sh;
        if (!gst_structure_get_int(s, "width", &sw) ||
            !gst_structure_get_int(s, "height", &sh) || (i > 0 && (sw != w || sh != h))) {
            w = h = 0;
            break;
        }
        w = sw;
        h = sh;
    }
    if (up)
        gst_caps_unref(up);
    /* Refused here, before any data flows, as a size is (below). */
    if (interlaced) {
        g_atomic_int_set(&self->caps_refused, 1);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("rvmmatte: %s", interlaced), (NULL));
        return FALSE;
    }
    if (ratio > 0.0 && min_side(ratio) > RVM_MAX_SIDE) {
        /* No frame size works (1e-10): said here, as the command says it (refused at
         * negotiation, during preroll, gst-launch-1.0 waited for ever); the caps take every
         * size then, or linking failed with only gst-launch's "could not link". The ratio
         * suggested is one for the frames upstream offers, when it offers one size. */
        if (w >= 1 && h >= 1 && w <= RVM_MAX_SIDE && h <= RVM_MAX_SIDE)
            size_problem(w, h, ratio, buf, sizeof buf);
        else
            g_snprintf(buf, sizeof buf, "downsample-ratio %g leaves no pixels of any frame (a "
                       "frame keeps a pixel from a ratio of 1/N, N its shorter side: e.g. %g "
                       "from 1000 pixels up; or 0 for the automatic ratio)", ratio,
                       rvm_least_downsample_ratio(1000, 1000));
        GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("rvmmatte: %s", buf), (NULL));
        return FALSE;
    }
    /* The one size upstream offers, which this ratio leaves no pixels of (0.008 at 160x120,
     * just below the 0.009 suggested): refused here with the reason, before any data flows.
     * Linking took it (caps_taken); refused at linking, gst-launch-1.0 said only "could not
     * link", and at negotiation, during preroll, it could wait for ever. */
    if (w >= 1 && h >= 1 && size_problem(w, h, ratio, buf, sizeof buf)) {
        g_atomic_int_set(&self->caps_refused, 1);
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("rvmmatte: %s", buf), (NULL));
        return FALSE;
    }
    return build_network(self);
}

static gboolean gst_rvm_matte_stop(GstBaseTransform *trans)
{
    GstRvmMatte *self = GST_RVM_MATTE(trans);
    free_network(self);
    if (self->convert)
        gst_video_converter_free(self->convert);
    self->convert = NULL;
    gst_clear_buffer(&self->rgb);
    g_free(self->scratch);
    self->scratch = NULL;
    self->scratch_size = 0;
    return TRUE;
}

/* ---- caps --------------------------------------------------------------------------- */

/* The smallest side the network takes at a fixed ratio: floor(side * ratio) >= 1, as the
 * library computes the internal size (ratio 1: no resize); above RVM_MAX_SIDE when none. */
static gint min_side(gdouble ratio)
{
    if (ratio <= 0.0 || ratio >= 1.0)
        return 1;
    if (ratio * RVM_MAX_SIDE < 1.0)
        return RVM_MAX_SIDE + 1;
    gint m = (gint)ceil(1.0 / ratio);
    while (m > 1 && floor((m - 1) * ratio) >= 1.0)
        m--;
    while (floor(m * ratio) < 1.0)
        m++;
    return m;
}

/* field of s narrowed to lo..hi; FALSE when nothing of it is left. */
static gboolean narrow(GstStructure *s, const char *field, gint lo, gint hi)
{
    if (lo > hi)
        return FALSE;
    GValue range = G_VALUE_INIT, out = G_VALUE_INIT;
    if (lo == hi) {
        g_value_init(&range, G_TYPE_INT);
        g_value_set_int(&range, lo);
    } else {
        g_value_init(&range, GST_TYPE_INT_RANGE);
        gst_value_set_int_range(&range, lo, hi);
    }
    const GValue *v = gst_structure_get_value(s, field);
    gboolean ok = TRUE;
    if (!v)
        gst_structure_set_value(s, field, &range);
    else if ((ok = gst_value_intersect(&out, v, &range)))
        gst_structure_take_value(s, field, &out);
    g_value_unset(&range);
    return ok;
}

/* interlace-mode of s narrowed to progressive (no field: progressive already); FALSE when s
 * offers interlaced video only. */
static gboolean progressive_only(GstStructure *s)
{
    const GValue *v = gst_structure_get_value(s, "interlace-mode");
    if (!v)
        return TRUE;
    GValue progressive = G_VALUE_INIT, out = G_VALUE_INIT;
    g_value_init(&progressive, G_TYPE_STRING);
    g_value_set_static_string(&progressive, "progressive");
    gboolean ok = gst_value_intersect(&out, v, &progressive);
    g_value_unset(&progressive);
    if (ok)
        gst_structure_take_value(s, "interlace-mode", &out);
    return ok;
}

/* The caps the element can take, on both sides (they are the same): progressive frames (two
 * fields woven into one frame comb at every moving edge, which the network was never trained
 * on), at most RVM_MAX_SIDE a side, and at a fixed downsample-ratio at least min_side. Caps
 * outside them are refused here, at negotiation: refused at the first frame instead, the
 * error came during preroll, and gst-launch-1.0 could wait for ever (seen 4 runs in 6). */
static GstCaps *caps_taken(GstRvmMatte *self, GstCaps *caps)
{
    GST_OBJECT_LOCK(self);
    gdouble ratio = self->ratio;
    gboolean linking = GST_STATE(self) == GST_STATE_NULL;
    GST_OBJECT_UNLOCK(self);
    gint lo = min_side(ratio);
    /* No size works, or the pipeline is being linked (gst-launch-1.0 links fixed caps, such
     * as a caps filter's, before anything starts, and a refusal there is only its "could not
     * link", which does not say why): every size and interlace mode is taken, and start or
     * negotiation refuses them with the reason. */
    if (lo > RVM_MAX_SIDE || linking)
        lo = 1;
    GstCaps *out = gst_caps_new_empty();
    for (guint i = 0; i < gst_caps_get_size(caps); i++) {
        GstStructure *s = gst_structure_copy(gst_caps_get_structure(caps, i));
        if (!narrow(s, "width", lo, RVM_MAX_SIDE) || !narrow(s, "height", lo, RVM_MAX_SIDE) ||
            (!linking && !progressive_only(s))) {
            gst_structure_free(s);
            continue;
        }
        GstCapsFeatures *f = gst_caps_get_features(caps, i);
        gst_caps_append_structure_full(out, s, f ? gst_caps_features_copy(f) : NULL);
    }
    return out;
}

/* Why frames of this interlace mode cannot be matted, or NULL; into buf. Each mode's buffers
 * are said as they are (all were "woven fields" before): only interleaved and mixed frames
 * weave two fields into one picture; a fields buffer holds two half-height pictures one after
 * the other, an alternate buffer one. deinterlace handles interleaved, mixed and alternate
 * video (alternate in its format:Interlaced caps); it has no path for fields. */
static const char *interlace_problem(const char *mode, char *buf, gsize len)
{
    if (!mode || strcmp(mode, "progressive") == 0)
        return NULL;
    static const char *const deinterlace = "put deinterlace before rvmmatte";
    const char *what, *todo = deinterlace;
    if (strcmp(mode, "interleaved") == 0)
        what = "each frame is two fields woven together, which comb at every moving edge, "
               "and the network was not trained on that";
    else if (strcmp(mode, "mixed") == 0)
        what = "frames flagged interlaced are two fields woven together, which comb at every "
               "moving edge, and the network was not trained on that";
    else if (strcmp(mode, "alternate") == 0)
        what = "each buffer is one field, half the frame's lines, top and bottom in turn, not "
               "a whole picture";
    else if (strcmp(mode, "fields") == 0) {
        what = "each buffer holds its two fields one after the other, each half the frame's "
               "lines, not one picture";
        todo = "have the source give progressive or interleaved frames (deinterlace takes "
               "interleaved ones)";
    } else
        what = "not progressive pictures";
    g_snprintf(buf, len, "interlaced video (interlace-mode=%s: %s) is not supported: %s", mode,
               what, todo);
    return buf;
}

/* Why a frame of w x h cannot be matted at the downsample-ratio (0: the automatic one), or
 * NULL; into buf. */
static const char *size_problem(gint w, gint h, gdouble ratio, char *buf, gsize len)
{
    if (w < 1 || h < 1 || w > RVM_MAX_SIDE || h > RVM_MAX_SIDE) {
        g_snprintf(buf, len, "%dx%d frames are not supported (1 to %d pixels a side)", w, h,
                   RVM_MAX_SIDE);
        return buf;
    }
    gdouble r = ratio == 0.0 ? rvm_auto_downsample_ratio(w, h) : ratio;
    gint need = min_side(r);
    if (w >= need && h >= need)
        return NULL;
    if (ratio == 0.0)
        g_snprintf(buf, len, "%dx%d frames are too narrow for the automatic downsample-ratio "
                   "(%g leaves no pixels of the %d-pixel side): set a downsample-ratio of at "
                   "least %g", w, h, r, w < h ? w : h, rvm_least_downsample_ratio(w, h));
    else if (need > RVM_MAX_SIDE)
        g_snprintf(buf, len, "downsample-ratio %g leaves no pixels of any frame (use a "
                   "downsample-ratio of at least %g for these %dx%d frames, or 0 for the "
                   "automatic ratio)", ratio, rvm_least_downsample_ratio(w, h), w, h);
    else
        g_snprintf(buf, len, "downsample-ratio %g leaves no pixels of a %dx%d frame (it "
                   "takes at least %d pixels a side; use a downsample-ratio of at least %g, or "
                   "0 for the automatic ratio)", ratio, w, h, need, rvm_least_downsample_ratio(w, h));
    return buf;
}

/* An upstream (or downstream) that can only offer one size, which the element cannot take,
 * fails negotiation with "not-negotiated", which does not say why: the element says it, once
 * a run, when it is starting or running (not for the queries of linking, when nothing else is
 * tried yet). */
static void explain_refusal(GstRvmMatte *self, GstCaps *offered)
{
    gint w, h;
    const GstStructure *s = gst_caps_get_size(offered) ? gst_caps_get_structure(offered, 0) : NULL;
    if (!s)
        return;
    GST_OBJECT_LOCK(self);
    gdouble ratio = self->ratio;
    gboolean live = GST_STATE(self) >= GST_STATE_READY && GST_STATE_TARGET(self) >= GST_STATE_PAUSED;
    GST_OBJECT_UNLOCK(self);
    char buf[300];
    const char *why = interlace_problem(gst_structure_get_string(s, "interlace-mode"), buf,
                                        sizeof buf);
    if (!why && gst_structure_get_int(s, "width", &w) && gst_structure_get_int(s, "height", &h))
        why = size_problem(w, h, ratio, buf, sizeof buf);
    if (live && why && g_atomic_int_compare_and_exchange(&self->caps_refused, 0, 1))
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("rvmmatte: %s", why), (NULL));
}

/* The caps on the other side: the same size, rate and aspect with the formats of the other
 * side (the output formats for the current output mode). */
static GstCaps *gst_rvm_matte_transform_caps(GstBaseTransform *trans, GstPadDirection direction,
                                             GstCaps *caps, GstCaps *filter)
{
    GstRvmMatte *self = GST_RVM_MATTE(trans);
    GST_OBJECT_LOCK(self);
    RvmMatteOutput output = self->output;
    GST_OBJECT_UNLOCK(self);

    GValue formats = G_VALUE_INIT;
    gst_value_list_init(&formats, 8);
    const char *const in_formats[] = {"RGB", "BGR", "RGBx", "BGRx", "RGBA", "BGRA", "NV12",
                                      "I420", NULL};
    const char *const rgba[] = {"RGBA", NULL};
    const char *const composite[] = {"RGB", "RGBA", NULL};
    const char *const alpha[] = {"GRAY8", "GRAY16_LE", NULL};
    const char *const *names = direction == GST_PAD_SRC ? in_formats
                               : output == RVM_MATTE_OUTPUT_ALPHA     ? alpha
                               : output == RVM_MATTE_OUTPUT_COMPOSITE ? composite
                                                                      : rgba;
    for (int i = 0; names[i]; i++) {
        GValue v = G_VALUE_INIT;
        g_value_init(&v, G_TYPE_STRING);
        g_value_set_static_string(&v, names[i]);
        gst_value_list_append_and_take_value(&formats, &v);
    }

    GstCaps *result = gst_caps_new_empty();
    for (guint i = 0; i < gst_caps_get_size(caps); i++) {
        GstStructure *s = gst_structure_copy(gst_caps_get_structure(caps, i));
        /* Colorimetry and chroma siting describe YUV or the input's RGB; the outputs are
         * plain sRGB-like RGB and gray. */
        gst_structure_remove_fields(s, "format", "colorimetry", "chroma-site", NULL);
        gst_structure_set_value(s, "format", &formats);
        GstCapsFeatures *f = gst_caps_get_features(caps, i);
        gst_caps_append_structure_full(result, s, f ? gst_caps_features_copy(f) : NULL);
    }
    g_value_unset(&formats);
    GstCaps *taken = caps_taken(self, result);
    if (gst_caps_is_empty(taken) && !gst_caps_is_empty(result))
        explain_refusal(self, caps);
    gst_caps_unref(result);
    result = taken;
    if (filter) {
        GstCaps *t = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(result);
        result = t;
        if (gst_caps_is_empty(result))
            explain_refusal(self, filter);
    }
    GST_DEBUG_OBJECT(self, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
                     direction == GST_PAD_SINK ? "sink" : "src", caps, result);
    return result;
}

/* Fixed caps the element refuses (a size it cannot take) are explained, as in a query. */
static gboolean gst_rvm_matte_accept_caps(GstBaseTransform *trans, GstPadDirection direction,
                                          GstCaps *caps)
{
    GstRvmMatte *self = GST_RVM_MATTE(trans);
    if (GST_BASE_TRANSFORM_CLASS(gst_rvm_matte_parent_class)->accept_caps(trans, direction, caps))
        return TRUE;
    if (gst_caps_is_fixed(caps))
        explain_refusal(self, caps);
    return FALSE;
}

/* The library's description of a GStreamer input format; FALSE when it has none (a YUV
 * matrix other than BT.601 and BT.709). YUV without a stated matrix is taken as players
 * take it (mpv, and the rvm command: rvmi_untagged_colorspace): BT.709 for HD (1280 pixels
 * wide or more, or more than 576 lines), BT.601 for SD. */
static gboolean direct_format(const GstVideoInfo *info, rvm_format *format, rvm_matrix *matrix,
                              rvm_range *range)
{
    *matrix = RVM_MATRIX_BT601;
    *range = RVM_RANGE_LIMITED;
    switch (GST_VIDEO_INFO_FORMAT(info)) {
    case GST_VIDEO_FORMAT_RGB: *format = RVM_FORMAT_RGB24; return TRUE;
    case GST_VIDEO_FORMAT_BGR: *format = RVM_FORMAT_BGR24; return TRUE;
    case GST_VIDEO_FORMAT_RGBx: *format = RVM_FORMAT_RGBX; return TRUE;
    case GST_VIDEO_FORMAT_BGRx: *format = RVM_FORMAT_BGRX; return TRUE;
    case GST_VIDEO_FORMAT_RGBA: *format = RVM_FORMAT_RGBA; return TRUE;
    case GST_VIDEO_FORMAT_BGRA: *format = RVM_FORMAT_BGRA; return TRUE;
    case GST_VIDEO_FORMAT_NV12: *format = RVM_FORMAT_NV12; break;
    case GST_VIDEO_FORMAT_I420: *format = RVM_FORMAT_I420; break;
    default: return FALSE;
    }
    const GstVideoColorimetry *c = &GST_VIDEO_INFO_COLORIMETRY(info);
    switch (c->matrix) {
    case GST_VIDEO_COLOR_MATRIX_BT601: *matrix = RVM_MATRIX_BT601; break;
    case GST_VIDEO_COLOR_MATRIX_BT709: *matrix = RVM_MATRIX_BT709; break;
    case GST_VIDEO_COLOR_MATRIX_UNKNOWN:
        *matrix = GST_VIDEO_INFO_WIDTH(info) >= 1280 || GST_VIDEO_INFO_HEIGHT(info) > 576
                      ? RVM_MATRIX_BT709
                      : RVM_MATRIX_BT601;
        break;
    default: return FALSE;
    }
    *range = c->range == GST_VIDEO_COLOR_RANGE_0_255 ? RVM_RANGE_FULL : RVM_RANGE_LIMITED;
    return TRUE;
}

static gboolean gst_rvm_matte_set_info(GstVideoFilter *filter, GstCaps *incaps,
                                       GstVideoInfo *in_info, GstCaps *outcaps,
                                       GstVideoInfo *out_info)
{
    GstRvmMatte *self = GST_RVM_MATTE(filter);
    (void)incaps;
    (void)outcaps;
    int w = GST_VIDEO_INFO_WIDTH(in_info), h = GST_VIDEO_INFO_HEIGHT(in_info);
    /* The caps were narrowed to the sizes taken (transform_caps); the automatic ratio's
     * limit depends on both sides at once, which caps cannot say: checked here, before the
     * first frame. */
    GST_OBJECT_LOCK(self);
    gdouble ratio = self->ratio;
    GST_OBJECT_UNLOCK(self);
    char buf[300];
    const char *why = interlace_problem(
        gst_video_interlace_mode_to_string(GST_VIDEO_INFO_INTERLACE_MODE(in_info)), buf, sizeof buf);
    if (!why)
        why = size_problem(w, h, ratio, buf, sizeof buf);
    if (why) {
        if (g_atomic_int_compare_and_exchange(&self->caps_refused, 0, 1))
            GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("rvmmatte: %s", why), (NULL));
        return FALSE;
    }
    if (self->convert)
        gst_video_converter_free(self->convert);
    self->convert = NULL;
    gst_clear_buffer(&self->rgb);
    self->direct = direct_format(in_info, &self->format, &self->matrix, &self->range);
    if (!self->direct) {
        /* YUV in another matrix (BT.2020, SMPTE 240M, FCC) becomes packed RGB with
         * GStreamer's converter, honouring its matrix and range: what videoconvert gives (in
         * one thread, as videoconvert by default). */
        gst_video_info_set_format(&self->rgb_info, GST_VIDEO_FORMAT_RGB, w, h);
        self->rgb_info.fps_n = GST_VIDEO_INFO_FPS_N(in_info);
        self->rgb_info.fps_d = GST_VIDEO_INFO_FPS_D(in_info);
        self->rgb_info.par_n = GST_VIDEO_INFO_PAR_N(in_info);
        self->rgb_info.par_d = GST_VIDEO_INFO_PAR_D(in_info);
        GstStructure *config = gst_structure_new(
            "GstVideoConverter", GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, 1,
            GST_VIDEO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_VIDEO_DITHER_METHOD,
            GST_VIDEO_DITHER_NONE, NULL);
        self->convert = gst_video_converter_new(in_info, &self->rgb_info, config);
        self->rgb = gst_buffer_new_allocate(NULL, GST_VIDEO_INFO_SIZE(&self->rgb_info), NULL);
        if (!self->convert || !self->rgb) {
            GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
                              ("rvmmatte: cannot convert %s frames to RGB",
                               gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(in_info))),
                              (NULL));
            return FALSE;
        }
    }
    /* The network's outputs before packing: 16-bit alpha and foreground (composite), 8-bit
     * ones (rgba); the gray outputs are written in place. */
    gsize n = (gsize)w * h, need = 0;
    switch (GST_VIDEO_INFO_FORMAT(out_info)) {
    case GST_VIDEO_FORMAT_RGBA:
    case GST_VIDEO_FORMAT_RGB: need = 8 * n; break;
    default: need = 0; break;
    }
    if (need > self->scratch_size) {
        g_free(self->scratch);
        self->scratch = g_try_malloc(need);
        self->scratch_size = self->scratch ? need : 0;
        if (!self->scratch) {
            GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT, ("rvmmatte: out of memory"), (NULL));
            return FALSE;
        }
    }
    /* New caps: a new video as far as the recurrent state is concerned. */
    g_atomic_int_set(&self->reset_pending, 1);
    GST_INFO_OBJECT(self, "%dx%d %s -> %s (%s%s)", w, h,
                    gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(in_info)),
                    gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(out_info)),
                    !self->direct                        ? "converted to RGB first"
                    : self->format < RVM_FORMAT_NV12      ? "read directly"
                    : self->matrix == RVM_MATRIX_BT709   ? "read directly as BT.709"
                                                         : "read directly as BT.601",
                    !self->direct || self->format < RVM_FORMAT_NV12 ? ""
                    : self->range == RVM_RANGE_FULL                  ? ", full range"
                                                                     : ", limited range");
    return TRUE;
}

/* ---- frames --------------------------------------------------------------------------- */

static GstFlowReturn gst_rvm_matte_transform_frame(GstVideoFilter *filter, GstVideoFrame *in,
                                                   GstVideoFrame *out)
{
    GstRvmMatte *self = GST_RVM_MATTE(filter);
    GST_OBJECT_LOCK(self);
    gboolean rebuild = self->rebuild;
    gdouble ratio = self->ratio;
    guint background = self->background;
    RvmMatteOutput output = self->output;
    GST_OBJECT_UNLOCK(self);

    if ((rebuild || !self->stream) && !build_network(self))
        return GST_FLOW_ERROR;
    if (GST_BUFFER_FLAG_IS_SET(in->buffer, GST_BUFFER_FLAG_DISCONT))
        g_atomic_int_set(&self->reset_pending, 1);
    if (g_atomic_int_compare_and_exchange(&self->reset_pending, 1, 0)) {
        GST_DEBUG_OBJECT(self, "recurrent state reset at %" GST_TIME_FORMAT,
                         GST_TIME_ARGS(GST_BUFFER_PTS(in->buffer)));
        rvm_stream_reset(self->stream);
    }

    int w = GST_VIDEO_FRAME_WIDTH(in), h = GST_VIDEO_FRAME_HEIGHT(in);
    if (!ratio_valid(self, ratio)) /* a change while playing */
        return GST_FLOW_ERROR;
    if (ratio == 0.0)
        ratio = rvm_auto_downsample_ratio(w, h);

    /* The input as the library reads it: the mapped frame's own planes and strides, no
     * copy (or the converted RGB). */
    rvm_frame frame = {.width = w, .height = h};
    GstVideoFrame converted;
    gboolean mapped = FALSE;
    if (self->direct) {
        frame.format = self->format;
        frame.matrix = self->matrix;
        frame.range = self->range;
        for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(in) && p < 3; p++) {
            frame.planes[p] = GST_VIDEO_FRAME_PLANE_DATA(in, p);
            frame.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE(in, p);
        }
    } else {
        if (!gst_video_frame_map(&converted, &self->rgb_info, self->rgb, GST_MAP_READWRITE)) {
            GST_ELEMENT_ERROR(self, CORE, FAILED, ("rvmmatte: cannot map a frame"), (NULL));
            return GST_FLOW_ERROR;
        }
        mapped = TRUE;
        gst_video_converter_frame(self->convert, in, &converted);
        frame.format = RVM_FORMAT_RGB24;
        frame.planes[0] = GST_VIDEO_FRAME_PLANE_DATA(&converted, 0);
        frame.strides[0] = GST_VIDEO_FRAME_PLANE_STRIDE(&converted, 0);
    }

    GstVideoFormat of = GST_VIDEO_FRAME_FORMAT(out);
    guint8 *od = GST_VIDEO_FRAME_PLANE_DATA(out, 0);
    ptrdiff_t os = GST_VIDEO_FRAME_PLANE_STRIDE(out, 0);
    gsize n = (gsize)w * h;
    rvm_output ro = {.type = RVM_PIXEL_U16}; /* foreground interleaved RGB */
    switch (of) {
    case GST_VIDEO_FORMAT_GRAY8: /* the matte straight into the output */
        ro.type = RVM_PIXEL_U8;
        ro.pha = od, ro.pha_stride = os;
        break;
    case GST_VIDEO_FORMAT_GRAY16_LE:
        ro.pha = od, ro.pha_stride = os;
        break;
    default:
        if (of == GST_VIDEO_FORMAT_RGBA && output == RVM_MATTE_OUTPUT_RGBA) {
            /* 8-bit results packed: the command's 8-bit RGBA composition */
            ro.type = RVM_PIXEL_U8;
            ro.pha = self->scratch, ro.pha_stride = w;
            ro.fgr = self->scratch + n, ro.fgr_stride = 3 * (ptrdiff_t)w;
        } else {
            /* a composition: 16-bit results composed and rounded once, as the command does */
            ro.pha = self->scratch, ro.pha_stride = 2 * (ptrdiff_t)w;
            ro.fgr = self->scratch + 2 * n, ro.fgr_stride = 6 * (ptrdiff_t)w;
        }
        break;
    }
    int rc = rvm_stream_process_frame(self->stream, &frame, ratio, &ro);
    if (mapped)
        gst_video_frame_unmap(&converted);
    if (rc) {
        GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("rvmmatte: %s", rvm_stream_error(self->stream)),
                          (NULL));
        return GST_FLOW_ERROR;
    }

#if G_BYTE_ORDER == G_BIG_ENDIAN
    if (of == GST_VIDEO_FORMAT_GRAY16_LE)
        for (int y = 0; y < h; y++) {
            guint16 *row = (guint16 *)(od + y * os);
            for (int x = 0; x < w; x++)
                row[x] = GUINT16_TO_LE(row[x]);
        }
#endif
    /* Rows padded past their pixels (GStreamer rounds strides up to 4 bytes: GRAY8, GRAY16
     * and RGB of odd widths) keep whatever the buffer held (a pool's earlier frame, the
     * allocator's leftovers) unless written: zeros, so equal frames give equal buffers. */
    gsize row_bytes = (gsize)w * GST_VIDEO_FORMAT_INFO_PSTRIDE(out->info.finfo, 0);
    if ((gsize)os > row_bytes)
        for (int y = 0; y < h; y++)
            memset(od + y * os + row_bytes, 0, (gsize)os - row_bytes);
    if (of == GST_VIDEO_FORMAT_RGBA && ro.type == RVM_PIXEL_U8) {
        const guint8 *pha = self->scratch, *fgr = self->scratch + n;
        for (int y = 0; y < h; y++)
            rvmi_pack_rgba8_from8(fgr + (gsize)3 * w * y, pha + (gsize)w * y, w, od + y * os);
    } else if (of == GST_VIDEO_FORMAT_RGB || of == GST_VIDEO_FORMAT_RGBA) {
        const guint16 *pha = (const guint16 *)self->scratch;
        const guint16 *fgr = (const guint16 *)(self->scratch + 2 * n);
        const guint8 colour[3] = {(background >> 16) & 0xff, (background >> 8) & 0xff,
                                  background & 0xff};
        for (int y = 0; y < h; y++) {
            guint8 *row = od + y * os;
            rvmi_compose_colour(fgr + (gsize)3 * w * y, pha + (gsize)w * y, colour, w, 8, row);
            if (of == GST_VIDEO_FORMAT_RGBA) /* spread RGB to RGBA in place, from the end */
                for (int x = w - 1; x >= 0; x--) {
                    row[4 * x + 3] = 255;
                    row[4 * x + 2] = row[3 * x + 2];
                    row[4 * x + 1] = row[3 * x + 1];
                    row[4 * x] = row[3 * x];
                }
        }
    }
    return GST_FLOW_OK;
}

/* The formats downstream takes, for a message ("RGBA", "I420, NV12"); "" when any. */
static void formats_of(GstCaps *caps, char *buf, gsize len)
{
    buf[0] = '\0';
    for (guint i = 0; caps && i < gst_caps_get_size(caps); i++) {
        const GValue *v = gst_structure_get_value(gst_caps_get_structure(caps, i), "format");
        guint n = v && GST_VALUE_HOLDS_LIST(v) ? gst_value_list_get_size(v) : v ? 1 : 0;
        for (guint k = 0; k < n; k++) {
            const GValue *f = GST_VALUE_HOLDS_LIST(v) ? gst_value_list_get_value(v, k) : v;
            const char *name = G_VALUE_HOLDS_STRING(f) ? g_value_get_string(f) : NULL;
            if (!name || strstr(buf, name))
                continue;
            gsize used = strlen(buf);
            g_snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
        }
    }
}

/* Caps that fail because downstream takes none of the output's formats (output=alpha before
 * a caps filter of RGBA) ended in a bare "not-negotiated": the element says why. */
static void explain_format_refusal(GstRvmMatte *self, GstCaps *incaps)
{
    GstBaseTransform *trans = GST_BASE_TRANSFORM(self);
    GstCaps *ours = gst_rvm_matte_transform_caps(trans, GST_PAD_SINK, incaps, NULL);
    GstCaps *peer = gst_pad_peer_query_caps(trans->srcpad, NULL);
    if (ours && peer && !gst_caps_is_empty(ours) && !gst_caps_is_any(peer) &&
        !gst_caps_can_intersect(ours, peer) &&
        g_atomic_int_compare_and_exchange(&self->caps_refused, 0, 1)) {
        GST_OBJECT_LOCK(self);
        RvmMatteOutput output = self->output;
        GST_OBJECT_UNLOCK(self);
        char takes[200];
        formats_of(peer, takes, sizeof takes);
        const char *mode = output == RVM_MATTE_OUTPUT_ALPHA       ? "alpha gives GRAY8 or GRAY16_LE"
                           : output == RVM_MATTE_OUTPUT_COMPOSITE ? "composite gives RGB or RGBA"
                                                                  : "rgba gives RGBA";
        GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
                          ("rvmmatte: output=%s, which downstream does not take%s%s%s (put "
                           "videoconvert after rvmmatte, or choose the output it takes)",
                           mode, *takes ? " (it takes " : "", takes, *takes ? ")" : ""),
                          (NULL));
    }
    if (ours)
        gst_caps_unref(ours);
    if (peer)
        gst_caps_unref(peer);
}

static gboolean gst_rvm_matte_sink_event(GstBaseTransform *trans, GstEvent *event)
{
    GstRvmMatte *self = GST_RVM_MATTE(trans);
    if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) {
        GST_DEBUG_OBJECT(self, "flush: the recurrent state starts over");
        g_atomic_int_set(&self->reset_pending, 1);
    }
    GstCaps *incaps = NULL;
    if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
        gst_event_parse_caps(event, &incaps);
        gst_caps_ref(incaps);
    }
    /* The parent takes the event. */
    gboolean ret = GST_BASE_TRANSFORM_CLASS(gst_rvm_matte_parent_class)->sink_event(trans, event);
    if (incaps) {
        if (!ret)
            explain_format_refusal(self, incaps);
        gst_caps_unref(incaps);
    }
    return ret;
}

/* An output changed while running (output=alpha before a caps filter of RGBA) fails the
 * renegotiation before the next frame: explained as for new caps. */
static GstFlowReturn gst_rvm_matte_submit_input_buffer(GstBaseTransform *trans,
                                                       gboolean discont, GstBuffer *input)
{
    GstFlowReturn ret = GST_BASE_TRANSFORM_CLASS(gst_rvm_matte_parent_class)
                            ->submit_input_buffer(trans, discont, input);
    if (ret == GST_FLOW_NOT_NEGOTIATED) {
        GstCaps *incaps = gst_pad_get_current_caps(trans->sinkpad);
        if (incaps) {
            explain_format_refusal(GST_RVM_MATTE(trans), incaps);
            gst_caps_unref(incaps);
        }
    }
    return ret;
}

static void gst_rvm_matte_reset(GstRvmMatte *self)
{
    GST_DEBUG_OBJECT(self, "reset asked for");
    g_atomic_int_set(&self->reset_pending, 1);
}

/* ---- properties ---------------------------------------------------------------------- */

static void gst_rvm_matte_set_property(GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec)
{
    GstRvmMatte *self = GST_RVM_MATTE(object);
    gboolean reconfigure = FALSE;
    GST_OBJECT_LOCK(self);
    switch (prop_id) {
    case PROP_MODEL: {
        const gchar *path = g_value_get_string(value);
        g_free(self->model_path);
        self->model_path = path && *path ? g_strdup(path) : NULL;
        self->rebuild = TRUE;
        break;
    }
    case PROP_DOWNSAMPLE_RATIO: self->ratio = g_value_get_double(value); break;
    case PROP_THREADS:
        self->threads = g_value_get_int(value);
        self->rebuild = TRUE;
        break;
    case PROP_OUTPUT: {
        RvmMatteOutput o = g_value_get_enum(value);
        reconfigure = o != self->output;
        self->output = o;
        break;
    }
    case PROP_BACKGROUND: self->background = g_value_get_uint(value) & 0xffffffu; break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
    if (reconfigure) /* other output caps: renegotiate before the next frame */
        gst_base_transform_reconfigure_src(GST_BASE_TRANSFORM(self));
}

static void gst_rvm_matte_get_property(GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec)
{
    GstRvmMatte *self = GST_RVM_MATTE(object);
    GST_OBJECT_LOCK(self);
    switch (prop_id) {
    case PROP_MODEL: g_value_set_string(value, self->model_path); break;
    case PROP_DOWNSAMPLE_RATIO: g_value_set_double(value, self->ratio); break;
    case PROP_THREADS: g_value_set_int(value, self->threads); break;
    case PROP_OUTPUT: g_value_set_enum(value, self->output); break;
    case PROP_BACKGROUND: g_value_set_uint(value, self->background); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
    }
    GST_OBJECT_UNLOCK(self);
}

static void gst_rvm_matte_finalize(GObject *object)
{
    GstRvmMatte *self = GST_RVM_MATTE(object);
    g_free(self->model_path);
    free_network(self);
    if (self->convert)
        gst_video_converter_free(self->convert);
    gst_clear_buffer(&self->rgb);
    g_free(self->scratch);
    G_OBJECT_CLASS(gst_rvm_matte_parent_class)->finalize(object);
}

static void gst_rvm_matte_init(GstRvmMatte *self)
{
    self->ratio = DEFAULT_RATIO;
    self->threads = DEFAULT_THREADS;
    self->output = DEFAULT_OUTPUT;
    self->background = DEFAULT_BACKGROUND;
}

static void gst_rvm_matte_class_init(GstRvmMatteClass *klass)
{
    GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
    GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
    GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);
    GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS(klass);

    gobject_class->set_property = gst_rvm_matte_set_property;
    gobject_class->get_property = gst_rvm_matte_get_property;
    gobject_class->finalize = gst_rvm_matte_finalize;

    const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;
    g_object_class_install_property(
        gobject_class, PROP_MODEL,
        g_param_spec_string("model", "Model",
                            "An official checkpoint (.pth) or TF.js model folder (or its "
                            "model.json); empty: the model shipped with rvm. A change while "
                            "playing loads the model at the next frame (the state starts over)",
                            NULL, rw));
    /* The full double range: a value outside 0 or (0, 1] is reported as an element error
     * (the pipeline stops) rather than as a GLib warning that would leave the old value. */
    g_object_class_install_property(
        gobject_class, PROP_DOWNSAMPLE_RATIO,
        g_param_spec_double("downsample-ratio", "Downsample ratio",
                            "Scale at which the network sees the frame: a number in (0, 1] "
                            "(0.25 suits 1080p, 0.125 4K), or 0 for the official rule "
                            "min(512 / max(width, height), 1); other values are an error. Takes "
                            "effect at the next frame",
                            -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_RATIO, rw));
    g_object_class_install_property(
        gobject_class, PROP_THREADS,
        g_param_spec_int("threads", "Threads",
                         "Worker threads of the network (0: one per CPU this process can use). A change while "
                         "playing takes effect at the next frame (the state starts over)",
                         0, RVM_MAX_THREADS, DEFAULT_THREADS, rw));
    g_object_class_install_property(
        gobject_class, PROP_OUTPUT,
        g_param_spec_enum("output", "Output",
                          "What the element outputs; a change while playing renegotiates",
                          GST_TYPE_RVM_MATTE_OUTPUT, DEFAULT_OUTPUT, rw));
    g_object_class_install_property(
        gobject_class, PROP_BACKGROUND,
        g_param_spec_uint("background", "Background colour",
                          "Colour 0xRRGGBB the person is composited over (output=composite; "
                          "default the official green 0x78ff9b). Takes effect at the next frame",
                          0, 0xffffffu, DEFAULT_BACKGROUND, rw));

    /* Action signal: g_signal_emit_by_name(element, "reset") makes the next frame start
     * from a zero recurrent state, as a new video would (e.g. on a scene cut). */
    signals[SIGNAL_RESET] = g_signal_new_class_handler(
        "reset", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
        G_CALLBACK(gst_rvm_matte_reset), NULL, NULL, NULL, G_TYPE_NONE, 0);

    gst_element_class_set_static_metadata(
        element_class, "Robust Video Matting", "Filter/Effect/Video",
        "Removes the background behind people (Robust Video Matting, Lin et al. 2022): the "
        "matte as alpha, a composition over a colour, or the matte alone",
        "rvm project");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    gst_element_class_add_static_pad_template(element_class, &src_template);

    trans_class->start = GST_DEBUG_FUNCPTR(gst_rvm_matte_start);
    trans_class->stop = GST_DEBUG_FUNCPTR(gst_rvm_matte_stop);
    trans_class->transform_caps = GST_DEBUG_FUNCPTR(gst_rvm_matte_transform_caps);
    trans_class->accept_caps = GST_DEBUG_FUNCPTR(gst_rvm_matte_accept_caps);
    trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_rvm_matte_sink_event);
    trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR(gst_rvm_matte_submit_input_buffer);
    filter_class->set_info = GST_DEBUG_FUNCPTR(gst_rvm_matte_set_info);
    filter_class->transform_frame = GST_DEBUG_FUNCPTR(gst_rvm_matte_transform_frame);

    gst_type_mark_as_plugin_api(GST_TYPE_RVM_MATTE_OUTPUT, 0);
}

/* The library's diagnostics (model loaded, kernels and threads of a stream, state resets)
 * go to the rvmmatte debug category (GST_DEBUG=rvmmatte:5). The plugin has its own copy
 * of the library, so this sets nobody else's. */
static void library_log(void *user, rvm_log_level level, const char *message)
{
    (void)user;
    GST_CAT_LEVEL_LOG(rvm_matte_debug, level == RVM_LOG_INFO ? GST_LEVEL_INFO : GST_LEVEL_DEBUG,
                      NULL, "%s", message);
}

static gboolean plugin_init(GstPlugin *plugin)
{
    GST_DEBUG_CATEGORY_INIT(rvm_matte_debug, "rvmmatte", 0, "Robust Video Matting");
    rvm_set_log(library_log, NULL);
    return gst_element_register(plugin, "rvmmatte", GST_RANK_NONE, GST_TYPE_RVM_MATTE);
}

/* GST_PLUGIN_DEFINE names the source package PACKAGE and leaves the padding of its
 * descriptor to zero initialisation (which -Wextra reports). */
#define PACKAGE "rvm"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, rvm,
                  "Robust Video Matting: background removal for videos of people", plugin_init,
                  RVM_VERSION, "GPL", "rvm", "Unknown package origin")
#pragma GCC diagnostic pop
