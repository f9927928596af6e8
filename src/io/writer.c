/* Video outputs: encoder + muxer (libavcodec/libavformat), RGB -> YUV with libswscale (8-bit
 * 4:2:0 with the frame loops' kernels), the input's audio and subtitle tracks copied or
 * converted.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/writer.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/imgutils.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "io/audio.h"
#include "io/avlog.h"
#include "io/reader.h"
#include "kernels/kernels.h"
#include "io/subtitle.h"

static const struct {
    rvmi_codec codec;
    const char *name;
    const char *encoder;
    int alpha;
} codecs[] = {
    {RVM_CODEC_H264, "h264", "libx264", 0},
    {RVM_CODEC_HEVC, "hevc", "libx265", 0},
    {RVM_CODEC_PRORES, "prores", "prores_ks", 1},
    {RVM_CODEC_VP9, "vp9", "libvpx-vp9", 1},
    {RVM_CODEC_FFV1, "ffv1", "ffv1", 1},
    {RVM_CODEC_RAWVIDEO, "rawvideo", "rawvideo", 1},
};
#define NCODECS (int)(sizeof(codecs) / sizeof(codecs[0]))

const char *const rvmi_presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                   "medium",    "slow",      "slower",   "veryslow", "placebo",
                                   NULL};

int rvmi_codec_from_name(const char *name, rvmi_codec *out)
{
    for (int i = 0; i < NCODECS; i++)
        if (strcmp(name, codecs[i].name) == 0) {
            *out = codecs[i].codec;
            return 0;
        }
    /* Common spellings people type. */
    if (strcmp(name, "h265") == 0 || strcmp(name, "x265") == 0) {
        *out = RVM_CODEC_HEVC;
        return 0;
    }
    if (strcmp(name, "x264") == 0 || strcmp(name, "avc") == 0) {
        *out = RVM_CODEC_H264;
        return 0;
    }
    return -1;
}

const char *rvmi_codec_name(rvmi_codec codec)
{
    for (int i = 0; i < NCODECS; i++)
        if (codecs[i].codec == codec)
            return codecs[i].name;
    return "auto";
}

int rvmi_codec_has_alpha(rvmi_codec codec)
{
    for (int i = 0; i < NCODECS; i++)
        if (codecs[i].codec == codec)
            return codecs[i].alpha;
    return 0;
}

static const char *encoder_name(rvmi_codec codec)
{
    for (int i = 0; i < NCODECS; i++)
        if (codecs[i].codec == codec)
            return codecs[i].encoder;
    return NULL;
}

/* YUV4MPEG (.y4m): the pipe format of other encoders (x264 --demuxer y4m, ffmpeg, GStreamer's
 * y4mdec). FFmpeg 5.1's muxer takes only wrapped_avframe (frames handed over as they are,
 * which it writes as raw planes), not rawvideo: uncompressed frames go there so. */
static int is_y4m(const AVOutputFormat *of)
{
    return of && strcmp(of->name, "yuv4mpegpipe") == 0;
}

/* The container's extension for a message ("a .psp file cannot hold ..."): the output's own
 * when the muxer takes it (the psp muxer's are "mp4,psp": its first named a .psp "a .mp4
 * file"), else the muxer's name when it is one of its extensions, else its first. */
static const char *container_ext(const AVOutputFormat *of, const char *path, char *buf,
                                 size_t len)
{
    const char *exts = of->extensions ? of->extensions : of->name;
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strchr(dot, '/') && of->extensions && av_match_ext(path, of->extensions))
        snprintf(buf, len, "%s", dot + 1);
    else if (of->extensions && av_match_name(of->name, of->extensions))
        snprintf(buf, len, "%s", of->name);
    else
        snprintf(buf, len, "%.*s", (int)strcspn(exts, ","), exts);
    return buf;
}

static const char *encoder_for(rvmi_codec codec, const AVOutputFormat *of)
{
    return codec == RVM_CODEC_RAWVIDEO && is_y4m(of) ? "wrapped_avframe" : encoder_name(codec);
}

int rvmi_video_writer_check(const char *path, const char *format, rvmi_codec *codec, int alpha,
                           char *err, size_t errlen)
{
    const AVOutputFormat *of = av_guess_format(format, format ? NULL : path, NULL);
    if (!of || (of->flags & AVFMT_NOFILE) || strcmp(of->name, "image2") == 0) {
        snprintf(err, errlen,
                 "%s: cannot tell the video container from the name (use .mp4, .mov, .mkv or "
                 ".webm for a video, .png or .jpg for a single image, or --output-type "
                 "png_sequence)",
                 path);
        return -1;
    }
    /* FFmpeg's GIF muxer takes GIF pictures only, which no --codec makes: "a .gif file cannot
     * hold h264 video (try .mp4 or .mkv)" read as if another codec would do. */
    if (strcmp(of->name, "gif") == 0) {
        snprintf(err, errlen,
                 "%s: GIF output is not supported (256 colours, no soft edges): write a video "
                 "(.mp4, .mkv, .webm) or --output-type png_sequence, and make the GIF from that "
                 "(ffmpeg, gifski)",
                 path);
        return -1;
    }
    /* Nor does any --codec make APNG (the apng muxer takes APNG pictures only): "a .apng file
     * cannot hold h264 video (try .mp4 or .mkv)" too read as if another codec would do. A PNG
     * sequence holds the same pictures, alpha included, and ffmpeg joins them into one. */
    if (strcmp(of->name, "apng") == 0) {
        snprintf(err, errlen,
                 "%s: APNG output is not supported: write --output-type png_sequence (PNGs, "
                 "with alpha) and make the APNG from that (ffmpeg -framerate FPS -i "
                 "FOLDER/%%04d.png -plays 0 %s)",
                 path, av_match_ext(path, "apng") ? path : "out.apng");
        return -1;
    }
    if (*codec == RVM_CODEC_AUTO) {
        if (strcmp(of->name, "webm") == 0)
            *codec = RVM_CODEC_VP9;
        else if (strcmp(of->name, "nut") == 0 || strcmp(of->name, "rawvideo") == 0 ||
                 is_y4m(of))
            /* what pipes between programs carry: frames as they are, without delay */
            *codec = RVM_CODEC_RAWVIDEO;
        else if (alpha && strcmp(of->name, "mov") == 0)
            *codec = RVM_CODEC_PRORES;
        else if (alpha && strcmp(of->name, "matroska") == 0)
            *codec = RVM_CODEC_FFV1;
        else
            *codec = RVM_CODEC_H264;
    }
    if (alpha && !rvmi_codec_has_alpha(*codec)) {
        snprintf(err, errlen,
                 "%s: a transparent composition needs a codec with alpha (--codec prores in "
                 ".mov, vp9 in .webm, ffv1 in .mkv) or --output-type png_sequence",
                 path);
        return -1;
    }
    /* VP9's alpha is a second picture that only Matroska carries (BlockAdditional): MP4,
     * AVI and NUT took the colour picture alone, and the transparency was lost without a
     * word. */
    if (alpha && *codec == RVM_CODEC_VP9 && strcmp(of->name, "webm") != 0 &&
        strcmp(of->name, "matroska") != 0) {
        char ext[32];
        snprintf(err, errlen,
                 "%s: a .%s file cannot hold VP9's transparency (use .webm or .mkv, or "
                 "--codec prores in .mov)",
                 path, container_ext(of, path, ext, sizeof ext));
        return -1;
    }
    if (is_y4m(of)) {
        if (*codec != RVM_CODEC_RAWVIDEO) {
            snprintf(err, errlen,
                     "%s: a .y4m file holds uncompressed frames only, not %s video (--codec "
                     "rawvideo, its default)",
                     path, rvmi_codec_name(*codec));
            return -1;
        }
        return 0; /* its pixel formats: rvmi_video_writer_check_frames */
    }
    const AVCodec *enc = avcodec_find_encoder_by_name(encoder_name(*codec));
    if (!enc) {
        snprintf(err, errlen, "this FFmpeg has no %s encoder", encoder_name(*codec));
        return -1;
    }
    /* A muxer that cannot tell (MPEG-TS answers neither yes nor no) is trusted with the
     * codecs it is known for: H.264 and HEVC. */
    int holds = avformat_query_codec(of, enc->id, FF_COMPLIANCE_NORMAL);
    if (holds < 0 && strcmp(of->name, "mpegts") == 0)
        holds = *codec == RVM_CODEC_H264 || *codec == RVM_CODEC_HEVC;
    /* The mov muxer lists VP9 among its tags but writes it only in MP4 mode: in .mov its
     * header fails ("Invalid argument", which would read as a failed write, exit 75). */
    if (*codec == RVM_CODEC_VP9 && strcmp(of->name, "mov") == 0)
        holds = 0;
    if (holds != 1) {
        char ext[32];
        snprintf(err, errlen, "%s: a .%s file cannot hold %s video (try %s)", path,
                 container_ext(of, path, ext, sizeof ext), rvmi_codec_name(*codec),
                 *codec == RVM_CODEC_PRORES ? ".mov"
                 : *codec == RVM_CODEC_VP9  ? ".webm or .mkv"
                 : *codec == RVM_CODEC_FFV1 ? ".mkv"
                 : *codec == RVM_CODEC_RAWVIDEO ? ".nut or .mkv"
                                            : ".mp4 or .mkv");
        return -1;
    }
    return 0;
}

/* Remembers the duration of frames in flight so packets leaving the encoder (possibly
 * reordered) get it back; the muxer needs it for the last frame's length. */
#define DUR_SLOTS 512

#define MAX_WARNINGS 8

/* One of the input's tracks in this output. */
typedef struct {
    rvmi_video_writer *w;
    const rvmi_track *in;
    AVStream *st;                  /* NULL: left out */
    rvmi_audio_transcoder *atx;    /* audio re-encoded */
    rvmi_subtitle_converter *stx;  /* subtitles converted */
    int dropped;                   /* converting failed: the rest of the track is left out */
} out_track;

struct rvmi_video_writer {
    rvmi_video_writer_config cfg;
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *vst;
    AVFrame *frame;
    AVPacket *pkt;
    int reader_gone;          /* a write failed with EPIPE: the pipe's reader closed it */
    struct SwsContext *sws;   /* NULL when gray_luma or rgb_yuv420 does the conversion */
    int gray_luma;            /* grey -> limited-range luma (the frame loops' gray_to_luma),
                                 for an alpha matte in 8-bit YUV */
    int rgb_yuv420;           /* RGB -> 8-bit 4:2:0 by the frame loops' rgb24_to_yuv420 */
    /* With gray_luma: the matte's chroma, neutral in every frame: one plane that both chroma
     * pointers of every picture share (picture_alloc). */
    AVBufferRef *neutral;
    int neutral_linesize;
    /* Pictures stored at another size than the pixels given (an anamorphic input's): swscale
     * scaling in slices is not bit-identical to scaling the whole frame (the matte differed,
     * 54.6 dB), so the bands are gathered here and converted at once. */
    uint8_t *whole;
    out_track *tracks;
    int ntracks, naudio;      /* naudio: audio tracks kept */
    int header_written;
    char *name;
    int64_t dur_pts[DUR_SLOTS], dur_val[DUR_SLOTS];
    int avi;                  /* timestamps counted in frames (AVI) */
    int64_t last_pts;         /* AVI: the last frame's number */
    int dur_next;
    int64_t size_limit;     /* the process's file size limit (RLIMIT_FSIZE), or 0 */
    int64_t frames_in, video_packets, video_bytes, packets;
    int near_limit;
    int track_write_failed; /* writing a track's packet failed (fatal, like video) */
    char warnings[MAX_WARNINGS][600];
    int nwarnings;
};

