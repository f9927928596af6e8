/* libFuzzer target for the input layer: untrusted image/video bytes -> rvmi_reader_open ->
 * a few rvmi_reader_read / rvmi_reader_read_into items -> rvmi_reader_close.
 * The bytes go to a temporary file (mkstemp under /tmp, unlinked afterwards), as the reader
 * opens paths: FFmpeg probes the container, demuxes, decodes and converts to RGB24 exactly as
 * for `rvm` on the command line. Bounded so that no input can make it slow: at most
 * MAX_VIDEO video frames and MAX_ITEMS items in all, and outputs above MAX_PIXELS (the
 * reader itself refuses more than RVM_MAX_SIDE a side) are opened but not decoded.
 * The input's size modulo 6 picks the options, so that the same seeds reach every path: no
 * resize, a downscale or an odd upscale (size % 3), and the whole input or a --start/--duration
 * window (a seek, and the timestamp shifting) of a few frames (size / 3 % 2).
 * Besides the sanitizers, the contract of reader.h is checked: a sane size, durations > 0,
 * strictly increasing video timestamps, whole RGB buffers (ASan sees an overrun of the
 * exactly sized buffer given to rvmi_reader_read_into), audio packets owned by the caller.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "io/reader.h"
#include "rvm.h"

enum { MAX_VIDEO = 8, MAX_ITEMS = 32 };
#define MAX_PIXELS (2048 * 2048)

static void broke(const char *what)
{
    fprintf(stderr, "fuzz_media: the reader broke the contract: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* FFmpeg's complaints about broken input are expected: silence makes runs faster.
     * FUZZ_MEDIA_VERBOSE=1 shows them (when looking at one input). */
    if (!getenv("FUZZ_MEDIA_VERBOSE"))
        av_log_set_level(AV_LOG_QUIET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz_media.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_media: mkstemp");
        abort();
    }
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            perror("fuzz_media: write");
            close(fd);
            unlink(path);
            abort();
        }
        off += (size_t)n;
    }
    close(fd);

    static const int sizes[3][2] = {{0, 0}, {32, 24}, {17, 9}};
    atomic_int stop = 0;
    /* Every audio and subtitle track: their packets come back as items. */
    static const rvmi_track_choice every_track = {NULL, NULL};
    rvmi_reader_options opt = {
        .resize_w = sizes[size % 3][0],
        .resize_h = sizes[size % 3][1],
        .start = (size / 3) % 2 ? 0.04 : 0,
        .duration = (size / 3) % 2 ? 0.05 : -1,
        .image_fps = 30,
        .tracks = &every_track,
        .interrupt = &stop,
    };
    char err[512] = "";
    rvmi_reader *r = rvmi_reader_open(path, &opt, err, sizeof err);
    if (!r) {
        if (!err[0])
            broke("rvmi_reader_open failed without a message");
        unlink(path);
        return 0;
    }
    int w = rvmi_reader_width(r), h = rvmi_reader_height(r);
    if (w < 1 || h < 1 || w > RVM_MAX_SIDE || h > RVM_MAX_SIDE)
        broke("frame size out of range");
    if (opt.resize_w > 0 && (w != opt.resize_w || h != opt.resize_h))
        broke("the frame size is not the --input-resize size");
    AVRational tb = rvmi_reader_time_base(r), fps = rvmi_reader_frame_rate(r);
    if (tb.num <= 0 || tb.den <= 0 || fps.num <= 0 || fps.den <= 0)
        broke("bad time base or frame rate");
    (void)rvmi_reader_frame_estimate(r);
    int ntracks = 0;
    const rvmi_track *tracks = rvmi_reader_tracks(r, &ntracks);
    for (int t = 0; t < ntracks; t++)
        if (!tracks[t].par || (tracks[t].type != AVMEDIA_TYPE_AUDIO &&
                               tracks[t].type != AVMEDIA_TYPE_SUBTITLE))
            broke("a carried track that is neither audio nor subtitles");

    if ((int64_t)w * h <= MAX_PIXELS) {
        size_t bytes = (size_t)w * h * 3;
        uint8_t *mine = malloc(bytes);
        if (!mine)
            abort();
        int64_t last_pts = INT64_MIN;
        unsigned sum = 0;
        int video = 0;
        for (int i = 0; i < MAX_ITEMS && video < MAX_VIDEO; i++) {
            rvmi_read_item item;
            int kind = (i & 1) ? rvmi_reader_read_into(r, &item, mine, err, sizeof err)
                               : rvmi_reader_read(r, &item, err, sizeof err);
            if (kind < 0) {
                if (!err[0])
                    broke("a read failed without a message");
                break;
            }
            if (kind == RVM_ITEM_END)
                break;
            if (kind == RVM_ITEM_VIDEO) {
                if (!item.rgb || item.packet)
                    broke("a video item without pixels");
                if ((i & 1) && item.rgb != mine)
                    broke("rvmi_reader_read_into did not use the caller's buffer");
                if (item.duration <= 0)
                    broke("a video frame with no duration");
                if (last_pts != INT64_MIN && item.pts <= last_pts)
                    broke("video timestamps do not increase");
                last_pts = item.pts;
                /* Every byte must be there (ASan) and written (MSan, when built so). */
                sum += item.rgb[0] + item.rgb[bytes / 2] + item.rgb[bytes - 1];
                if (item.rgb != mine)
                    free(item.rgb);
                video++;
            } else if (kind == RVM_ITEM_PACKET) {
                if (!item.packet || item.rgb)
                    broke("a track's item without a packet");
                if (item.track < 0 || item.track >= ntracks)
                    broke("a packet of a track that is not carried");
                av_packet_free(&item.packet);
            } else {
                broke("an unknown item kind");
            }
        }
        free(mine);
        /* Keep the reads of the pixels. */
        __asm__ volatile("" : : "r"(sum));
    }
    rvmi_reader_close(r);
    unlink(path);
    return 0;
}
