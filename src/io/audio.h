/* Audio re-encoding, for the containers that cannot hold the input's audio codec as it is
 * (e.g. AAC into WebM becomes Opus). Stream copy is done by the writer itself.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_AUDIO_H
#define RVM_IO_AUDIO_H

#include <stddef.h>

#include <libavcodec/avcodec.h>

typedef struct rvmi_audio_transcoder rvmi_audio_transcoder;

/* Called for each encoded packet (timestamps in the encoder's time base). */
typedef int (*rvmi_audio_emit)(void *opaque, AVPacket *pkt, char *err, size_t errlen);

rvmi_audio_transcoder *rvmi_audio_transcoder_open(const AVCodecParameters *in, AVRational in_tb,
                                                enum AVCodecID out_codec, int global_header,
                                                char *err, size_t errlen);
/* The encoder, for the output stream's parameters and time base. */
const AVCodecContext *rvmi_audio_transcoder_encoder(const rvmi_audio_transcoder *t);
/* Feeds one input packet (timestamps in in_tb), or NULL to flush at the end. */
int rvmi_audio_transcoder_feed(rvmi_audio_transcoder *t, const AVPacket *pkt, rvmi_audio_emit emit,
                              void *opaque, char *err, size_t errlen);
/* Input packets that could not be decoded: each was skipped and its time filled with
 * silence, so the audio stays in sync. */
int rvmi_audio_transcoder_skipped(const rvmi_audio_transcoder *t);
void rvmi_audio_transcoder_free(rvmi_audio_transcoder *t);

#endif
