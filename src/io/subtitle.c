/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/subtitle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/mem.h>

/* The largest encoded cue (ffmpeg's own limit for a subtitle packet is 1 MiB). */
#define CUE_MAX (1 << 20)

struct rvmi_subtitle_converter {
    AVCodecContext *dec, *enc;
    AVRational in_tb;
    AVPacket *in, *out;
    uint8_t *buf;
    int skipped;
};

static void fail_msg(char *err, size_t errlen, const char *what, int code)
{
    char eb[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(code, eb, sizeof(eb));
    snprintf(err, errlen, "%s: %s", what, eb);
}

rvmi_subtitle_converter *rvmi_subtitle_converter_open(const AVCodecParameters *in,
                                                    AVRational in_tb, enum AVCodecID out,
                                                    char *err, size_t errlen)
{
    rvmi_subtitle_converter *c = calloc(1, sizeof(*c));
    int ret;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->in_tb = in_tb;
    const AVCodec *dc = avcodec_find_decoder(in->codec_id);
    const AVCodec *ec = avcodec_find_encoder(out);
    if (!dc || !ec) {
        snprintf(err, errlen, "this FFmpeg has no %s %s", avcodec_get_name(dc ? out : in->codec_id),
                 dc ? "encoder" : "decoder");
        goto fail;
    }
    c->dec = avcodec_alloc_context3(dc);
    c->enc = avcodec_alloc_context3(ec);
    c->in = av_packet_alloc();
    c->out = av_packet_alloc();
    c->buf = av_malloc(CUE_MAX);
    if (!c->dec || !c->enc || !c->in || !c->out || !c->buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((ret = avcodec_parameters_to_context(c->dec, in)) < 0) {
        fail_msg(err, errlen, "setup", ret);
        goto fail;
    }
    c->dec->pkt_timebase = in_tb;
    if ((ret = avcodec_open2(c->dec, dc, NULL)) < 0) {
        fail_msg(err, errlen, "cannot open the decoder", ret);
        goto fail;
    }
    /* Text decoders describe the styles in an ASS header, which the encoders start from. */
    c->enc->time_base = AV_TIME_BASE_Q;
    if (c->dec->subtitle_header && c->dec->subtitle_header_size > 0) {
        c->enc->subtitle_header = av_mallocz((size_t)c->dec->subtitle_header_size + 1);
        if (!c->enc->subtitle_header) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(c->enc->subtitle_header, c->dec->subtitle_header,
               (size_t)c->dec->subtitle_header_size);
        c->enc->subtitle_header_size = c->dec->subtitle_header_size;
    }
    if ((ret = avcodec_open2(c->enc, ec, NULL)) < 0) {
        fail_msg(err, errlen, "cannot open the encoder", ret);
        goto fail;
    }
    return c;
fail:
    rvmi_subtitle_converter_free(c);
    return NULL;
}

const AVCodecContext *rvmi_subtitle_converter_encoder(const rvmi_subtitle_converter *c)
{
    return c->enc;
}

int rvmi_subtitle_converter_feed(rvmi_subtitle_converter *c, const AVPacket *pkt,
                                 rvmi_subtitle_emit emit, void *opaque, char *err,
                                 size_t errlen)
{
    if (av_packet_ref(c->in, pkt) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    AVSubtitle sub;
    int got = 0;
    int ret = avcodec_decode_subtitle2(c->dec, &sub, &got, c->in);
    av_packet_unref(c->in);
    if (ret < 0) {
        c->skipped++;
        return 0;
    }
    if (!got)
        return 0;
    /* An empty cue (mov_text clears the screen with one) says nothing the timing of the
     * others does not. */
    if (sub.num_rects == 0) {
        avsubtitle_free(&sub);
        return 0;
    }
    /* The decoder stamps the cue in microseconds; its display starts start_display_time ms
     * later and lasts to end_display_time (from the packet's duration when the format
     * does not say). */
    int64_t start = sub.pts != AV_NOPTS_VALUE
                        ? sub.pts
                        : av_rescale_q(pkt->pts, c->in_tb, AV_TIME_BASE_Q);
    start += (int64_t)sub.start_display_time * 1000;
    int64_t length_ms = sub.end_display_time > sub.start_display_time &&
                                sub.end_display_time != UINT32_MAX
                            ? (int64_t)(sub.end_display_time - sub.start_display_time)
                            : av_rescale_q(pkt->duration > 0 ? pkt->duration : 0, c->in_tb,
                                           (AVRational){1, 1000});
    sub.pts = start;
    sub.start_display_time = 0;
    sub.end_display_time = (uint32_t)length_ms;
    int size = avcodec_encode_subtitle(c->enc, c->buf, CUE_MAX, &sub);
    avsubtitle_free(&sub);
    if (size < 0) {
        fail_msg(err, errlen, "encoding", size);
        return -1;
    }
    if (size == 0)
        return 0;
    if (av_new_packet(c->out, size) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(c->out->data, c->buf, (size_t)size);
    c->out->pts = c->out->dts = av_rescale_q(start, AV_TIME_BASE_Q, c->in_tb);
    c->out->duration = av_rescale_q(length_ms, (AVRational){1, 1000}, c->in_tb);
    c->out->flags |= AV_PKT_FLAG_KEY;
    ret = emit(opaque, c->out, err, errlen);
    av_packet_unref(c->out);
    return ret;
}

int rvmi_subtitle_converter_skipped(const rvmi_subtitle_converter *c)
{
    return c ? c->skipped : 0;
}

void rvmi_subtitle_converter_free(rvmi_subtitle_converter *c)
{
    if (!c)
        return;
    avcodec_free_context(&c->dec);
    avcodec_free_context(&c->enc);
    av_packet_free(&c->in);
    av_packet_free(&c->out);
    av_free(c->buf);
    free(c);
}
