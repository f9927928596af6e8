/* Input media: demux, decode, rotate and convert to RGB24 with libavformat/libavcodec/libswscale.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/reader.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/mastering_display_metadata.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/timecode.h>
#include <libswscale/swscale.h>
#include <dlfcn.h>
#include <pthread.h>
#ifdef RVM_HAVE_AVDEVICE
#include <libavdevice/version.h>
#endif

#include "io/avlog.h"
#include "io/tracks.h"
#include "kernels/kernels.h"
#include "rvm.h"

/* libavfilter (only the deinterlacer uses it) is loaded when an interlaced frame first comes:
 * linked, it and its own dependencies (speech synthesis, SVG, ...) are 12 MB of resident
 * memory in every run (issue 14: the README's 1080p conversion within 250 MB). */
static struct {
    AVFilterGraph *(*graph_alloc)(void);
    const AVFilter *(*get_by_name)(const char *name);
    int (*graph_create_filter)(AVFilterContext **filt_ctx, const AVFilter *filt,
                               const char *name, const char *args, void *opaque,
                               AVFilterGraph *graph_ctx);
    int (*link)(AVFilterContext *src, unsigned srcpad, AVFilterContext *dst, unsigned dstpad);
    int (*graph_config)(AVFilterGraph *graphctx, void *log_ctx);
    void (*graph_free)(AVFilterGraph **graph);
    int (*buffersrc_add_frame)(AVFilterContext *ctx, AVFrame *frame);
    int (*buffersink_get_frame)(AVFilterContext *ctx, AVFrame *frame);
    int loaded; /* 1 when every function above was found */
} avf;
static pthread_once_t avf_once = PTHREAD_ONCE_INIT;

static void avf_load(void)
{
    char name[32];
    snprintf(name, sizeof name, "libavfilter.so.%d", LIBAVFILTER_VERSION_MAJOR);
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    *(void **)&avf.graph_alloc = dlsym(lib, "avfilter_graph_alloc");
    *(void **)&avf.get_by_name = dlsym(lib, "avfilter_get_by_name");
    *(void **)&avf.graph_create_filter = dlsym(lib, "avfilter_graph_create_filter");
    *(void **)&avf.link = dlsym(lib, "avfilter_link");
    *(void **)&avf.graph_config = dlsym(lib, "avfilter_graph_config");
    *(void **)&avf.graph_free = dlsym(lib, "avfilter_graph_free");
    *(void **)&avf.buffersrc_add_frame = dlsym(lib, "av_buffersrc_add_frame");
    *(void **)&avf.buffersink_get_frame = dlsym(lib, "av_buffersink_get_frame");
    avf.loaded = avf.graph_alloc && avf.get_by_name && avf.graph_create_filter && avf.link &&
                 avf.graph_config && avf.graph_free && avf.buffersrc_add_frame &&
                 avf.buffersink_get_frame;
}

/* AVFrame.duration replaced pkt_duration in FFmpeg 6. */
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
#define FRAME_DURATION(f) ((f)->duration)
#else
#define FRAME_DURATION(f) ((f)->pkt_duration)
#endif

struct rvmi_reader {
    rvmi_reader_options opt;
    /* A video file (or any FFmpeg input). */
    AVFormatContext *fmt;
    AVIOContext *pipe;       /* stdin, opened and probed here */
    AVCodecContext *dec;
    int vidx;
    AVPacket *pkt;
    AVFrame *frame;
    /* Interlaced frames go through libavfilter's bwdif (built at the first one): the
     * graph, its ends, the size and format it was built for, and a frame of another size
     * kept while the graph is drained. */
    AVFilterGraph *deint;
    AVFilterContext *deint_src, *deint_sink;
    int deint_w, deint_h, deint_fmt, deint_noticed;
    AVFrame *stash;
    int dec_eof;             /* the decoder gave its last frame */
    int flushing;            /* the graph was told its input ended */
    int rotation;            /* clockwise degrees to apply: 0, 90, 180 or 270 */
    /* The first frame's geometry (coded size, sample aspect, orientation): frames like it
     * fill the picture, others are fitted in it. */
    int ref_w, ref_h, ref_rot, ref_flip;
    AVRational sar;
    /* The last frame's geometry, to see changes (the network then starts over). */
    int last_w, last_h, last_rot, last_flip, changes;
    int input_eof;           /* av_read_frame said EOF (decoder flushed) */
    int video_done;          /* no more video frames wanted */
    int audio_done;          /* no more audio packets wanted (every audio track done) */
    /* The audio and subtitle tracks carried (opt.tracks), and for each its window of
     * wanted timestamps, the shift applied (in its time base) and its MPEG-TS jumps
     * closed (close_gaps). track_of: per input stream, its index in tracks or -1. */
    rvmi_track *tracks;
    int ntracks;
    struct carried {
        int64_t start, end, shift;
        int done;
        int64_t discont_us, next_dts, last_dts;
    } *carried;
    int *track_of;
    unsigned ntrack_of;      /* streams when the input was opened (more may appear) */
    int64_t frames_out;
    int decode_errors;       /* damaged frames the outputs lack (count_damaged) */
    int64_t sent_pts;        /* the last video packet sent to the decoder's pts */
    int64_t first_written;   /* the first frame handed out not as warm-up: its timestamp
                              * before the shift (a folder: its index), AV_NOPTS_VALUE: none */
    /* Window of wanted timestamps and the shift applied (video tb / audio tb). */
    int64_t v_start, v_end, v_shift;
    int64_t last_pts;        /* last returned pts (before shifting), for monotonic output */
    int64_t v_origin;        /* the video's first timestamp: time 0 of --start */
    int64_t before_start;    /* the last frame dropped before --start (AV_NOPTS_VALUE: none) */
    int64_t after_end;       /* the first frame at or after --start + --duration (or none) */
    /* Formats whose timestamps may jump (MPEG-TS): per stream, the offset (us) that closes
     * the jumps seen so far, the dts expected next and the last one (us, offset included). */
    int discont;
    int read_error;          /* the error that ended reading early (0: none, or EOF) */
    int64_t data_end_us;     /* where the packets read so far end (us, input clock) */
    int end_reported;
    int64_t v_discont_us, v_next_dts, v_last_dts;
    int gaps_closed;
    int segment_reseeked;    /* a segment's seek overshot: reading restarted from the start */
    int64_t default_duration;
    /* An image folder. */
    char *dir;
    char **files;
    int nfiles;              /* names held in files (all freed) */
    int next_file, end_file; /* the range read: --start/--duration or a segment */
    /* Conversion. */
    struct SwsContext *sws;
    int sws_w, sws_h, sws_fmt, sws_spc, sws_range, sws_dw, sws_dh, sws_out;
    /* HDR input (hdr_tone_row): a band of a frame's rows in 16-bit RGB (hdr_band: its
     * buf[0] holds them), and the tables of its transfer. */
    AVFrame *hdr_band;
    int hdr_whole;           /* this sws context converts whole frames only (hdr_convert) */
    int hdr_trc, hdr_noticed;
    int in_primaries;        /* the video stream's AVCOL_PRI_* (rvmi_reader_primaries) */
    int sws_blend;           /* opt.over_black: r->sws converts to RGBA or RGBA64 (into
                              * rgba), or for HDR puts alpha over black itself */
    int sws_official;        /* r->sws has the official reader's flags (odd_height_sws) */
    uint8_t *rgba;           /* a picture with alpha in rgba_format, before over_black_rows */
    size_t rgba_size;
    /* The first picture's ICC profile (rvmi_reader_icc): NULL when it has none. Only the
     * first picture's, so that it is set before any picture is handed out and is read by
     * other threads unchanged. */
    AVBufferRef *icc;
    int icc_checked;
    int see_through;         /* the first picture had a pixel not opaque */
    int alpha_checked;       /* the first picture was looked at (over_black, or a warning) */
    /* PQ: the brightest light the content holds (cd/m2), which the roll-off takes to SDR
     * white, and where it was read (hdr_peak_of). */
    double hdr_peak;
    const char *hdr_peak_source;
    float hdr_lin[65536];
    uint8_t hdr_oetf[65536 + 3]; /* 3 bytes more for hdr_tone_row's gathers */
    uint8_t *rotbuf;
    float *yuv_tmp;          /* rows of yuv420_rows */
    size_t yuv_tmp_size;     /* floats */
    int out_w, out_h;        /* what the network sees */
    int store_w, store_h;    /* the video outputs' size and sample aspect */
    AVRational store_sar;
    AVRational tb, fps;
    int64_t estimate;
    struct picture_gate *gate; /* the decoder's pictures handed out (gate_get_buffer) */
};

/* ---- The decoder's pictures handed out (rvmi_reader_read_frame's yuv) ----
 *
 * The decoder's pictures come from its pool, which keeps every picture it ever allocated:
 * its size is the most pictures alive at once, whether the decoder holds them (references,
 * pictures waiting to come out in display order, the one being decoded) or a caller does.
 * The pipeline holds up to two (the frame the network works on, the next one decoded
 * meanwhile). One the decoder no longer holds (a B-frame no other frame refers to) makes
 * the decoder take one more picture for the next frame, and when that meets the decoder's
 * own most the pool grows for good: the README's 4K clip took 6 pictures (12.4 MB each) where
 * the decoder needs 5 (the sixth once, at frame ~26, while the pipeline held a picture the
 * decoder was done with). So, above
 * 1080p, while every pooled picture is in use and a caller holds one the decoder no longer
 * needs, the decoder waits for the caller to give it back instead of allocating one: the
 * pool stays at what the decoder needs (4K clip: 5 pictures; 8 waits in its 89 frames, each
 * ending when the network is done with the frame it holds). The wait is bounded
 * (GATE_WAIT_MS: a caller that stopped or failed may never give it back) and ends at an
 * interrupt; the pool then grows as before. The pictures are the same either way. */
#define GATE_HELD 8     /* handed pictures tracked (the pipeline holds 2) */
#define GATE_LIVE 64    /* decoder pictures tracked (H.264 needs at most 17 at once) */
#define GATE_WAIT_MS 1000
/* Pictures above 1080p only: there a picture is worth the waits (12.4 MB at 4K, 8 waits in
 * the README's 89 frames); at 1080p one is 3 MB for ~20 waits. */
#define GATE_MIN_PIXELS (1920 * 1088)

typedef struct picture_gate {
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* a picture was given back */
    int refs;                 /* the reader and each picture alive: the last one frees it */
    int live, high;           /* the decoder's pictures alive, the most at once */
    int returning;            /* held pictures on their way back to the pool */
    void *pictures[GATE_LIVE];       /* the decoder's pictures alive (their wrappers) */
    AVBufferRef *held[GATE_HELD];    /* the decoder's pictures a caller holds */
    const atomic_int *interrupt;
} picture_gate;

typedef struct {
    picture_gate *g;
    AVBufferRef *inner;       /* the decoder's (a decoder picture) or the caller's reference */
} gate_ref;

static void gate_unref(picture_gate *g)
{
    pthread_mutex_lock(&g->lock);
    int last = --g->refs == 0;
    pthread_mutex_unlock(&g->lock);
    if (last) {
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->changed);
        free(g);
    }
}

static picture_gate *gate_new(const atomic_int *interrupt)
{
    picture_gate *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->changed, NULL);
    g->refs = 1;
    g->interrupt = interrupt;
    return g;
}

/* A held picture the decoder no longer holds (only the caller's reference is left), or one
 * on its way back. Under the lock. */
static int gate_held_alone(const picture_gate *g)
{
    if (g->returning)
        return 1;
    for (int i = 0; i < GATE_HELD; i++)
        if (g->held[i] && av_buffer_get_ref_count(g->held[i]) == 1)
            return 1;
    return 0;
}

static void decoder_picture_free(void *opaque, uint8_t *data)
{
    (void)data;
    gate_ref *w = opaque;
    picture_gate *g = w->g;
    av_buffer_unref(&w->inner);
    pthread_mutex_lock(&g->lock);
    g->live--;
    for (int i = 0; i < GATE_LIVE; i++)
        if (g->pictures[i] == w) {
            g->pictures[i] = NULL;
            break;
        }
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->lock);
    free(w);
    gate_unref(g);
}

/* f->buf[0] (the first plane's pool buffer, which stands for the picture) replaced by a
 * reference of our own to the same data whose release calls free_fn with the returned
 * wrapper (which keeps the replaced reference); NULL when out of memory, f unchanged. */
static gate_ref *gate_wrap(picture_gate *g, AVFrame *f, void (*free_fn)(void *, uint8_t *))
{
    gate_ref *w = malloc(sizeof(*w));
    AVBufferRef *outer =
        w ? av_buffer_create(f->buf[0]->data, f->buf[0]->size, free_fn, w, 0) : NULL;
    if (!outer) {
        free(w);
        return NULL;
    }
    w->g = g;
    w->inner = f->buf[0];
    f->buf[0] = outer;
    return w;
}

static int gate_get_buffer(AVCodecContext *dec, AVFrame *f, int flags)
{
    picture_gate *g = dec->opaque;
    pthread_mutex_lock(&g->lock);
    if ((int64_t)f->width * f->height > GATE_MIN_PIXELS && g->live >= g->high &&
        gate_held_alone(g)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += GATE_WAIT_MS / 1000;
        until.tv_nsec += (long)(GATE_WAIT_MS % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (g->live >= g->high && gate_held_alone(g) &&
               !(g->interrupt && atomic_load(g->interrupt)))
            if (pthread_cond_timedwait(&g->changed, &g->lock, &until) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&g->lock);
    int ret = avcodec_default_get_buffer2(dec, f, flags);
    if (ret < 0)
        return ret;
    /* A reference of its own whose release counts the picture out. */
    gate_ref *w = gate_wrap(g, f, decoder_picture_free);
    if (!w) {
        av_frame_unref(f);
        return AVERROR(ENOMEM);
    }
    pthread_mutex_lock(&g->lock);
    g->refs++;
    if (++g->live > g->high)
        g->high = g->live;
    for (int i = 0; i < GATE_LIVE; i++)
        if (!g->pictures[i]) {
            g->pictures[i] = w;
            break;
        }
    pthread_mutex_unlock(&g->lock);
    return 0;
}

static void held_picture_free(void *opaque, uint8_t *data)
{
    (void)data;
    gate_ref *w = opaque;
    picture_gate *g = w->g;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < GATE_HELD; i++)
        if (g->held[i] == w->inner) {
            g->held[i] = NULL;
            break;
        }
    /* The last reference: the picture goes back to the pool once it is released below
     * (outside the lock, which its release takes), and until then counts as given back
     * for a decoder waiting for it. */
    int last = av_buffer_get_ref_count(w->inner) == 1;
    g->returning += last;
    pthread_mutex_unlock(&g->lock);
    av_buffer_unref(&w->inner);
    pthread_mutex_lock(&g->lock);
    g->returning -= last;
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->lock);
    free(w);
    gate_unref(g);
}

/* f (about to be handed to the caller) is tracked while the caller holds it, when it is
 * one of the decoder's pictures and there is room; otherwise it goes as it is. */
