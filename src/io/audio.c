/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/audio.h"

#include <stdio.h>
#include <stdlib.h>

#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

/* The sample rates and formats an encoder takes (0- and NONE-terminated lists; NULL: any).
 * FFmpeg 7.1 (libavcodec 61.13) replaced the AVCodec fields with avcodec_get_supported_config
 * and deprecated them; Debian 12's FFmpeg 5.1 has only the fields. */
static void encoder_support(const AVCodecContext *enc, const AVCodec *ec, const int **rates,
                            const enum AVSampleFormat **formats)
{
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(61, 13, 100)
    const void *r = NULL, *f = NULL;
    if (avcodec_get_supported_config(enc, ec, AV_CODEC_CONFIG_SAMPLE_RATE, 0, &r, NULL) < 0)
        r = NULL;
    if (avcodec_get_supported_config(enc, ec, AV_CODEC_CONFIG_SAMPLE_FORMAT, 0, &f, NULL) < 0)
        f = NULL;
    *rates = r;
    *formats = f;
#else
    (void)enc;
    *rates = ec->supported_samplerates;
    *formats = ec->sample_fmts;
#endif
}

struct rvmi_audio_transcoder {
    AVCodecContext *dec, *enc;
    SwrContext *swr;
    AVAudioFifo *fifo;
    AVFrame *in, *out;
    AVPacket *pkt;
    AVRational in_tb;
    int64_t next_pts; /* of the next encoded frame, in 1/sample_rate */
    int have_pts;
    int skipped;      /* undecodable input packets */
    int gap_pending;  /* a packet was skipped: the next frame's time says how long */
};

static void fail_msg(char *err, size_t errlen, const char *what, int code)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(code, eb, sizeof(eb));
    snprintf(err, errlen, "audio: %s: %s", what, eb);
}

