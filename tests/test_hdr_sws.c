/* The reader converts HDR frames from YUV and grey to swscale's 16-bit planes (GBRP16) rather
 * than packed RGB48, relying on the two holding the same values (the planar writer is ~5x
 * faster). For every pixel format the reader sends that way (rvmi_hdr_rgb16_format) and
 * swscale reads: random pictures and edge ones (black, white, the limited range's ends,
 * single-pixel stripes of the extremes, saturated chroma), at the frame's size and resized
 * down and up, limited and full range, BT.2020 and BT.709, both conversions made as the
 * reader makes them (rvmi_rgb_sws), whole and (the planes) in the reader's slices: every
 * sample equal.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/reader.h"

#include "check.h"

enum { W = 67, H = 45 }; /* odd: the last chroma sample covers one pixel */

static uint32_t rng = 12345;
/* of the last comparison: the largest difference of RGB48 and GBRP16, and how many samples
 * of the slices differ from the whole conversion's */
static int max_error;
static long slice_diffs;
static uint32_t next_random(void)
{
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    return rng;
}

enum { RANDOM, BLACK, WHITE, LIMITED_LOW, LIMITED_HIGH, STRIPES, CHECKER, SATURATED, KINDS };
static const char *const kind_names[KINDS] = {"random", "black", "white", "limited-low",
                                              "limited-high", "stripes", "checker", "saturated"};

/* Component c's value at (x, y) of a picture of the given kind; depth bits (32 for a float
 * format: the bits of a float in 0..1). */
static uint32_t value(int kind, int c, int x, int y, int depth, int is_float)
{
    uint32_t max = depth >= 32 ? 0xffffffffu : (1u << depth) - 1;
    int luma = c == 0 || c == 3; /* Y or alpha */
    uint32_t v;
    switch (kind) {
    case RANDOM: v = next_random() & max; break;
    case BLACK: v = luma ? 0 : max / 2 + 1; break;
    case WHITE: v = luma ? max : max / 2 + 1; break;
    case LIMITED_LOW: v = depth >= 8 && depth < 32 ? 16u << (depth - 8) : 0; break;
    case LIMITED_HIGH:
        v = depth >= 8 && depth < 32 ? (luma ? 235u : 240u) << (depth - 8) : max;
        break;
    case STRIPES: v = (x + c) % 2 ? max : 0; break;
    case CHECKER: v = (x + y) % 2 ? max : 0; break;
    default: v = luma ? (y * 7 + x) % 3 * (max / 2) : (x / 3 + c) % 2 ? max : 0; break;
    }
    if (is_float) { /* 0..1, a little beyond at the ends for random pictures */
        float f = depth >= 32 ? (float)v / 4294967295.0f : (float)v / (float)max;
        if (kind == RANDOM)
            f = f * 1.2f - 0.1f;
        memcpy(&v, &f, sizeof v);
    }
    return v;
}

/* A w x h picture of pf; 0 when pf cannot be filled component by component. */
static int fill(uint8_t *data[4], int linesize[4], enum AVPixelFormat pf, int w, int h, int kind)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(pf);
    int size = av_image_alloc(data, linesize, w, h, pf, 64);
    if (size < 0)
        return 0;
    memset(data[0], 0, (size_t)size); /* av_write_image_line2 ORs bits into what is there */
    uint32_t *line = malloc(sizeof(uint32_t) * (size_t)w);
    for (int c = 0; c < d->nb_components; c++) {
        int chroma = c == 1 || c == 2;
        int cw = chroma ? AV_CEIL_RSHIFT(w, d->log2_chroma_w) : w;
        int ch = chroma ? AV_CEIL_RSHIFT(h, d->log2_chroma_h) : h;
        for (int y = 0; y < ch; y++) {
            for (int x = 0; x < cw; x++)
                line[x] = value(kind, c, x, y, d->comp[c].depth,
                                !!(d->flags & AV_PIX_FMT_FLAG_FLOAT));
            av_write_image_line2(line, data, linesize, d, 0, y, c, cw, 4);
        }
    }
    free(line);
    return 1;
}