static void add_warning(rvmi_video_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_warning(rvmi_video_writer *w, const char *fmt, ...)
{
    if (w->nwarnings >= MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->warnings[w->nwarnings++], sizeof w->warnings[0], fmt, ap);
    va_end(ap);
}

static void averr_msg(char *err, size_t errlen, const char *name, const char *what, int code)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(code, eb, sizeof(eb));
    snprintf(err, errlen, "%s: %s: %s", name, what, eb);
}

/* The failure at hand is the flags' (rvmi_video_writer_config.usage_error): the same settings
 * are refused again on a retry, so it is not a transient failure. */
static void refused_settings(const rvmi_video_writer_config *cfg)
{
    if (cfg->usage_error)
        *cfg->usage_error = 1;
}

/* averr_msg, remembering a closed pipe (EPIPE: the reader went away, which no retry
 * brings back, unlike a full disk). */
static void writer_err(rvmi_video_writer *w, char *err, size_t errlen, const char *what, int code)
{
    if (code == AVERROR(EPIPE)) {
        w->reader_gone = 1;
        if (w->cfg.reader_gone)
            *w->cfg.reader_gone = 1;
    }
    averr_msg(err, errlen, w->name, what, code);
}

int rvmi_video_writer_reader_gone(const rvmi_video_writer *w)
{
    return w && w->reader_gone;
}

/* The deprecated yuvj formats are full range by definition (swscale writes them so; the
 * gray_luma kernel writes limited range). */
static int full_range_yuv(enum AVPixelFormat f)
{
    return f == AV_PIX_FMT_YUVJ420P || f == AV_PIX_FMT_YUVJ422P || f == AV_PIX_FMT_YUVJ444P ||
           f == AV_PIX_FMT_YUVJ440P || f == AV_PIX_FMT_YUVJ411P;
}

/* Pixel format handed to the encoder, for the container of; NULL: any container. */
static enum AVPixelFormat encoder_format(const rvmi_video_writer_config *c,
                                         const AVOutputFormat *of)
{
    switch (c->codec) {
    case RVM_CODEC_PRORES:
        return c->layout == RVM_LAYOUT_RGBA ? AV_PIX_FMT_YUVA444P10LE : AV_PIX_FMT_YUV444P10LE;
    case RVM_CODEC_VP9:
        return c->layout == RVM_LAYOUT_RGBA ? AV_PIX_FMT_YUVA420P : AV_PIX_FMT_YUV420P;
    case RVM_CODEC_RAWVIDEO:
        if (c->raw_pix_fmt && av_get_pix_fmt(c->raw_pix_fmt) != AV_PIX_FMT_NONE)
            return av_get_pix_fmt(c->raw_pix_fmt);
        /* YUV4MPEG has no RGB: 4:2:0 as encoders take it, 4:4:4 with alpha (its "444alpha",
         * FFmpeg's yuva444p) for a transparent composition, the matte as luma alone
         * ("mono"). */
        if (is_y4m(of))
            return c->layout == RVM_LAYOUT_RGBA  ? AV_PIX_FMT_YUVA444P
                   : c->layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_YUV420P
                                                 : AV_PIX_FMT_GRAY8;
        /* Matroska stores uncompressed video only in the formats it has a FourCC for
         * (RGBA, I420, Y800 among ours): packed RGB fails its header ("Raw RGB is not
         * supported Natively"), so RGB goes there as opaque RGBA, still every pixel. */
        if (c->layout == RVM_LAYOUT_RGB && of && strcmp(of->name, "matroska") == 0)
            return AV_PIX_FMT_RGBA;
        /* AVI stores packed 24-bit RGB as a DIB, blue first: rgb24 there read back with red
         * and blue swapped (the green screen 120,255,155 as 155,255,120). */
        if (c->layout == RVM_LAYOUT_RGB && of && strcmp(of->name, "avi") == 0)
            return AV_PIX_FMT_BGR24;
        return c->layout == RVM_LAYOUT_RGBA  ? AV_PIX_FMT_RGBA
               : c->layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_RGB24
                                             : AV_PIX_FMT_GRAY8;
    case RVM_CODEC_FFV1:
        /* Lossless RGB: exactly the pixels computed (FFV1's 8-bit RGB formats). */
        return c->layout == RVM_LAYOUT_RGBA  ? AV_PIX_FMT_BGRA
               : c->layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_BGR0
                                             : AV_PIX_FMT_GRAY8;
    default:
        /* 4:2:0, what browsers, QuickTime and editors play (4:4:4 H.264 is High 4:4:4
         * Predictive, which most cannot); odd sizes are padded (padded_size). */
        return AV_PIX_FMT_YUV420P;
    }
}

/* The trial header's output: bytes counted and dropped, seekable as a file is. */
typedef struct {
    int64_t pos, size;
} discard_io;

static int discard_write(void *opaque, uint8_t *buf, int n)
{
    (void)buf;
    discard_io *d = opaque;
    d->pos += n;
    if (d->pos > d->size)
        d->size = d->pos;
    return n;
}

static int64_t discard_seek(void *opaque, int64_t off, int whence)
{
    discard_io *d = opaque;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return d->size;
    case SEEK_SET:
        d->pos = off;
        break;
    case SEEK_CUR:
        d->pos += off;
        break;
    case SEEK_END:
        d->pos = d->size + off;
        break;
    default:
        return AVERROR(EINVAL);
    }
    return d->pos;
}

/* Whether NAME is one of LIST's comma-and-space separated names. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

/* Pixel formats FFmpeg 5.1's YUV4MPEG muxer writes (past 8 bits and yuva444p with -strict
 * -1, which the writer sets). */
static const enum AVPixelFormat y4m_formats[] = {
    AV_PIX_FMT_GRAY8,       AV_PIX_FMT_YUV420P,     AV_PIX_FMT_YUV422P,
    AV_PIX_FMT_YUV444P,     AV_PIX_FMT_YUV411P,     AV_PIX_FMT_YUVA444P,
    AV_PIX_FMT_GRAY9,       AV_PIX_FMT_GRAY10,      AV_PIX_FMT_GRAY12,
    AV_PIX_FMT_GRAY16,      AV_PIX_FMT_YUV420P9,    AV_PIX_FMT_YUV422P9,
    AV_PIX_FMT_YUV444P9,    AV_PIX_FMT_YUV420P10,   AV_PIX_FMT_YUV422P10,
    AV_PIX_FMT_YUV444P10,   AV_PIX_FMT_YUV420P12,   AV_PIX_FMT_YUV422P12,
    AV_PIX_FMT_YUV444P12,   AV_PIX_FMT_YUV420P14,   AV_PIX_FMT_YUV422P14,
    AV_PIX_FMT_YUV444P14,   AV_PIX_FMT_YUV420P16,   AV_PIX_FMT_YUV422P16,
    AV_PIX_FMT_YUV444P16,
};

/* Uncompressed pixel formats per container, found with FFmpeg 5.1.9's own muxers (ffmpeg
 * -pix_fmt P -c:v rawvideo t.EXT for every format swscale outputs, the pix_fmt read back
 * with ffprobe, then the bytes). MOV and AVI write most other formats without complaint,
 * under a tag that reads back as something else or nothing (mov:yuv420p "Invalid pixel
 * format", mov:gray16le as rgb555be, avi:yuv444p10le unreadable): gray in MOV reads back as
 * pal8 with a gray palette, the same values (MOV's 8-bit gray); avi:rgb444le was dropped
 * (its frames read back short). Matroska stores only the formats it has a FourCC for and
 * refuses the rest with a line about RGB, cut short ("Raw RGB is not supported Natively in
 * Matroska, you can use AVI or NUT or"), YUV and grey ones too (its yuvj420p and yuvj422p
 * are left to its header check: they read back as yuv420p/yuv422p with the range tagged).
 * NUT reads back every one but those in nut_not_self. tests/cli/alpha.sh writes every
 * listed one with rvm and checks, so a new FFmpeg that differs fails. */
static const char *const mov_raw = "gray, rgb24, bgr24, argb, rgba, abgr, bgra, rgb48be, "
                                   "rgb565be, rgb565le, rgb555be, rgb555le, gray16be, "
                                   "yuyv422, uyvy422";
static const char *const avi_raw = "gray, bgr24, rgba, bgra, rgb555le, yuv420p, yuv422p, "
                                   "yuv410p, yuv411p, nv12, nv21, yuyv422, uyvy422, yvyu422";
static const char *const mkv_raw = "gray, rgba, yuv420p, yuv422p, yuv410p, yuv411p, nv12, "
                                   "nv21, yuyv422, uyvy422, yvyu422, yuvj420p, yuvj422p";
static const char *const nut_not_self =
    "yuvj420p, yuvj422p, yuvj444p, yuvj440p, yuvj411p, ya16be, ya16le, yuv440p10le, "
    "yuv440p10be, yuv440p12le, yuv440p12be, ayuv64le, p010le, p010be, p016le, p016be, "
    "gbrpf32be, gbrpf32le, gbrapf32be, gbrapf32le, grayf32be, grayf32le, nv24, nv42, "
    "x2rgb10le, x2bgr10le, p210be, p210le, p410be, p410le, p216be, p216le, p416be, p416le";

/* A container other than muxer's that holds pix uncompressed and reads it back as it is:
 * its extension and muxer, or NULLs. */
static void raw_home(const char *muxer, const char *pix, const char **ext, const char **mux)
{
    static const struct {
        const char *ext, *mux;
    } homes[] = {{"nut", "nut"}, {"mkv", "matroska"}, {"avi", "avi"}, {"mov", "mov"}};
    /* YUV: Matroska first, which says its colour matrix (NUT and AVI cannot: FFmpeg reads
     * theirs as BT.601). */
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(av_get_pix_fmt(pix));
    int yuv = d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3;
    static const int order[2][4] = {{0, 1, 2, 3}, {1, 0, 2, 3}};
    for (size_t k = 0; k < sizeof homes / sizeof homes[0]; k++) {
        size_t i = (size_t)order[yuv][k];
        const char *m = homes[i].mux;
        int holds = strcmp(m, "nut") == 0        ? !in_list(nut_not_self, pix)
                    : strcmp(m, "matroska") == 0 ? in_list(mkv_raw, pix)
                    : strcmp(m, "avi") == 0      ? in_list(avi_raw, pix)
                                                 : in_list(mov_raw, pix);
        if (holds && strcmp(m, muxer) != 0) {
            *ext = homes[i].ext;
            *mux = m;
            return;
        }
    }
    *ext = *mux = NULL;
}

