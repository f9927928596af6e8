/* Image outputs (libavcodec's image encoders): PNG sequences in the official converter's
 * layout, and single images in the format their name says.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/image.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

struct rvmi_image_writer {
    AVCodecContext *enc;
    AVFrame *frame;          /* the picture the encoder takes */
    AVFrame *packed;         /* the pipeline's pixels, when the encoder takes another format */
    struct SwsContext *sws;  /* from packed to frame */
    AVPacket *pkt;
    char *dir;               /* a sequence's folder, or NULL */
    char *path;              /* a single image's file, or NULL */
    rvmi_layout layout;
    int depth, width, height, count;
};

/* The formats a single-image output can be written in: those image folders are read in
 * that FFmpeg has an encoder for and that hold what rvm writes. Not GIF or PBM (a palette
 * or one bit), nor EXR (linear light, which rvm's pictures are not). */
static const rvmi_image_format image_formats[] = {
    {"png", AV_CODEC_ID_PNG, 1, 1, 1},    {"jpg", AV_CODEC_ID_MJPEG, 1, 0, 0},
    {"jpeg", AV_CODEC_ID_MJPEG, 1, 0, 0}, {"webp", AV_CODEC_ID_WEBP, 1, 1, 0},
    {"tif", AV_CODEC_ID_TIFF, 1, 1, 1},   {"tiff", AV_CODEC_ID_TIFF, 1, 1, 1},
    {"bmp", AV_CODEC_ID_BMP, 1, 0, 0},    {"tga", AV_CODEC_ID_TARGA, 1, 1, 0},
    {"qoi", AV_CODEC_ID_QOI, 1, 1, 0},    {"ppm", AV_CODEC_ID_PPM, 1, 0, 1},
    {"pgm", AV_CODEC_ID_PGM, 0, 0, 1},    {"pam", AV_CODEC_ID_PAM, 1, 1, 1},
};

const rvmi_image_format *rvmi_image_format_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || dot == path || dot[-1] == '/')
        return NULL;
    for (size_t i = 0; i < sizeof image_formats / sizeof image_formats[0]; i++)
        if (strcasecmp(dot + 1, image_formats[i].ext) == 0)
            return (image_formats[i].codec_id == AV_CODEC_ID_WEBP
                        ? avcodec_find_encoder_by_name("libwebp")
                        : avcodec_find_encoder((enum AVCodecID)image_formats[i].codec_id))
                       ? &image_formats[i]
                       : NULL;
    return NULL;
}

/* Creates dir and its missing parents (like the official os.makedirs). */
int rvmi_make_dirs(const char *dir, char *err, size_t errlen)
{
    char *p = strdup(dir);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "cannot create folder %s: %s", p, strerror(e));
            free(p);
            errno = e; /* for the caller to tell a full disk from a usage error */
            return -1;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a folder", dir);
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* The pipeline's packed pixels as an FFmpeg format (16-bit: native-endian). */
static enum AVPixelFormat packed_format(rvmi_layout layout, int depth)
{
    if (depth == 16)
        return layout == RVM_LAYOUT_GRAY  ? AV_PIX_FMT_GRAY16
               : layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_RGB48
                                          : AV_PIX_FMT_RGBA64;
    return layout == RVM_LAYOUT_GRAY  ? AV_PIX_FMT_GRAY8
           : layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_RGB24
                                      : AV_PIX_FMT_RGBA;
}

/* What the encoder is given. PNG: the packed layout itself, 16-bit samples big-endian as PNG
 * stores them (written by take, no conversion). JPEG: full-range 4:4:4 (JFIF, no chroma
 * subsampling, so edges keep their colour). Others: the encoder's format closest to the
 * packed one. */