rvmi_audio_transcoder *rvmi_audio_transcoder_open(const AVCodecParameters *in, AVRational in_tb,
                                                enum AVCodecID out_codec, int global_header,
                                                char *err, size_t errlen)
{
    rvmi_audio_transcoder *t = calloc(1, sizeof(*t));
    int ret = AVERROR(ENOMEM);
    if (!t)
        goto fail_nomem;
    t->in_tb = in_tb;
    const AVCodec *dc = avcodec_find_decoder(in->codec_id);
    if (!dc) {
        snprintf(err, errlen, "audio: no decoder for %s", avcodec_get_name(in->codec_id));
        goto fail;
    }
    /* libopus is the usable Opus encoder (FFmpeg's own is experimental). */
    const AVCodec *ec = out_codec == AV_CODEC_ID_OPUS ? avcodec_find_encoder_by_name("libopus")
                                                      : avcodec_find_encoder(out_codec);
    if (!ec) {
        snprintf(err, errlen, "audio: no %s encoder in this FFmpeg", avcodec_get_name(out_codec));
        goto fail;
    }
    t->dec = avcodec_alloc_context3(dc);
    t->enc = avcodec_alloc_context3(ec);
    t->in = av_frame_alloc();
    t->out = av_frame_alloc();
    t->pkt = av_packet_alloc();
    if (!t->dec || !t->enc || !t->in || !t->out || !t->pkt)
        goto fail_nomem;
    if ((ret = avcodec_parameters_to_context(t->dec, in)) < 0)
        goto fail_ret;
    t->dec->pkt_timebase = in_tb;
    if ((ret = avcodec_open2(t->dec, dc, NULL)) < 0) {
        fail_msg(err, errlen, "cannot open the decoder", ret);
        goto fail;
    }

    AVChannelLayout layout = {0};
    if (t->dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || t->dec->ch_layout.nb_channels <= 0)
        av_channel_layout_default(&layout, t->dec->ch_layout.nb_channels > 0
                                               ? t->dec->ch_layout.nb_channels
                                               : 2);
    else
        av_channel_layout_copy(&layout, &t->dec->ch_layout);
    AVChannelLayout in_layout = {0};
    av_channel_layout_copy(&in_layout, &layout);
    /* Beyond stereo, surround stays surround (it was downmixed to stereo), in the layouts
     * the encoder has a standard code for: AAC's channel configurations (3.0, 4.0, 5.0,
     * 5.1 and 7.1, with back channels: other layouts of a count need a program config
     * element, which decoders report as an unknown layout) and libopus's Vorbis layouts
     * (3.0, quad, 5.0, 5.1, 6.1, 7.1: it refuses others).
     * Resampling maps the input's channels onto that layout (side to back), as ffmpeg does.
     * Stereo when the encoder has no layout of that many channels (AAC: 7, either: over 8). */
    if (layout.nb_channels > 2) {
        static const AVChannelLayout aac[9] = {
            [3] = AV_CHANNEL_LAYOUT_SURROUND,     [4] = AV_CHANNEL_LAYOUT_4POINT0,
            [5] = AV_CHANNEL_LAYOUT_5POINT0_BACK, [6] = AV_CHANNEL_LAYOUT_5POINT1_BACK,
            [8] = AV_CHANNEL_LAYOUT_7POINT1};
        static const AVChannelLayout vorbis[9] = {
            [3] = AV_CHANNEL_LAYOUT_SURROUND,     [4] = AV_CHANNEL_LAYOUT_QUAD,
            [5] = AV_CHANNEL_LAYOUT_5POINT0_BACK, [6] = AV_CHANNEL_LAYOUT_5POINT1_BACK,
            [7] = AV_CHANNEL_LAYOUT_6POINT1,      [8] = AV_CHANNEL_LAYOUT_7POINT1};
        int n = layout.nb_channels;
        const AVChannelLayout *to = n > 8 ? NULL : out_codec == AV_CODEC_ID_OPUS ? &vorbis[n] : &aac[n];
        av_channel_layout_uninit(&layout);
        if (to && to->nb_channels)
            av_channel_layout_copy(&layout, to);
        else
            layout = (AVChannelLayout)AV_CHANNEL_LAYOUT_STEREO;
    }
    av_channel_layout_copy(&t->enc->ch_layout, &layout);
    av_channel_layout_uninit(&layout);

    int rate = t->dec->sample_rate > 0 ? t->dec->sample_rate : 48000;
    const int *rates = NULL;
    const enum AVSampleFormat *formats = NULL;
    encoder_support(t->enc, ec, &rates, &formats);
    if (rates) {
        int best = rates[0];
        for (const int *r = rates; *r; r++) {
            if (*r == rate) {
                best = rate;
                break;
            }
            /* Otherwise the smallest rate above the input's, or the largest there is. */
            if ((*r > rate && (best < rate || *r < best)) || (best < rate && *r > best))
                best = *r;
        }
        rate = best;
    }
    t->enc->sample_rate = rate;
    t->enc->sample_fmt = formats ? formats[0] : AV_SAMPLE_FMT_FLTP;
    /* 64 kbit/s a channel: 128 for stereo, 384 for 5.1. */
    t->enc->bit_rate = 64000 * (int64_t)t->enc->ch_layout.nb_channels;
    t->enc->time_base = (AVRational){1, rate};
    if (global_header)
        t->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((ret = avcodec_open2(t->enc, ec, NULL)) < 0) {
        av_channel_layout_uninit(&in_layout);
        fail_msg(err, errlen, "cannot open the encoder", ret);
        goto fail;
    }
    ret = swr_alloc_set_opts2(&t->swr, &t->enc->ch_layout, t->enc->sample_fmt, rate, &in_layout,
                              t->dec->sample_fmt, t->dec->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in_layout);
    if (ret < 0 || (ret = swr_init(t->swr)) < 0) {
        fail_msg(err, errlen, "cannot set up resampling", ret);
        goto fail;
    }
    t->fifo = av_audio_fifo_alloc(t->enc->sample_fmt, t->enc->ch_layout.nb_channels, 4096);
    if (!t->fifo)
        goto fail_nomem;
    return t;
fail_ret:
    fail_msg(err, errlen, "setup", ret);
    goto fail;
fail_nomem:
    snprintf(err, errlen, "out of memory");
fail:
    rvmi_audio_transcoder_free(t);
    return NULL;
}