int rvmi_video_writer_check_frames(const char *path, const char *format, rvmi_codec codec,
                                   rvmi_layout layout, const char *raw_pix_fmt, char *err,
                                   size_t errlen)
{
    const AVOutputFormat *of = av_guess_format(format, format ? NULL : path, NULL);
    if (codec != RVM_CODEC_RAWVIDEO || !of)
        return 0;
    rvmi_video_writer_config c = {0};
    c.codec = codec;
    c.layout = layout;
    c.raw_pix_fmt = raw_pix_fmt;
    enum AVPixelFormat fmt = encoder_format(&c, of);
    char ext[32];
    container_ext(of, path, ext, sizeof ext);
    if (is_y4m(of)) {
        for (size_t i = 0; i < sizeof y4m_formats / sizeof y4m_formats[0]; i++)
            if (y4m_formats[i] == fmt)
                return 0;
        snprintf(err, errlen,
                 "%s: a .y4m file holds gray, yuv420p, yuv422p, yuv444p, yuv411p, yuva444p and "
                 "their 9- to 16-bit forms (e.g. yuv420p10le, gray16le), not %s",
                 path, av_get_pix_fmt_name(fmt));
        return -1;
    }
    if (fmt == AV_PIX_FMT_RGB24 && strcmp(of->name, "avi") == 0) {
        snprintf(err, errlen,
                 "%s: a .avi file stores packed 24-bit RGB blue first (a DIB): rgb24 frames "
                 "would read back with red and blue swapped; use -f avi:bgr24 (or no pixel "
                 "format: bgr24 is the default there)",
                 path);
        return -1;
    }
    const char *pix = av_get_pix_fmt_name(fmt);
    const char *home_ext, *home_mux;
    raw_home(of->name, pix, &home_ext, &home_mux);
    char instead[160];
    if (home_ext)
        snprintf(instead, sizeof instead, "use .%s (-f %s:%s), which holds %s as it is", home_ext,
                 home_mux, pix, pix);
    else
        snprintf(instead, sizeof instead, "no container rvm writes reads %s back as it is: "
                 "choose another -f %s:PIX_FMT", pix, of->name);
    const char *raw_ok = strcmp(of->name, "mov") == 0        ? mov_raw
                         : strcmp(of->name, "avi") == 0      ? avi_raw
                         : strcmp(of->name, "matroska") == 0 ? mkv_raw
                                                             : NULL;
    /* NUT writes these without complaint, under a tag FFmpeg reads back as another format:
     * the yuvj ones as yuv (limited range: the levels stretched), the rest as rgb555le. */
    if (strcmp(of->name, "nut") == 0 && in_list(nut_not_self, pix)) {
        snprintf(err, errlen,
                 "%s: a .%s file holds %s frames under a tag FFmpeg reads back as another "
                 "pixel format (%s): %s",
                 path, ext, pix, strncmp(pix, "yuvj", 4) == 0 ? "the yuv one, limited range" : "rgb555le", instead);
        return -1;
    }
    if (raw_ok && !in_list(raw_ok, pix)) {
        snprintf(err, errlen,
                 "%s: a .%s file holds uncompressed frames (read back as themselves) only "
                 "in %s; not %s: %s",
                 path, ext, raw_ok, pix, instead);
        return -1;
    }
    /* Some muxers refuse uncompressed frames only when the header is written, and some say
     * nothing why (ASF and packed RGB, which has no FourCC there): the header is written once
     * here, into nothing, with what the real one gets, so that the refusal is a usage error
     * found before anything runs. */
    const AVCodec *enc = avcodec_find_encoder_by_name(encoder_for(codec, of));
    AVFormatContext *oc = NULL;
    AVCodecContext *e = enc ? avcodec_alloc_context3(enc) : NULL;
    discard_io io = {0, 0};
    uint8_t *buf = av_malloc(4096);
    AVIOContext *pb = buf ? avio_alloc_context(buf, 4096, 1, &io, NULL, discard_write,
                                               discard_seek)
                          : NULL;
    int ret = AVERROR(ENOMEM);
    char why[512] = "";
    if (!e || !pb || avformat_alloc_output_context2(&oc, of, NULL, NULL) < 0)
        goto done;
    e->width = e->height = 64;
    e->pix_fmt = fmt;
    e->time_base = (AVRational){1, 25};
    e->framerate = (AVRational){25, 1};
    if (of->flags & AVFMT_GLOBALHEADER)
        e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVStream *st;
    if (avcodec_open2(e, enc, NULL) < 0 || !(st = avformat_new_stream(oc, NULL)) ||
        avcodec_parameters_from_context(st->codecpar, e) < 0)
        goto done; /* the writer says why, when it opens */
    st->time_base = e->time_base;
    oc->pb = pb;
    oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    rvmi_avlog_take_error(why, 1); /* forget older messages */
    ret = avformat_write_header(oc, NULL);
    if (ret < 0)
        rvmi_avlog_take_error(why, sizeof why);
done:
    avformat_free_context(oc);
    avcodec_free_context(&e);
    if (pb)
        av_freep(&pb->buffer);
    else
        av_free(buf);
    avio_context_free(&pb);
    if (ret >= 0 || ret == AVERROR(ENOMEM))
        return 0;
    const char *reason = why;
    size_t n = strlen(of->name);
    if (strncmp(reason, of->name, n) == 0 && strncmp(reason + n, ": ", 2) == 0)
        reason += n + 2;
    snprintf(err, errlen,
             "%s: a .%s file cannot hold uncompressed %s frames (FFmpeg's %s muxer refuses "
             "them%s%s): %s",
             path, ext, pix, of->name, reason[0] ? ": " : "", reason, instead);
    return -1;
}

/* H.264 and HEVC in 4:2:0 need even sizes: an odd width or height is padded by one
 * column or row repeating the last one (so every input pixel stays where it was, and a
 * matte still lines up with its source from the top-left corner). */
static int padded_size(const rvmi_video_writer_config *c, int n)
{
    int pad = c->codec == RVM_CODEC_H264 || c->codec == RVM_CODEC_HEVC;
    return pad ? n + (n & 1) : n;
}

static int write_packet(rvmi_video_writer *w, AVPacket *pkt, AVStream *st, AVRational from,
                        char *err, size_t errlen)
{
    av_packet_rescale_ts(pkt, from, st->time_base);
    pkt->stream_index = st->index;
    if (st == w->vst) {
        w->video_packets++;
        w->video_bytes += pkt->size;
    }
    w->packets++;
    int ret = av_interleaved_write_frame(w->oc, pkt);
    if (ret < 0) {
        writer_err(w, err, errlen, "writing", ret);
        return -1;
    }
    if (w->size_limit > 0) {
        /* Room kept for what finishing writes: the frames still inside the encoder (at
         * twice the average packet), the index (under 40 bytes a packet) and trailer. */
        int64_t avg = w->video_packets ? w->video_bytes / w->video_packets : 0;
        int64_t held = w->frames_in - w->video_packets;
        int64_t reserve = 64 * 1024 + 2 * avg * (held + 4) + 40 * w->packets;
        if (avio_tell(w->oc->pb) + reserve > w->size_limit)
            w->near_limit = 1;
    }
    return 0;
}

static int emit_track(void *opaque, AVPacket *pkt, char *err, size_t errlen)
{
    out_track *t = opaque;
    AVRational tb = t->atx ? rvmi_audio_transcoder_encoder(t->atx)->time_base : t->in->time_base;
    int ret = write_packet(t->w, pkt, t->st, tb, err, errlen);
    if (ret < 0)
        t->w->track_write_failed = 1;
    return ret;
}

/* "audio track 1 (aac, fra)": names a track in a warning, or "the audio" when it is the
 * output's only audio track. */
static void track_name(const out_track *t, char *out, size_t outlen)
{
    if (t->in->type == AVMEDIA_TYPE_AUDIO && t->w->naudio == 1)
        snprintf(out, outlen, "the audio");
    else
        rvmi_track_describe(t->in, out, outlen);
}

/* A converted track: a failure other than writing (a decoder or encoder error) leaves the
 * rest of the track out with a warning; the video never fails because of its audio or
 * subtitles. pkt NULL: the end. */
static int feed_track(out_track *t, const AVPacket *pkt, char *err, size_t errlen)
{
    rvmi_video_writer *w = t->w;
    if (t->dropped)
        return 0;
    int ret = t->atx ? rvmi_audio_transcoder_feed(t->atx, pkt, emit_track, t, err, errlen)
              : pkt  ? rvmi_subtitle_converter_feed(t->stx, pkt, emit_track, t, err, errlen)
                     : 0;
    if (ret == 0)
        return 0;
    if (w->track_write_failed)
        return -1;
    t->dropped = 1;
    char name[300];
    track_name(t, name, sizeof name);
    add_warning(w, "%s: %s stops early: %s", w->name, name, err);
    return 0;
}

static int drain_video(rvmi_video_writer *w, char *err, size_t errlen)
{
    for (;;) {
        int ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0) {
            writer_err(w, err, errlen, "encoding", ret);
            return -1;
        }
        if (w->pkt->duration <= 0)
            for (int i = 0; i < DUR_SLOTS; i++)
                if (w->dur_val[i] > 0 && w->dur_pts[i] == w->pkt->pts) {
                    w->pkt->duration = w->dur_val[i];
                    break;
                }
        ret = write_packet(w, w->pkt, w->vst, w->enc->time_base, err, errlen);
        av_packet_unref(w->pkt);
        if (ret < 0)
            return -1;
    }
}

/* MP4, QuickTime and their kin (FFmpeg's MOV muxer). */
static int is_mov_family(const AVOutputFormat *of)
{
    static const char *const names[] = {"mov", "mp4", "ipod", "3gp", "3g2", "ismv", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(of->name, names[i]) == 0)
            return 1;
    return 0;
}

/* Whether the audio can be copied as it is. FFmpeg's MOV/MP4 muxer accepts more than
 * players take (Opus in .mov fails at the header, Opus or FLAC in .mp4 plays in few
 * places): there only what QuickTime, browsers and editors play is copied, the rest
 * becomes AAC. */