static void gate_hand_out(picture_gate *g, AVFrame *f)
{
    if (!g || !f->buf[0])
        return;
    pthread_mutex_lock(&g->lock);
    void *picture = av_buffer_get_opaque(f->buf[0]);
    int ours = 0, slot = -1;
    for (int i = 0; i < GATE_LIVE && !ours; i++)
        ours = g->pictures[i] && g->pictures[i] == picture;
    for (int i = 0; i < GATE_HELD && slot < 0; i++)
        if (!g->held[i])
            slot = i;
    pthread_mutex_unlock(&g->lock);
    if (!ours || slot < 0)
        return;
    gate_ref *w = gate_wrap(g, f, held_picture_free);
    if (!w)
        return;
    pthread_mutex_lock(&g->lock);
    g->refs++;
    g->held[slot] = w->inner;
    pthread_mutex_unlock(&g->lock);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void update_audio_done(rvmi_reader *r);
static void report_end(rvmi_reader *r);
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* What the outputs lack (frames cut off or skipped as damaged): a warning, as damaged audio
 * skipped is (Python's ConversionWarning, a batch report's "warnings"); a note when the
 * caller takes no warnings. */
static void warn_user(const rvmi_reader *r, const char *msg)
{
    void (*warn)(void *, const char *) = r->opt.warning ? r->opt.warning : r->opt.notice;
    if (warn)
        warn(r->opt.notice_user, msg);
}

/* A damaged frame or image skipped, at pts (video: its packet's, AV_NOPTS_VALUE when not
 * known; a folder: the image's index): counted for the end's warning unless it lies before
 * the first frame the outputs get, a segment's warm-up (which an earlier segment writes: its
 * render reports the frame, and both renders did) or the frames decoded and dropped on the
 * way to --start, or at or after the window's end (a segment's, --duration's: decoded
 * before the first frame past it; the next segment writes it). rvm render takes the count
 * as the frames its part lacks (rvmi_reader_damaged). Returns whether it was counted. (A
 * folder reads no image past its end, and keeps no v_end: it has no window's end to test.) */
static int count_damaged(rvmi_reader *r, int64_t pts)
{
    int64_t first = r->opt.segment ? r->opt.segment_begin : r->v_start;
    if (pts != AV_NOPTS_VALUE && (pts < first || (!r->dir && pts >= r->v_end)))
        return 0;
    r->decode_errors++;
    return 1;
}

/* The failure at hand is an option's (see rvmi_reader_options.usage_error). */
static void usage_error(const rvmi_reader *r)
{
    if (r->opt.usage_error)
        *r->opt.usage_error = 1;
}

static const char *averr(int code, char *buf)
{
    av_strerror(code, buf, AV_ERROR_MAX_STRING_SIZE);
    return buf;
}

/* Whether the decoder's error for one packet or frame is that packet's damage, to be skipped
 * as players do. Decoders do not agree on the code: most say AVERROR_INVALIDDATA, PNG's a
 * broken zlib stream AVERROR_EXTERNAL, ProRes a bad header AVERROR(EINVAL), damaged header
 * bits often AVERROR_PATCHWELCOME (a "feature" nothing uses). What is not the packet's stops
 * the run: out of memory, I/O, the decoder's end or its need of input, a stop. (A stream
 * every packet of which fails gives no frame: the reader's "no video frames" error.) */
static int damaged_packet(int ret)
{
    return ret < 0 && ret != AVERROR_EOF && ret != AVERROR(EAGAIN) && ret != AVERROR(ENOMEM) &&
           ret != AVERROR(EIO) && ret != AVERROR_EXIT;
}

/* An MP4 read from a pipe whose index comes after the data: the frames have gone by when
 * the index says where they are. */
#define MOOV_AT_END                                                                          \
    "-: this MP4/MOV keeps its index (moov) after the data, so it needs a seekable input: "   \
    "give its file name instead of a pipe, or remux it with ffmpeg -movflags +faststart"

static int interrupt_cb(void *opaque)
{
    const atomic_int *flag = opaque;
    return flag && atomic_load(flag);
}

/* Whether name (not hidden) ends in one of the extensions of the NULL-terminated list. */
static int has_extension(const char *name, const char *const *ext)
{
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.')
        return 0;
    for (int i = 0; ext[i]; i++)
        if (strcasecmp(dot + 1, ext[i]) == 0)
            return 1;
    return 0;
}

/* Extensions read from image folders; anything else there is skipped (thumbnails, notes). */
int rvmi_is_image_name(const char *name)
{
    static const char *const ext[] = {"png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp",
                                      "tga", "ppm", "pgm", "pnm", "pbm", "pam", "exr",
                                      "dpx", "jp2", "j2k", "sgi", "gif", "pcx", "qoi", NULL};
    return has_extension(name, ext);
}

int rvmi_is_video_name(const char *name)
{
    /* What cameras, DVDs, recorders and editors write (VOB, DV, MOD/TOD, ASF, F4V, ...): a
     * batch folder's files with other extensions are left out (with a line naming them). */
    static const char *const ext[] = {"mp4", "mov", "mkv", "webm", "avi", "m4v", "mxf", "ts",
                                      "mts", "m2ts", "m2t", "mpg", "mpeg", "mpe", "m2v", "vob",
                                      "mod", "tod", "dv", "wmv", "asf", "wtv", "flv", "f4v",
                                      "3gp", "3g2", "ogv", "ogm", "divx", "qt", "rm", "rmvb",
                                      "gif", "y4m", "nut", NULL};
    return has_extension(name, ext);
}

/* Natural order: runs of digits compare as numbers (frame2 before frame10), the rest byte
 * by byte; names equal that way (frame01, frame1) fall back to byte order. */
static int natural_cmp(const char *a, const char *b)
{
    const char *p = a, *q = b;
    while (*p && *q) {
        if (isdigit((unsigned char)*p) && isdigit((unsigned char)*q)) {
            while (*p == '0')
                p++;
            while (*q == '0')
                q++;
            size_t np = 0, nq = 0;
            while (isdigit((unsigned char)p[np]))
                np++;
            while (isdigit((unsigned char)q[nq]))
                nq++;
            if (np != nq)
                return np < nq ? -1 : 1;
            int c = memcmp(p, q, np);
            if (c)
                return c;
            p += np;
            q += nq;
            continue;
        }
        if (*p != *q)
            return (unsigned char)*p < (unsigned char)*q ? -1 : 1;
        p++;
        q++;
    }
    if (*p || *q)
        return *p ? 1 : -1;
    return strcmp(a, b);
}

static int cmp_names(const void *a, const void *b)
{
    return natural_cmp(*(char *const *)a, *(char *const *)b);
}

/* The common case, 8-bit 4:2:0 YUV at its own size (most video), is converted here when
 * RGB is asked for (the command's network takes such pictures as they are, library_reads):
 * swscale's accurate path takes 14 ms a 1080p frame (7 with bilinear chroma), this 2.5.
 * Chroma is upsampled bilinearly from samples centred between their luma pixels (the
 * siting swscale assumes), then the frame's colour matrix is applied in float and rounded
 * to nearest, as swscale's accurate rounding does. Against the bicubic swscale conversion
 * used before (and still for every other case): 0.06 of a step on average on 1080p
 * footage, no bias, at most 7-10 steps at sharp colour edges. */

/* The matrices swscale knows (sws_getCoefficients); 0 for others (left to swscale). */
static int yuv_matrix_for(int spc, int full, rvmi_yuv_matrix *m)
{
    double kr, kb;
    switch (spc) {
    case AVCOL_SPC_BT709: kr = 0.2126, kb = 0.0722; break;
    case AVCOL_SPC_FCC: kr = 0.30, kb = 0.11; break;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: kr = 0.299, kb = 0.114; break;
    case AVCOL_SPC_SMPTE240M: kr = 0.212, kb = 0.087; break;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: kr = 0.2627, kb = 0.0593; break;
    default: return 0;
    }
    double kg = 1.0 - kr - kb;
    m->y_off = full ? 0.0f : 16.0f;
    m->y_mul = (float)(full ? 1.0 : 255.0 / 219.0);
    m->c_mul = (float)(full ? 1.0 : 255.0 / 224.0);
    m->cr_r = (float)(2.0 * (1.0 - kr));
    m->cb_b = (float)(2.0 * (1.0 - kb));
    m->cb_g = (float)(-2.0 * kb * (1.0 - kb) / kg);
    m->cr_g = (float)(-2.0 * kr * (1.0 - kr) / kg);
    return 1;
}

/* Rows y0..y1-1 of an 8-bit 4:2:0 frame into RGB24 (the kernel set's yuv420_row).
 * tmp: rvmi_yuv420_tmp_floats(width). */
static void yuv420_rows(const AVFrame *f, const rvmi_yuv_matrix *m, int y0, int y1,
                        uint8_t *dst, ptrdiff_t dst_stride, float *tmp)
{
    int ch = (f->height + 1) / 2;
    const rvmi_frame_loops *k = rvmi_kernels_default()->frames;
    for (int y = y0; y < y1; y++) {
        int c0 = y >> 1, c1 = (y & 1) ? c0 + 1 : c0 - 1;
        c1 = c1 < 0 ? 0 : c1 >= ch ? ch - 1 : c1;
        k->yuv420_row(f->data[0] + (ptrdiff_t)y * f->linesize[0],
                      f->data[1] + (ptrdiff_t)c0 * f->linesize[1],
                      f->data[1] + (ptrdiff_t)c1 * f->linesize[1],
                      f->data[2] + (ptrdiff_t)c0 * f->linesize[2],
                      f->data[2] + (ptrdiff_t)c1 * f->linesize[2], f->width, m,
                      dst + (ptrdiff_t)y * dst_stride, tmp);
    }
}

/* HDR: PQ (SMPTE ST 2084) and HLG (ARIB STD-B67) frames are tone-mapped to SDR BT.709,
 * the only thing the network was trained on and what the 8-bit outputs hold (and are
 * tagged as). The light is scaled so that HDR reference white (203 cd/m2, ITU-R BT.2408)
 * becomes SDR white; colours up to 80% of it are kept exactly (a colour graded in SDR and
 * carried in PQ comes back as it was), brighter ones roll off smoothly to the mastering
 * peak and keep their hue (the three channels are scaled together): for PQ the content's
 * brightest light as its metadata says (MaxCLL, else the mastering display's peak, from the
 * frames or the container; 1000 cd/m2 when neither is there), for HLG the 1000 cd/m2
 * display its OOTF assumes;
 * BT.2020 primaries are converted to BT.709 in linear light, and the result is encoded for
 * an SDR display (BT.1886). */
#define HDR_REF_WHITE 203.0
#define HDR_PEAK 1000.0
#define HDR_KNEE 0.8

static int hdr_transfer(int trc)
{
    return trc == AVCOL_TRC_SMPTE2084 || trc == AVCOL_TRC_ARIB_STD_B67;
}

/* SDR with BT.2020 primaries (10/12-bit HEVC, some cameras): read as it is, its colours came
 * out desaturated (a BT.2020 red is a less saturated BT.709 red) and were tagged BT.709. It
 * goes the HDR frames' way with an SDR transfer: BT.1886 display light (gamma 2.4, whatever
 * SDR transfer it is tagged with: bt2020-10/12, bt709 and smpte170m share the curve), the
 * same BT.2020 -> BT.709 matrix, and colours outside BT.709 scaled down together to keep
 * their hue (the roll-off with the peak at white). Primaries untagged but a BT.2020 matrix
 * count as BT.2020 (the two come together). Grey has no colour to convert. */
static int sdr_bt2020(const AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    int wide = f->color_primaries == AVCOL_PRI_BT2020 ||
               (f->color_primaries == AVCOL_PRI_UNSPECIFIED &&
                (f->colorspace == AVCOL_SPC_BT2020_NCL || f->colorspace == AVCOL_SPC_BT2020_CL));
    return wide && !hdr_transfer(f->color_trc) && d && d->nb_components >= 3;
}

/* Frames going through 16-bit RGB and hdr_tone_row: HDR, and SDR BT.2020. */
static int tone_mapped(const AVFrame *f)
{
    return hdr_transfer(f->color_trc) || sdr_bt2020(f);
}

/* hdr_tables' key for every SDR transfer (not an AVCOL_TRC_* value). */
#define TRC_SDR (-2)

/* The content's peak from HDR10 metadata (0: none given): its MaxCLL (the brightest pixel
 * of the whole content) when set, else the mastering display's peak, which bounds it. */
static double hdr_peak_of(const AVContentLightMetadata *cll,
                          const AVMasteringDisplayMetadata *md, const char **source)
{
    if (cll && cll->MaxCLL > 0) {
        *source = "its MaxCLL";
        return cll->MaxCLL;
    }
    if (md && md->has_luminance && md->max_luminance.num > 0 && md->max_luminance.den > 0) {
        *source = "its mastering display";
        return av_q2d(md->max_luminance);
    }
    return 0;
}

/* Takes the peak the metadata gives, within what PQ can code and at least reference white
 * (a peak below it is not a roll-off). */
static void set_hdr_peak(rvmi_reader *r, double nits, const char *source)
{
    if (nits <= 0)
        return;
    r->hdr_peak = nits < HDR_REF_WHITE ? HDR_REF_WHITE : nits > 10000 ? 10000 : nits;
    r->hdr_peak_source = source;
}

/* 16-bit code -> linear light (1.0 = reference white) for the transfer, and display light
 * (0..1 in 65536 steps) -> 8-bit SDR signal. */
static void hdr_tables(rvmi_reader *r, int trc)
{
    for (int i = 0; i < 65536; i++) {
        double e = i / 65535.0, nits;
        if (trc == AVCOL_TRC_SMPTE2084) {
            const double m1 = 2610.0 / 16384, m2 = 2523.0 / 4096 * 128, c1 = 3424.0 / 4096,
                         c2 = 2413.0 / 4096 * 32, c3 = 2392.0 / 4096 * 32;
            double p = pow(e, 1 / m2);
            nits = 10000.0 * pow(fmax(p - c1, 0) / (c2 - c3 * p), 1 / m1);
        } else if (trc == TRC_SDR) {
            nits = pow(e, 2.4) * HDR_REF_WHITE; /* BT.1886; white is reference white */
        } else {
            /* HLG: the inverse OETF gives scene light 0..1; the OOTF (system gamma 1.2 at
             * a 1000 cd/m2 display) is applied per pixel in hdr_tone_row. */
            const double a = 0.17883277, b = 1 - 4 * a, c = 0.5 - a * log(4 * a);
            nits = e <= 0.5 ? e * e / 3 : (exp((e - c) / a) + b) / 12;
        }
        r->hdr_lin[i] = (float)(trc == AVCOL_TRC_SMPTE2084 || trc == TRC_SDR ? nits / HDR_REF_WHITE : nits);
        /* SDR display light to signal: the inverse of BT.1886's EOTF (gamma 2.4), so that
         * an SDR display shows the light the HDR one would (up to the roll-off). */
        long q = lround(pow(i / 65535.0, 1 / 2.4) * 255);
        r->hdr_oetf[i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
    }
    r->hdr_trc = trc;
}

/* The frame's tone mapping for the kernel set's hdr_tone_row. */
static void hdr_tone_of(const rvmi_reader *r, int primaries, rvmi_hdr_tone *t)
{
    /* Linear BT.2020 RGB -> BT.709 RGB (ITU-R BT.2087); identity for BT.709 input. */
    static const float bt2020_to_709[9] = {1.6605f,  -0.5876f, -0.0728f, -0.1246f, 1.1329f,
                                           -0.0083f, -0.0182f, -0.1006f, 1.1187f};
    static const float same[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(t->mx, primaries == AVCOL_PRI_BT709 ? same : bt2020_to_709, sizeof t->mx);
    t->hlg = r->hdr_trc == AVCOL_TRC_ARIB_STD_B67;
    /* SDR: the peak is white (m = 1: below it nothing changes, above it the channels are
     * scaled together so that the largest is 1). */
    const float peak =
        r->hdr_trc == TRC_SDR
            ? 1.0f
            : (float)((t->hlg || r->hdr_peak <= 0 ? HDR_PEAK : r->hdr_peak) / HDR_REF_WHITE);
    t->knee = (float)HDR_KNEE;
    t->m = (peak - t->knee) / (1 - t->knee);
    t->lin = r->hdr_lin;
    t->oetf = r->hdr_oetf;
}

/* Rows of 16-bit RGB converted and tone-mapped at a time: a whole frame of them was 50 MB at
 * 4K (the HDR input's peak memory was that much above an SDR one's); a band of 64 rows is
 * 1.5 MB, and it is tone-mapped while in cache. */
#define HDR_BAND_ROWS 64

/* f converted by r->sws (to dw x dh 16-bit RGB, rvmi_hdr_rgb16_format, still PQ, HLG or SDR
 * coded) band by band, each band tone-mapped into target's rows (stride bytes apart). swscale computes each output row
 * from the whole input whichever rows are asked for, so the bands hold the rows one
 * conversion of the whole frame would (checked: identical frames for 4:2:0, 4:2:2, 4:4:4,
 * RGB and grey input of 10 and 12 bits, resized or not). A conversion swscale cannot slice
 * is done whole. */
static int hdr_convert(rvmi_reader *r, const AVFrame *f, int dw, int dh, uint8_t *target,
                       int stride, char *err, size_t errlen)
{
    /* 16-bit planes (G, B, R: swscale's order), or packed RGB48 (rvmi_hdr_rgb16_format) */
    int planar = r->sws_out == AV_PIX_FMT_GBRP16;
    /* planes' rows 64-byte aligned: swscale's vector code writes whole vectors */
    size_t row = planar ? ((size_t)dw * 2 + 63) / 64 * 64 : (size_t)dw * 6;
    int rows = dh;
#if LIBSWSCALE_VERSION_INT >= AV_VERSION_INT(6, 4, 100)
    /* Slices must start at a multiple of this (the whole height for a conversion that
     * cannot be sliced). */
    unsigned align = sws_receive_slice_alignment(r->sws);
    if (!r->hdr_whole && align > 0 && align <= HDR_BAND_ROWS)
        rows = (HDR_BAND_ROWS + (int)align - 1) / (int)align * (int)align;
    if (rows > dh)
        rows = dh;
#endif
    AVFrame *d = r->hdr_band;
    if (!d && !(d = r->hdr_band = av_frame_alloc())) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    size_t size = (planar ? 3 : 1) * row * rows + 64;
    if (!d->buf[0] || d->buf[0]->size < size) {
        av_frame_unref(d);
        if (!(d->buf[0] = av_buffer_alloc(size))) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
    }
    uint8_t *band = d->buf[0]->data;
    /* where each plane's rows of the band start */
    uint8_t *plane[3] = {band, band, band};
    if (planar)
        plane[1] = band + row * rows, plane[2] = band + 2 * row * rows;
    rvmi_hdr_tone t;
    hdr_tone_of(r, f->color_primaries, &t);
    const rvmi_frame_loops *k = rvmi_kernels_default()->frames;
    for (int y0 = 0; y0 < dh; y0 += rows) {
        int n = dh - y0 < rows ? dh - y0 : rows;
        if (rows == dh) {
            uint8_t *planes[4] = {plane[0], planar ? plane[1] : NULL, planar ? plane[2] : NULL,
                                  NULL};
            int strides[4] = {(int)row, planar ? (int)row : 0, planar ? (int)row : 0, 0};
            if (sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
                          planes, strides) != dh) {
                set_err(err, errlen, "converting a frame to RGB failed");
                return -1;
            }
        } else {
#if LIBSWSCALE_VERSION_INT >= AV_VERSION_INT(6, 4, 100)
            /* swscale writes output row y at data[p] + y * linesize[p]: the frame's rows
             * start y0 rows before the band, so that rows y0..y0+n-1 land in it (the
             * address is only formed, never written through outside the band). */
            d->format = r->sws_out;
            d->width = dw;
            d->height = dh;
            for (int p = 0; p < (planar ? 3 : 1); p++) {
                d->linesize[p] = (int)row;
                d->data[p] = (uint8_t *)((uintptr_t)plane[p] - (uintptr_t)y0 * row);
            }
            int ret = sws_frame_start(r->sws, d, f);
            if (ret >= 0)
                ret = sws_send_slice(r->sws, 0, (unsigned)f->height);
            if (ret >= 0)
                ret = sws_receive_slice(r->sws, (unsigned)y0, (unsigned)n);
            sws_frame_end(r->sws);
            if (ret < 0 && y0 == 0) {
                r->hdr_whole = 1;
                return hdr_convert(r, f, dw, dh, target, stride, err, errlen);
            }
            if (ret < 0) {
                set_err(err, errlen, "converting a frame to RGB failed");
                return -1;
            }
#endif
        }
        for (int y = 0; y < n; y++) {
            const uint16_t *g = (const uint16_t *)(plane[0] + (size_t)y * row);
            const uint16_t *b = (const uint16_t *)(plane[1] + (size_t)y * row);
            const uint16_t *rr = (const uint16_t *)(plane[2] + (size_t)y * row);
            if (planar)
                k->hdr_tone_row(rr, g, b, 1, dw, &t, target + (size_t)(y0 + y) * stride);
            else
                k->hdr_tone_row(g, g + 1, g + 2, 3, dw, &t, target + (size_t)(y0 + y) * stride);
        }
    }
    return 0;
}

/* The 16-bit RGB an HDR frame is converted to. From YUV and grey, planar: swscale's planar
 * output writes the same values as its packed RGB48 (tests/test_hdr_sws.c: every such format
 * swscale reads, random and edge pictures, resized or not, whole and in slices) in a fifth of
 * the time (its RGB48 writer looks up the format's descriptor for every sample). From RGB, packed as before (the two differ there), and so
 * from palette, Bayer and XYZ input (not checked). */
enum AVPixelFormat rvmi_hdr_rgb16_format(enum AVPixelFormat pf)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pf);
    int other = AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BAYER |
                AV_PIX_FMT_FLAG_HWACCEL;
    return d && !(d->flags & other) && pf != AV_PIX_FMT_XYZ12LE && pf != AV_PIX_FMT_XYZ12BE
               ? AV_PIX_FMT_GBRP16
               : AV_PIX_FMT_RGB48;
}