static enum AVPixelFormat encoder_format(const AVCodec *codec, rvmi_layout layout, int depth)
{
    if (codec->id == AV_CODEC_ID_PNG)
        return depth == 16 ? (layout == RVM_LAYOUT_GRAY  ? AV_PIX_FMT_GRAY16BE
                              : layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_RGB48BE
                                                         : AV_PIX_FMT_RGBA64BE)
                           : packed_format(layout, 8);
    if (codec->id == AV_CODEC_ID_MJPEG)
        return AV_PIX_FMT_YUVJ444P;
    if (!codec->pix_fmts)
        return AV_PIX_FMT_NONE;
    enum AVPixelFormat packed = packed_format(layout, depth);
    for (const enum AVPixelFormat *p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; p++)
        if (*p == packed)
            return packed;
    return avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, packed, layout == RVM_LAYOUT_RGBA,
                                             NULL);
}

static rvmi_image_writer *writer_open(const char *dir, const char *path, enum AVCodecID id,
                                      rvmi_layout layout, int depth, int width, int height,
                                      int *usage, char *err, size_t errlen)
{
    /* Every refusal below but running out of memory is the request's: no retry changes it. */
    *usage = 1;
    rvmi_image_writer *w = calloc(1, sizeof(*w));
    if (!w || (dir && !(w->dir = strdup(dir))) || (path && !(w->path = strdup(path)))) {
        rvmi_image_writer_free(w);
        snprintf(err, errlen, "out of memory");
        *usage = 0;
        return NULL;
    }
    w->layout = layout;
    w->depth = depth;
    w->width = width;
    w->height = height;
    /* WebP: the still-picture encoder (libwebp_anim, also for AV_CODEC_ID_WEBP, writes an
     * animation of one frame). */
    const AVCodec *codec = id == AV_CODEC_ID_WEBP ? avcodec_find_encoder_by_name("libwebp")
                                                  : avcodec_find_encoder(id);
    const char *name = avcodec_get_name(id);
    if (!codec) {
        snprintf(err, errlen, "this FFmpeg has no %s encoder", name);
        goto fail;
    }
    enum AVPixelFormat pf = encoder_format(codec, layout, depth);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pf);
    if (!d) {
        snprintf(err, errlen, "FFmpeg's %s encoder takes no picture rvm can give it", name);
        goto fail;
    }
    /* Refused rather than losing what the picture holds. */
    if (layout != RVM_LAYOUT_GRAY && d->nb_components < 3) {
        snprintf(err, errlen, "a %s image holds grey pictures only (the matte, not colour)",
                 name);
        goto fail;
    }
    if (layout == RVM_LAYOUT_RGBA && !(d->flags & AV_PIX_FMT_FLAG_ALPHA)) {
        snprintf(err, errlen, "a %s image cannot be transparent", name);
        goto fail;
    }
    w->enc = avcodec_alloc_context3(codec);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->enc || !w->frame || !w->pkt) {
        snprintf(err, errlen, "out of memory");
        *usage = 0;
        goto fail;
    }
    w->enc->width = width;
    w->enc->height = height;
    w->enc->pix_fmt = pf;
    w->enc->time_base = (AVRational){1, 25};
    if (id == AV_CODEC_ID_MJPEG) {
        /* Quality 2 of 31 (ffmpeg -q:v 2): FFmpeg's default is a video bit rate, far too
         * low for a still picture. */
        w->enc->flags |= AV_CODEC_FLAG_QSCALE;
        w->enc->global_quality = FF_QP2LAMBDA * 2;
        w->enc->color_range = AVCOL_RANGE_JPEG;
    }
    /* FFmpeg's encoders refuse frames with (width + 128) x (height + 128) of 2^28 or
     * more (16384x16384 is over): say so, rather than that the encoder would not open. */
    if (av_image_check_size((unsigned)width, (unsigned)height, 0, NULL) < 0) {
        snprintf(err, errlen,
                 "%dx%d frames are larger than FFmpeg's %s encoder takes ((width + 128) x "
                 "(height + 128) under 268 million, e.g. 16000x16000; use --input-resize)",
                 width, height, name);
        goto fail;
    }
    int ret = avcodec_open2(w->enc, codec, NULL);
    if (ret < 0) {
        *usage = ret != AVERROR(ENOMEM);
        snprintf(err, errlen, "cannot open the %s encoder for %dx%d pictures", name, width,
                 height);
        goto fail;
    }
    w->frame->format = pf;
    w->frame->width = width;
    w->frame->height = height;
    if (av_frame_get_buffer(w->frame, 0) < 0) {
        snprintf(err, errlen, "out of memory");
        *usage = 0;
        goto fail;
    }
    if (id != AV_CODEC_ID_PNG && pf != packed_format(layout, depth)) {
        enum AVPixelFormat from = packed_format(layout, depth);
        w->packed = av_frame_alloc();
        /* The same size: only the format changes (no filtering); exact rounding, and
         * chroma computed per pixel. */
        w->sws = sws_getContext(width, height, from, width, height, pf,
                                SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT |
                                    SWS_FULL_CHR_H_INP,
                                NULL, NULL, NULL);
        if (!w->packed || !w->sws) {
            snprintf(err, errlen, "cannot convert pictures for the %s encoder", name);
            goto fail;
        }
        w->packed->format = from;
        w->packed->width = width;
        w->packed->height = height;
        if (av_frame_get_buffer(w->packed, 0) < 0) {
            snprintf(err, errlen, "out of memory");
            *usage = 0;
            goto fail;
        }
    }
    return w;
