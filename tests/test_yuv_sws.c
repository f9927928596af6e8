/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The video writer's RGB to 4:2:0 kernel (rgb24_to_yuv420) against swscale as the writer used
 * it before (bicubic, accurate rounding, BT.709 limited range): the same luma for every one of
 * the 16.7 million colours, in every kernel set; chroma within one step of swscale's where the
 * colour is flat (both centre chroma between the four pixels it covers; the filters differ
 * at edges: swscale's is bicubic, the kernel's the mean of the four). */
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

static struct SwsContext *writer_sws(int w, int h)
{
    struct SwsContext *s = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P,
                                          SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP,
                                          NULL, NULL, NULL);
    if (s)
        sws_setColorspaceDetails(s, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16);
    return s;
}

/* The kernel over a whole frame. */
static void convert(const rvmi_frame_loops *f, const uint8_t *rgb, int w, int h, uint8_t *y,
                    uint8_t *u, uint8_t *v)
{
    for (int r = 0; r < h; r += 2)
        f->rgb24_to_yuv420(rgb + (size_t)3 * w * r, rgb + (size_t)3 * w * (r + 1), w,
                           y + (size_t)w * r, y + (size_t)w * (r + 1), u + (size_t)w / 2 * (r / 2),
                           v + (size_t)w / 2 * (r / 2));
}

int main(void)
{
    enum { W = 4096, H = 4096 };
    size_t n = (size_t)W * H;
    uint8_t *rgb = malloc(3 * n), *ys = malloc(n), *us = malloc(n / 4), *vs = malloc(n / 4);
    uint8_t *yk = malloc(n), *uk = malloc(n / 4), *vk = malloc(n / 4);
    struct SwsContext *s = writer_sws(W, H);
    if (!rgb || !ys || !us || !vs || !yk || !uk || !vk || !s) {
        fprintf(stderr, "FAIL: out of memory or no swscale context\n");
        return 1;
    }
    int failed = 0;
    const uint8_t *src[4] = {rgb};
    int sstride[4] = {3 * W};
    int dstride[4] = {W, W / 2, W / 2};
    /* 1. Every colour once: luma. */
    for (size_t i = 0; i < n; i++) {
        rgb[3 * i] = (uint8_t)(i >> 16);
        rgb[3 * i + 1] = (uint8_t)(i >> 8);
        rgb[3 * i + 2] = (uint8_t)i;
    }
    uint8_t *dst[4] = {ys, us, vs};
    sws_scale(s, src, sstride, 0, H, dst, dstride);
    const char *sets[] = {"reference", "generic", "avx2", "avx512"};
    for (int k = 0; k < 4; k++) {
        const rvmi_kernels *ks = rvmi_kernels_by_name(sets[k]);
        if (!ks)
            continue;
        convert(ks->frames, rgb, W, H, yk, uk, vk);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += yk[i] != ys[i];
        printf("%s %s: luma of all %zu colours, %zu unlike swscale's\n", bad ? "FAIL" : "ok",
               sets[k], n, bad);
        failed |= bad != 0;
    }
    /* 2. Flat 16x16 tiles of one colour each (every 7th value of each channel, 50653
     * colours): the chroma samples inside a tile (4x4, beyond the reach of swscale's filter
     * from the tile's edges) within one step of swscale's. */
    int tiles = W / 16, count = 0;
    for (int t = 0; t < tiles * tiles; t++) {
        int c = t < 37 * 37 * 37 ? t : 0;
        uint8_t col[3] = {(uint8_t)(c / 1369 * 7), (uint8_t)(c / 37 % 37 * 7), (uint8_t)(c % 37 * 7)};
        int tx = t % tiles * 16, ty = t / tiles * 16;
        for (int yy = ty; yy < ty + 16; yy++)
            for (int xx = tx; xx < tx + 16; xx++)
                memcpy(rgb + 3 * ((size_t)yy * W + xx), col, 3);
    }
    sws_scale(s, src, sstride, 0, H, dst, dstride);
    convert(rvmi_kernels_default()->frames, rgb, W, H, yk, uk, vk);
    int worst = 0;
    for (int t = 0; t < tiles * tiles; t++)
        for (int cy = 2; cy < 6; cy++)
            for (int cx = 2; cx < 6; cx++) {
                size_t i = (size_t)(t / tiles * 8 + cy) * (W / 2) + (size_t)(t % tiles * 8 + cx);
                int du = abs(uk[i] - us[i]), dv = abs(vk[i] - vs[i]);
                worst = du > worst ? du : worst;
                worst = dv > worst ? dv : worst;
                count++;
            }
    printf("%s chroma of %d samples in flat tiles: at most %d step%s from swscale's\n",
           worst > 1 ? "FAIL" : "ok", count, worst, worst == 1 ? "" : "s");
    failed |= worst > 1;
    sws_freeContext(s);
    free(rgb), free(ys), free(us), free(vs), free(yk), free(uk), free(vk);
    return failed;
}