static int audio_copy_fits(const AVOutputFormat *of, const AVCodecParameters *ap)
{
    enum AVCodecID id = ap->codec_id;
    int holds = avformat_query_codec(of, id, FF_COMPLIANCE_NORMAL);
    /* MPEG-TS answers neither yes nor no (its muxer has no codec table): it is trusted with
     * the audio broadcast and players carry in it (it adds AAC's ADTS headers itself), as
     * ffmpeg -c copy does; else every track was re-encoded, AAC to AAC too. */
    if (holds < 0 && strcmp(of->name, "mpegts") == 0)
        holds = id == AV_CODEC_ID_AAC || id == AV_CODEC_ID_MP2 || id == AV_CODEC_ID_MP3 ||
                id == AV_CODEC_ID_AC3 || id == AV_CODEC_ID_EAC3;
    if (holds != 1)
        return 0;
    /* MP3 below 16 kHz (MPEG-2.5's 8, 11.025 and 12 kHz, as old cameras record) is not in
     * the MP4 standard: FFmpeg's MOV muxer refuses it in every mode but QuickTime's, .f4v
     * and .psp too, and the header failed ("Invalid argument", exit 75). */
    if (id == AV_CODEC_ID_MP3 && ap->sample_rate < 16000 &&
        (is_mov_family(of) || strcmp(of->name, "f4v") == 0 || strcmp(of->name, "psp") == 0))
        return strcmp(of->name, "mov") == 0;
    if (!is_mov_family(of))
        return 1;
    switch (id) {
    case AV_CODEC_ID_MP3:
    case AV_CODEC_ID_AAC:
    case AV_CODEC_ID_ALAC:
    case AV_CODEC_ID_AC3:
    case AV_CODEC_ID_EAC3:
        return 1;
    case AV_CODEC_ID_PCM_S16LE:
    case AV_CODEC_ID_PCM_S16BE:
    case AV_CODEC_ID_PCM_S24LE:
    case AV_CODEC_ID_PCM_S24BE:
    case AV_CODEC_ID_PCM_F32LE:
    case AV_CODEC_ID_PCM_F32BE:
        return strcmp(of->name, "mov") == 0;
    default:
        return 0;
    }
}

/* QuickTime (.mov) stores languages as Macintosh language codes, which FFmpeg knows by
 * ISO 639-2 names, mostly the bibliographic ones (ger, not deu): a terminology code, as
 * Matroska and MP4 files often hold, would become "und". These are the pairs whose other
 * name FFmpeg's .mov table knows (checked against FFmpeg 5.1's muxer). */