/* The official reader's conversion: PyAV's frame.to_ndarray / to_image, VideoReformatter's
 * default interpolation and nothing else (no accurate rounding, no full chroma). */
#define OFFICIAL_SWS_FLAGS SWS_BILINEAR

/* rvmi_rgb_sws; blend: alpha is put over black (swscale's "alphablend" option, which only
 * an unopened context takes); official: OFFICIAL_SWS_FLAGS (odd_height_sws). */
static struct SwsContext *rgb_sws(int w, int h, enum AVPixelFormat pf, int dw, int dh,
                                  enum AVPixelFormat out, int spc, int full, int blend,
                                  int official)
{
    /* Accurate rounding and full chroma interpolation: the network sees the same RGB values
     * a careful player would show. */
    const int flags = official ? OFFICIAL_SWS_FLAGS
                               : SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT |
                                     SWS_FULL_CHR_H_INP;
    struct SwsContext *sws;
    if (!blend) {
        sws = sws_getContext(w, h, pf, dw, dh, out, flags, NULL, NULL, NULL);
    } else if ((sws = sws_alloc_context())) {
        if (av_opt_set_int(sws, "srcw", w, 0) < 0 || av_opt_set_int(sws, "srch", h, 0) < 0 ||
            av_opt_set_int(sws, "src_format", pf, 0) < 0 ||
            av_opt_set_int(sws, "dstw", dw, 0) < 0 || av_opt_set_int(sws, "dsth", dh, 0) < 0 ||
            av_opt_set_int(sws, "dst_format", out, 0) < 0 ||
            av_opt_set_int(sws, "sws_flags", flags, 0) < 0 ||
            av_opt_set(sws, "alphablend", "uniform_color", 0) < 0 ||
            sws_init_context(sws, NULL, NULL) < 0) {
            sws_freeContext(sws);
            sws = NULL;
        }
    }
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pf);
    if (sws && d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3) {
        if (spc == AVCOL_SPC_BT2020_CL)
            spc = AVCOL_SPC_BT2020_NCL;
        /* The SWS_CS_* numbers are the AVCOL_SPC_* numbers. */
        sws_setColorspaceDetails(sws, sws_getCoefficients(spc), full,
                                 sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    }
    return sws;
}

struct SwsContext *rvmi_rgb_sws(int w, int h, enum AVPixelFormat pf, int dw, int dh,
                                enum AVPixelFormat out, int spc, int full)
{
    return rgb_sws(w, h, pf, dw, dh, out, spc, full, 0, 0);
}

/* Whether f has a pixel that is not opaque: its alpha component (any depth, packed or
 * planar), or for a palette the entries its pixels use. */
static int see_through(const AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    if (!d)
        return 0;
    if (d->flags & AV_PIX_FMT_FLAG_PAL) {
        const uint32_t *pal = (const uint32_t *)f->data[1];
        for (int y = 0; y < f->height; y++)
            for (int x = 0; x < f->width; x++)
                if ((pal[f->data[0][(ptrdiff_t)y * f->linesize[0] + x]] >> 24) != 0xff)
                    return 1;
        return 0;
    }
    if (!(d->flags & AV_PIX_FMT_FLAG_ALPHA))
        return 0;
    int c = d->nb_components - 1; /* alpha comes last */
    unsigned opaque = (1u << d->comp[c].depth) - 1;
    uint16_t *row = malloc((size_t)f->width * sizeof *row);
    if (!row)
        return 0;
    int found = 0;
    for (int y = 0; y < f->height && !found; y++) {
        av_read_image_line2(row, (const uint8_t **)f->data, f->linesize, d, 0, y, c, f->width,
                            0, 2);
        for (int x = 0; x < f->width; x++)
            if (row[x] != opaque) {
                found = 1;
                break;
            }
    }
    free(row);
    return found;
}

/* The format a picture with alpha is converted to before over_black_rows: RGBA for 8-bit
 * sources (a palette's entries exactly: swscale's RGBA64 from a palette is 255 << 8, not
 * 255 * 257), RGBA64 for deeper ones. */
static enum AVPixelFormat rgba_format(const AVPixFmtDescriptor *d)
{
    return d->comp[0].depth > 8 ? AV_PIX_FMT_RGBA64 : AV_PIX_FMT_RGBA;
}

/* w x h RGBA (or, deep, native RGBA64) pixels put over black into RGB24 rows (stride bytes
 * apart): each colour times its alpha, rounded once. */
static void over_black_rows(const uint8_t *rgba, int deep, int w, int h, uint8_t *dst,
                            ptrdiff_t stride)
{
    const uint64_t max = deep ? 65535 : 255, one = max * max;
    const uint16_t *rgba16 = (const uint16_t *)rgba;
    for (int y = 0; y < h; y++, dst += stride)
        for (int x = 0; x < w; x++, rgba += 4, rgba16 += 4)
            for (int c = 0; c < 3; c++) {
                uint64_t v = deep ? rgba16[c] : rgba[c], a = deep ? rgba16[3] : rgba[3];
                dst[3 * x + c] = (uint8_t)((v * a * 255 + one / 2) / one);
            }
}

/* Any other frame: swscale (resizing included) into target (dw x dh RGB24, rows stride
 * bytes apart); official: with the official reader's flags (odd_height_sws). */
