/* Dumps what the rvm command's reader (src/io/reader.c) hands to the network: the RGB24
 * frames of an input, after rotation and colour conversion, as raw bytes; prints
 * "WIDTHxHEIGHT FRAMES". Lets the tests check the reader without going through the network.
 *   readdump INPUT OUT.rgb
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>

#include <libavutil/log.h>

#include "io/reader.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: readdump INPUT OUT.rgb\n");
        return 2;
    }
    av_log_set_level(AV_LOG_QUIET);
    char err[512];
    rvmi_reader_options o = {0};
    o.duration = -1;
    o.image_fps = 30;
    rvmi_reader *r = rvmi_reader_open(argv[1], &o, err, sizeof(err));
    if (!r) {
        fprintf(stderr, "readdump: %s\n", err);
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f) {
        fprintf(stderr, "readdump: cannot create %s\n", argv[2]);
        return 1;
    }
    size_t size = (size_t)rvmi_reader_width(r) * rvmi_reader_height(r) * 3;
    int frames = 0, k;
    rvmi_read_item it;
    while ((k = rvmi_reader_read(r, &it, err, sizeof(err))) == RVM_ITEM_VIDEO) {
        fwrite(it.rgb, 1, size, f);
        free(it.rgb);
        frames++;
    }
    fclose(f);
    if (k < 0) {
        fprintf(stderr, "readdump: %s\n", err);
        return 1;
    }
    printf("%dx%d %d\n", rvmi_reader_width(r), rvmi_reader_height(r), frames);
    rvmi_reader_close(r);
    return 0;
}