static const char *mov_language(const char *lang)
{
    static const char *const pairs[][2] = {
        {"sqi", "alb"}, {"hye", "arm"}, {"eus", "baq"}, {"mya", "bur"}, {"zho", "chi"},
        {"cze", "ces"}, {"nld", "dut"}, {"fre", "fra"}, {"kat", "geo"}, {"deu", "ger"},
        {"ell", "gre"}, {"isl", "ice"}, {"mkd", "mac"}, {"msa", "may"}, {"fas", "per"},
        {"rum", "ron"}, {"slo", "slk"}, {"bod", "tib"}, {"cym", "wel"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (strcmp(lang, pairs[i][0]) == 0)
            return pairs[i][1];
    return lang;
}

/* The track's language, title and flags on its output stream. */
static int copy_track_tags(rvmi_video_writer *w, out_track *t, int converted)
{
    AVStream *st = t->st;
    const AVOutputFormat *of = w->oc->oformat;
    if (av_dict_copy(&st->metadata, t->in->metadata, 0) < 0)
        return -1;
    /* The encoder named is the input's, no longer this stream's. */
    if (converted)
        av_dict_set(&st->metadata, "encoder", NULL, 0);
    st->disposition = t->in->disposition &
                      ~(AV_DISPOSITION_ATTACHED_PIC | AV_DISPOSITION_TIMED_THUMBNAILS);
    if (is_mov_family(of)) {
        /* MP4 and QuickTime name a track by its handler name: FFmpeg's muxer writes no
         * track title. */
        const AVDictionaryEntry *title = av_dict_get(t->in->metadata, "title", NULL, 0);
        if (title && av_dict_set(&st->metadata, "handler_name", title->value, 0) < 0)
            return -1;
        const AVDictionaryEntry *lang = av_dict_get(st->metadata, "language", NULL, 0);
        if (lang && strcmp(of->name, "mov") == 0 &&
            av_dict_set(&st->metadata, "language", mov_language(lang->value), 0) < 0)
            return -1;
    }
    return 0;
}

/* The input's container tags onto the output: what the recording is (title, artist,
 * comment, date, creation_time, location, ...), not what described the input file (its
 * encoder, MP4 brands, a duration, which the muxers write afresh). */
static int copy_metadata(AVFormatContext *oc, const AVDictionary *in)
{
    /* Nor its timecode (a container tag in an MKV made with ffmpeg -timecode): the video
     * track carries the first frame's, advanced past --start (set_timecode); a copy of the
     * input's here took precedence in MP4/MOV (the muxer's tmcd track reads the container's
     * first) and stood beside it in Matroska. */
    static const char *const skip[] = {"encoder", "major_brand", "minor_version",
                                       "compatible_brands", "duration", "timecode", NULL};
    const AVDictionaryEntry *e = NULL;
    while ((e = av_dict_get(in, "", e, AV_DICT_IGNORE_SUFFIX))) {
        int k = 0;
        while (skip[k] && av_strcasecmp(e->key, skip[k]) != 0)
            k++;
        if (!skip[k] && av_dict_set(&oc->metadata, e->key, e->value, 0) < 0)
            return -1;
    }
    return 0;
}

/* The input's attachments into a Matroska output: each a stream without packets, its data
 * (extradata), file name and MIME type copied. One the muxer could not name a type for is
 * left out (its header would fail). */
static int copy_attachments(rvmi_video_writer *w, char *err, size_t errlen)
{
    const AVFormatContext *in = w->cfg.attachments_from;
    if (!in || strcmp(w->oc->oformat->name, "matroska") != 0)
        return 0;
    for (unsigned i = 0; i < in->nb_streams; i++) {
        const AVStream *a = in->streams[i];
        if (a->codecpar->codec_type != AVMEDIA_TYPE_ATTACHMENT || a->codecpar->extradata_size <= 0 ||
            !av_dict_get(a->metadata, "filename", NULL, 0) ||
            (!av_dict_get(a->metadata, "mimetype", NULL, 0) && a->codecpar->codec_id == AV_CODEC_ID_NONE))
            continue;
        AVStream *st = avformat_new_stream(w->oc, NULL);
        if (!st || avcodec_parameters_copy(st->codecpar, a->codecpar) < 0 ||
            av_dict_copy(&st->metadata, a->metadata, 0) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        st->codecpar->codec_tag = 0;
    }
    return 0;
}

/* The first frame's timecode on the video track, where FFmpeg's muxers take it from. */
static int set_timecode(rvmi_video_writer *w, char *err, size_t errlen)
{
    if (w->cfg.timecode && av_dict_set(&w->vst->metadata, "timecode", w->cfg.timecode, 0) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The input's chapters on the output's timeline (see rvmi_video_writer_config). */
static int copy_chapters(AVFormatContext *oc, const rvmi_video_writer_config *cfg)
{
    for (unsigned i = 0; i < cfg->nchapters; i++) {
        const AVChapter *in = cfg->chapters[i];
        if (in->time_base.num <= 0 || in->time_base.den <= 0)
            continue;
        int64_t shift = av_rescale_q(cfg->chapter_shift, AV_TIME_BASE_Q, in->time_base);
        int64_t start = in->start - shift, end = in->end - shift;
        if (start < 0)
            start = 0;
        if (cfg->chapter_length != INT64_MAX) {
            int64_t len = av_rescale_q(cfg->chapter_length, AV_TIME_BASE_Q, in->time_base);
            if (end > len)
                end = len;
        }
        if (end <= start)
            continue;
        AVChapter *c = av_mallocz(sizeof(*c));
        if (!c || av_dynarray_add_nofree(&oc->chapters, (int *)&oc->nb_chapters, c) < 0) {
            av_free(c);
            return -1;
        }
        c->id = in->id;
        c->time_base = in->time_base;
        c->start = start;
        c->end = end;
        if (av_dict_copy(&c->metadata, in->metadata, 0) < 0)
            return -1;
    }
    return 0;
}

/* Sets up an audio track: copied, or re-encoded. Returns 1 when it is kept, 0 when it is
 * left out (why says why), -1 on a fatal error. */
static int setup_audio(rvmi_video_writer *w, out_track *t, char *why, size_t whylen)
{
    const AVCodecParameters *ap = t->in->par;
    const AVOutputFormat *of = w->oc->oformat;
    /* Bare frames (.yuv, .rgb, -f rawvideo) have no place for audio: FFmpeg's rawvideo
     * muxer writes every packet it is given as it is, so the AAC packets landed between
     * the frames and every frame after the first was read from the wrong offset. */
    if (strcmp(of->name, "rawvideo") == 0) {
        snprintf(why, whylen, "bare video frames (rawvideo) hold no audio");
        return 0;
    }
    if (audio_copy_fits(of, ap)) {
        /* Stream copy: the audio is not touched at all. */
        if (!(t->st = avformat_new_stream(w->oc, NULL)) ||
            avcodec_parameters_copy(t->st->codecpar, ap) < 0)
            return -1;
        /* The input container's tag may mean nothing in this one. */
        t->st->codecpar->codec_tag = 0;
        t->st->time_base = t->in->time_base;
        return copy_track_tags(w, t, 0) < 0 ? -1 : 1;
    }
    enum AVCodecID target = strcmp(of->name, "webm") == 0 ? AV_CODEC_ID_OPUS : AV_CODEC_ID_AAC;
    t->atx = rvmi_audio_transcoder_open(ap, t->in->time_base, target,
                                        (of->flags & AVFMT_GLOBALHEADER) != 0, why, whylen);
    if (!t->atx)
        return 0;
    const AVCodecContext *ae = rvmi_audio_transcoder_encoder(t->atx);
    if (!(t->st = avformat_new_stream(w->oc, NULL)) ||
        avcodec_parameters_from_context(t->st->codecpar, ae) < 0)
        return -1;
    t->st->time_base = ae->time_base;
    return copy_track_tags(w, t, 1) < 0 ? -1 : 1;
}

/* Sets up a subtitle track: copied where the container holds it as it is (and players
 * show it there), else converted when it is text: mov_text is what MP4 and QuickTime
 * players show, WebVTT is the only kind WebM has, SubRip the plainest Matroska takes.
 * Subtitles that are pictures (DVD, Blu-ray, DVB) only Matroska keeps. Returns as
 * setup_audio. */
static int setup_subtitle(rvmi_video_writer *w, out_track *t, char *why, size_t whylen)
{
    const AVCodecParameters *sp = t->in->par;
    const AVOutputFormat *of = w->oc->oformat;
    const AVCodecDescriptor *desc = avcodec_descriptor_get(sp->codec_id);
    int text = desc && (desc->props & AV_CODEC_PROP_TEXT_SUB);
    char ext[32];
    container_ext(of, w->name, ext, sizeof ext);
    enum AVCodecID target = AV_CODEC_ID_NONE;
    int copy = 0;
    if (is_mov_family(of)) {
        copy = sp->codec_id == AV_CODEC_ID_MOV_TEXT;
        target = AV_CODEC_ID_MOV_TEXT;
    } else if (strcmp(of->name, "webm") == 0) {
        copy = sp->codec_id == AV_CODEC_ID_WEBVTT;
        target = AV_CODEC_ID_WEBVTT;
    } else {
        copy = avformat_query_codec(of, sp->codec_id, FF_COMPLIANCE_NORMAL) == 1;
        if (strcmp(of->name, "matroska") == 0)
            target = AV_CODEC_ID_SUBRIP;
    }
    if (copy) {
        if (!(t->st = avformat_new_stream(w->oc, NULL)) ||
            avcodec_parameters_copy(t->st->codecpar, sp) < 0)
            return -1;
        t->st->codecpar->codec_tag = 0;
        t->st->time_base = t->in->time_base;
        return copy_track_tags(w, t, 0) < 0 ? -1 : 1;
    }
    if (target == AV_CODEC_ID_NONE) {
        snprintf(why, whylen, "a .%s file cannot hold %s subtitles%s", ext,
                 avcodec_get_name(sp->codec_id), text ? " (.mkv, .mp4 and .webm can)" : "");
        return 0;
    }
    if (!text) {
        snprintf(why, whylen, "these subtitles are pictures, and a .%s file holds only text "
                              "subtitles (.mkv keeps them)", ext);
        return 0;
    }
    char sub[300];
    t->stx = rvmi_subtitle_converter_open(sp, t->in->time_base, target, sub, sizeof sub);
    if (!t->stx) {
        snprintf(why, whylen, "converting to %s: %s", avcodec_get_name(target), sub);
        return 0;
    }
    if (!(t->st = avformat_new_stream(w->oc, NULL)) ||
        avcodec_parameters_from_context(t->st->codecpar,
                                        rvmi_subtitle_converter_encoder(t->stx)) < 0)
        return -1;
    t->st->time_base = t->in->time_base;
    return copy_track_tags(w, t, 1) < 0 ? -1 : 1;
}

/* Every track of cfg->tracks this container can carry; the others are left out, each with
 * a notice. Returns 0 or -1 (out of memory). */
static int setup_tracks(rvmi_video_writer *w, char *err, size_t errlen)
{
    if (w->cfg.ntracks <= 0)
        return 0;
    /* YUV4MPEG is one video stream (its muxer refuses a second): the tracks are left out,
     * said once. */
    if (is_y4m(w->oc->oformat)) {
        if (w->cfg.notice) {
            char line[1024];
            snprintf(line, sizeof line, "warning: %s: audio and subtitles left out: a .y4m "
                     "file holds video only", w->name);
            w->cfg.notice(w->cfg.notice_user, line);
        }
        return 0;
    }
    if (!(w->tracks = calloc((size_t)w->cfg.ntracks, sizeof(*w->tracks)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->ntracks = w->cfg.ntracks;
    for (int i = 0; i < w->ntracks; i++) {
        out_track *t = &w->tracks[i];
        t->w = w;
        t->in = &w->cfg.tracks[i];
        char why[400] = "";
        int ret = t->in->type == AVMEDIA_TYPE_AUDIO ? setup_audio(w, t, why, sizeof why)
                                                    : setup_subtitle(w, t, why, sizeof why);
        if (ret < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (ret == 1) {
            w->naudio += t->in->type == AVMEDIA_TYPE_AUDIO;
            continue;
        }
        rvmi_audio_transcoder_free(t->atx);
        t->atx = NULL;
        rvmi_subtitle_converter_free(t->stx);
        t->stx = NULL;
        if (w->cfg.notice) {
            char name[300], line[1024];
            rvmi_track_describe(t->in, name, sizeof name);
            snprintf(line, sizeof line, "warning: %s: %s left out: %s", w->name, name, why);
            w->cfg.notice(w->cfg.notice_user, line);
        }
    }
    return 0;
}

/* Creates the file and writes the header. */
static int open_file(rvmi_video_writer *w, char *err, size_t errlen)
{
    int ret;
    /* A name FFmpeg would take for a URL of a protocol it does not have (a render's part
     * take:2.mp4.parts/.00000.<hex>.mp4: "Protocol not found") is a file. */
    char *url = w->cfg.descriptor ? NULL : rvmi_file_url(w->cfg.path);
    ret = avio_open(&w->oc->pb, url ? url : w->cfg.path, AVIO_FLAG_WRITE);
    free(url);
    if (ret < 0) {
        writer_err(w, err, errlen, "cannot create", ret);
        return -1;
    }
    /* A pipe or device (stdout, a FIFO): each packet is handed on at once, for whoever
     * reads live. */
    if (!(w->oc->pb->seekable & AVIO_SEEKABLE_NORMAL)) {
        w->oc->flush_packets = 1;
        /* The muxer holds packets until every stream has one, or for 10 s: a subtitle
         * track, minutes between cues, would hold the picture back that long. A second
         * keeps the streams in order as well as a reader needs. */
        for (int i = 0; i < w->ntracks; i++)
            if (w->tracks[i].st && w->tracks[i].in->type == AVMEDIA_TYPE_SUBTITLE)
                w->oc->max_interleave_delta = AV_TIME_BASE;
    }
    AVDictionary *opts = NULL;
    const char *mux = w->oc->oformat->name;
    if (w->cfg.part && (strcmp(mux, "mp4") == 0 || strcmp(mux, "mov") == 0)) {
        /* A part starts later than 0: the muxer says so with an edit list in the movie's
         * time units (1/1000 s by default), which would round the start. The track's units
         * (its time base, doubled up to at least 10000 as the muxer does) keep it exact. */
        int64_t units = w->cfg.time_base.den;
        while (units > 0 && units < 10000)
            units *= 2;
        av_dict_set_int(&opts, "movie_timescale", units, 0);
    }
    /* A finished MP4/MOV file has its index (moov) at the front, so that a browser or a
     * notebook plays it while it loads: the muxer moves it there when the file is completed
     * (also after a stop: the trailer is always written). Only for regular files it can read
     * back (not pipes or devices), and not for a segment's parts, which only rvm join reads
     * (its output gets the index at the front). */
    static const char *const indexed[] = {"mp4", "mov", "ipod", "3gp", "3g2"};
    struct stat st;
    int mov_family = 0;
    for (size_t i = 0; i < sizeof indexed / sizeof indexed[0]; i++)
        mov_family |= strcmp(mux, indexed[i]) == 0;
    int seekable = (w->oc->pb->seekable & AVIO_SEEKABLE_NORMAL) != 0;
    if (mov_family && !w->cfg.part && seekable && stat(w->cfg.path, &st) == 0 &&
        S_ISREG(st.st_mode))
        av_dict_set(&opts, "movflags", "+faststart", 0);
    char why[512];
    rvmi_avlog_take_error(why, 1); /* forget older messages */
    ret = avformat_write_header(w->oc, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        rvmi_avlog_take_error(why, sizeof why);
        /* EINVAL (ENOSYS, "patch welcome"): the muxer refuses the combination (a .psp with
         * no audio, VP9 in .ismv, MP4 into a pipe, ...), which no retry changes; FFmpeg's
         * log line says why. Anything else is the write's failure. */
        if (ret != AVERROR(EINVAL) && ret != AVERROR(ENOSYS) && ret != AVERROR_PATCHWELCOME) {
            writer_err(w, err, errlen, "writing the header", ret);
            return -1;
        }
        refused_settings(&w->cfg);
        char ext[32];
        if (!seekable && strstr(why, "seekable"))
            snprintf(err, errlen,
                     "%s: a .%s file cannot be written into a pipe or stream (it goes back to "
                     "write its index): use -f matroska, nut or mpegts there, or a file name",
                     w->name, container_ext(w->oc->oformat, w->name, ext, sizeof ext));
        else {
            const char *reason = why;
            size_t n = strlen(mux);
            if (strncmp(reason, mux, n) == 0 && strncmp(reason + n, ": ", 2) == 0)
                reason += n + 2; /* the log line's own "psp: " */
            snprintf(err, errlen, "%s: FFmpeg's %s muxer refuses this output: %s", w->name, mux,
                     reason[0] ? reason : "invalid combination of codec, tracks and settings");
        }
        return -1;
    }
    w->header_written = 1;
    return 0;
}

/* A writer that takes encoded packets (cfg->copy): the video stream is described, not
 * encoded. */
static int open_copy(rvmi_video_writer *w, char *err, size_t errlen)
{
    w->pkt = av_packet_alloc();
    w->vst = avformat_new_stream(w->oc, NULL);
    if (!w->pkt || !w->vst || avcodec_parameters_copy(w->vst->codecpar, w->cfg.copy) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Another container's tag would not fit this one; but bare frames are described by
     * theirs (the FourCC of the pixel format, as FFmpeg's rawvideo encoder sets it for a
     * whole run): without it the Matroska muxer refuses them (rvm join --codec rawvideo). */
    AVCodecParameters *vp = w->vst->codecpar;
    vp->codec_tag = vp->codec_id == AV_CODEC_ID_RAWVIDEO
                        ? avcodec_pix_fmt_to_codec_tag((enum AVPixelFormat)vp->format)
                        : 0;
    w->vst->time_base = w->cfg.time_base;
    w->vst->avg_frame_rate = w->cfg.frame_rate;
    w->vst->disposition = AV_DISPOSITION_DEFAULT;
    const AVDictionaryEntry *am =
        w->cfg.copy_tags ? av_dict_get(w->cfg.copy_tags, "alpha_mode", NULL, 0) : NULL;
    if (am && av_dict_set(&w->vst->metadata, "alpha_mode", am->value, 0) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (set_timecode(w, err, errlen) < 0 || setup_tracks(w, err, errlen) < 0 ||
        copy_attachments(w, err, errlen) < 0)
        return -1;
    return open_file(w, err, errlen);
}

static rvmi_video_writer *open_writer(const rvmi_video_writer_config *cfg, char *err,
                                      size_t errlen)
{
    rvmi_video_writer *w = calloc(1, sizeof(*w));
    int ret;
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->cfg = *cfg;
    struct rlimit fsize;
    if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY)
        w->size_limit = (int64_t)fsize.rlim_cur;
    w->name = strdup(cfg->name ? cfg->name : cfg->path);
    if (!w->name) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    const AVOutputFormat *of = av_guess_format(cfg->format, cfg->format ? NULL : w->name, NULL);
    if (!of) {
        snprintf(err, errlen, "%s: cannot tell the video container from the name", w->name);
        refused_settings(cfg);
        goto fail;
    }
    if ((ret = avformat_alloc_output_context2(&w->oc, of, NULL, cfg->path)) < 0) {
        writer_err(w, err, errlen, "cannot set up the container", ret);
        goto fail;
    }
    if (copy_metadata(w->oc, cfg->metadata) < 0 || copy_chapters(w->oc, cfg) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->copy) {
        if (open_copy(w, err, errlen) < 0)
            goto fail;
        return w;
    }
    const AVCodec *codec = avcodec_find_encoder_by_name(encoder_for(cfg->codec, of));
    if (!codec) {
        snprintf(err, errlen, "this FFmpeg has no %s encoder", encoder_for(cfg->codec, of));
        refused_settings(cfg);
        goto fail;
    }
    /* YUV4MPEG's formats past its standard's (more than 8 bits, yuva444p) are written only
     * when asked for (FFmpeg's -strict -1); which it takes is checked up front
     * (rvmi_video_writer_check_frames). */
    if (is_y4m(of))
        w->oc->strict_std_compliance = FF_COMPLIANCE_UNOFFICIAL;
    w->enc = avcodec_alloc_context3(codec);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    w->vst = avformat_new_stream(w->oc, NULL);
    if (!w->enc || !w->frame || !w->pkt || !w->vst) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    AVCodecContext *e = w->enc;
    if (w->cfg.src_width <= 0 || w->cfg.src_height <= 0) {
        w->cfg.src_width = cfg->width;
        w->cfg.src_height = cfg->height;
    }
    e->width = padded_size(cfg, cfg->width);
    e->height = padded_size(cfg, cfg->height);
    e->pix_fmt = encoder_format(cfg, w->oc->oformat);
    /* The input's own time base: every input timestamp is representable, so the output's
     * timing is the input's (variable frame rate included). */
    e->time_base = cfg->time_base;
    /* AVI has one fixed frame rate, which FFmpeg's muxer takes from the time base (a 30 fps
     * clip in 1/1000 claimed 1000 fps and 2600 frames for 77): there frames are counted at
     * the nominal rate (rvmi_video_writer_send). */
    /* YUV4MPEG alike: its header's frame rate is the time base's inverse. */
    w->avi = strcmp(w->oc->oformat->name, "avi") == 0 || is_y4m(of);
    if (w->avi) {
        e->time_base = av_inv_q(cfg->frame_rate);
        w->last_pts = INT64_MIN;
        w->oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    }
    e->framerate = cfg->frame_rate;
    e->sample_aspect_ratio = (AVRational){1, 1};
    if (cfg->sample_aspect.num > 0 && cfg->sample_aspect.den > 0)
        av_reduce(&e->sample_aspect_ratio.num, &e->sample_aspect_ratio.den,
                  cfg->sample_aspect.num, cfg->sample_aspect.den, INT_MAX);
    const AVPixFmtDescriptor *pd = av_pix_fmt_desc_get(e->pix_fmt);
    /* Grey formats (gray16le, ya8, ...: fewer than three components) are full range, as
     * swscale and ffmpeg read them and as gray is written; made limited range (16..235 in
     * ya8) they no longer read back as the matte. */
    int yuv = !(pd->flags & AV_PIX_FMT_FLAG_RGB) && pd->nb_components >= 3;
    int scale = w->cfg.src_width != cfg->width || w->cfg.src_height != cfg->height;
    /* Y4M, bare frames and uncompressed frames in NUT and AVI cannot say their YUV's colour
     * matrix: theirs is the one untagged video is read with (rvm's reader, mpv: BT.709 for HD,
     * BT.601 for SD, rvmi_untagged_colorspace), not always BT.709 (a 640x480 composition read back by rvm
     * was 8.1 levels off on average, 21.9 too little red). Elsewhere the matrix is tagged. */
    const char *mux = w->oc->oformat->name;
    int untagged = yuv && (is_y4m(w->oc->oformat) || strcmp(mux, "rawvideo") == 0 ||
                           (cfg->codec == RVM_CODEC_RAWVIDEO &&
                            (strcmp(mux, "nut") == 0 || strcmp(mux, "avi") == 0)));
    enum AVColorSpace matrix = untagged ? rvmi_untagged_colorspace(e->width, e->height) : AVCOL_SPC_BT709;
    /* A composition into 8-bit 4:2:0 (the README's H.264): the frame loops' kernel, ~4x
     * faster than swscale (2.6 ms a 1080p frame on the network's thread), with the same
     * luma. Its chroma, like swscale's, is centred between the four pixels it covers; an
     * untagged H.264 4:2:0 file says "left" (MPEG-2's siting), so RGB turned into 4:2:0 is
     * tagged: tag-aware players read it where it is, and FFmpeg 5.1 and players that assume
     * centred chroma read it right too (measured in docs/PERFORMANCE.md). */
    w->rgb_yuv420 = cfg->layout == RVM_LAYOUT_RGB && e->pix_fmt == AV_PIX_FMT_YUV420P &&
                    !scale && e->height % 2 == 0 && /* odd: VP9's, not padded (swscale) */
                    matrix == AVCOL_SPC_BT709;      /* the kernel's: BT.601 by swscale */
    if (cfg->layout != RVM_LAYOUT_GRAY && yuv && pd->log2_chroma_w == 1 && pd->log2_chroma_h == 1)
        e->chroma_sample_location = AVCHROMA_LOC_CENTER;
    if (yuv) {
        int sd = matrix == AVCOL_SPC_SMPTE170M;
        e->colorspace = matrix;
        e->color_primaries = cfg->primaries > 0 ? cfg->primaries
                             : sd              ? AVCOL_PRI_SMPTE170M
                                               : AVCOL_PRI_BT709;
        e->color_trc = sd ? AVCOL_TRC_SMPTE170M : AVCOL_TRC_BT709;
        /* yuvj formats are full range (swscale writes them so): tagged limited, a
         * Matroska file of them read back with its levels stretched. */
        e->color_range = full_range_yuv(e->pix_fmt) ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    } else {
        e->colorspace = pd->nb_components < 3 ? AVCOL_SPC_UNSPECIFIED : AVCOL_SPC_RGB;
        e->color_range = AVCOL_RANGE_JPEG;
    }
    /* NUT and AVI store no colour matrix and are not the README's untagged formats (Y4M and
     * bare frames: their paragraph, left quiet): one line names the matrix the frames have.
     * FFmpeg reads them as BT.601 at every size, HD's BT.709 too (the sample's colourful
     * composition came back 8.3 levels too red on average, said nowhere); Matroska and MOV
     * tag the matrix. */
    if (untagged && cfg->layout != RVM_LAYOUT_GRAY && w->cfg.notice &&
        (strcmp(mux, "nut") == 0 || strcmp(mux, "avi") == 0)) {
        char line[1024];
        snprintf(line, sizeof line,
                 "warning: %s: %s cannot say which colour matrix its YUV frames have: they are "
                 "%s, as players read untagged %s video%s; .mkv says it",
                 w->name, strcmp(mux, "nut") == 0 ? "NUT" : "AVI",
                 matrix == AVCOL_SPC_BT709 ? "BT.709" : "BT.601",
                 matrix == AVCOL_SPC_BT709 ? "HD" : "SD",
                 matrix == AVCOL_SPC_BT709 ? ", but FFmpeg reads them as BT.601 unless told "
                                             "(-vf scale=in_color_matrix=bt709)"
                                           : "");
        w->cfg.notice(w->cfg.notice_user, line);
    }
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER)
        e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    char num[32];
    /* Without --crf or --output-video-mbps: constant quality, which looks the same at any
     * size (the official 1 Mbit/s blocks heavily at 4K and wastes bits on small videos):
     * x264's CRF 18 (visually transparent), the x265 and libvpx values of similar quality. */
    int crf = cfg->crf;
    if (crf < 0 && cfg->mbps <= 0)
        crf = cfg->codec == RVM_CODEC_HEVC ? RVM_DEFAULT_CRF_HEVC
              : cfg->codec == RVM_CODEC_VP9 ? RVM_DEFAULT_CRF_VP9
                                            : RVM_DEFAULT_CRF_H264;
    /* An H.264 matte at constant quality is encoded at a constant QP instead, one above the
     * CRF (0, lossless, stays 0): CRF and the scene-cut detection rate each frame on x264's
     * half-size copies of it (four planes a frame in the encoder, 18 MB at 4K, 4.5 at 1080p),
     * which a constant QP does without. A matte's frames are alike, and the constant QP did as
     * well or better (README's walk clip, PSNR against the lossless matte: 1080p CRF 18 628 kB
     * at 57.67 dB, QP 19 665 kB at 58.95 dB; 4K CRF 18 1.69 MB at 60.50 dB, QP 19 1.58 MB at
     * 60.76 dB). Keyframes then come every 250 frames only, not also at scene cuts. */
    int matte_qp = cfg->codec == RVM_CODEC_H264 && !cfg->preset && cfg->layout == RVM_LAYOUT_GRAY &&
                   crf >= 0;
    switch (cfg->codec) {
    case RVM_CODEC_H264:
    case RVM_CODEC_HEVC:
        if (matte_qp) {
            av_opt_set_int(e->priv_data, "qp", crf == 0 ? 0 : crf + 1 > 51 ? 51 : crf + 1, 0);
        } else if (crf >= 0) {
            snprintf(num, sizeof(num), "%d", crf);
            av_opt_set(e->priv_data, "crf", num, 0);
        } else {
            e->bit_rate = llround(cfg->mbps * 1e6);
        }
        av_opt_set(e->priv_data, "preset", cfg->preset ? cfg->preset : RVM_DEFAULT_PRESET, 0);
        /* One thread each: the encoders run beside the network (which wants every core)
         * and beside each other; x264's frame threads (1.5 per core by default) would only
         * add frames held back and in memory, not throughput. */
        e->thread_count = 1;
        /* The default also bounds the frames the encoder holds: each costs ~7 MB at 1080p
         * (28 MB at 4K), and veryfast's look-ahead (10 frames, 3 B-frames) makes an encoder
         * ~150 MB at 1080p. A 3-frame look-ahead without B-frames keeps ~60 MB for ~0.6 dB
         * (PSNR at 1 Mbit/s 1080p) and ~20% less encoding time; H.264 looks 1 frame ahead
         * (below). An explicit --preset gets the encoder's own settings for it. */
        if (cfg->codec == RVM_CODEC_HEVC) {
            /* x265 prints its banner and statistics to stderr otherwise. */
            /* x265 prints to stderr itself, not through FFmpeg's log: silent unless
             * --verbose, so that an error stays rvm's one line. */
            char params[128];
            snprintf(params, sizeof params, "log-level=%s:frame-threads=1%s",
                     rvmi_avlog_verbose() ? "info" : "none",
                     cfg->preset ? "" : ":rc-lookahead=3:bframes=0");
            av_opt_set(e->priv_data, "x265-params", params, 0);
        } else {
            /* force-cfr: x264 otherwise holds one more input picture (to learn each frame's
             * duration from the next one's timestamp) for rate control alone: 6 MB at 1080p
             * and 22 MB at 4K per output. Frames keep their own timestamps either way; the
             * rate control then counts frames at the nominal rate (identical output for a
             * constant-rate input; a variable-rate one's bits are spread per frame, not per
             * second). Parts: headers (SPS/PPS) that do not depend on the frames, so parts
             * join without re-encoding. */
            av_opt_set(e->priv_data, "x264-params",
                       cfg->part ? (matte_qp ? "force-cfr=1:stitchable=1:scenecut=0"
                                             : "force-cfr=1:stitchable=1")
                                 : (matte_qp ? "force-cfr=1:scenecut=0" : "force-cfr=1"), 0);
        }
        if (cfg->codec == RVM_CODEC_H264 && !cfg->preset) {
            /* A matte gains nothing from look-ahead: without it (which also turns off
             * mb-tree) its PSNR was the same or higher at the same bit rate (1080p walk clip,
             * 1 Mbit/s: 51.5 dB either way; 640x480: 55.8 -> 58.0 dB), and the encoder holds
             * 19 MB less at 1080p. The composition looks 1 frame ahead: each frame of
             * look-ahead is 6 MB at 1080p (23 MB at 4K), and 3 frames instead of 1 gained
             * 0.27 dB at 1 Mbit/s and 0.19 dB at 3 Mbit/s (1080p walk clip, PSNR against the
             * lossless composition; 2 frames lose 0.08 and 0.06 against 3, none 0.27 and 0.23 against 1). */
            av_opt_set_int(e->priv_data, "rc-lookahead", cfg->layout == RVM_LAYOUT_GRAY ? 0 : 1, 0);
            e->max_b_frames = 0;
            /* A matte has no fades for weighted prediction to follow; without it x264 holds
             * no weighted copy of the reference (2 MB at 4K; PSNR the same: +0.002 dB at 1
             * Mbit/s, -0.0004 dB at 3, 1080p walk clip). */
            if (cfg->layout == RVM_LAYOUT_GRAY)
                av_opt_set(e->priv_data, "weightp", "none", 0);
            /* A composition (or foreground) searches motion with x264's diamond, not
             * veryfast's hexagon: the hexagon was ~40% of its encoding time for nothing (issue
             * 14; against the lossless composition, same bit rate, libx264 1 thread: 1080p walk
             * clip 34.6 -> 20.4 ms CPU a frame, -0.015 dB; 640x480 asl clips -11% CPU, -0.04
             * and +0.01 dB). The matte keeps the hexagon: there it saved ~5% and cost 0.08 dB. */
            else
                av_opt_set(e->priv_data, "motion-est", "dia", 0);
        }
        break;
    case RVM_CODEC_VP9:
        if (crf >= 0) {
            snprintf(num, sizeof(num), "%d", crf);
            av_opt_set(e->priv_data, "crf", num, 0);
            e->bit_rate = 0;
        } else {
            e->bit_rate = llround(cfg->mbps * 1e6);
        }
        /* libvpx's defaults are many times slower than real time. */
        av_opt_set(e->priv_data, "deadline", "good", 0);
        av_opt_set_int(e->priv_data, "cpu-used", 4, 0);
        av_opt_set_int(e->priv_data, "row-mt", 1, 0);
        break;
    case RVM_CODEC_PRORES:
        /* 4444 (with alpha when given): the profile sets the quality; bit rates do not
         * apply. */
        av_opt_set(e->priv_data, "profile", "4444", 0);
        av_opt_set(e->priv_data, "vendor", "apl0", 0);
        break;
    case RVM_CODEC_FFV1:
        /* Version 3 in 4 slices, a 2x2 grid (the codec context's option: FFV1 has no
         * private one; 0 made the same grid). FFmpeg's FFV1 3 decodes a picture 1 to 3 pixels
         * wide or high as black (and refuses one 1 pixel wide or high in 4 slices): a picture
         * that small is version 1, without slices. */
        if (e->width >= 4 && e->height >= 4) {
            e->slices = 4;
            e->level = 3;
        } else {
            e->level = 1;
        }
        break;
    default:
        break;
    }
    if (av_image_check_size((unsigned)cfg->width, (unsigned)cfg->height, 0, NULL) < 0) {
        snprintf(err, errlen,
                 "%s: %dx%d frames are larger than FFmpeg's encoders take ((width + 128) x "
                 "(height + 128) under 268 million, e.g. 16000x16000; use --input-resize)",
                 w->name, cfg->width, cfg->height);
        refused_settings(cfg);
        goto fail;
    }
    /* x265 takes nothing smaller (and leaks when it refuses): said up front. */
    if (cfg->codec == RVM_CODEC_HEVC && (cfg->width < 16 || cfg->height < 16)) {
        snprintf(err, errlen,
                 "%s: HEVC needs frames of at least 16x16 pixels, these are %dx%d (use "
                 "--input-resize or --codec h264)",
                 w->name, cfg->width, cfg->height);
        refused_settings(cfg);
        goto fail;
    }
    rvmi_avlog_take_error(num, 1); /* forget older messages */
    if ((ret = avcodec_open2(e, codec, NULL)) < 0) {
        char why[512];
        rvmi_avlog_take_error(why, sizeof why);
        writer_err(w, err, errlen, "cannot open the video encoder", ret);
        /* The encoder refuses its settings (a rate it cannot meet, a size its codec
         * cannot code): a retry would be refused alike. */
        if (ret != AVERROR(ENOMEM))
            refused_settings(cfg);
        if (why[0]) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (%s)", why);
        }
        goto fail;
    }
    if (avcodec_parameters_from_context(w->vst->codecpar, e) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    w->vst->time_base = e->time_base;
    w->vst->avg_frame_rate = cfg->frame_rate;
    /* The one video track is the one to play (Matroska marks none otherwise once other
     * tracks carry flags). */
    w->vst->disposition = AV_DISPOSITION_DEFAULT;
    w->vst->sample_aspect_ratio = e->sample_aspect_ratio;
    if (set_timecode(w, err, errlen) < 0 || setup_tracks(w, err, errlen) < 0 ||
        copy_attachments(w, err, errlen) < 0)
        goto fail;

    enum AVPixelFormat in_fmt = cfg->layout == RVM_LAYOUT_GRAY  ? AV_PIX_FMT_GRAY8
                                : cfg->layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_RGB24
                                                                : AV_PIX_FMT_RGBA;
    /* gray_luma writes the luma plane alone and points both chroma planes at one neutral
     * plane: 8-bit planar YUV with three components, each in a plane of its own (not
     * yuyv422's packed samples, nv12's shared chroma plane or yuva420p's fourth plane). */
    int planar_yuv8 = yuv && pd->nb_components == 3 && (pd->flags & AV_PIX_FMT_FLAG_PLANAR) &&
                      pd->comp[0].plane == 0 && pd->comp[1].plane == 1 &&
                      pd->comp[2].plane == 2 && pd->comp[0].depth == 8 &&
                      pd->comp[0].step == 1 && pd->comp[1].step == 1 &&
                      !full_range_yuv(e->pix_fmt);
    if (cfg->layout == RVM_LAYOUT_GRAY && planar_yuv8 && !scale) {
        /* An alpha matte into 8-bit YUV: luma is exactly rounded BT.709 limited range,
         * 16 + 219*v/255 (a kernel: the table lookup it replaced took ~0.6 ms a 1080p frame,
         * swscale ~10x that for the same result), chroma neutral. */
        w->gray_luma = 1;
    } else if (!w->rgb_yuv420) {
        w->sws = sws_getContext(w->cfg.src_width, w->cfg.src_height, in_fmt, cfg->width,
                                cfg->height, e->pix_fmt,
                                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL,
                                NULL);
    }
    if (!w->sws && !w->gray_luma && !w->rgb_yuv420) {
        snprintf(err, errlen, "%s: cannot convert frames for the encoder", w->name);
        goto fail;
    }
    if (yuv && w->sws)
        /* Match the tags written above: their matrix (BT.709, or BT.601 for SD where the
         * container cannot say it), limited range, full for the yuvj formats (whose samples
         * were limited, tagged so: they read back as another range's). */
        sws_setColorspaceDetails(w->sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(e->colorspace == AVCOL_SPC_BT709
                                                         ? SWS_CS_ITU709
                                                         : SWS_CS_ITU601),
                                 e->color_range == AVCOL_RANGE_JPEG, 0, 1 << 16, 1 << 16);
    if (w->gray_luma) {
        /* Neutral chroma (128: gray_luma is for 8-bit YUV), with the padding FFmpeg's own
         * pictures have past the last row. */
        int cw = AV_CEIL_RSHIFT(e->width, pd->log2_chroma_w);
        int ch = AV_CEIL_RSHIFT(e->height, pd->log2_chroma_h);
        w->neutral_linesize = FFALIGN(cw, 64);
        size_t size = (size_t)w->neutral_linesize * ch + AV_INPUT_BUFFER_PADDING_SIZE;
        if (!(w->neutral = av_buffer_alloc(size))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memset(w->neutral->data, 128, size);
    }
    if (open_file(w, err, errlen) < 0)
        goto fail;
    return w;
fail:
    rvmi_video_writer_free(w);
    return NULL;
}

rvmi_video_writer *rvmi_video_writer_open(const rvmi_video_writer_config *cfg, char *err,
                                        size_t errlen)
{
    rvmi_video_writer *w = open_writer(cfg, err, errlen);
    /* usage_error and reader_gone answer for the opening only and may live on the caller's
     * stack: a later write (from an encoder thread) must not reach them
     * (rvmi_video_writer_reader_gone tells a closed pipe then). */
    if (w)
        w->cfg.usage_error = w->cfg.reader_gone = NULL;
    return w;
}

/* A picture for the encoder (pixels not set). An alpha matte written through gray_luma gets
 * its own luma plane only; both chroma pointers are the shared neutral plane (a half frame
 * less per picture: 4 MB at 4K). */
static int picture_alloc(rvmi_video_writer *w, AVFrame *pic)
{
    const AVCodecContext *e = w->enc;
    av_frame_unref(pic);
    pic->format = e->pix_fmt;
    pic->width = e->width;
    pic->height = e->height;
    /* Some encoders (ProRes) write the frame's colour tags, not the context's. */
    pic->colorspace = e->colorspace;
    pic->color_primaries = e->color_primaries;
    pic->color_trc = e->color_trc;
    pic->color_range = e->color_range;
    pic->sample_aspect_ratio = e->sample_aspect_ratio;
    if (!w->neutral)
        return av_frame_get_buffer(pic, 0);
    int linesize = FFALIGN(e->width, 64);
    pic->buf[0] = av_buffer_alloc((size_t)linesize * e->height + AV_INPUT_BUFFER_PADDING_SIZE);
    pic->buf[1] = av_buffer_ref(w->neutral);
    if (!pic->buf[0] || !pic->buf[1]) {
        av_frame_unref(pic);
        return AVERROR(ENOMEM);
    }
    pic->data[0] = pic->buf[0]->data;
    pic->linesize[0] = linesize;
    pic->data[1] = pic->data[2] = w->neutral->data;
    pic->linesize[1] = pic->linesize[2] = w->neutral_linesize;
    return 0;
}

/* Whether the pixels can be written: the encoder kept no reference (the shared neutral
 * plane is never written). */
static int picture_writable(const rvmi_video_writer *w, const AVFrame *pic)
{
    if (!pic->buf[0])
        return 0;
    for (int i = 0; i < AV_NUM_DATA_POINTERS && pic->buf[i]; i++)
        if (!(w->neutral && pic->buf[i]->data == w->neutral->data) &&
            !av_buffer_is_writable(pic->buf[i]))
            return 0;
    return 1;
}

AVFrame *rvmi_video_writer_picture_new(rvmi_video_writer *w)
{
    AVFrame *pic = av_frame_alloc();
    if (pic && (!w->enc || picture_alloc(w, pic) < 0))
        av_frame_free(&pic);
    return pic;
}

/* Fills the padding column and row (padded_size, 8-bit 4:2:0 only) with copies of the
 * last ones. Chroma needs none: an odd size's last chroma sample covers the padding. */
static void pad_edges(rvmi_video_writer *w, AVFrame *f)
{
    int pw = f->width - w->cfg.width, ph = f->height - w->cfg.height;
    if (pw)
        for (int y = 0; y < w->cfg.height; y++) {
            uint8_t *row = f->data[0] + (size_t)y * f->linesize[0];
            row[w->cfg.width] = row[w->cfg.width - 1];
        }
    if (ph)
        memcpy(f->data[0] + (size_t)w->cfg.height * f->linesize[0],
               f->data[0] + (size_t)(w->cfg.height - 1) * f->linesize[0], (size_t)f->width);
}

/* An alpha matte is grey: in a YUV format its chroma is made neutral, whatever swscale leaves
 * there. Only YUV: an RGB format (rawvideo:rgb24, gbrp, ...) holds the matte in every colour
 * component, a grey one (gray16le) has no chroma, and packed or semi-planar YUV (yuyv422,
 * nv12) has no chroma planes of its own to fill row by row. */
static void neutral_chroma(rvmi_video_writer *w, AVFrame *pic)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(w->enc->pix_fmt);
    if (!d || d->nb_components < 3 ||
        (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BAYER |
                     AV_PIX_FMT_FLAG_HWACCEL)) ||
        w->enc->pix_fmt == AV_PIX_FMT_XYZ12LE || w->enc->pix_fmt == AV_PIX_FMT_XYZ12BE)
        return;
    int ch = AV_CEIL_RSHIFT(w->cfg.height, d->log2_chroma_h);
    int cw = AV_CEIL_RSHIFT(w->cfg.width, d->log2_chroma_w);
    uint16_t mid = (uint16_t)(1u << (d->comp[1].depth - 1));
    int own_planes = (d->flags & AV_PIX_FMT_FLAG_PLANAR) && d->comp[1].plane != d->comp[2].plane &&
                     d->comp[1].shift == 0 && d->comp[1].step == (d->comp[1].depth > 8 ? 2 : 1) &&
                     !(d->flags & AV_PIX_FMT_FLAG_BE);
    if (own_planes) {
        for (int c = 1; c <= 2; c++)
            for (int r = 0; r < ch; r++) {
                uint8_t *row = pic->data[d->comp[c].plane] + (size_t)r * pic->linesize[d->comp[c].plane];
                if (d->comp[c].step == 1)
                    memset(row, mid, (size_t)cw);
                else
                    for (int x = 0; x < cw; x++)
                        AV_WL16(row + 2 * x, mid);
            }
        return;
    }
    /* Packed and semi-planar YUV, big-endian samples: one component at a time. */
    uint16_t line[256];
    for (int x = 0; x < 256; x++)
        line[x] = mid;
    for (int c = 1; c <= 2; c++)
        for (int r = 0; r < ch; r++)
            for (int x = 0; x < cw; x += 256)
                av_write_image_line2(line, pic->data, pic->linesize, d, x, r, c,
                                     cw - x < 256 ? cw - x : 256, 2);
}

int rvmi_video_writer_direct(const rvmi_video_writer *w)
{
    return w->rgb_yuv420 ? RVMI_DIRECT_YUV420 : w->gray_luma ? RVMI_DIRECT_LUMA : 0;
}

int rvmi_video_writer_planes(rvmi_video_writer *w, AVFrame *pic, char *err, size_t errlen)
{
    if (!picture_writable(w, pic) && picture_alloc(w, pic) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void rvmi_video_writer_planes_done(rvmi_video_writer *w, AVFrame *pic)
{
    pad_edges(w, pic);
}

int rvmi_video_writer_fill_rows(rvmi_video_writer *w, AVFrame *pic, const uint8_t *rows, int y,
                                int n, char *err, size_t errlen)
{
    if (y == 0 && !picture_writable(w, pic) && picture_alloc(w, pic) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (w->gray_luma) {
        const rvmi_frame_loops *k = rvmi_kernels_default()->frames;
        for (int i = 0; i < n; i++)
            k->gray_to_luma(rows + (size_t)i * w->cfg.src_width, (size_t)w->cfg.width,
                            pic->data[0] + (size_t)(y + i) * pic->linesize[0]);
    } else if (w->rgb_yuv420) {
        /* Row pairs: bands start on even rows (only the last one of an odd height is odd). */
        if (y % 2 || (n % 2 && y + n < w->cfg.src_height)) {
            snprintf(err, errlen, "%s: rows given from an odd row", w->name);
            return -1;
        }
        const rvmi_frame_loops *k = rvmi_kernels_default()->frames;
        size_t row_bytes = (size_t)w->cfg.src_width * 3;
        for (int i = 0; i < n; i += 2) {
            const uint8_t *r0 = rows + row_bytes * i, *r1 = i + 1 < n ? r0 + row_bytes : r0;
            /* An odd height's last row: its luma also into the padding row below it
             * (padded_size; rgb_yuv420 needs one), which pad_edges then fills with that row
             * anyway. */
            uint8_t *y0 = pic->data[0] + (size_t)(y + i) * pic->linesize[0];
            uint8_t *y1 = y0 + pic->linesize[0];
            size_t c = (size_t)(y + i) / 2;
            k->rgb24_to_yuv420(r0, r1, w->cfg.width, y0, y1, pic->data[1] + c * pic->linesize[1],
                               pic->data[2] + c * pic->linesize[2]);
        }
    } else {
        /* swscale takes a frame in slices from the top (it keeps the rows a later output
         * row still needs): without scaling, the same pixels as from the whole frame at
         * once (every output, codec and odd size the tests make, MD5 of the decoded
         * videos). */
        size_t row_bytes = (size_t)w->cfg.src_width * w->cfg.layout;
        int scaled = w->cfg.src_width != w->cfg.width || w->cfg.src_height != w->cfg.height;
        if (scaled) {
            if (!w->whole && !(w->whole = malloc(row_bytes * w->cfg.src_height))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            memcpy(w->whole + row_bytes * y, rows, row_bytes * n);
            if (y + n < w->cfg.src_height)
                return 0;
            rows = w->whole;
            n = w->cfg.src_height;
            y = 0;
        }
        const uint8_t *src[4] = {rows, NULL, NULL, NULL};
        int stride[4] = {(int)row_bytes, 0, 0, 0};
        if (sws_scale(w->sws, src, stride, y, n, pic->data, pic->linesize) < 0) {
            snprintf(err, errlen, "%s: cannot convert a frame for the encoder", w->name);
            return -1;
        }
    }
    if (y + n < w->cfg.src_height)
        return 0;
    pad_edges(w, pic);
    if (w->cfg.layout == RVM_LAYOUT_GRAY && !w->neutral && w->enc->pix_fmt != AV_PIX_FMT_GRAY8)
        neutral_chroma(w, pic);
    return 0;
}

int rvmi_video_writer_frame(rvmi_video_writer *w, const uint8_t *data, int64_t pts,
                           int64_t duration, char *err, size_t errlen)
{
    if (!w->frame->buf[0] && picture_alloc(w, w->frame) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rvmi_video_writer_fill_rows(w, w->frame, data, 0, w->cfg.src_height, err, errlen) < 0)
        return -1;
    return rvmi_video_writer_send(w, w->frame, pts, duration, err, errlen);
}

int rvmi_video_writer_send(rvmi_video_writer *w, AVFrame *pic, int64_t pts, int64_t duration,
                           char *err, size_t errlen)
{
    int ret;
    if (w->avi) {
        /* The nearest frame slot, after the last one (a variable-rate input's frames keep
         * their order and count). */
        pts = av_rescale_q(pts, w->cfg.time_base, w->enc->time_base);
        if (w->last_pts != INT64_MIN && pts <= w->last_pts)
            pts = w->last_pts + 1;
        w->last_pts = pts;
        duration = 1;
    }
    pic->pts = pts;
    w->frames_in++;
    w->dur_pts[w->dur_next] = pts;
    w->dur_val[w->dur_next] = duration;
    w->dur_next = (w->dur_next + 1) % DUR_SLOTS;
    if ((ret = avcodec_send_frame(w->enc, pic)) < 0) {
        writer_err(w, err, errlen, "encoding", ret);
        return -1;
    }
    return drain_video(w, err, errlen);
}

int rvmi_video_writer_packet(rvmi_video_writer *w, AVPacket *pkt, AVRational tb, char *err,
                            size_t errlen)
{
    return write_packet(w, pkt, w->vst, tb, err, errlen);
}

int rvmi_video_writer_track(rvmi_video_writer *w, int track, const AVPacket *pkt, char *err,
                            size_t errlen)
{
    if (track < 0 || track >= w->ntracks || !w->tracks[track].st)
        return 0;
    out_track *t = &w->tracks[track];
    if (t->atx || t->stx)
        return feed_track(t, pkt, err, errlen);
    AVPacket *p = av_packet_clone(pkt);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int ret = write_packet(w, p, t->st, t->in->time_base, err, errlen);
    av_packet_free(&p);
    return ret;
}

int rvmi_video_writer_near_limit(const rvmi_video_writer *w)
{
    return w->near_limit;
}

const char *rvmi_video_writer_warning(const rvmi_video_writer *w, int i)
{
    return i >= 0 && i < w->nwarnings ? w->warnings[i] : NULL;
}

int rvmi_video_writer_finish(rvmi_video_writer *w, char *err, size_t errlen)
{
    int ret;
    if (w->enc) {
        ret = avcodec_send_frame(w->enc, NULL);
        if (ret < 0 && ret != AVERROR_EOF) {
            writer_err(w, err, errlen, "encoding", ret);
            return -1;
        }
        if (drain_video(w, err, errlen) < 0)
            return -1;
    }
    for (int i = 0; i < w->ntracks; i++) {
        out_track *t = &w->tracks[i];
        if (!t->atx && !t->stx)
            continue;
        if (feed_track(t, NULL, err, errlen) < 0)
            return -1;
        char name[300] = "";
        if (w->naudio > 1 || t->stx) {
            rvmi_track_describe(t->in, name, sizeof name);
            strcat(name, ": ");
        }
        int skipped = t->atx ? rvmi_audio_transcoder_skipped(t->atx)
                             : rvmi_subtitle_converter_skipped(t->stx);
        if (skipped && !t->dropped)
            add_warning(w, "%s%d damaged %s %s skipped%s", name, skipped,
                        t->atx ? "audio" : "subtitle",
                        skipped == 1 ? "packet was" : "packets were",
                        t->atx ? " (replaced by silence)" : "");
    }
    if ((ret = av_write_trailer(w->oc)) < 0) {
        writer_err(w, err, errlen, "writing the trailer", ret);
        return -1;
    }
    w->header_written = 0;
    avio_flush(w->oc->pb);
    /* Write errors (a full disk) are sticky in the AVIOContext; closing reports the last. */
    ret = w->oc->pb->error;
    int cret = avio_closep(&w->oc->pb);
    if (ret < 0 || cret < 0) {
        writer_err(w, err, errlen, "writing", ret < 0 ? ret : cret);
        return -1;
    }
    return 0;
}

void rvmi_video_writer_free(rvmi_video_writer *w)
{
    if (!w)
        return;
    if (w->oc) {
        if (w->oc->pb)
            avio_closep(&w->oc->pb);
        avformat_free_context(w->oc);
    }
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_buffer_unref(&w->neutral);
    free(w->whole);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    for (int i = 0; i < w->ntracks; i++) {
        rvmi_audio_transcoder_free(w->tracks[i].atx);
        rvmi_subtitle_converter_free(w->tracks[i].stx);
    }
    free(w->tracks);
    free(w->name);
    free(w);
}