const AVCodecContext *rvmi_audio_transcoder_encoder(const rvmi_audio_transcoder *t)
{
    return t->enc;
}

static int drain_encoder(rvmi_audio_transcoder *t, rvmi_audio_emit emit, void *opaque, char *err,
                         size_t errlen)
{
    for (;;) {
        int ret = avcodec_receive_packet(t->enc, t->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0) {
            fail_msg(err, errlen, "encoding", ret);
            return -1;
        }
        ret = emit(opaque, t->pkt, err, errlen);
        av_packet_unref(t->pkt);
        if (ret < 0)
            return -1;
    }
}

/* Encodes whole encoder frames from the FIFO; at the end also the last, shorter one. */
static int encode_fifo(rvmi_audio_transcoder *t, int final, rvmi_audio_emit emit, void *opaque,
                       char *err, size_t errlen)
{
    int fs = t->enc->frame_size > 0 ? t->enc->frame_size : 1024;
    while (av_audio_fifo_size(t->fifo) >= fs || (final && av_audio_fifo_size(t->fifo) > 0)) {
        int n = av_audio_fifo_size(t->fifo);
        if (n > fs)
            n = fs;
        av_frame_unref(t->out);
        t->out->nb_samples = n;
        t->out->format = t->enc->sample_fmt;
        t->out->sample_rate = t->enc->sample_rate;
        av_channel_layout_copy(&t->out->ch_layout, &t->enc->ch_layout);
        int ret = av_frame_get_buffer(t->out, 0);
        if (ret < 0 || av_audio_fifo_read(t->fifo, (void **)t->out->data, n) < n) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        t->out->pts = t->next_pts;
        t->next_pts += n;
        if ((ret = avcodec_send_frame(t->enc, t->out)) < 0) {
            fail_msg(err, errlen, "encoding", ret);
            return -1;
        }
        if (drain_encoder(t, emit, opaque, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Resamples in (or flushes the resampler when in is NULL) into the FIFO. */
static int resample(rvmi_audio_transcoder *t, const AVFrame *in, char *err, size_t errlen)
{
    int max_out = swr_get_out_samples(t->swr, in ? in->nb_samples : 0);
    if (max_out <= 0)
        return 0;
    uint8_t **buf = NULL;
    if (av_samples_alloc_array_and_samples(&buf, NULL, t->enc->ch_layout.nb_channels, max_out,
                                           t->enc->sample_fmt, 0) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int got = swr_convert(t->swr, buf, max_out, in ? (const uint8_t **)in->extended_data : NULL,
                          in ? in->nb_samples : 0);
    int ret = 0;
    if (got < 0) {
        fail_msg(err, errlen, "resampling", got);
        ret = -1;
    } else if (got > 0 && av_audio_fifo_write(t->fifo, (void **)buf, got) < got) {
        snprintf(err, errlen, "out of memory");
        ret = -1;
    }
    av_freep(&buf[0]);
    av_freep(&buf);
    return ret;
}

/* After a skipped packet: silence from where the audio written so far ends to where the
 * decoded frame starts (its timestamp), so what follows stays in sync. */
static int fill_gap(rvmi_audio_transcoder *t, char *err, size_t errlen)
{
    int64_t p = t->in->best_effort_timestamp;
    if (p == AV_NOPTS_VALUE)
        return 0;
    int64_t start = av_rescale_q(p, t->in_tb, t->enc->time_base) + t->enc->initial_padding;
    int64_t end = t->next_pts + av_audio_fifo_size(t->fifo) +
                  swr_get_delay(t->swr, t->enc->sample_rate);
    int64_t gap = start - end;
    /* Under a millisecond is rounding; over a minute is not a skipped packet. */
    if (gap <= t->enc->sample_rate / 1000 || gap > 60 * (int64_t)t->enc->sample_rate)
        return 0;
    uint8_t **buf = NULL;
    if (av_samples_alloc_array_and_samples(&buf, NULL, t->enc->ch_layout.nb_channels, (int)gap,
                                           t->enc->sample_fmt, 0) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    av_samples_set_silence(buf, 0, (int)gap, t->enc->ch_layout.nb_channels, t->enc->sample_fmt);
    int ret = av_audio_fifo_write(t->fifo, (void **)buf, (int)gap) < gap ? -1 : 0;
    if (ret < 0)
        snprintf(err, errlen, "out of memory");
    av_freep(&buf[0]);
    av_freep(&buf);
    return ret;
}

int rvmi_audio_transcoder_feed(rvmi_audio_transcoder *t, const AVPacket *pkt, rvmi_audio_emit emit,
                              void *opaque, char *err, size_t errlen)
{
    int ret = avcodec_send_packet(t->dec, pkt);
    /* A damaged packet is skipped, as players and ffmpeg do, whatever error the decoder
     * gives for it (AAC's can be EPERM as well as INVALIDDATA); its time becomes silence. */
    if (ret < 0 && ret != AVERROR_EOF && ret != AVERROR(EAGAIN) && ret != AVERROR(ENOMEM)) {
        t->skipped++;
        t->gap_pending = 1;
    }
    for (;;) {
        ret = avcodec_receive_frame(t->dec, t->in);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            break;
        if (ret == AVERROR(ENOMEM)) {
            fail_msg(err, errlen, "decoding", ret);
            return -1;
        }
        if (ret < 0) {
            t->skipped++;
            t->gap_pending = 1;
            break;
        }
        if (!t->have_pts) {
            /* The output starts where the input's audio starts; afterwards samples are
             * counted, so the audio stays continuous. */
            int64_t p = t->in->best_effort_timestamp;
            t->next_pts = p == AV_NOPTS_VALUE
                              ? 0
                              : av_rescale_q(p, t->in_tb, t->enc->time_base);
            /* Encoders with a priming delay (Opus, AAC) stamp their first packet before the
             * first sample; the muxer would then move every stream, video included, later.
             * Starting the audio that much later instead keeps the video's timestamps
             * exact and costs a few milliseconds of audio delay. */
            t->next_pts += t->enc->initial_padding;
            t->have_pts = 1;
            t->gap_pending = 0;
        }
        if (t->gap_pending) {
            t->gap_pending = 0;
            if (fill_gap(t, err, errlen) < 0) {
                av_frame_unref(t->in);
                return -1;
            }
        }
        ret = resample(t, t->in, err, errlen);
        av_frame_unref(t->in);
        if (ret < 0)
            return -1;
        if (encode_fifo(t, 0, emit, opaque, err, errlen) < 0)
            return -1;
    }
    if (pkt)
        return 0;
    if (resample(t, NULL, err, errlen) < 0 || encode_fifo(t, 1, emit, opaque, err, errlen) < 0)
        return -1;
    if ((ret = avcodec_send_frame(t->enc, NULL)) < 0 && ret != AVERROR_EOF) {
        fail_msg(err, errlen, "encoding", ret);
        return -1;
    }
    return drain_encoder(t, emit, opaque, err, errlen);
}

int rvmi_audio_transcoder_skipped(const rvmi_audio_transcoder *t)
{
    return t ? t->skipped : 0;
}

void rvmi_audio_transcoder_free(rvmi_audio_transcoder *t)
{
    if (!t)
        return;
    avcodec_free_context(&t->dec);
    avcodec_free_context(&t->enc);
    swr_free(&t->swr);
    if (t->fifo)
        av_audio_fifo_free(t->fifo);
    av_frame_free(&t->in);
    av_frame_free(&t->out);
    av_packet_free(&t->pkt);
    free(t);
}
