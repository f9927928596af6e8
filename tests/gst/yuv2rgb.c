/* The RGB picture an 8-bit 4:2:0 frame stands for, by the textbook formulas (what
 * include/rvm.h documents for NV12/I420 input): Y, U, V scaled by the range, each chroma
 * sample serving its 2x2 block of luma pixels, R = Y + 2(1-Kr)V, G = Y - 2(1-Kb)Kb/Kg U -
 * 2(1-Kr)Kr/Kg V, B = Y + 2(1-Kb)U, clamped and rounded to 8 bits. Written independently of
 * the library (double precision) so that the element's YUV input can be checked against
 * the matte of this RGB.
 *   yuv2rgb W H bt601|bt709 full|limited < frames.i420 > frames.rgb
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: yuv2rgb W H bt601|bt709 full|limited < i420 > rgb24\n");
        return 2;
    }
    int w = atoi(argv[1]), h = atoi(argv[2]);
    int bt709 = strcmp(argv[3], "bt709") == 0, full = strcmp(argv[4], "full") == 0;
    if (w < 1 || h < 1 || w > 16384 || h > 16384) {
        fprintf(stderr, "yuv2rgb: bad size\n");
        return 2;
    }
    double kr = bt709 ? 0.2126 : 0.299, kb = bt709 ? 0.0722 : 0.114, kg = 1 - kr - kb;
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    size_t ysize = (size_t)w * h, csize = (size_t)cw * ch;
    unsigned char *in = malloc(ysize + 2 * csize), *out = malloc(3 * ysize);
    if (!in || !out)
        return 1;
    while (fread(in, 1, ysize + 2 * csize, stdin) == ysize + 2 * csize) {
        const unsigned char *yp = in, *up = in + ysize, *vp = up + csize;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double Y = full ? yp[(size_t)y * w + x] / 255.0 : (yp[(size_t)y * w + x] - 16) / 219.0;
                size_t c = (size_t)(y / 2) * cw + x / 2;
                double U = (up[c] - 128) / (full ? 255.0 : 224.0);
                double V = (vp[c] - 128) / (full ? 255.0 : 224.0);
                double rgb[3] = {Y + 2 * (1 - kr) * V,
                                 Y - 2 * (1 - kb) * kb / kg * U - 2 * (1 - kr) * kr / kg * V,
                                 Y + 2 * (1 - kb) * U};
                for (int k = 0; k < 3; k++) {
                    double v = rgb[k] < 0 ? 0 : rgb[k] > 1 ? 1 : rgb[k];
                    out[3 * ((size_t)y * w + x) + k] = (unsigned char)lround(v * 255);
                }
            }
        if (fwrite(out, 1, 3 * ysize, stdout) != 3 * ysize)
            return 1;
    }
    free(in);
    free(out);
    return 0;
}