fail:
    rvmi_image_writer_free(w);
    return NULL;
}

rvmi_image_writer *rvmi_image_writer_open_sequence(const char *dir, rvmi_layout layout,
                                                   int depth, int width, int height,
                                                   int *usage, char *err, size_t errlen)
{
    if (rvmi_make_dirs(dir, err, errlen) < 0) {
        /* A full disk or a failing device may pass; a name that is no folder, a folder
         * without permission or on a read-only file system will not. */
        *usage = errno != ENOSPC && errno != EDQUOT && errno != EIO && errno != ENOMEM;
        return NULL;
    }
    return writer_open(dir, NULL, AV_CODEC_ID_PNG, layout, depth, width, height, usage, err,
                       errlen);
}

rvmi_image_writer *rvmi_image_writer_open_single(const char *path,
                                                 const rvmi_image_format *format,
                                                 rvmi_layout layout, int depth, int width,
                                                 int height, int *usage, char *err,
                                                 size_t errlen)
{
    if (depth == 16 && !format->deep) {
        snprintf(err, errlen, "a .%s image holds 8 bits per channel, not 16", format->ext);
        *usage = 1;
        return NULL;
    }
    return writer_open(NULL, path, (enum AVCodecID)format->codec_id, layout, depth, width,
                       height, usage, err, errlen);
}

int rvmi_image_writer_take(rvmi_image_writer *w, const void *data, char *err, size_t errlen)
{
    AVFrame *to = w->packed ? w->packed : w->frame;
    if (av_frame_make_writable(to) < 0 || (w->packed && av_frame_make_writable(w->frame) < 0)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Big-endian 16-bit samples only where the encoder takes them so (PNG); otherwise the
     * packed pixels as they are. */
    int big_endian = !w->packed && w->depth == 16 &&
                     (av_pix_fmt_desc_get(to->format)->flags & AV_PIX_FMT_FLAG_BE);
    size_t row = (size_t)w->width * w->layout * (w->depth == 16 ? 2 : 1);
    for (int y = 0; y < w->height; y++) {
        uint8_t *d = to->data[0] + (size_t)y * to->linesize[0];
        const uint8_t *s = (const uint8_t *)data + row * y;
        if (big_endian) {
            const uint16_t *s16 = (const uint16_t *)s;
            for (size_t i = 0; i < row / 2; i++)
                AV_WB16(d + 2 * i, s16[i]);
        } else {
            memcpy(d, s, row);
        }
    }
    if (w->packed)
        sws_scale(w->sws, (const uint8_t *const *)w->packed->data, w->packed->linesize, 0,
                  w->height, w->frame->data, w->frame->linesize);
    return 0;
}

/* Writes the encoded picture to a file: 0, or -1 with a message naming shown. */
static int write_file(const char *path, const char *shown, const AVPacket *pkt, char *err,
                      size_t errlen)
{
    /* pipe:N: an open descriptor written as it stands (rvmi_outfile's through_fd: a file a
     * shell opened to append to); no image output is named so otherwise (no extension). */
    int num = -1, n = 0, fd = -1;
    FILE *f = sscanf(path, "pipe:%d%n", &num, &n) == 1 && path[n] == '\0' && num >= 0
                  ? ((fd = dup(num)) >= 0 ? fdopen(fd, "wb") : NULL)
                  : fopen(path, "wb");
    if (!f && fd >= 0)
        close(fd);
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", shown, strerror(errno));
        return -1;
    }
    size_t wr = fwrite(pkt->data, 1, (size_t)pkt->size, f);
    int e1 = wr == (size_t)pkt->size ? 0 : errno;
    int e2 = fclose(f) == 0 ? 0 : errno;
    if (e1 || e2) {
        snprintf(err, errlen, "writing %s: %s", shown, strerror(e1 ? e1 : e2));
        return -1;
    }
    return 0;
}

