/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/background.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavutil/avstring.h>
#include <libavutil/parseutils.h>
#include <libswscale/swscale.h>

#include "io/reader.h"

struct rvmi_background {
    int width, height;
    uint8_t *frame;            /* what next() returns */
    char *path;                /* image/video file, NULL for a colour */
    rvmi_reader *reader;
    int is_still;              /* a single picture: computed once */
    int is_colour;             /* one colour: frame is filled only if asked for */
    uint8_t colour[3];
    uint8_t *src;              /* a video's decoded picture, reused */
    size_t src_size;
    int frames_read;
    int see_through;           /* the first picture had a pixel not opaque */
    const atomic_int *interrupt;
    struct SwsContext *sws;
};

int rvmi_parse_colour(const char *spec, uint8_t rgb[3])
{
    int r, g, b, n = 0;
    if (sscanf(spec, "%d,%d,%d%n", &r, &g, &b, &n) == 3 && spec[n] == '\0') {
        if (r < 0 || r > 255 || g < 0 || g > 255 || b < 0 || b > 255)
            return -1;
        rgb[0] = (uint8_t)r;
        rgb[1] = (uint8_t)g;
        rgb[2] = (uint8_t)b;
        return 0;
    }
    /* libavutil knows the HTML/X11 colour names and the hex forms. "random" (and its
     * alias "bikeshed", in any case) is not a background anyone means. */
    if (av_strcasecmp(spec, "random") == 0 || av_strcasecmp(spec, "bikeshed") == 0)
        return -1;
    /* CSS's short hex, #RGB and #RGBA (each digit doubled; also before libavutil's @ALPHA),
     * which libavutil does not read. */
    char longhex[64];
    size_t digits = strspn(spec + (spec[0] == '#'), "0123456789abcdefABCDEF");
    const char *rest = spec + 1 + digits;
    if (spec[0] == '#' && (digits == 3 || digits == 4) && (!*rest || *rest == '@') &&
        strlen(rest) < sizeof longhex - 10) {
        longhex[0] = '#';
        for (size_t i = 0; i < digits; i++)
            longhex[1 + 2 * i] = longhex[2 + 2 * i] = spec[1 + i];
        strcpy(longhex + 1 + 2 * digits, rest);
        spec = longhex;
    }
    uint8_t rgba[4];
    if (av_parse_color(rgba, spec, -1, NULL) < 0)
        return -1;
    /* #RRGGBBAA and red@0.5 parse with an alpha; the composition is opaque, so such a
     * colour came out solid without a word. */
    if (rgba[3] != 255)
        return -2;
    memcpy(rgb, rgba, 3);
    return 0;
}

/* Scales src (sw x sh) to cover width x height keeping its aspect, centred, cropped. */
static int cover(rvmi_background *bg, const uint8_t *src, int sw, int sh, char *err,
                 size_t errlen)
{
    double s = (double)bg->width / sw > (double)bg->height / sh ? (double)bg->width / sw
                                                                 : (double)bg->height / sh;
    int cw = (int)(bg->width / s + 0.5), ch = (int)(bg->height / s + 0.5);
    if (cw < 1)
        cw = 1;
    if (ch < 1)
        ch = 1;
    if (cw > sw)
        cw = sw;
    if (ch > sh)
        ch = sh;
    int cx = (sw - cw) / 2, cy = (sh - ch) / 2;
    bg->sws = sws_getCachedContext(bg->sws, cw, ch, AV_PIX_FMT_RGB24, bg->width, bg->height,
                                   AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL,
                                   NULL);
    if (!bg->sws) {
        snprintf(err, errlen, "background: cannot scale %dx%d to %dx%d", cw, ch, bg->width,
                 bg->height);
        return -1;
    }
    const uint8_t *in[4] = {src + ((size_t)cy * sw + cx) * 3, NULL, NULL, NULL};
    int in_stride[4] = {sw * 3, 0, 0, 0};
    uint8_t *out[4] = {bg->frame, NULL, NULL, NULL};
    int out_stride[4] = {bg->width * 3, 0, 0, 0};
    sws_scale(bg->sws, in, in_stride, 0, ch, out, out_stride);
    return 0;
}

static rvmi_reader *open_reader(const char *path, const atomic_int *interrupt, char *err,
                               size_t errlen)
{
    rvmi_reader_options o = {0};
    o.duration = -1;
    o.image_fps = 30;
    o.interrupt = interrupt;
    /* The composition is opaque: a see-through part shows what is behind the picture,
     * black (as a video player shows it), rather than whatever colour its pixels keep
     * under an alpha of 0 (often not the one the picture was drawn with). */
    o.over_black = 1;
    char sub[512];
    rvmi_reader *r = rvmi_reader_open(path, &o, sub, sizeof(sub));
    if (!r)
        snprintf(err, errlen, "background: %s", sub);
    return r;
}

/* Reads the background's next picture into bg->frame; loops a video at its end. Returns 1,
 * or 0 when the file has no (more) pictures even after reopening, or -1. */
static int read_next(rvmi_background *bg, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!bg->reader && !(bg->reader = open_reader(bg->path, bg->interrupt, err, errlen)))
            return -1;
        rvmi_read_item it;
        char sub[512];
        size_t size = (size_t)rvmi_reader_width(bg->reader) * rvmi_reader_height(bg->reader) * 3;
        if (size > bg->src_size) {
            free(bg->src);
            bg->src_size = 0;
            if (!(bg->src = malloc(size))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            bg->src_size = size;
        }
        int k = rvmi_reader_read_into(bg->reader, &it, bg->src, sub, sizeof(sub));
        if (k == RVM_ITEM_VIDEO) {
            if (bg->frames_read == 0)
                bg->see_through = rvmi_reader_see_through(bg->reader);
            int ret = cover(bg, it.rgb, rvmi_reader_width(bg->reader),
                            rvmi_reader_height(bg->reader), err, errlen);
            bg->frames_read++;
            return ret < 0 ? -1 : 1;
        }
        if (k < 0 && bg->frames_read == 0) {
            snprintf(err, errlen, "background: %s", sub);
            return -1;
        }
        /* End (or a damaged tail): start over. */
        rvmi_reader_close(bg->reader);
        bg->reader = NULL;
        if (bg->frames_read == 0)
            break;
    }
    return 0;
}