static void keep(void *opaque, uint8_t *data) { (void)opaque, (void)data; }

/* Converts the picture to dw x dh of both outputs and compares; the number of samples that
 * differ, or -1 when a conversion is not available. */
static long compare(enum AVPixelFormat pf, uint8_t *const src[4], const int src_ls[4], int dw,
                    int dh, int spc, int full, int *sliced)
{
    struct SwsContext *packed = rvmi_rgb_sws(W, H, pf, dw, dh, AV_PIX_FMT_RGB48, spc, full);
    struct SwsContext *planar = rvmi_rgb_sws(W, H, pf, dw, dh, AV_PIX_FMT_GBRP16, spc, full);
    long diff = -1;
    uint8_t *rgb[4], *gbr[4], *gbr2[4];
    int rgb_ls[4], gbr_ls[4], gbr2_ls[4];
    if (!packed || !planar || av_image_alloc(rgb, rgb_ls, dw, dh, AV_PIX_FMT_RGB48, 64) < 0)
        goto done;
    av_image_alloc(gbr, gbr_ls, dw, dh, AV_PIX_FMT_GBRP16, 64);
    av_image_alloc(gbr2, gbr2_ls, dw, dh, AV_PIX_FMT_GBRP16, 64);
    if (sws_scale(packed, (const uint8_t *const *)src, src_ls, 0, H, rgb, rgb_ls) != dh ||
        sws_scale(planar, (const uint8_t *const *)src, src_ls, 0, H, gbr, gbr_ls) != dh)
        goto freed;
    /* The planes as the reader makes them: a new context, rows asked for in bands. */
    struct SwsContext *bands = rvmi_rgb_sws(W, H, pf, dw, dh, AV_PIX_FMT_GBRP16, spc, full);
    int banded = 0;
    unsigned align = sws_receive_slice_alignment(bands);
    if (align > 0 && align <= 16) {
        AVFrame *in = av_frame_alloc(), *out = av_frame_alloc();
        in->format = pf, in->width = W, in->height = H;
        out->format = AV_PIX_FMT_GBRP16, out->width = dw, out->height = dh;
        for (int p = 0; p < 4; p++) {
            in->data[p] = src[p], in->linesize[p] = src_ls[p];
            out->data[p] = gbr2[p], out->linesize[p] = gbr2_ls[p];
        }
        /* Frames with buffers (as the reader's are), or sws_frame_start would copy them:
         * the slices would land in the copy. */
        in->buf[0] = av_buffer_create(src[0], 1, keep, NULL, AV_BUFFER_FLAG_READONLY);
        out->buf[0] = av_buffer_create(gbr2[0], 1, keep, NULL, 0);
        int rows = (int)(16 / align * align), ret = sws_frame_start(bands, out, in);
        if (ret >= 0)
            ret = sws_send_slice(bands, 0, H);
        for (int y = 0; y < dh && ret >= 0; y += rows)
            ret = sws_receive_slice(bands, y, y + rows > dh ? dh - y : rows);
        sws_frame_end(bands);
        banded = ret >= 0;
        av_frame_free(&in), av_frame_free(&out);
    }
    sws_freeContext(bands);
    *sliced += banded;
    diff = 0;
    for (int y = 0; y < dh; y++) {
        const uint16_t *p = (const uint16_t *)(rgb[0] + (size_t)y * rgb_ls[0]);
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < 3; c++) {
                int plane = c == 0 ? 2 : c - 1; /* R, G, B in planes 2, 0, 1 */
                uint16_t v = ((const uint16_t *)(gbr[plane] + (size_t)y * gbr_ls[plane]))[x];
                uint16_t v2 = ((const uint16_t *)(gbr2[plane] + (size_t)y * gbr2_ls[plane]))[x];
                diff += p[3 * x + c] != v;
                diff += banded && v2 != v;
                slice_diffs += banded && v2 != v;
                int e = abs((int)p[3 * x + c] - (int)v);
                if (e > max_error)
                    max_error = e;
            }
    }
