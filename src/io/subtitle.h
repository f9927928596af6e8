/* Text subtitles converted to the form a container takes (SubRip or ASS into mov_text for
 * MP4/MOV, into WebVTT for WebM; mov_text into SubRip for Matroska), as ffmpeg converts them:
 * each cue decoded and encoded again with its time and duration. Copying is done by the
 * writer itself.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_SUBTITLE_H
#define RVM_IO_SUBTITLE_H

#include <stddef.h>

#include <libavcodec/avcodec.h>

typedef struct rvmi_subtitle_converter rvmi_subtitle_converter;

/* Called for each converted cue (timestamps in the input's time base). */
typedef int (*rvmi_subtitle_emit)(void *opaque, AVPacket *pkt, char *err, size_t errlen);

rvmi_subtitle_converter *rvmi_subtitle_converter_open(const AVCodecParameters *in,
                                                    AVRational in_tb, enum AVCodecID out,
                                                    char *err, size_t errlen);
/* The encoder, for the output stream's parameters (its extradata: mov_text's sample
 * description, an ASS header). */
const AVCodecContext *rvmi_subtitle_converter_encoder(const rvmi_subtitle_converter *c);
/* Converts one input packet (timestamps in in_tb). A cue that cannot be decoded is skipped
 * and counted. Returns 0, or -1 with a message (encoding or writing failed). */
int rvmi_subtitle_converter_feed(rvmi_subtitle_converter *c, const AVPacket *pkt,
                                 rvmi_subtitle_emit emit, void *opaque, char *err,
                                 size_t errlen);
/* Input cues that could not be decoded (skipped). */
int rvmi_subtitle_converter_skipped(const rvmi_subtitle_converter *c);
void rvmi_subtitle_converter_free(rvmi_subtitle_converter *c);

#endif