/* Whether a spec that is neither a file nor a colour was meant as a file: it has a folder
 * or an extension with a letter (beach.jpg, not red@0.5). */
static int names_file(const char *spec)
{
    const char *dot = strrchr(spec, '.');
    if (strchr(spec, '/'))
        return 1;
    if (!dot || !dot[1])
        return 0;
    int letter = 0;
    for (const char *p = dot + 1; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
        letter |= !(*p >= '0' && *p <= '9');
    }
    return letter;
}

/* 0 with the colour spec names in rgb; 1 with the message when it is no usable colour; 2
 * when it names a file that is missing or is no regular file. */
static int colour_of(const char *spec, uint8_t rgb[3], char *err, size_t errlen)
{
    struct stat st;
    int k = rvmi_parse_colour(spec, rgb);
    if (k == -2) {
        snprintf(err, errlen,
                 "--background %s: a background colour cannot be see-through (the composition "
                 "is opaque); --background none gives a transparent composition",
                 spec);
        return 1;
    }
    if (k < 0 && names_file(spec)) {
        snprintf(err, errlen, "--background %s: %s", spec,
                 stat(spec, &st) == 0 ? "not an image or a video file" : "no such file");
        return 2;
    }
    if (k < 0) {
        snprintf(err, errlen,
                 "--background %s: not a colour (name, #RRGGBB, #RGB or R,G,B), an image or a "
                 "video file",
                 spec);
        return 1;
    }
    return 0;
}

int rvmi_background_check_colour(const char *spec, char *err, size_t errlen)
{
    struct stat st;
    uint8_t rgb[3];
    if (stat(spec, &st) == 0 && S_ISREG(st.st_mode))
        return 0;
    return colour_of(spec, rgb, err, errlen) == 1 ? -1 : 0;
}

rvmi_background *rvmi_background_open(const char *spec, int width, int height,
                                    const atomic_int *interrupt, int *bad_colour, char *err,
                                    size_t errlen)
{
    *bad_colour = 0;
    rvmi_background *bg = calloc(1, sizeof(*bg));
    if (!bg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bg->width = width;
    bg->height = height;
    bg->interrupt = interrupt;
    struct stat st;
    if (stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
        if (!(bg->frame = malloc((size_t)width * height * 3)) || !(bg->path = strdup(spec))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        int k = read_next(bg, err, errlen);
        if (k <= 0) {
            if (k == 0)
                snprintf(err, errlen, "background %s: no picture in the file", spec);
            goto fail;
        }
        /* One picture only (an image): nothing more to read per frame. */
        rvmi_read_item it;
        char sub[512];
        int k2 = rvmi_reader_read(bg->reader, &it, sub, sizeof(sub));
        if (k2 == RVM_ITEM_VIDEO) {
            /* A video: its second picture was read to find that out; start over so the
             * first frame of the input gets the first picture (already in bg->frame). */
            free(it.rgb);
            rvmi_reader_close(bg->reader);
            bg->reader = open_reader(bg->path, interrupt, err, errlen);
            if (!bg->reader)
                goto fail;
            char sub2[512];
            if (rvmi_reader_read(bg->reader, &it, sub2, sizeof(sub2)) == RVM_ITEM_VIDEO)
                free(it.rgb);
            bg->is_still = 0;
            /* The first call of next() returns the picture already computed. */
            bg->frames_read = -1;
        } else {
            bg->is_still = 1;
            rvmi_reader_close(bg->reader);
            bg->reader = NULL;
        }
        return bg;
    }
    uint8_t rgb[3];
    int k = colour_of(spec, rgb, err, errlen);
    if (k) {
        *bad_colour = k == 1;
        goto fail;
    }
    memcpy(bg->colour, rgb, 3);
    bg->is_colour = 1;
    bg->is_still = 1;
    return bg;
fail:
    rvmi_background_free(bg);
    return NULL;
}

int rvmi_background_see_through(const rvmi_background *bg) { return bg->see_through; }

int rvmi_background_colour(const rvmi_background *bg, uint8_t rgb[3])
{
    if (bg->is_colour)
        memcpy(rgb, bg->colour, 3);
    return bg->is_colour;
}

const uint8_t *rvmi_background_next(rvmi_background *bg, char *err, size_t errlen)
{
    if (bg->is_colour && !bg->frame) {
        if (!(bg->frame = malloc((size_t)bg->width * bg->height * 3))) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < (size_t)bg->width * bg->height; i++)
            memcpy(bg->frame + 3 * i, bg->colour, 3);
    }
    if (bg->is_still)
        return bg->frame;
    if (bg->frames_read < 0) {
        bg->frames_read = 1;
        return bg->frame;
    }
    int k = read_next(bg, err, errlen);
    if (k < 0)
        return NULL;
    /* k == 0 cannot happen after a first picture, but keep the last one if it does. */
    return bg->frame;
}

void rvmi_background_free(rvmi_background *bg)
{
    if (!bg)
        return;
    rvmi_reader_close(bg->reader);
    sws_freeContext(bg->sws);
    free(bg->src);
    free(bg->frame);
    free(bg->path);
    free(bg);
}