static int convert_sws(rvmi_reader *r, const AVFrame *f, int spc, int full, int dw, int dh,
                       uint8_t *target, int stride, int official, char *err, size_t errlen)
{
    enum AVPixelFormat pf = f->format;
    int hdr = tone_mapped(f);
    /* HDR (and SDR BT.2020) frames go through 16-bit RGB (still PQ, HLG or SDR coded), then
     * hdr_tone_row. */
    enum AVPixelFormat out = hdr ? rvmi_hdr_rgb16_format(pf) : AV_PIX_FMT_RGB24;
    int trc = hdr_transfer(f->color_trc) ? (int)f->color_trc : TRC_SDR;
    if (hdr && r->hdr_trc != trc)
        hdr_tables(r, trc);
    const AVPixFmtDescriptor *pd = av_pix_fmt_desc_get(pf);
    int blend = r->opt.over_black && pd &&
                (pd->flags & (AV_PIX_FMT_FLAG_ALPHA | AV_PIX_FMT_FLAG_PAL));
    /* SDR pictures are put over black here (over_black_rows), from swscale's RGBA: its own
     * "alphablend" leaves out every format it has no alpha-less twin for (a palette PNG's
     * tRNS, ProRes 4444's yuva444p12: their see-through parts kept their colours) and blends
     * YUV towards Y = 0, below limited-range black (half-transparent white came out 118, not
     * 128). HDR pictures keep swscale's blend, before their tone mapping. */
    if (blend && !hdr)
        out = rgba_format(pd);
    /* The first picture only: scanning every frame of an opaque RGBA video would cost
     * the background's reader a pass over each. An input's alpha is dropped (swscale to
     * RGB24), as the official reader's PIL convert('RGB') does, so the numbers are the
     * official ones; but a cut-out picture then gives the matte of whatever colours lie
     * under its see-through parts, which the user should hear of. */
    void (*warn)(void *, const char *) = r->opt.warning ? r->opt.warning : r->opt.notice;
    if ((r->opt.over_black || warn) && !r->alpha_checked) {
        r->alpha_checked = 1;
        r->see_through = see_through(f);
        if (r->see_through && !r->opt.over_black)
            warn(r->opt.notice_user,
                 "the input has transparency: its alpha channel is ignored, the colours under "
                 "its see-through parts are matted as they are (as the official converter does)");
    }
    if (!r->sws || r->sws_w != f->width || r->sws_h != f->height || r->sws_fmt != f->format ||
        r->sws_spc != spc || r->sws_range != full || r->sws_dw != dw || r->sws_dh != dh ||
        r->sws_out != out || r->sws_blend != blend || r->sws_official != official) {
        sws_freeContext(r->sws);
        r->sws = rgb_sws(f->width, f->height, pf, dw, dh, out, spc, full, blend && hdr,
                         official);
        r->sws_blend = blend;
        r->sws_official = official;
        if (!r->sws) {
            set_err(err, errlen, "cannot convert %dx%d %s frames to RGB", f->width, f->height,
                    av_get_pix_fmt_name(pf) ? av_get_pix_fmt_name(pf) : "?");
            return -1;
        }
        r->sws_w = f->width;
        r->sws_h = f->height;
        r->sws_fmt = f->format;
        r->sws_spc = spc;
        r->sws_range = full;
        r->sws_dw = dw;
        r->sws_dh = dh;
        r->sws_out = out;
        r->hdr_whole = 0;
    }
    if (!hdr) {
        size_t rgba_stride = (size_t)dw * (out == AV_PIX_FMT_RGBA64 ? 8 : 4);
        if (blend && (size_t)dh * rgba_stride > r->rgba_size) {
            free(r->rgba);
            r->rgba_size = 0;
            if (!(r->rgba = malloc((size_t)dh * rgba_stride))) {
                set_err(err, errlen, "out of memory");
                return -1;
            }
            r->rgba_size = (size_t)dh * rgba_stride;
        }
        uint8_t *planes[4] = {blend ? r->rgba : target, NULL, NULL, NULL};
        int strides[4] = {blend ? (int)rgba_stride : stride, 0, 0, 0};
        int rows = sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0,
                             f->height, planes, strides);
        if (rows != dh) {
            set_err(err, errlen, "converting a frame to RGB failed");
            return -1;
        }
        if (blend)
            over_black_rows(r->rgba, out == AV_PIX_FMT_RGBA64, dw, dh, target, stride);
    } else {
        /* HDR10 metadata in the frames (HEVC and AV1 carry it in the stream) overrides the
         * container's. */
        if (trc == TRC_SDR) {
            if (!r->hdr_noticed++ && r->opt.notice)
                r->opt.notice(r->opt.notice_user,
                              "the input is SDR with BT.2020 primaries: its colours are converted "
                              "to BT.709 for the network and the outputs (tagged so)");
            return hdr_convert(r, f, dw, dh, target, stride, err, errlen);
        }
        const AVFrameSideData *cll = av_frame_get_side_data(f, AV_FRAME_DATA_CONTENT_LIGHT_LEVEL);
        const AVFrameSideData *md = av_frame_get_side_data(f, AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
        const char *source = NULL;
        double peak = hdr_peak_of(cll ? (const AVContentLightMetadata *)cll->data : NULL,
                                  md ? (const AVMasteringDisplayMetadata *)md->data : NULL,
                                  &source);
        set_hdr_peak(r, peak, source);
        if (!r->hdr_noticed++ && r->opt.notice) {
            char line[300];
            if (f->color_trc == AVCOL_TRC_SMPTE2084)
                snprintf(line, sizeof line,
                         "the input is HDR (PQ, peak %.0f cd/m2%s%s): it is tone-mapped to SDR "
                         "BT.709 for the network and the outputs (tagged so)",
                         r->hdr_peak > 0 ? r->hdr_peak : HDR_PEAK,
                         r->hdr_peak > 0 ? " from " : ", assumed: no HDR10 metadata",
                         r->hdr_peak > 0 ? r->hdr_peak_source : "");
            else
                snprintf(line, sizeof line, "the input is HDR (HLG): it is tone-mapped to SDR "
                                            "BT.709 for the network and the outputs (tagged so)");
            r->opt.notice(r->opt.notice_user, line);
        }
        if (hdr_convert(r, f, dw, dh, target, stride, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Whether f is limited-range grey (HEVC and AV1 4:0:0 decode to it, tagged so): swscale
 * takes every grey format as full range whatever it is told (sws_setColorspaceDetails
 * leaves grey alone; ffmpeg's own -vf scale=in_range=tv does the same), so black came out
 * at 16 and white at 235. Untagged grey stays full range, as swscale and PNG have it. */
static int limited_grey(const AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    return d && d->nb_components <= 2 && !(d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) &&
           f->color_range == AVCOL_RANGE_MPEG && !hdr_transfer(f->color_trc);
}

/* Grey samples v of 16..235 to full range (rows of w RGB24 pixels); bars (0) stay black. */
static void expand_grey(uint8_t *p, int w, int h, ptrdiff_t stride)
{
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) {
        int e = (int)lrint((v - 16) * 255.0 / 219.0);
        lut[v] = (uint8_t)(e < 0 ? 0 : e > 255 ? 255 : e);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < 3 * w; x++)
            p[y * stride + x] = lut[p[y * stride + x]];
}

/* How a frame is turned for display: the stream's rotation, or for a JPEG (or any picture
 * carrying EXIF) its Orientation tag, which may also mirror it (1-8: the EXIF values). */
static void orientation_of(const rvmi_reader *r, const AVFrame *f, int *rot, int *flip)
{
    static const int rots[9] = {0, 0, 0, 180, 180, 270, 90, 90, 270};
    static const int flips[9] = {0, 0, 1, 0, 1, 1, 0, 1, 0};
    *rot = r->rotation;
    *flip = 0;
    const AVDictionaryEntry *e = av_dict_get(f->metadata, "Orientation", NULL, 0);
    int o = e ? atoi(e->value) : 0;
    if (o >= 1 && o <= 8) {
        *rot = rots[o];
        *flip = flips[o];
    }
}

/* A frame's sample aspect ratio: its own, else the stream's, else square. */
static AVRational frame_sar(const rvmi_reader *r, const AVFrame *f)
{
    if (f->sample_aspect_ratio.num > 0 && f->sample_aspect_ratio.den > 0)
        return f->sample_aspect_ratio;
    return r->sar;
}

/* Converts a decoded frame to out_w x out_h RGB24 in dst, honouring the frame's colour
 * matrix and range, its sample aspect ratio and orientation. A frame of the first frame's
 * geometry fills the picture (scaled to square pixels when anamorphic, or to
 * --input-resize); one of another size or orientation is fitted inside it, centred, with
 * black bars, so that nothing is stretched. */
/* Whether f, 8-bit 4:2:0 at its own size (dw x dh before any turn), has an odd height: the
 * official reader (PyAV, swscale with OFFICIAL_SWS_FLAGS) converts it through swscale's
 * scaled path (chroma interpolated between rows), which this conversion then is, exactly.
 * At an even height swscale takes its unscaled path instead, which repeats each chroma
 * sample over its 2x2 pixels: what the library reads (library_reads; odd widths too). */
static int odd_height_sws(const AVFrame *f, int dw, int dh)
{
    return (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P) &&
           dw == f->width && dh == f->height && (f->height & 1) && !tone_mapped(f);
}

static int convert_frame(rvmi_reader *r, const AVFrame *f, uint8_t *dst, char *err,
                         size_t errlen)
{
    int rot, flip;
    orientation_of(r, f, &rot, &flip);
    int swap = rot == 90 || rot == 270;
    /* The picture before it is turned: dw x dh. */
    int dw = swap ? r->out_h : r->out_w, dh = swap ? r->out_w : r->out_h;
    int spc = f->colorspace;
    if (spc == AVCOL_SPC_UNSPECIFIED || spc == AVCOL_SPC_RESERVED)
        spc = rvmi_untagged_colorspace(f->width, f->height);
    enum AVPixelFormat pf = f->format;
    int full = f->color_range == AVCOL_RANGE_JPEG || pf == AV_PIX_FMT_YUVJ420P ||
               pf == AV_PIX_FMT_YUVJ422P || pf == AV_PIX_FMT_YUVJ444P ||
               pf == AV_PIX_FMT_YUVJ440P || pf == AV_PIX_FMT_YUVJ411P;
    if ((rot || flip) && !r->rotbuf && !(r->rotbuf = malloc((size_t)dw * dh * 3))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    uint8_t *target = rot || flip ? r->rotbuf : dst;
    int same = f->width == r->ref_w && f->height == r->ref_h && rot == r->ref_rot &&
               flip == r->ref_flip;
    rvmi_yuv_matrix m;
    if (!same) {
        AVRational sar = frame_sar(r, f);
        double fw = f->width * av_q2d(sar), fh = f->height;
        double scale = fmin(dw / fw, dh / fh);
        long rw = lround(fw * scale), rh = lround(fh * scale);
        rw = rw < 1 ? 1 : rw > dw ? dw : rw;
        rh = rh < 1 ? 1 : rh > dh ? dh : rh;
        memset(target, 0, (size_t)dw * dh * 3);
        uint8_t *at = target + ((size_t)(dh - rh) / 2 * dw + (size_t)(dw - rw) / 2) * 3;
        if (convert_sws(r, f, spc, full, (int)rw, (int)rh, at, dw * 3, 0, err, errlen) < 0)
            return -1;
    } else if (odd_height_sws(f, dw, dh)) {
        if (convert_sws(r, f, spc, full, dw, dh, target, dw * 3, 1, err, errlen) < 0)
            return -1;
    } else if ((pf == AV_PIX_FMT_YUV420P || pf == AV_PIX_FMT_YUVJ420P) && dw == f->width &&
               dh == f->height && !tone_mapped(f) && yuv_matrix_for(spc, full, &m)) {
        size_t need = rvmi_yuv420_tmp_floats(f->width);
        if (need > r->yuv_tmp_size) {
            free(r->yuv_tmp);
            r->yuv_tmp_size = 0;
            if (!(r->yuv_tmp = malloc(need * sizeof(float)))) {
                set_err(err, errlen, "out of memory");
                return -1;
            }
            r->yuv_tmp_size = need;
        }
        yuv420_rows(f, &m, 0, f->height, target, (ptrdiff_t)dw * 3, r->yuv_tmp);
    } else if (convert_sws(r, f, spc, full, dw, dh, target, dw * 3, 0, err, errlen) < 0) {
        return -1;
    }
    if (limited_grey(f))
        expand_grey(target, dw, dh, (ptrdiff_t)dw * 3);
    if (!rot && !flip)
        return 0;
    /* target is dw x dh, mirrored first when flip, then turned clockwise by rot into dst
     * (out_w x out_h). (mx, my) is where dst(x, y) is in the mirrored picture. */
    const uint8_t *s = r->rotbuf;
    int W = r->out_w, H = r->out_h;
    for (int y = 0; y < H; y++) {
        uint8_t *d = dst + (size_t)y * W * 3;
        for (int x = 0; x < W; x++) {
            int mx, my;
            if (rot == 90)
                mx = y, my = dh - 1 - x;
            else if (rot == 270)
                mx = dw - 1 - y, my = x;
            else if (rot == 180)
                mx = dw - 1 - x, my = dh - 1 - y;
            else
                mx = x, my = y;
            if (flip)
                mx = dw - 1 - mx;
            size_t si = ((size_t)my * dw + mx) * 3;
            d[x * 3] = s[si];
            d[x * 3 + 1] = s[si + 1];
            d[x * 3 + 2] = s[si + 2];
        }
    }
    return 0;
}

/* Whether the library reads f exactly as convert_frame would turn it into RGB, up to the
 * chroma upsampling and the rounding to 8 bits (rvmi_reader_read_frame): 8-bit 4:2:0 at the
 * picture's own size and orientation (no resizing, bars, rotation or anamorphic stretch),
 * an even height (any width), progressive, SDR, a matrix the library has (BT.601 or BT.709,
 * untagged ones as convert_frame assumes). Then *fr describes it. The official reader's
 * swscale (OFFICIAL_SWS_FLAGS) repeats each chroma sample over its 2x2 pixels at an even
 * height, as the library does (odd widths too: within 3 steps of 255 on every pixel it
 * writes; it leaves the last 1-7 columns of an odd width unwritten, FFmpeg 5.1), and
 * interpolates chroma between rows at an odd height (odd_height_sws). */
static int library_reads(const rvmi_reader *r, const AVFrame *f, rvm_frame *fr)
{
    int rot, flip;
    orientation_of(r, f, &rot, &flip);
    enum AVPixelFormat pf = f->format;
    if ((pf != AV_PIX_FMT_YUV420P && pf != AV_PIX_FMT_YUVJ420P) || rot || flip ||
        f->width != r->ref_w || f->height != r->ref_h || f->width != r->out_w ||
        f->height != r->out_h || f->height & 1 || f->interlaced_frame || r->deint ||
        tone_mapped(f))
        return 0;
    int spc = f->colorspace;
    if (spc == AVCOL_SPC_UNSPECIFIED || spc == AVCOL_SPC_RESERVED)
        spc = rvmi_untagged_colorspace(f->width, f->height);
    rvm_matrix m;
    if (spc == AVCOL_SPC_BT709)
        m = RVM_MATRIX_BT709;
    else if (spc == AVCOL_SPC_BT470BG || spc == AVCOL_SPC_SMPTE170M)
        m = RVM_MATRIX_BT601;
    else
        return 0;
    int full = f->color_range == AVCOL_RANGE_JPEG || pf == AV_PIX_FMT_YUVJ420P;
    *fr = (rvm_frame){.format = RVM_FORMAT_I420,
                      .width = f->width,
                      .height = f->height,
                      .planes = {f->data[0], f->data[1], f->data[2]},
                      .strides = {f->linesize[0], f->linesize[1], f->linesize[2]},
                      .matrix = m,
                      .range = full ? RVM_RANGE_FULL : RVM_RANGE_LIMITED};
    return 1;
}

/* Whether path is a local animated WebP: the extended header (RIFF, WEBP, then the VP8X
 * chunk first, as the container requires) with its animation flag (0x02 of the flags byte).
 * FFmpeg 5.1's WebP decoder skips the ANIM and ANMF chunks and finds no picture, which
 * reached the user as "no valid frame size" or "invalid data". */
static int animated_webp(const char *path)
{
    unsigned char h[21];
    FILE *f = strncmp(path, "file:", 5) == 0 ? fopen(path + 5, "rb") : fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    return n == sizeof h && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBPVP8X", 8) == 0 &&
           (h[20] & 0x02);
}

/* The line for an animated WebP this FFmpeg cannot decode, with a way around it that
 * works wherever the WebP was given: a video (a folder of frames is an input, not a
 * --background). rvm serve puts its own words in place of the advice (jobs.c). */
static void animated_webp_err(const char *path, char *err, size_t errlen)
{
    char version[32];
    av_strlcpy(version, av_version_info(), sizeof version);
    version[strcspn(version, "-+~ ")] = '\0';
    set_err(err, errlen,
            "%s: animated WebP cannot be decoded by this FFmpeg (%s); convert it to a video "
            "first, e.g. with ImageMagick and ffmpeg: mkdir frames && convert %s -coalesce "
            "frames/%%04d.png && ffmpeg -framerate RATE -i frames/%%04d.png -pix_fmt yuv420p "
            "video.mp4",
            path, version, strncmp(path, "file:", 5) == 0 ? path + 5 : path);
}

/* Sets the sizes from the first frame's geometry: coded w x h with sample aspect sar,
 * turned by rot/flip. The network sees square pixels at the display aspect (the wider
 * side stretched, never shrunk) or the --input-resize size; the video outputs are stored
 * at the input's own size with its sample aspect ratio (or at the --input-resize size). */
static int set_output_size(rvmi_reader *r, const char *name, int w, int h, AVRational sar,
                           int rot, int flip, char *err, size_t errlen)
{
    if ((w <= 0 || h <= 0) && animated_webp(name)) {
        animated_webp_err(name, err, errlen);
        return -1;
    }
    if (w <= 0 || h <= 0) {
        set_err(err, errlen, "%s: the input has no valid frame size", name);
        return -1;
    }
    if (sar.num <= 0 || sar.den <= 0)
        sar = (AVRational){1, 1};
    av_reduce(&sar.num, &sar.den, sar.num, sar.den, INT_MAX);
    r->ref_w = w;
    r->ref_h = h;
    r->ref_rot = rot;
    r->ref_flip = flip;
    r->sar = sar;
    long nw = w, nh = h;
    if (av_cmp_q(sar, (AVRational){1, 1}) > 0)
        nw = lround(w * av_q2d(sar));
    else if (av_cmp_q(sar, (AVRational){1, 1}) < 0)
        nh = lround(h / av_q2d(sar));
    int sw = w, sh = h;
    AVRational ssar = sar;
    if (rot == 90 || rot == 270) {
        long t = nw;
        nw = nh;
        nh = t;
        sw = h;
        sh = w;
        ssar = av_inv_q(sar);
    }
    if (r->opt.resize_w > 0 && r->opt.resize_h > 0) {
        nw = sw = r->opt.resize_w;
        nh = sh = r->opt.resize_h;
        ssar = (AVRational){1, 1};
    }
    if (nw > RVM_MAX_SIDE || nh > RVM_MAX_SIDE) {
        set_err(err, errlen, "%s: frame size %ldx%ld is too large (at most %d on a side)", name, nw, nh,
                RVM_MAX_SIDE);
        return -1;
    }
    r->out_w = (int)nw;
    r->out_h = (int)nh;
    r->store_w = sw;
    r->store_h = sh;
    r->store_sar = ssar;
    return 0;
}

char *rvmi_file_url(const char *path)
{
    const char *colon = strchr(path, ':'), *slash = strchr(path, '/');
    struct stat sb;
    if (!colon || (slash && slash < colon) ||
        (avio_find_protocol_name(path) && stat(path, &sb) != 0))
        return NULL;
    size_t n = strlen(path) + sizeof "file:";
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "file:%s", path);
    return url;
}

/* The picture of one image file, or NULL with the reason in err and, when code is given, the
 * error as an AVERROR in *code (a file that is no picture: AVERROR_INVALIDDATA), or 0 for a
 * file that is no damage but a picture this FFmpeg cannot decode (an animated WebP). */
static AVFrame *decode_image(const char *path, const atomic_int *interrupt, int *code,
                             char *err, size_t errlen)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    AVFormatContext *fmt = avformat_alloc_context();
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    AVDictionary *o = NULL;
    int ret = AVERROR_INVALIDDATA, webp = 0;
    if (!fmt || !pkt || !frame) {
        ret = AVERROR(ENOMEM);
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    fmt->interrupt_callback.callback = interrupt_cb;
    fmt->interrupt_callback.opaque = (void *)interrupt;
    /* The image2 demuxer with no pattern: a name holding '%' or '*' is just a name. */
    av_dict_set(&o, "pattern_type", "none", 0);
    char *url = rvmi_file_url(path); /* an image of a folder named take:2 */
    ret = avformat_open_input(&fmt, url ? url : path, av_find_input_format("image2"), &o);
    free(url);
    av_dict_free(&o);
    if (ret < 0) {
        set_err(err, errlen, "%s: %s", path, averr(ret, eb));
        goto fail;
    }
    if (fmt->nb_streams < 1 || fmt->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
        ret = AVERROR_INVALIDDATA;
        set_err(err, errlen, "%s: not an image", path);
        goto fail;
    }
    webp = fmt->streams[0]->codecpar->codec_id == AV_CODEC_ID_WEBP;
    const AVCodec *codec = avcodec_find_decoder(fmt->streams[0]->codecpar->codec_id);
    if (!codec) {
        ret = AVERROR_INVALIDDATA;
        set_err(err, errlen, "%s: not a readable image", path);
        goto fail;
    }
    dec = avcodec_alloc_context3(codec);
    if (!dec || avcodec_parameters_to_context(dec, fmt->streams[0]->codecpar) < 0 ||
        (ret = avcodec_open2(dec, codec, NULL)) < 0) {
        ret = ret < 0 ? ret : AVERROR(ENOMEM);
        set_err(err, errlen, "%s: cannot open the image decoder", path);
        goto fail;
    }
    int flushed = 0;
    for (;;) {
        ret = avcodec_receive_frame(dec, frame);
        if (ret == 0)
            break;
        if (ret == AVERROR_EOF || (ret != AVERROR(EAGAIN))) {
            set_err(err, errlen, "%s: %s", path,
                    ret == AVERROR_EOF ? "no picture in the file" : averr(ret, eb));
            ret = ret == AVERROR_EOF ? AVERROR_INVALIDDATA : ret;
            goto fail;
        }
        if (flushed) {
            ret = AVERROR_INVALIDDATA;
            set_err(err, errlen, "%s: no picture in the file", path);
            goto fail;
        }
        ret = av_read_frame(fmt, pkt);
        if (ret < 0) {
            avcodec_send_packet(dec, NULL);
            flushed = 1;
            continue;
        }
        ret = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            set_err(err, errlen, "%s: %s", path, averr(ret, eb));
            goto fail;
        }
    }
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    av_packet_free(&pkt);
    return frame;
fail:
    if (webp && animated_webp(path)) {
        animated_webp_err(path, err, errlen);
        ret = 0;
    }
    if (code)
        *code = ret;
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    return NULL;
}

/* The folder's image i into *f: 1, or 0 when the file is damaged (its decoder's error is the
 * image's, damaged_packet: an empty or cut file, broken data), which is then skipped as a
 * damaged frame of a video is, with a warning naming it and counted in the end's line
 * (report_end; neither in a segment's warm-up: count_damaged); -1 (err) for what stops the run (out of memory, I/O, a stop, an animated
 * WebP: no damage, the user is told how to convert it), and for an input of one image. */
static int folder_image(rvmi_reader *r, int i, AVFrame **f, char *err, size_t errlen)
{
    const char *name = r->files[i];
    char *full = malloc(strlen(r->dir) + strlen(name) + 2);
    if (!full) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    sprintf(full, "%s/%s", r->dir, name);
    int code = 0;
    *f = decode_image(full, r->opt.interrupt, &code, err, errlen);
    free(full);
    if (*f)
        return 1;
    if (r->nfiles == 1 || !damaged_packet(code) ||
        (r->opt.interrupt && atomic_load(r->opt.interrupt)))
        return -1;
    if (!count_damaged(r, i))
        return 0;
    char msg[1200];
    snprintf(msg, sizeof(msg), "%s: the image is skipped", err);
    warn_user(r, msg);
    return 0;
}

/* The folder's next image that can be read, from r->next_file on, into *f (NULL at the
 * folder's end), the damaged ones before it skipped (folder_image); -1 (err) for what stops
 * the run. */
static int next_folder_image(rvmi_reader *r, AVFrame **f, char *err, size_t errlen)
{
    int got = 0;
    while (r->next_file < r->end_file && (got = folder_image(r, r->next_file, f, err, errlen)) == 0)
        r->next_file++;
    return got < 0 ? -1 : 0;
}

static int open_images(rvmi_reader *r, const char *path, char *err, size_t errlen);

static int open_folder(rvmi_reader *r, const char *path, char *err, size_t errlen)
{
    DIR *d = opendir(path);
    if (!d) {
        set_err(err, errlen, "cannot open folder %s: %s", path, strerror(errno));
        return -1;
    }
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!rvmi_is_image_name(e->d_name))
            continue;
        if (r->nfiles == cap) {
            cap = cap ? cap * 2 : 256;
            char **n = realloc(r->files, (size_t)cap * sizeof(*n));
            if (!n) {
                closedir(d);
                set_err(err, errlen, "out of memory");
                return -1;
            }
            r->files = n;
        }
        if (!(r->files[r->nfiles] = strdup(e->d_name))) {
            closedir(d);
            set_err(err, errlen, "out of memory");
            return -1;
        }
        r->nfiles++;
    }
    closedir(d);
    if (r->nfiles == 0) {
        set_err(err, errlen, "no images in folder %s", path);
        return -1;
    }
    qsort(r->files, (size_t)r->nfiles, sizeof(*r->files), cmp_names);
    return open_images(r, path, err, errlen);
}

/* A single JPEG is read like a folder holding only it, so that its EXIF orientation sets
 * the picture's size as it does for a folder's first image. */
static int open_single_image(rvmi_reader *r, const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    r->files = malloc(sizeof(*r->files));
    if (!dir || !r->files || !(r->files[0] = strdup(slash ? slash + 1 : path))) {
        free(dir);
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->nfiles = 1;
    int ret = open_images(r, dir, err, errlen);
    free(dir);
    return ret;
}

/* The part common to folders and single images: r->files holds the names, in order. */
static int open_images(rvmi_reader *r, const char *path, char *err, size_t errlen)
{
    r->dir = strdup(path);
    if (!r->dir) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->fps = av_d2q(r->opt.image_fps, 1001000);
    if (r->fps.num <= 0 || r->fps.den <= 0) {
        set_err(err, errlen, "bad frame rate %g", r->opt.image_fps);
        return -1;
    }
    /* One tick per frame, so frame i is shown at i/fps. */
    r->tb = av_inv_q(r->fps);
    /* --start/--duration pick whole frames: frame i is kept when start <= i/fps < end. */
    int64_t first = (int64_t)ceil(r->opt.start * r->opt.image_fps - 1e-9);
    int64_t last = r->opt.duration >= 0
                       ? (int64_t)ceil((r->opt.start + r->opt.duration) * r->opt.image_fps - 1e-9)
                       : r->nfiles;
    if (first < 0)
        first = 0;
    if (last > r->nfiles)
        last = r->nfiles;
    if (r->opt.segment) {
        /* Planned by file index; timestamps stay those of the whole folder. */
        first = r->opt.segment_from;
        last = r->opt.segment_end < r->nfiles ? r->opt.segment_end : r->nfiles;
    }
    r->next_file = first > r->nfiles ? r->nfiles : (int)first;
    r->end_file = last < r->next_file ? r->next_file : (int)last;
    r->v_shift = r->opt.segment ? 0 : r->next_file;
    r->estimate = r->end_file - r->next_file;
    if (r->estimate <= 0) {
        if (r->opt.segment) {
            set_err(err, errlen, "the segment is past the end of the folder");
        } else if (first < r->nfiles) {
            /* Not past the end: a --duration shorter than a frame, between two frames. */
            set_err(err, errlen, "--start %g --duration %g holds no frame (the next one is at "
                                 "%.3f s, at %g fps)", r->opt.start, r->opt.duration,
                    first / r->opt.image_fps, r->opt.image_fps);
            usage_error(r);
        } else {
            set_err(err, errlen, "--start %g is past the end of the input (%d image%s at "
                                 "%g fps: %.3f s)", r->opt.start, r->nfiles,
                    r->nfiles == 1 ? "" : "s", r->opt.image_fps, r->nfiles / r->opt.image_fps);
            usage_error(r);
        }
        return -1;
    }
    /* The first image that can be read fixes the size; later ones of another size are
     * scaled to it. Damaged ones before it are skipped here, once. */
    AVFrame *f = NULL;
    if (next_folder_image(r, &f, err, errlen) < 0)
        return -1;
    if (!f) {
        set_err(err, errlen, "no image of %s could be read (%d damaged)", path, r->decode_errors);
        return -1;
    }
    int rot, flip;
    orientation_of(r, f, &rot, &flip);
    int ret = set_output_size(r, path, f->width, f->height, f->sample_aspect_ratio, rot, flip,
                              err, errlen);
    av_frame_free(&f);
    return ret;
}

/* Cameras are libavdevice's. It is loaded only for them: linking it loads ~80 more shared
 * libraries (its own dependencies: libavfilter, SDL, speech synthesis, ...), 20 MB of
 * resident memory for every run. */
static int load_devices(const char *source, char *err, size_t errlen)
{
#ifdef RVM_HAVE_AVDEVICE
    static int loaded;
    if (loaded)
        return 0;
    char name[32];
    snprintf(name, sizeof name, "libavdevice.so.%d", LIBAVDEVICE_VERSION_MAJOR);
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    void (*register_all)(void) = NULL;
    if (lib)
        *(void **)&register_all = dlsym(lib, "avdevice_register_all");
    if (!register_all) {
        set_err(err, errlen, "%s: a camera needs FFmpeg's %s, which cannot be loaded", source,
                name);
        return -1;
    }
    register_all();
    loaded = 1;
    return 0;
#else
    set_err(err, errlen, "%s: this rvm was built without libavdevice (cameras)", source);
    return -1;
#endif
}

/* --start: a seek to a keyframe at or before the start, and the frames before the start
 * decoded and dropped (frame-exact, as ffmpeg's trim). The landing is checked before anything
 * is returned, by decoding from it up to the first frame out: that frame must be at or
 * before the start, else reading starts from the beginning (the frames before the start are
 * then decoded and dropped too). Two ways the frames at the start can be missing after a
 * seek: it lands after a keyframe (a transport stream's lands on any packet: libavformat
 * takes every packet for a keyframe there, and the decoder then drops the frames up to the
 * next real one, seconds past the start when keyframes are sparse; an index that is not exact
 * does the same), which the first keyframe read already shows; or the keyframe is only a
 * recovery point (intra-refresh H.264: no IDR, each picture is refreshed a column at a time),
 * from which the decoder holds frames back until the picture has recovered, past the start
 * (an MKV of such a stream: 10 of 15 frames, from 0.167 s). Nothing is returned before the
 * decision, so audio is never sent twice: the packets read to check are read again (the same
 * seek lands at the same place), and the decoder starts over. */
#define LANDING_MAX_PAST 64 /* frames past the start a decoder may hold (reorder, DPB: 16) */
static int landing_ok(rvmi_reader *r)
{
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int ok = 0, decided = 0, past = 0, key = 0;
    while (pkt && f && !decided) {
        int ret = av_read_frame(r->fmt, pkt);
        if (ret >= 0 && pkt->stream_index != r->vidx) {
            av_packet_unref(pkt);
            continue;
        }
        if (ret >= 0) {
            int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            if (!key) {
                /* Packets before the first keyframe cannot give the frames from it. */
                if (!(pkt->flags & AV_PKT_FLAG_KEY)) {
                    av_packet_unref(pkt);
                    continue;
                }
                key = 1;
                if (ts == AV_NOPTS_VALUE || ts > r->v_start) {
                    av_packet_unref(pkt);
                    break;
                }
            }
            if (ts != AV_NOPTS_VALUE && ts > r->v_start)
                past++;
            avcodec_send_packet(r->dec, pkt); /* a damaged packet: the next ones tell */
            av_packet_unref(pkt);
        } else if (!key || avcodec_send_packet(r->dec, NULL) < 0) {
            break; /* the end, or a read error: no frame at or before the start */
        }
        while (!decided) {
            ret = avcodec_receive_frame(r->dec, f);
            if (damaged_packet(ret))
                continue; /* a damaged frame */
            if (ret < 0)
                break;
            int64_t pts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp
                                                                     : f->pts;
            ok = pts == AV_NOPTS_VALUE || pts <= r->v_start; /* no time: taken as it lands */
            decided = 1;
            av_frame_unref(f);
        }
        if (ret < 0 && ret != AVERROR(EAGAIN) && !decided)
            break; /* drained: nothing came out */
        if (past > LANDING_MAX_PAST)
            break;
    }
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_flush_buffers(r->dec);
    return ok;
}

/* A landing that misses the frames at the start is tried again further back (a keyframe
 * before the start that the seek passed over, a picture that recovers before the start)
 * before reading from the beginning: from there every frame up to the start was decoded and
 * dropped, a minute of CPU and more for an hour into a long input (a 33 s 720p transport
 * stream with a keyframe every 10 s, --start 31: 1.1 s of CPU). Each landing is checked as
 * the first (landing_ok); the frames between it and the start are dropped as ever. */
static const int landing_back_s[] = {10, 60, 300};

static void seek_to_start(rvmi_reader *r, int64_t vs0, int64_t target_us)
{
    int64_t first_us = av_rescale_q(vs0, r->tb, AV_TIME_BASE_Q);
    for (int i = -1; i < (int)(sizeof landing_back_s / sizeof *landing_back_s); i++) {
        int64_t t = target_us - (i < 0 ? 0 : landing_back_s[i] * (int64_t)AV_TIME_BASE);
        if (i >= 0 && t <= first_us)
            break; /* the beginning itself: read from there (below) */
        if (av_seek_frame(r->fmt, -1, t, AVSEEK_FLAG_BACKWARD) >= 0 && landing_ok(r)) {
            av_seek_frame(r->fmt, -1, t, AVSEEK_FLAG_BACKWARD);
            return;
        }
    }
    if (r->fmt->iformat->flags & AVFMT_TS_DISCONT)
        av_seek_frame(r->fmt, -1, 0, AVSEEK_FLAG_BYTE); /* where a whole run starts */
    else
        av_seek_frame(r->fmt, r->vidx, vs0, AVSEEK_FLAG_BACKWARD); /* read from the start */
}

/* Whether the local file path starts as an MP4/MOV does (its first box: ftyp, or for older
 * QuickTime files wide, free, skip or mdat): FFmpeg's mov demuxer also takes other files
 * named .mp4 (a text file) and says "moov atom not found" for them too. */
static int iso_media_head(const char *path)
{
    if (strstr(path, "://"))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char h[8];
    int ok = fread(h, 1, sizeof h, f) == sizeof h;
    fclose(f);
    static const char *const boxes[] = {"ftyp", "wide", "free", "skip", "mdat"};
    for (size_t i = 0; ok && i < sizeof boxes / sizeof boxes[0]; i++)
        if (memcmp(h + 4, boxes[i], 4) == 0)
            return 1;
    return 0;
}

static int open_media(rvmi_reader *r, const char *source, char *err, size_t errlen)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    const AVInputFormat *ifmt = NULL;
    const char *url = source;
    char *local = NULL;
    if (strcmp(source, "-") == 0)
        url = "pipe:0";
    if (strncmp(source, "/dev/video", 10) == 0) {
        if (load_devices(source, err, errlen) < 0)
            return -1;
        ifmt = av_find_input_format("v4l2");
    }
    r->fmt = avformat_alloc_context();
    if (!r->fmt) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->fmt->interrupt_callback.callback = interrupt_cb;
    r->fmt->interrupt_callback.opaque = (void *)r->opt.interrupt;
    int ret;
    if (strcmp(source, "-") == 0) {
        /* A pipe is probed here, so that a failure can say what the data was. */
        AVIOInterruptCB cb = {interrupt_cb, (void *)r->opt.interrupt};
        if ((ret = avio_open2(&r->pipe, url, AVIO_FLAG_READ, &cb, NULL)) < 0) {
            set_err(err, errlen, "%s: %s", source, averr(ret, eb));
            return -1;
        }
        if (av_probe_input_buffer2(r->pipe, &ifmt, url, NULL, 0, 0) < 0) {
            /* The probe's bytes are read again from its buffer: none, nothing was sent
             * (rvm -i - </dev/null, a producer that failed before writing). */
            uint8_t byte;
            if (avio_read(r->pipe, &byte, 1) <= 0)
                set_err(err, errlen, "%s: the standard input is empty: pipe a video into rvm "
                                     "(... | rvm -i - ...), or give the input's file name", source);
            else
                set_err(err, errlen, "%s: not a video or image file FFmpeg can read", source);
            return -1;
        }
        r->fmt->pb = r->pipe;
    }
    if (url == source && (local = rvmi_file_url(source)))
        url = local;
    char why[512];
    rvmi_avlog_take_error(why, 1); /* forget older messages */
    ret = avformat_open_input(&r->fmt, url, ifmt, NULL);
    free(local);
    if (ret < 0) {
        /* avformat_open_input frees the context on failure. */
        rvmi_avlog_take_error(why, sizeof why);
        struct stat st;
        if (r->pipe && ifmt && strstr(ifmt->name, "mp4"))
            set_err(err, errlen, "%s", MOOV_AT_END);
        else if (ret == AVERROR_INVALIDDATA && strstr(why, "moov atom not found") &&
                 !r->pipe && iso_media_head(source))
            /* The index is written when a recording ends: a camera or a screen recorder
             * killed before that leaves the data without it. */
            set_err(err, errlen, "%s: looks truncated: this MP4/MOV has no index (FFmpeg: moov "
                                 "atom not found), which is written when a recording ends "
                                 "(was it stopped before it finished?); FFmpeg cannot read it",
                    source);
        else if (ret == AVERROR_INVALIDDATA && !r->pipe && stat(source, &st) == 0 &&
                 S_ISREG(st.st_mode) && st.st_size == 0)
            set_err(err, errlen, "%s: the file is empty (0 bytes)", source);
        else if (ret == AVERROR_INVALIDDATA)
            set_err(err, errlen, "%s: not a video or image file FFmpeg can read", source);
        else
            set_err(err, errlen, "%s: %s", source, averr(ret, eb));
        return -1;
    }
    /* A local file is data: playlist formats would make it read other files (an HLS or
     * concat list naming /home/... would put their frames in our output). A URL given on
     * purpose (with "://") may still be a playlist. */
    static const char *const playlists[] = {"hls", "dash", "concat", "imf", "sdp", "rtsp"};
    if (!strstr(source, "://"))
        for (size_t i = 0; i < sizeof playlists / sizeof playlists[0]; i++)
            if (strcmp(r->fmt->iformat->name, playlists[i]) == 0) {
                set_err(err, errlen, "%s: is a %s playlist, which would read other files; "
                                     "refused for a local input", source, playlists[i]);
                return -1;
            }
    ret = avformat_find_stream_info(r->fmt, NULL);
    if (ret < 0) {
        set_err(err, errlen, "%s: cannot read stream information: %s", source, averr(ret, eb));
        return -1;
    }
    /* FFmpeg's AVI muxer writing to a pipe cannot go back to fill in the lengths: each
     * stream's header keeps the placeholder 2^30 (its AVI_MAX_RIFF_SIZE), which FFmpeg's
     * demuxer reads as 2^30 frames (10 years at 30 fps). That is no length at all: left
     * unknown, as for any input that declares none (else every such input was called
     * truncated, and the progress counted towards 2^30 frames). */
    if (strcmp(r->fmt->iformat->name, "avi") == 0) {
        int placeholder = 0;
        for (unsigned i = 0; i < r->fmt->nb_streams; i++) {
            AVStream *st = r->fmt->streams[i];
            if (st->nb_frames == INT64_C(1) << 30 || st->duration == INT64_C(1) << 30) {
                st->nb_frames = 0;
                st->duration = AV_NOPTS_VALUE;
                placeholder = 1;
            }
        }
        if (placeholder)
            r->fmt->duration = AV_NOPTS_VALUE;
    }
    int candidates = 0;
    r->vidx = rvmi_video_stream(r->fmt, &candidates);
    if (r->vidx < 0) {
        set_err(err, errlen, "%s: no video stream", source);
        return -1;
    }
    if (candidates > 1 && r->opt.notice) {
        char line[200];
        rvmi_video_stream_describe(r->fmt, r->vidx, candidates, line, sizeof line);
        r->opt.notice(r->opt.notice_user, line);
    }
    if (!(r->track_of = malloc(r->fmt->nb_streams * sizeof(int)))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->ntrack_of = r->fmt->nb_streams;
    for (unsigned i = 0; i < r->ntrack_of; i++)
        r->track_of[i] = -1;
    if (r->opt.tracks) {
        r->ntracks = rvmi_tracks_select(r->fmt, r->opt.tracks, &r->tracks, err, errlen);
        if (r->ntracks < 0) {
            r->ntracks = 0;
            usage_error(r);
            return -1;
        }
        if (r->ntracks > 0 && !(r->carried = calloc((size_t)r->ntracks, sizeof(*r->carried)))) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
        for (int i = 0; i < r->ntracks; i++)
            r->track_of[r->tracks[i].stream] = i;
    }
    /* Audio not carried, and the video streams not matted, are still demuxed (not decoded):
     * where the input ends is judged from every stream (report_end); a longer video stream
     * left out made the container's duration look unreached ("ended early"). */
    for (unsigned i = 0; i < r->ntrack_of; i++)
        if ((int)i != r->vidx && r->track_of[i] < 0 &&
            r->fmt->streams[i]->codecpar->codec_type != AVMEDIA_TYPE_AUDIO &&
            r->fmt->streams[i]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
            r->fmt->streams[i]->discard = AVDISCARD_ALL;

    AVStream *vs = r->fmt->streams[r->vidx];
    r->in_primaries = vs->codecpar->color_primaries;
    const AVCodec *codec = avcodec_find_decoder(vs->codecpar->codec_id);
    /* VP8/VP9 keep their alpha beside the picture (Matroska's BlockAdditional, alpha_mode
     * 1): FFmpeg's own decoders drop it and only libvpx's read it. A background is put over
     * black by its alpha, which was lost so (a transparent VP9 WebM kept the colours under
     * its see-through parts); an input's alpha is ignored anyway, as the official reader's
     * (PyAV, FFmpeg's decoder). */
    const AVDictionaryEntry *alpha_mode = av_dict_get(vs->metadata, "alpha_mode", NULL, 0);
    if (r->opt.over_black && alpha_mode && strcmp(alpha_mode->value, "1") == 0) {
        enum AVCodecID id = vs->codecpar->codec_id;
        const AVCodec *vpx = id == AV_CODEC_ID_VP9   ? avcodec_find_decoder_by_name("libvpx-vp9")
                             : id == AV_CODEC_ID_VP8 ? avcodec_find_decoder_by_name("libvpx")
                                                     : NULL;
        if (vpx)
            codec = vpx;
    }
    if (!codec) {
        set_err(err, errlen, "%s: no decoder for its video codec (%s)", source,
                avcodec_get_name(vs->codecpar->codec_id));
        return -1;
    }
    r->dec = avcodec_alloc_context3(codec);
    if (!r->dec || avcodec_parameters_to_context(r->dec, vs->codecpar) < 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->dec->pkt_timebase = vs->time_base;
    /* Decoding runs in its own thread beside the network and the encoders and costs a few
     * ms a frame (6 ms for H.264 1080p), far from the slowest stage: frame threads would
     * only add frames held in memory (10 MB at 1080p) and threads competing for the cores
     * (measured: the same CPU time). */
    r->dec->thread_count = 1;
    /* No frame threads requested either: FFmpeg warns about a custom get_buffer2 (the gate
     * below) whenever frame threading is asked for, even with one thread (seen with -v). */
    r->dec->thread_type = 0;
    /* The decoder refuses frames beyond the size rvm takes at all, before allocating them
     * (a stream may announce a small size and then change it). */
    r->dec->max_pixels = (int64_t)RVM_MAX_SIDE * RVM_MAX_SIDE;
    if (!(r->gate = gate_new(r->opt.interrupt))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->dec->opaque = r->gate;
    r->dec->get_buffer2 = gate_get_buffer;
    if ((ret = avcodec_open2(r->dec, codec, NULL)) < 0) {
        set_err(err, errlen, "%s: cannot open the video decoder: %s", source, averr(ret, eb));
        return -1;
    }

    /* Rotation metadata: the display matrix says how to turn the picture for display. */
    const uint8_t *dm = NULL;
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    const AVPacketSideData *sd =
        av_packet_side_data_get(vs->codecpar->coded_side_data,
                                vs->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
    if (sd && sd->size >= 9 * 4)
        dm = sd->data;
#else
    size_t dmsize = 0;
    dm = av_stream_get_side_data(vs, AV_PKT_DATA_DISPLAYMATRIX, &dmsize);
    if (dmsize < 9 * 4)
        dm = NULL;
#endif
    /* HDR10 metadata the container holds (MP4 mdcv/clli, Matroska's colour elements). */
    const void *cll_data = NULL, *md_data = NULL;
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    const AVPacketSideData *cll_sd = av_packet_side_data_get(
        vs->codecpar->coded_side_data, vs->codecpar->nb_coded_side_data,
        AV_PKT_DATA_CONTENT_LIGHT_LEVEL);
    const AVPacketSideData *md_sd = av_packet_side_data_get(
        vs->codecpar->coded_side_data, vs->codecpar->nb_coded_side_data,
        AV_PKT_DATA_MASTERING_DISPLAY_METADATA);
    if (cll_sd && cll_sd->size >= sizeof(AVContentLightMetadata))
        cll_data = cll_sd->data;
    if (md_sd && md_sd->size >= sizeof(AVMasteringDisplayMetadata))
        md_data = md_sd->data;
#else
    size_t cll_size = 0, md_size = 0;
    cll_data = av_stream_get_side_data(vs, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, &cll_size);
    md_data = av_stream_get_side_data(vs, AV_PKT_DATA_MASTERING_DISPLAY_METADATA, &md_size);
    if (cll_size < sizeof(AVContentLightMetadata))
        cll_data = NULL;
    if (md_size < sizeof(AVMasteringDisplayMetadata))
        md_data = NULL;
#endif
    const char *peak_source = NULL;
    double peak = hdr_peak_of(cll_data, md_data, &peak_source);
    set_hdr_peak(r, peak, peak_source);
    if (dm) {
        double theta = -av_display_rotation_get((const int32_t *)dm);
        if (isfinite(theta)) {
            long t = lround(theta / 90.0) * 90 % 360;
            r->rotation = (int)(t < 0 ? t + 360 : t);
        }
    }

    r->tb = vs->time_base;
    if (r->tb.num <= 0 || r->tb.den <= 0)
        r->tb = (AVRational){1, 90000};
    r->fps = vs->avg_frame_rate;
    if (r->fps.num <= 0 || r->fps.den <= 0)
        r->fps = vs->r_frame_rate;
    if (r->fps.num <= 0 || r->fps.den <= 0 || av_q2d(r->fps) > 1000)
        r->fps = (AVRational){25, 1};
    r->default_duration = av_rescale_q(1, av_inv_q(r->fps), r->tb);
    if (r->default_duration <= 0)
        r->default_duration = 1;

    /* Outputs start at zero, like ffmpeg's: every timestamp is moved back by the video's
     * first one (a transport stream's start at 1.4 s or 3601 s, an MKV's at 0.033 s; after
     * a 33-bit wrap libavformat makes the frames before it negative), and by --start. The
     * relative timing of the frames (variable frame rates included) and of the audio is the
     * input's. Audio before the first frame is kept (an encoder's priming, which the edit
     * list or the decoder skips) unless --start cuts it. */
    int64_t vs0 = vs->start_time != AV_NOPTS_VALUE ? vs->start_time : 0;
    int64_t skip_us = r->opt.start > 0 ? (int64_t)llround(r->opt.start * AV_TIME_BASE) : 0;
    r->v_origin = vs0;
    r->before_start = AV_NOPTS_VALUE;
    r->after_end = AV_NOPTS_VALUE;
    r->sent_pts = AV_NOPTS_VALUE;
    r->v_shift = vs0 + av_rescale_q(skip_us, AV_TIME_BASE_Q, r->tb);
    r->v_start = r->opt.start > 0 ? r->v_shift : INT64_MIN;
    r->v_end = INT64_MAX;
    for (int i = 0; i < r->ntracks; i++) {
        struct carried *c = &r->carried[i];
        AVRational a_tb = r->tracks[i].time_base;
        c->shift = av_rescale_q(vs0, r->tb, a_tb) + av_rescale_q(skip_us, AV_TIME_BASE_Q, a_tb);
        c->start = r->opt.start > 0 ? c->shift : INT64_MIN;
        c->end = INT64_MAX;
        c->next_dts = c->last_dts = AV_NOPTS_VALUE;
        if (r->opt.duration >= 0)
            c->end = c->shift + av_rescale_q((int64_t)llround(r->opt.duration * AV_TIME_BASE),
                                             AV_TIME_BASE_Q, a_tb);
    }
    if (r->opt.duration >= 0) {
        int64_t d_us = (int64_t)llround(r->opt.duration * AV_TIME_BASE);
        r->v_end = r->v_shift + av_rescale_q(d_us, AV_TIME_BASE_Q, r->tb);
    }
    /* Frames before the start are decoded and dropped when seeking cannot be done: on a pipe
     * a seek is not even tried (Matroska's reads forward to find its place, and met the end
     * of the data: no frame was left). A failed seek is as fine. */
    if (r->opt.start > 0 && !(r->fmt->pb && !(r->fmt->pb->seekable & AVIO_SEEKABLE_NORMAL)))
        seek_to_start(r, vs0, av_rescale_q(vs0, r->tb, AV_TIME_BASE_Q) + skip_us);
    r->discont = (r->fmt->iformat->flags & AVFMT_TS_DISCONT) != 0;
    r->v_next_dts = r->v_last_dts = AV_NOPTS_VALUE;
    if (r->opt.segment) {
        /* To a keyframe at or before the warm-up start; take_frame checks where it landed. */
        r->v_start = r->opt.segment_from;
        r->v_end = r->opt.segment_end;
        if (r->opt.segment_seek_byte >= 0)
            av_seek_frame(r->fmt, -1, r->opt.segment_seek_byte, AVSEEK_FLAG_BYTE);
        else if (r->opt.segment_from > vs0)
            av_seek_frame(r->fmt, r->vidx, r->opt.segment_from, AVSEEK_FLAG_BACKWARD);
    }

    /* The frame count, for the progress bar only. */
    double secs = -1;
    if (vs->nb_frames > 0)
        r->estimate = vs->nb_frames;
    else {
        if (vs->duration != AV_NOPTS_VALUE && vs->duration > 0)
            secs = vs->duration * av_q2d(vs->time_base);
        else if (r->fmt->duration != AV_NOPTS_VALUE && r->fmt->duration > 0) {
            secs = r->fmt->duration / (double)AV_TIME_BASE;
            /* Matroska's duration counts from 0, not from the first frame (0.033 s in a
             * 77-frame clip made it 78). */
            if (strncmp(r->fmt->iformat->name, "matroska", 8) == 0 &&
                vs->start_time != AV_NOPTS_VALUE && vs->start_time > 0)
                secs -= vs->start_time * av_q2d(vs->time_base);
        }
        r->estimate = secs > 0 ? (int64_t)llround(secs * av_q2d(r->fps)) : -1;
    }
    if (r->estimate > 0) {
        double total = r->estimate / av_q2d(r->fps);
        double keep = total - r->opt.start;
        if (r->opt.duration >= 0 && r->opt.duration < keep)
            keep = r->opt.duration;
        if (keep <= 0 && r->opt.start > 0) {
            set_err(err, errlen, "--start %g is past the end of the input (%.3f s long)",
                    r->opt.start, total);
            usage_error(r);
            return -1;
        }
        if (r->opt.start > 0 || r->opt.duration >= 0)
            r->estimate = (int64_t)ceil(keep * av_q2d(r->fps) - 1e-6);
    }
    if (r->opt.segment)
        r->estimate = -1; /* the frames are counted by rvm render, not here */

    int w = vs->codecpar->width, h = vs->codecpar->height;
    if (w > RVM_MAX_SIDE || h > RVM_MAX_SIDE) {
        set_err(err, errlen, "%s: frame size %dx%d is too large (at most %d on a side)", source,
                w, h, RVM_MAX_SIDE);
        return -1;
    }
    AVRational sar = av_guess_sample_aspect_ratio(r->fmt, vs, NULL);
    if (set_output_size(r, source, w, h, sar, r->rotation, 0, err, errlen) < 0)
        return -1;
    r->pkt = av_packet_alloc();
    r->frame = av_frame_alloc();
    r->stash = av_frame_alloc();
    if (!r->pkt || !r->frame || !r->stash) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    r->last_pts = AV_NOPTS_VALUE;
    r->data_end_us = AV_NOPTS_VALUE;
    update_audio_done(r);
    return 0;
}

rvmi_reader *rvmi_reader_open(const char *source, const rvmi_reader_options *opt, char *err,
                            size_t errlen)
{
    rvmi_reader *r = calloc(1, sizeof(*r));
    if (!r) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    r->opt = *opt;
    if (r->opt.image_fps <= 0)
        r->opt.image_fps = 30;
    r->vidx = -1;
    r->first_written = AV_NOPTS_VALUE;
    struct stat st;
    int ret;
    const char *dot = strrchr(source, '.');
    int local = strcmp(source, "-") != 0 && stat(source, &st) == 0;
    if (local && S_ISDIR(st.st_mode))
        ret = open_folder(r, source, err, errlen);
    else if (local && S_ISREG(st.st_mode) && dot &&
             (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")))
        ret = open_single_image(r, source, err, errlen);
    else
        ret = open_media(r, source, err, errlen);
    if (ret < 0) {
        rvmi_reader_close(r);
        return NULL;
    }
    return r;
}

void rvmi_reader_close(rvmi_reader *r)
{
    if (!r)
        return;
    avcodec_free_context(&r->dec);
    if (r->gate)
        gate_unref(r->gate); /* pictures still held keep it until they are given back */
    avformat_close_input(&r->fmt);
    avio_closep(&r->pipe);
    av_packet_free(&r->pkt);
    av_frame_free(&r->frame);
    av_frame_free(&r->stash);
    av_buffer_unref(&r->icc);
    if (r->deint)
        avf.graph_free(&r->deint);
    sws_freeContext(r->sws);
    free(r->rotbuf);
    free(r->rgba);
    free(r->yuv_tmp);
    av_frame_free(&r->hdr_band);
    free(r->tracks);
    free(r->carried);
    free(r->track_of);
    for (int i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    free(r->dir);
    free(r);
}

/* Notes a frame whose size or orientation differs from the one before: the network
 * starts over there (its memory is of another picture), and the first change is told in
 * one line. */
static void note_geometry(rvmi_reader *r, const AVFrame *f, rvmi_read_item *item, double t)
{
    int rot, flip;
    orientation_of(r, f, &rot, &flip);
    if (r->last_w && (f->width != r->last_w || f->height != r->last_h || rot != r->last_rot ||
                      flip != r->last_flip)) {
        item->restart = 1;
        if (!r->changes++ && r->opt.notice) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "the picture changes from %dx%d to %dx%d at %.2f s: frames not of the "
                     "first one's size are fitted into %dx%d with black bars, and the network "
                     "starts over at each change",
                     r->last_w, r->last_h, f->width, f->height, t, r->out_w, r->out_h);
            r->opt.notice(r->opt.notice_user, msg);
        }
    }
    r->last_w = f->width;
    r->last_h = f->height;
    r->last_rot = rot;
    r->last_flip = flip;
}

/* Keeps the first picture's ICC profile (an Adobe RGB JPEG, a phone's Display P3 photo). */
static void note_icc(rvmi_reader *r, const AVFrame *f)
{
    if (r->icc_checked)
        return;
    r->icc_checked = 1;
    const AVFrameSideData *sd = av_frame_get_side_data(f, AV_FRAME_DATA_ICC_PROFILE);
    if (sd && sd->buf && sd->size > 0)
        r->icc = av_buffer_ref(sd->buf); /* NULL (no memory): the outputs go without */
}

/* Converts f into dst (or a new frame when dst is NULL) and makes it the item's picture. */
static int rgb_item(rvmi_reader *r, const AVFrame *f, rvmi_read_item *item, uint8_t *dst,
                    char *err, size_t errlen)
{
    uint8_t *rgb = dst ? dst : malloc((size_t)r->out_w * r->out_h * 3);
    if (!rgb) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    if (convert_frame(r, f, rgb, err, errlen) < 0) {
        if (!dst)
            free(rgb);
        return -1;
    }
    item->rgb = rgb;
    item->frame = (rvm_frame){.format = RVM_FORMAT_RGB24,
                              .width = r->out_w,
                              .height = r->out_h,
                              .planes = {rgb},
                              .strides = {(ptrdiff_t)r->out_w * 3}};
    return 0;
}

static int read_folder(rvmi_reader *r, rvmi_read_item *item, uint8_t *dst, char *err,
                       size_t errlen)
{
    AVFrame *f = NULL;
    if (next_folder_image(r, &f, err, errlen) < 0)
        return -1;
    if (!f) {
        report_end(r);
        return RVM_ITEM_END;
    }
    note_geometry(r, f, item, (r->next_file - r->v_shift) * av_q2d(r->tb));
    note_icc(r, f);
    int ret = rgb_item(r, f, item, dst, err, errlen);
    av_frame_free(&f);
    if (ret < 0)
        return -1;
    item->pts = r->next_file - r->v_shift;
    item->duration = 1;
    item->warmup = r->opt.segment && r->next_file < r->opt.segment_begin;
    if (!item->warmup && r->first_written == AV_NOPTS_VALUE)
        r->first_written = r->next_file;
    r->next_file++;
    return RVM_ITEM_VIDEO;
}

/* Turns a decoded frame into an item, or returns 0 when the frame is outside --start/
 * --duration. */
static int take_frame(rvmi_reader *r, rvmi_read_item *item, uint8_t *dst, AVFrame *yuv,
                      char *err, size_t errlen)
{
    AVFrame *f = r->frame;
    int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE)
        pts = f->pts;
    if (pts == AV_NOPTS_VALUE)
        pts = r->last_pts == AV_NOPTS_VALUE ? 0 : r->last_pts + r->default_duration;
    if (pts < r->v_start) {
        r->before_start = pts;
        return 0;
    }
    if (r->opt.segment && r->frames_out == 0 && pts > r->opt.segment_from) {
        /* The seek landed after the warm-up start (an index that is not exact): decode from
         * the beginning instead, once. */
        if (r->segment_reseeked) {
            set_err(err, errlen, "no frame at timestamp %" PRId64 " (the first found is %" PRId64
                                 "): has the input changed since it was planned?",
                    r->opt.segment_from, pts);
            return -1;
        }
        r->segment_reseeked = 1;
        AVStream *vs = r->fmt->streams[r->vidx];
        if (r->opt.segment_seek_byte >= 0)
            av_seek_frame(r->fmt, -1, 0, AVSEEK_FLAG_BYTE);
        else
            av_seek_frame(r->fmt, r->vidx, vs->start_time != AV_NOPTS_VALUE ? vs->start_time : 0,
                          AVSEEK_FLAG_BACKWARD);
        avcodec_flush_buffers(r->dec);
        r->input_eof = 0;
        /* The clocks start over with the data (a transport stream's jumps are closed from
         * its beginning, as a whole run's are): else the jump back to the beginning was
         * taken for one to close, and every frame lay past where it was planned (a stream
         * whose keyframes are recovery points, whose decoder holds frames back). */
        r->v_discont_us = 0;
        r->v_next_dts = r->v_last_dts = AV_NOPTS_VALUE;
        for (int i = 0; i < r->ntracks; i++) {
            r->carried[i].discont_us = 0;
            r->carried[i].next_dts = r->carried[i].last_dts = AV_NOPTS_VALUE;
        }
        return 0;
    }
    if (pts >= r->v_end) {
        if (r->after_end == AV_NOPTS_VALUE)
            r->after_end = pts;
        r->video_done = 1;
        return 0;
    }
    if (f->width < 1 || f->height < 1 || f->width > RVM_MAX_SIDE || f->height > RVM_MAX_SIDE) {
        set_err(err, errlen, "a frame of %dx%d is outside 1..%d per side", f->width, f->height,
                RVM_MAX_SIDE);
        return -1;
    }
    /* Muxers need strictly increasing timestamps; a broken input may repeat one. */
    if (r->last_pts != AV_NOPTS_VALUE && pts <= r->last_pts)
        pts = r->last_pts + 1;
    int64_t dur = FRAME_DURATION(f);
    note_geometry(r, f, item, (pts - r->v_shift) * av_q2d(r->tb));
    note_icc(r, f);
    if (yuv && library_reads(r, f, &item->frame)) {
        av_frame_move_ref(yuv, f);
        gate_hand_out(r->gate, yuv);
        item->yuv = yuv;
    } else if (rgb_item(r, f, item, dst, err, errlen) < 0) {
        return -1;
    }
    item->pts = pts - r->v_shift;
    item->duration = dur > 0 ? dur : r->default_duration;
    item->warmup = r->opt.segment && pts < r->opt.segment_begin;
    if (!item->warmup && r->first_written == AV_NOPTS_VALUE)
        r->first_written = pts;
    r->last_pts = pts;
    r->frames_out++;
    return 1;
}

/* Every audio track carried has had its last packet (reading can stop once the video has
 * too; subtitles are sparse, and those before the end have been read by then). */
static void update_audio_done(rvmi_reader *r)
{
    int done = 1;
    for (int i = 0; i < r->ntracks; i++)
        if (r->tracks[i].type == AVMEDIA_TYPE_AUDIO && !r->carried[i].done)
            done = 0;
    r->audio_done = done;
}

/* A carried track's packet in the window --start and --duration keep, moved as the video
 * is. Returns 1 when it is returned, 0 when it is dropped. */
static int carry_packet(rvmi_reader *r, int track, AVPacket *p)
{
    struct carried *c = &r->carried[track];
    int subtitle = r->tracks[track].type == AVMEDIA_TYPE_SUBTITLE;
    if (p->pts != AV_NOPTS_VALUE) {
        int64_t end = p->pts + (p->duration > 0 ? p->duration : 0);
        if (p->pts >= c->end) {
            /* Subtitles come in any order relative to the audio's end: one past the end
             * does not end the track. */
            if (!subtitle) {
                c->done = 1;
                update_audio_done(r);
            }
            av_packet_unref(p);
            return 0;
        }
        if (end <= c->start && c->start != INT64_MIN) {
            av_packet_unref(p);
            return 0;
        }
        if (subtitle && c->start != INT64_MIN && p->pts < c->start) {
            /* A cue already on screen at --start is shown from the start, for what is left
             * of it. */
            if (p->duration > 0)
                p->duration = end - c->start;
            p->pts = c->start;
        }
        /* And one still on screen at the end of --duration, up to there (it would make the
         * output last longer than its picture). */
        if (subtitle && c->end != INT64_MAX && p->duration > 0 && end > c->end)
            p->duration = c->end - p->pts;
        p->pts -= c->shift;
    }
    if (subtitle && p->pts != AV_NOPTS_VALUE)
        p->dts = p->pts;
    else if (p->dts != AV_NOPTS_VALUE)
        p->dts -= c->shift;
    return 1;
}

/* Transport streams restart or jump their clocks (splices, a concatenation, a 33-bit wrap
 * libavformat could not place): as ffmpeg does for such formats, a jump of more than 10 s
 * either way, or back by more than 0.1 s, is closed by an offset applied from there on, so
 * the frames keep their order and their spacing. Each stream closes its own jump (both jump
 * by the same amount, to within a frame): the packets of one stream can run ahead of the
 * other's across the jump, and one shared offset would then see a jump back and forth. */
static void close_gaps(rvmi_reader *r, AVPacket *p, int video, struct carried *c)
{
    AVRational tb = r->fmt->streams[p->stream_index]->time_base;
    int64_t *next = video ? &r->v_next_dts : &c->next_dts;
    int64_t *last = video ? &r->v_last_dts : &c->last_dts;
    int64_t *offset = video ? &r->v_discont_us : &c->discont_us;
    int64_t ts = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
    if (ts != AV_NOPTS_VALUE) {
        int64_t us = av_rescale_q(ts, tb, AV_TIME_BASE_Q) + *offset;
        if (*next != AV_NOPTS_VALUE) {
            int64_t delta = us - *next;
            if (delta > 10 * (int64_t)AV_TIME_BASE || delta < -10 * (int64_t)AV_TIME_BASE ||
                us + AV_TIME_BASE / 10 < *last) {
                *offset -= delta;
                us -= delta;
                r->gaps_closed++;
            }
        }
        int64_t dur = p->duration > 0 ? p->duration : video ? r->default_duration : 0;
        *last = us;
        *next = us + av_rescale_q(dur, tb, AV_TIME_BASE_Q);
    }
    int64_t off = av_rescale_q(*offset, AV_TIME_BASE_Q, tb);
    if (p->pts != AV_NOPTS_VALUE)
        p->pts += off;
    if (p->dts != AV_NOPTS_VALUE)
        p->dts += off;
}

/* At the end of an input read to its end: one line when it ended early, a read error or
 * the data stopping well before the duration the container declares (a truncated MKV or
 * MP4 otherwise just ends). */
static void report_cut(rvmi_reader *r)
{
    char msg[320];
    double at = r->data_end_us == AV_NOPTS_VALUE
                    ? 0
                    : (r->data_end_us - av_rescale_q(r->v_shift, r->tb, AV_TIME_BASE_Q)) /
                          (double)AV_TIME_BASE;
    int64_t declared = r->fmt->duration;
    if (r->read_error) {
        char eb[AV_ERROR_MAX_STRING_SIZE];
        snprintf(msg, sizeof(msg),
                 "the input could not be read past %.2f s (%s): it is truncated or damaged; "
                 "the outputs hold the %lld frame%s before that",
                 at, averr(r->read_error, eb), (long long)r->frames_out,
                 r->frames_out == 1 ? "" : "s");
        warn_user(r, msg);
    } else if (!r->discont && declared != AV_NOPTS_VALUE && declared > 0 &&
               r->fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE &&
               r->data_end_us != AV_NOPTS_VALUE) {
        int64_t start = r->fmt->start_time != AV_NOPTS_VALUE ? r->fmt->start_time : 0;
        /* Where the streams read say they end, when their index says so (MP4, MOV, TS):
         * the container's duration may count from 0 rather than from the first frame (an
         * MP4 whose picture starts late on its timeline through an edit list), so start +
         * duration would lie past the end of a whole file. Else (MKV, WebM: no per-stream
         * duration) the container's. */
        int64_t end = AV_NOPTS_VALUE;
        for (unsigned i = 0; i < r->fmt->nb_streams; i++) {
            const AVStream *st = r->fmt->streams[i];
            if (st->discard == AVDISCARD_ALL || st->start_time == AV_NOPTS_VALUE ||
                st->duration == AV_NOPTS_VALUE || st->duration <= 0)
                continue;
            int64_t e = av_rescale_q(st->start_time + st->duration, st->time_base,
                                     AV_TIME_BASE_Q);
            if (end == AV_NOPTS_VALUE || e > end)
                end = e;
        }
        if (end == AV_NOPTS_VALUE || end - start > declared)
            end = start + declared;
        /* FFmpeg's Matroska muxer writes the last timestamp as the Duration, counted from 0
         * whatever the first one (-output_ts_offset, -copyts): data reaching it is whole. */
        int reaches_from_zero = r->data_end_us + AV_TIME_BASE / 20 >= declared;
        declared = end - start;
        int64_t missing = end - r->data_end_us;
        if (missing > AV_TIME_BASE / 2 && missing > declared / 20 && !reaches_from_zero) {
            snprintf(msg, sizeof(msg),
                     "the input ended early, at %.2f s of the %.2f s it declares: it is "
                     "truncated; the outputs hold the %lld frame%s that were there",
                     at, declared / (double)AV_TIME_BASE, (long long)r->frames_out,
                     r->frames_out == 1 ? "" : "s");
            warn_user(r, msg);
        }
    }
}

/* At the end of the input: whether it was cut (report_cut, when read to its end: not for a
 * folder, --duration or a segment), and how many damaged frames or images were skipped. */
static void report_end(rvmi_reader *r)
{
    if (r->end_reported || !r->opt.notice || (r->opt.interrupt && atomic_load(r->opt.interrupt)))
        return;
    r->end_reported = 1;
    if (!r->dir && r->v_end == INT64_MAX)
        report_cut(r);
    if (r->decode_errors) {
        char msg[80];
        if (r->dir)
            snprintf(msg, sizeof(msg), "%d damaged %s skipped", r->decode_errors,
                     r->decode_errors == 1 ? "image was" : "images were");
        else
            snprintf(msg, sizeof(msg), "%d damaged video %s skipped", r->decode_errors,
                     r->decode_errors == 1 ? "frame or packet was" : "frames or packets were");
        warn_user(r, msg);
    }
}

/* Builds the deinterlacer for frames like f: bwdif (w3fdif's filter with yadif's edge
 * handling) in send_frame mode, one frame out per frame in (the timing stays the input's),
 * the field order from each frame, and only frames flagged interlaced are touched. */
static int deint_open(rvmi_reader *r, const AVFrame *f)
{
    char args[256];
    AVRational tb = r->fmt->streams[r->vidx]->time_base;
    AVRational sar = f->sample_aspect_ratio.num > 0 ? f->sample_aspect_ratio : (AVRational){1, 1};
    snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d",
             f->width, f->height, f->format, tb.num, tb.den, sar.num, sar.den);
    AVFilterContext *bw = NULL;
    pthread_once(&avf_once, avf_load);
    if (!avf.loaded)
        return -1;
    if (!(r->deint = avf.graph_alloc()) ||
        avf.graph_create_filter(&r->deint_src, avf.get_by_name("buffer"), "in", args, NULL,
                                r->deint) < 0 ||
        avf.graph_create_filter(&bw, avf.get_by_name("bwdif"), "deinterlace",
                                "mode=send_frame:parity=auto:deint=interlaced", NULL,
                                r->deint) < 0 ||
        avf.graph_create_filter(&r->deint_sink, avf.get_by_name("buffersink"), "out", NULL,
                                NULL, r->deint) < 0 ||
        avf.link(r->deint_src, 0, bw, 0) < 0 || avf.link(bw, 0, r->deint_sink, 0) < 0 ||
        avf.graph_config(r->deint, NULL) < 0) {
        avf.graph_free(&r->deint);
        return -1;
    }
    r->deint_w = f->width;
    r->deint_h = f->height;
    r->deint_fmt = f->format;
    if (!r->deint_noticed++ && r->opt.notice)
        r->opt.notice(r->opt.notice_user,
                      "the input is interlaced: it is deinterlaced with bwdif (one frame per "
                      "frame, the input's frame rate); the outputs are progressive");
    return 0;
}

/* avcodec_receive_frame, with interlaced frames deinterlaced: 0 (a frame in r->frame),
 * AVERROR(EAGAIN) (more input needed), AVERROR_EOF, or another error. */
static int next_frame(rvmi_reader *r)
{
    for (;;) {
        int ret;
        if (r->deint) {
            ret = avf.buffersink_get_frame(r->deint_sink, r->frame);
            if (ret == 0)
                return 0;
            if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
                return ret;
            /* Drained (the end, or a size change): a flushed graph has nothing more. */
            if (ret == AVERROR_EOF || r->flushing)
                avf.graph_free(&r->deint);
        }
        if (r->stash->buf[0]) {
            av_frame_move_ref(r->frame, r->stash);
        } else {
            if (r->dec_eof)
                return AVERROR_EOF;
            ret = avcodec_receive_frame(r->dec, r->frame);
            if (ret == AVERROR_EOF || (ret == AVERROR(EAGAIN) && r->input_eof)) {
                r->dec_eof = 1;
                if (!r->deint)
                    return AVERROR_EOF;
                r->flushing = 1;
                if ((ret = avf.buffersrc_add_frame(r->deint_src, NULL)) < 0)
                    return ret;
                continue;
            }
            if (damaged_packet(ret))
                return AVERROR_INVALIDDATA; /* whatever the decoder's code for it */
            if (ret < 0)
                return ret;
        }
        if (!r->deint && !r->frame->interlaced_frame)
            return 0;
        if (r->deint && (r->frame->width != r->deint_w || r->frame->height != r->deint_h ||
                         r->frame->format != r->deint_fmt)) {
            /* Another size: the frames in the graph come out first. */
            av_frame_move_ref(r->stash, r->frame);
            r->flushing = 1;
            if ((ret = avf.buffersrc_add_frame(r->deint_src, NULL)) < 0)
                return ret;
            continue;
        }
        if (!r->deint) {
            r->flushing = 0;
            if (deint_open(r, r->frame) < 0) {
                av_frame_unref(r->frame);
                return avf.loaded ? AVERROR(ENOMEM) : AVERROR(ENOSYS);
            }
        }
        ret = avf.buffersrc_add_frame(r->deint_src, r->frame);
        av_frame_unref(r->frame);
        if (ret < 0)
            return ret;
    }
}

int rvmi_reader_read(rvmi_reader *r, rvmi_read_item *item, char *err, size_t errlen)
{
    return rvmi_reader_read_into(r, item, NULL, err, errlen);
}

int rvmi_reader_read_into(rvmi_reader *r, rvmi_read_item *item, uint8_t *dst, char *err,
                         size_t errlen)
{
    return rvmi_reader_read_frame(r, item, dst, NULL, err, errlen);
}

int rvmi_reader_read_frame(rvmi_reader *r, rvmi_read_item *item, uint8_t *dst, AVFrame *yuv,
                           char *err, size_t errlen)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    memset(item, 0, sizeof(*item));
    if (r->dir)
        return read_folder(r, item, dst, err, errlen);
    for (;;) {
        if (r->opt.interrupt && atomic_load(r->opt.interrupt))
            return RVM_ITEM_END;
        if (!r->video_done) {
            int ret = next_frame(r);
            if (ret == 0) {
                ret = take_frame(r, item, dst, yuv, err, errlen);
                av_frame_unref(r->frame);
                if (ret < 0)
                    return -1;
                if (ret > 0)
                    return RVM_ITEM_VIDEO;
                continue;
            }
            if (ret == AVERROR_EOF) {
                r->video_done = 1;
            } else if (ret == AVERROR_INVALIDDATA) {
                /* A damaged frame: skip it as players do (which one is not said: taken as
                 * the last packet sent). */
                count_damaged(r, r->sent_pts);
                continue;
            } else if (ret == AVERROR(EAGAIN) && r->input_eof) {
                r->video_done = 1; /* a drained decoder that does not say EOF */
            } else if (ret == AVERROR(ENOSYS)) {
                set_err(err, errlen,
                        "the input is interlaced: deinterlacing needs FFmpeg's libavfilter.so.%d, "
                        "which cannot be loaded",
                        LIBAVFILTER_VERSION_MAJOR);
                return -1;
            } else if (ret != AVERROR(EAGAIN)) {
                set_err(err, errlen, "decoding the video: %s", averr(ret, eb));
                return -1;
            }
        }
        if (r->video_done && r->audio_done)
            break;
        if (r->input_eof) {
            if (r->video_done)
                break;
            continue; /* the decoder is being drained */
        }
        int ret = av_read_frame(r->fmt, r->pkt);
        if (ret < 0) {
            if (ret == AVERROR_EXIT)
                return RVM_ITEM_END; /* interrupted */
            if (ret != AVERROR_EOF && r->frames_out == 0) {
                if (r->pipe && strstr(r->fmt->iformat->name, "mp4"))
                    set_err(err, errlen, "%s", MOOV_AT_END);
                else
                    set_err(err, errlen, "reading the input: %s", averr(ret, eb));
                return -1;
            }
            /* EOF, or a truncated file after some frames: keep what was decoded (and say
             * so, report_end). */
            if (ret != AVERROR_EOF)
                r->read_error = ret;
            r->input_eof = 1;
            r->audio_done = 1;
            if (!r->video_done)
                avcodec_send_packet(r->dec, NULL);
            continue;
        }
        AVPacket *p = r->pkt;
        int track = p->stream_index >= 0 && (unsigned)p->stream_index < r->ntrack_of
                        ? r->track_of[p->stream_index]
                        : -1;
        if (r->discont && track >= 0 && r->tracks[track].type == AVMEDIA_TYPE_SUBTITLE) {
            /* Cues are sparse (a minute apart is no jump): they follow the video's clock. */
            int64_t off = av_rescale_q(r->v_discont_us, AV_TIME_BASE_Q,
                                       r->tracks[track].time_base);
            if (p->pts != AV_NOPTS_VALUE)
                p->pts += off;
            if (p->dts != AV_NOPTS_VALUE)
                p->dts += off;
        } else if (r->discont && (p->stream_index == r->vidx || track >= 0)) {
            close_gaps(r, p, p->stream_index == r->vidx, track >= 0 ? &r->carried[track] : NULL);
        }
        if (p->pts != AV_NOPTS_VALUE) {
            int64_t end = av_rescale_q(p->pts + (p->duration > 0 ? p->duration : 0),
                                       r->fmt->streams[p->stream_index]->time_base,
                                       AV_TIME_BASE_Q);
            if (r->data_end_us == AV_NOPTS_VALUE || end > r->data_end_us)
                r->data_end_us = end;
        }
        if (p->stream_index == r->vidx && !r->video_done) {
            r->sent_pts = p->pts;
            ret = avcodec_send_packet(r->dec, p);
            av_packet_unref(p);
            if (damaged_packet(ret)) {
                count_damaged(r, r->sent_pts);
                continue;
            }
            if (ret < 0 && ret != AVERROR(EAGAIN)) {
                set_err(err, errlen, "decoding the video: %s", averr(ret, eb));
                return -1;
            }
            continue;
        }
        if (track >= 0 && !r->carried[track].done && carry_packet(r, track, p)) {
            AVPacket *out = av_packet_alloc();
            if (!out) {
                av_packet_unref(p);
                set_err(err, errlen, "out of memory");
                return -1;
            }
            av_packet_move_ref(out, p);
            item->packet = out;
            item->track = track;
            return RVM_ITEM_PACKET;
        }
        av_packet_unref(p);
    }
    if (r->frames_out == 0 && !r->opt.segment && r->after_end != AV_NOPTS_VALUE) {
        /* Frames before and after: a --duration shorter than a frame, between two frames
         * (said past the last frame, which was not so). */
        set_err(err, errlen, "--start %g --duration %g holds no frame (the next one is at %.3f s)",
                r->opt.start, r->opt.duration, (r->after_end - r->v_origin) * av_q2d(r->tb));
        usage_error(r);
        return -1;
    }
    if (r->frames_out == 0 && r->opt.start > 0 && r->before_start != AV_NOPTS_VALUE) {
        /* The container declares more than its frames hold (the end of its last frame, an
         * audio track longer than the video): still the option's mistake, not the input's. */
        if (rvmi_reader_is_still_image(r))
            set_err(err, errlen, "--start %g is past the image: a single image is one frame, "
                                 "at 0 s", r->opt.start);
        else
            set_err(err, errlen, "--start %g is past the input's last frame (at %.3f s)",
                    r->opt.start, (r->before_start - r->v_origin) * av_q2d(r->tb));
        usage_error(r);
        return -1;
    }
    if (r->frames_out == 0) {
        set_err(err, errlen, r->opt.start > 0 ? "no video frames after --start"
                                              : "no video frames could be decoded");
        return -1;
    }
    report_end(r);
    return RVM_ITEM_END;
}

void rvmi_reader_storage(const rvmi_reader *r, int *width, int *height, AVRational *sar)
{
    *width = r->store_w;
    *height = r->store_h;
    *sar = r->store_sar;
}
int rvmi_reader_width(const rvmi_reader *r) { return r->out_w; }
int rvmi_reader_height(const rvmi_reader *r) { return r->out_h; }
AVRational rvmi_reader_time_base(const rvmi_reader *r) { return r->tb; }
int rvmi_reader_damaged(const rvmi_reader *r) { return r->decode_errors; }
int64_t rvmi_reader_first_written(const rvmi_reader *r) { return r->first_written; }
AVRational rvmi_reader_frame_rate(const rvmi_reader *r) { return r->fps; }

int rvmi_reader_see_through(const rvmi_reader *r) { return r->see_through; }

enum AVColorSpace rvmi_untagged_colorspace(int width, int height)
{
    return width >= 1280 || height > 576 ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
}

const AVBufferRef *rvmi_reader_icc(const rvmi_reader *r) { return r->icc; }

int rvmi_reader_primaries(const rvmi_reader *r)
{
    /* SD primaries (BT.601's 625 and 525 lines, BT.470 M) are not converted: they are close
     * to BT.709's (a few percent of saturation) and converting would take SD input off the
     * fast 4:2:0 path; the outputs say which they are. BT.2020 is converted (convert_sws). */
    int p = r->in_primaries;
    return p == AVCOL_PRI_BT470BG || p == AVCOL_PRI_SMPTE170M || p == AVCOL_PRI_SMPTE240M ||
                   p == AVCOL_PRI_BT470M
               ? p
               : AVCOL_PRI_BT709;
}
int64_t rvmi_reader_frame_estimate(const rvmi_reader *r) { return r->estimate; }
int rvmi_reader_is_folder(const rvmi_reader *r) { return r->dir != NULL; }

const AVDictionary *rvmi_reader_metadata(const rvmi_reader *r)
{
    return r->fmt && !rvmi_reader_is_folder(r) ? r->fmt->metadata : NULL;
}

int rvmi_reader_is_still_image(const rvmi_reader *r)
{
    if (!r->fmt || rvmi_reader_is_folder(r) || !r->fmt->iformat)
        return 0;
    const char *name = r->fmt->iformat->name;
    size_t n = strlen(name);
    return strcmp(name, "image2") == 0 || strcmp(name, "image2pipe") == 0 ||
           (n > 5 && strcmp(name + n - 5, "_pipe") == 0);
}

const AVFormatContext *rvmi_reader_container(const rvmi_reader *r)
{
    return r->fmt && !rvmi_reader_is_folder(r) ? r->fmt : NULL;
}

void rvmi_reader_chapters(const rvmi_reader *r, AVChapter *const **chapters, unsigned *n,
                          int64_t *shift, int64_t *length)
{
    int folder = rvmi_reader_is_folder(r) || !r->fmt;
    *chapters = folder ? NULL : r->fmt->chapters;
    *n = folder ? 0 : r->fmt->nb_chapters;
    *shift = av_rescale_q(r->v_shift, r->tb, AV_TIME_BASE_Q);
    *length = r->v_end == INT64_MAX ? INT64_MAX
                                    : av_rescale_q(r->v_end - r->v_shift, r->tb, AV_TIME_BASE_Q);
}

int rvmi_reader_timecode(const rvmi_reader *r, char *out)
{
    if (rvmi_reader_is_folder(r) || !r->fmt || r->vidx < 0)
        return -1;
    const AVDictionaryEntry *e = av_dict_get(r->fmt->streams[r->vidx]->metadata, "timecode", NULL, 0);
    if (!e)
        e = av_dict_get(r->fmt->metadata, "timecode", NULL, 0);
    if (!e)
        return -1;
    AVTimecode tc;
    if (av_timecode_init_from_string(&tc, r->fps, e->value, NULL) < 0) {
        if (r->opt.start > 0)
            return -1;
        av_strlcpy(out, e->value, AV_TIMECODE_STR_SIZE);
        return 0;
    }
    /* Frame k of the input is kept when k / fps >= --start (take_frame). */
    double skip = r->opt.start > 0 ? ceil(r->opt.start * av_q2d(r->fps) - 1e-6) : 0;
    av_timecode_make_string(&tc, out, skip < INT_MAX ? (int)skip : INT_MAX);
    return 0;
}

const rvmi_track *rvmi_reader_tracks(const rvmi_reader *r, int *count)
{
    *count = r->ntracks;
    return r->tracks;
}