int rvmi_image_writer_set_icc(rvmi_image_writer *w, const uint8_t *icc, size_t size)
{
    if (av_frame_get_side_data(w->frame, AV_FRAME_DATA_ICC_PROFILE))
        return 0;
    /* Side data stays with the frame: av_frame_make_writable keeps it. */
    AVFrameSideData *sd = av_frame_new_side_data(w->frame, AV_FRAME_DATA_ICC_PROFILE, size);
    if (!sd)
        return -1;
    memcpy(sd->data, icc, size);
    return 0;
}

int rvmi_image_writer_encode(rvmi_image_writer *w, char *err, size_t errlen)
{
    if (w->path && w->count > 0) {
        snprintf(err, errlen, "an image holds one picture");
        return -1;
    }
    w->frame->pts = w->count;
    int ret = avcodec_send_frame(w->enc, w->frame);
    if (ret >= 0)
        ret = avcodec_receive_packet(w->enc, w->pkt);
    if (ret == AVERROR(EAGAIN) && avcodec_send_frame(w->enc, NULL) >= 0)
        ret = avcodec_receive_packet(w->enc, w->pkt); /* an encoder that waits for the end */
    if (ret < 0) {
        snprintf(err, errlen, "encoding a %s picture failed", w->enc->codec->name);
        return -1;
    }
    int ok;
    if (w->path) {
        /* The caller's file is already hidden until complete (src/io/outfile.h). */
        ok = write_file(w->path, w->path, w->pkt, err, errlen) == 0;
    } else {
        /* Each frame under a hidden name, renamed when whole, so an interrupted or failed
         * run never leaves a truncated frame that looks like a result. */
        size_t n = strlen(w->dir) + 40;
        char *tmp = malloc(n), *final = malloc(n);
        ok = tmp && final;
        if (!ok) {
            snprintf(err, errlen, "out of memory");
        } else {
            snprintf(final, n, "%s/%04d.png", w->dir, w->count);
            snprintf(tmp, n, "%s/.%04d.png.part", w->dir, w->count);
            ok = write_file(tmp, final, w->pkt, err, errlen) == 0;
            if (ok && rename(tmp, final) < 0) {
                snprintf(err, errlen, "cannot create %s: %s", final, strerror(errno));
                ok = 0;
            }
            if (!ok)
                unlink(tmp);
        }
        free(tmp);
        free(final);
    }
    av_packet_unref(w->pkt);
    if (!ok)
        return -1;
    w->count++;
    return 0;
}

void rvmi_image_writer_free(rvmi_image_writer *w)
{
    if (!w)
        return;
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_frame_free(&w->packed);
    sws_freeContext(w->sws);
    av_packet_free(&w->pkt);
    free(w->dir);
    free(w->path);
    free(w);
}

/* The frame number of a name like "0042.png" (at least 4 digits), or -1. */
static long frame_number(const char *name)
{
    size_t n = 0;
    while (isdigit((unsigned char)name[n]))
        n++;
    if (n < 4 || n > 9 || strcmp(name + n, ".png") != 0)
        return -1;
    return strtol(name, NULL, 10);
}

int rvmi_png_sequence_exists(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)))
        found = frame_number(e->d_name) >= 0;
    closedir(d);
    return found;
}
