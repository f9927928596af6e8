/* PNG sequence outputs (libavcodec's PNG encoder), the official converter's layout.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/pngseq.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/intreadwrite.h>

struct rvmi_png_writer {
    AVCodecContext *enc;
    AVFrame *frame;
    AVPacket *pkt;
    char *dir;
    rvmi_layout layout;
    int depth, width, height, count;
};

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
            snprintf(err, errlen, "cannot create folder %s: %s", p, strerror(errno));
            free(p);
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
        return -1;
    }
    return 0;
}

rvmi_png_writer *rvmi_png_writer_open(const char *dir, rvmi_layout layout, int depth, int width,
                                    int height, char *err, size_t errlen)
{
    rvmi_png_writer *w = calloc(1, sizeof(*w));
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->layout = layout;
    w->depth = depth;
    w->width = width;
    w->height = height;
    if (rvmi_make_dirs(dir, err, errlen) < 0)
        goto fail;
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!codec) {
        snprintf(err, errlen, "this FFmpeg has no PNG encoder");
        goto fail;
    }
    w->enc = avcodec_alloc_context3(codec);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->enc || !w->frame || !w->pkt) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* The PNG encoder takes 16-bit samples big-endian, as PNG stores them. */
    enum AVPixelFormat pf;
    if (depth == 16)
        pf = layout == RVM_LAYOUT_GRAY  ? AV_PIX_FMT_GRAY16BE
             : layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_RGB48BE
                                        : AV_PIX_FMT_RGBA64BE;
    else
        pf = layout == RVM_LAYOUT_GRAY  ? AV_PIX_FMT_GRAY8
             : layout == RVM_LAYOUT_RGB ? AV_PIX_FMT_RGB24
                                        : AV_PIX_FMT_RGBA;
    w->enc->width = width;
    w->enc->height = height;
    w->enc->pix_fmt = pf;
    w->enc->time_base = (AVRational){1, 25};
    /* FFmpeg's encoders refuse frames with (width + 128) x (height + 128) of 2^28 or
     * more (16384x16384 is over): say so, rather than that the encoder would not open. */
    if (av_image_check_size((unsigned)width, (unsigned)height, 0, NULL) < 0) {
        snprintf(err, errlen,
                 "%dx%d frames are larger than FFmpeg's PNG encoder takes ((width + 128) x "
                 "(height + 128) under 268 million, e.g. 16000x16000; use --input-resize)",
                 width, height);
        goto fail;
    }
    if (avcodec_open2(w->enc, codec, NULL) < 0) {
        snprintf(err, errlen, "cannot open the PNG encoder");
        goto fail;
    }
    w->frame->format = pf;
    w->frame->width = width;
    w->frame->height = height;
    if (av_frame_get_buffer(w->frame, 0) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return w;
fail:
    rvmi_png_writer_free(w);
    return NULL;
}

int rvmi_png_writer_frame(rvmi_png_writer *w, const void *data, char *err, size_t errlen)
{
    if (rvmi_png_writer_take(w, data, err, errlen) < 0)
        return -1;
    return rvmi_png_writer_encode(w, err, errlen);
}

int rvmi_png_writer_take(rvmi_png_writer *w, const void *data, char *err, size_t errlen)
{
    if (av_frame_make_writable(w->frame) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t row = (size_t)w->width * w->layout;
    for (int y = 0; y < w->height; y++) {
        uint8_t *d = w->frame->data[0] + (size_t)y * w->frame->linesize[0];
        if (w->depth == 16) {
            const uint16_t *s = (const uint16_t *)data + row * y;
            for (size_t i = 0; i < row; i++)
                AV_WB16(d + 2 * i, s[i]);
        } else {
            memcpy(d, (const uint8_t *)data + row * y, row);
        }
    }
    return 0;
}

int rvmi_png_writer_encode(rvmi_png_writer *w, char *err, size_t errlen)
{
    w->frame->pts = w->count;
    int ret = avcodec_send_frame(w->enc, w->frame);
    if (ret >= 0)
        ret = avcodec_receive_packet(w->enc, w->pkt);
    if (ret < 0) {
        snprintf(err, errlen, "encoding a PNG failed");
        return -1;
    }
    /* Written under a hidden name and renamed when whole, so an interrupted or failed run
     * never leaves a truncated frame that looks like a result. */
    size_t n = strlen(w->dir) + 40;
    char *tmp = malloc(n), *final = malloc(n);
    if (!tmp || !final) {
        free(tmp);
        free(final);
        av_packet_unref(w->pkt);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(final, n, "%s/%04d.png", w->dir, w->count);
    snprintf(tmp, n, "%s/.%04d.png.part", w->dir, w->count);
    int ok = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", final, strerror(errno));
    } else {
        size_t wr = fwrite(w->pkt->data, 1, (size_t)w->pkt->size, f);
        int e1 = wr == (size_t)w->pkt->size ? 0 : errno;
        int e2 = fclose(f) == 0 ? 0 : errno;
        if (e1 || e2) {
            snprintf(err, errlen, "writing %s: %s", final, strerror(e1 ? e1 : e2));
            unlink(tmp);
        } else if (rename(tmp, final) < 0) {
            snprintf(err, errlen, "cannot create %s: %s", final, strerror(errno));
            unlink(tmp);
        } else {
            ok = 1;
        }
    }
    av_packet_unref(w->pkt);
    free(tmp);
    free(final);
    if (!ok)
        return -1;
    w->count++;
    return 0;
}

int rvmi_png_writer_count(const rvmi_png_writer *w)
{
    return w->count;
}

void rvmi_png_writer_free(rvmi_png_writer *w)
{
    if (!w)
        return;
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    free(w->dir);
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