freed:
    av_freep(&rgb[0]), av_freep(&gbr[0]), av_freep(&gbr2[0]);
done:
    sws_freeContext(packed);
    sws_freeContext(planar);
    return diff;
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR); /* not swscale's notes on deprecated formats */
    static const int sizes[][2] = {{W, H}, {50, 31}, {90, 61}};
    static const int spaces[] = {AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT709};
    int formats = 0, sliced = 0;
    char named[512] = "";
    for (const AVPixFmtDescriptor *d = NULL; (d = av_pix_fmt_desc_next(d));) {
        enum AVPixelFormat pf = av_pix_fmt_desc_get_id(d);
        if (rvmi_hdr_rgb16_format(pf) != AV_PIX_FMT_GBRP16 || !sws_isSupportedInput(pf))
            continue;
        uint8_t *src[4];
        int ls[4];
        long bad = 0, pictures = 0;
        for (int kind = 0; kind < KINDS; kind++) {
            if (!fill(src, ls, pf, W, H, kind))
                break;
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (int full = 0; full <= 1; full++)
                    for (int sp = 0; sp < 2; sp++) {
                        long n = compare(pf, src, ls, sizes[s][0], sizes[s][1], spaces[sp], full,
                                         &sliced);
                        if (n < 0)
                            continue;
                        pictures++;
                        if (n && !bad) /* the first case that differs, of each format */
                            printf("%s: %s picture %dx%d -> %dx%d, %s range, %s: %ld samples "
                                   "differ (%ld of the slices), by up to %d\n", d->name,
                                   kind_names[kind], W, H, sizes[s][0], sizes[s][1],
                                   full ? "full" : "limited", sp ? "BT.709" : "BT.2020", n,
                                   slice_diffs, max_error);
                        max_error = 0, slice_diffs = 0;
                        bad += n;
                    }
            av_freep(&src[0]);
        }
        CHECK(pictures > 0, "%s: no conversion made", d->name);
        CHECK(bad == 0, "%s: GBRP16 and RGB48 differ (%ld samples)", d->name, bad);
        formats++;
        if (strlen(named) < sizeof named - 40)
            snprintf(named + strlen(named), sizeof named - strlen(named), " %s", d->name);
    }
    /* The formats HDR video comes in are among those checked (the rule did not go astray). */
    static const enum AVPixelFormat must[] = {
        AV_PIX_FMT_YUV420P,     AV_PIX_FMT_YUV420P10LE, AV_PIX_FMT_YUV420P12LE,
        AV_PIX_FMT_YUV420P16LE, AV_PIX_FMT_YUV422P10LE, AV_PIX_FMT_YUV422P12LE,
        AV_PIX_FMT_YUV444P10LE, AV_PIX_FMT_YUV444P12LE, AV_PIX_FMT_YUV444P16LE,
        AV_PIX_FMT_P010LE,      AV_PIX_FMT_P016LE,      AV_PIX_FMT_GRAY10LE,
        AV_PIX_FMT_GRAY12LE,    AV_PIX_FMT_GRAY16LE,    AV_PIX_FMT_YUVA444P10LE};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECK(rvmi_hdr_rgb16_format(must[i]) == AV_PIX_FMT_GBRP16, "%s goes to RGB48",
              av_get_pix_fmt_name(must[i]));
    CHECK(rvmi_hdr_rgb16_format(AV_PIX_FMT_RGB48LE) == AV_PIX_FMT_RGB48 &&
              rvmi_hdr_rgb16_format(AV_PIX_FMT_GBRP10LE) == AV_PIX_FMT_RGB48 &&
              rvmi_hdr_rgb16_format(AV_PIX_FMT_XYZ12LE) == AV_PIX_FMT_RGB48,
          "RGB and XYZ input go to planes");
    CHECK(formats >= 40 && sliced > 0, "%d formats checked, %d sliced", formats, sliced);
    printf("%d formats (%d conversions in slices):%s...\n", formats, sliced, named);
    return check_report();
}
