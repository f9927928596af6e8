/* Output media: encoded videos with the input's audio and subtitle tracks (PNG sequences and
 * single images: io/image.h).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_WRITER_H
#define RVM_IO_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "io/compose.h"
#include "io/tracks.h"

typedef enum {
    RVM_CODEC_AUTO = 0, /* from the container: vp9 for .webm, else h264 (prores in .mov when
                           alpha is needed) */
    RVM_CODEC_H264,
    RVM_CODEC_HEVC,
    RVM_CODEC_PRORES,
    RVM_CODEC_VP9,
    RVM_CODEC_FFV1,
    RVM_CODEC_RAWVIDEO, /* uncompressed: no encoder delay (pipes: nut, matroska, rawvideo) */
} rvmi_codec;

/* Returns 0 and sets *out, or -1 for an unknown name. */
int rvmi_codec_from_name(const char *name, rvmi_codec *out);
const char *rvmi_codec_name(rvmi_codec codec);
/* Whether the codec can carry an alpha channel (prores, vp9, ffv1). */
int rvmi_codec_has_alpha(rvmi_codec codec);
/* Resolves RVM_CODEC_AUTO and checks that the container can hold the codec. The container
 * is format (an FFmpeg muxer name) or, when NULL, the one path's extension names. Returns 0
 * or -1 with a message. */
int rvmi_video_writer_check(const char *path, const char *format, rvmi_codec *codec, int alpha,
                           char *err, size_t errlen);

/* For --codec rawvideo: whether the container takes uncompressed frames of the pixel format
 * written for layout (raw_pix_fmt, NULL: the layout's own), found by writing its header
 * into nothing (some muxers refuse a format only there, without a word). Other codecs: 0.
 * Returns 0 or -1 with a message (a usage error). */
int rvmi_video_writer_check_frames(const char *path, const char *format, rvmi_codec codec,
                                   rvmi_layout layout, const char *raw_pix_fmt, char *err,
                                   size_t errlen);

typedef struct rvmi_video_writer rvmi_video_writer;

/* x264/x265 presets, fastest first; NULL-terminated. */
extern const char *const rvmi_presets[];
/* The default: x264's own (medium) costs about twice the network's time per 1080p frame and
 * holds ~40 frames; veryfast keeps an encoder well below the network's time. */
#define RVM_DEFAULT_PRESET "veryfast"

/* The default quality (constant quality, when neither --crf nor --output-video-mbps). */
#define RVM_DEFAULT_CRF_H264 18
#define RVM_DEFAULT_CRF_HEVC 20
#define RVM_DEFAULT_CRF_VP9 30

typedef struct {
    const char *path;      /* the file written (may be a temporary name) */
    int descriptor;        /* path is pipe:N, FFmpeg's pipe protocol on open descriptor N
                              (stdout, a file a shell opened to append to), never a file of
                              that name */
    const char *name;      /* the name the user gave: for messages, and its extension picks
                              the container unless format is set */
    const char *format;    /* FFmpeg muxer name, or NULL */
    /* RVM_CODEC_RAWVIDEO: the FFmpeg pixel format written (NULL: the layout's own, gray,
     * rgb24 or rgba); checked by rvmi_video_writer_check. */
    const char *raw_pix_fmt;
    rvmi_codec codec;       /* resolved (not AUTO) */
    rvmi_layout layout;     /* what is passed to write: gray (alpha), RGB, or RGBA */
    int width, height;     /* of the video written (H.264/HEVC: padded to even, see below) */
    int src_width, src_height; /* of the pixels given to take (0: width x height); another
                                  size is scaled (an anamorphic input's outputs are stored
                                  at its own size, the network sees square pixels) */
    AVRational sample_aspect; /* of the video written (0/0 or 1/1: square pixels) */
    AVRational time_base;  /* of the pts given to write */
    AVRational frame_rate; /* nominal, for rate control and headers */
    int primaries;         /* AVCOL_PRI_* the YUV outputs are tagged with (0: BT.709) */
    double mbps;           /* > 0: target bit rate */
    int crf;               /* >= 0: constant quality instead of a bit rate; neither given:
                              the RVM_DEFAULT_CRF_* of the codec */
    const char *preset;    /* x264/x265 preset (h264/hevc), NULL: RVM_DEFAULT_PRESET */
    /* The input's audio and subtitle tracks to carry, in this order (ntracks 0: none).
     * Audio is copied when the container holds its codec (and players play it there),
     * else re-encoded (Opus in WebM, AAC elsewhere); subtitles are copied, or converted
     * when they are text (to mov_text in MP4/MOV, WebVTT in WebM, SubRip in Matroska).
     * Their language, title and flags are kept. A track that cannot be kept is left out
     * and notice (when set) gets one line saying why (and notice_user). */
    const rvmi_track *tracks;
    int ntracks;
    /* The input container's tags to keep (title, artist, comment, creation_time, ...: all
     * but those that describe the input file itself, such as its encoder or MP4 brands), as
     * ffmpeg keeps them; NULL: none. */
    const AVDictionary *metadata;
    /* The input's chapters, with their titles: moved back by chapter_shift and cut at
     * chapter_length (AV_TIME_BASE units, as rvmi_reader_chapters gives them); a chapter
     * wholly outside is left out. */
    /* The SMPTE timecode of the first frame (HH:MM:SS:FF, ';' before FF for drop frame),
     * as rvmi_reader_timecode gives it, for editors to line the output up with its source
     * (a tmcd track in MP4/MOV, a tag elsewhere); NULL: none. */
    const char *timecode;
    AVChapter *const *chapters;
    unsigned nchapters;
    int64_t chapter_shift, chapter_length;
    void (*notice)(void *user, const char *msg);
    void *notice_user;
    /* A part of an output that is joined later (rvm render): x264 writes headers that do
     * not depend on the content, so that every part's are the same, and MP4/MOV keep the
     * first timestamp exactly (an edit list in the track's own time units). */
    int part;
    /* Non-NULL: no encoder; packets already encoded as this stream describes are written
     * with rvmi_video_writer_packet (rvm join). codec, layout and crf are then unused. */
    const AVCodecParameters *copy;
    /* With copy: the tags of the stream the packets come from. Its alpha_mode (a VP8/VP9
     * stream's alpha in WebM/Matroska, kept beside the colour) is carried: without it the
     * muxer marks no alpha and browsers show the video opaque. May be NULL. */
    const AVDictionary *copy_tags;
    /* Set to 1 when opening fails because the container refuses what it is asked to hold
     * (FFmpeg's EINVAL from the header: a combination of container, codec, tracks and
     * output, e.g. MP4 into a pipe): the flags' mistake, not a failed write. May be NULL. */
    int *usage_error;
    /* Set to 1 when opening fails because a pipe's reader closed it (EPIPE from the
     * header, which rvmi_video_writer_reader_gone cannot tell: no writer is returned).
     * May be NULL. Both are written only while rvmi_video_writer_open runs. */
    int *reader_gone;
    /* The input's container: its attachments (the fonts ASS subtitles use) go into a
     * Matroska output, as ffmpeg -map 0 keeps them (other containers have no place for
     * them). NULL: none. */
    const AVFormatContext *attachments_from;
} rvmi_video_writer_config;

rvmi_video_writer *rvmi_video_writer_open(const rvmi_video_writer_config *cfg, char *err,
                                        size_t errlen);
/* data: packed 8-bit pixels of cfg->layout, width*channels bytes per row. */
int rvmi_video_writer_frame(rvmi_video_writer *w, const uint8_t *data, int64_t pts,
                           int64_t duration, char *err, size_t errlen);
/* rvmi_video_writer_frame in parts, for a caller that produces a frame in bands and keeps
 * several frames in flight: the pixels go straight into a picture in the encoder's own format
 * (no whole packed frame in between). picture_new makes a picture (NULL: out of memory; free
 * it with av_frame_free); fill_rows converts n rows (packed as for rvmi_video_writer_frame,
 * rows y..y+n-1 of the src_width x src_height frame) into it, from the top (y = 0 first, one
 * picture at a time; y even and n even but for an odd height's last rows: 8-bit 4:2:0 is
 * converted in pairs of rows); send encodes it once every row is there. The picture can be filled
 * again when send returns. */
AVFrame *rvmi_video_writer_picture_new(rvmi_video_writer *w);
int rvmi_video_writer_fill_rows(rvmi_video_writer *w, AVFrame *pic, const uint8_t *rows, int y,
                                int n, char *err, size_t errlen);
/* Pictures the caller writes itself, for the pipeline's composition and matte computed
 * straight into 8-bit 4:2:0: direct says whether this writer's pictures are 8-bit 4:2:0 at the
 * frame's size filled as fill_rows would from packed RGB by the frame loops' rgb24_to_yuv420
 * (RVMI_DIRECT_YUV420: planes 0..2, an odd height's last luma row also into the padding row
 * below it) or from grey by gray_to_luma (RVMI_DIRECT_LUMA: plane 0 only), or neither (0).
 * planes makes pic writable (in place of fill_rows' y = 0); planes_done, after every row is
 * written, fills the padding as fill_rows does after its last rows. */
enum { RVMI_DIRECT_YUV420 = 1, RVMI_DIRECT_LUMA = 2 };
int rvmi_video_writer_direct(const rvmi_video_writer *w);
int rvmi_video_writer_planes(rvmi_video_writer *w, AVFrame *pic, char *err, size_t errlen);
void rvmi_video_writer_planes_done(rvmi_video_writer *w, AVFrame *pic);
int rvmi_video_writer_send(rvmi_video_writer *w, AVFrame *pic, int64_t pts, int64_t duration,
                           char *err, size_t errlen);
/* An encoded video packet, for a writer opened with cfg->copy (timestamps in tb); the packet
 * is consumed. */
int rvmi_video_writer_packet(rvmi_video_writer *w, AVPacket *pkt, AVRational tb, char *err,
                            size_t errlen);
/* A packet of cfg->tracks[track] (timestamps in its time base); ignored for a track left
 * out. */
int rvmi_video_writer_track(rvmi_video_writer *w, int track, const AVPacket *pkt, char *err,
                            size_t errlen);
/* Flushes the encoders and writes the trailer: the file is complete and playable. */
int rvmi_video_writer_finish(rvmi_video_writer *w, char *err, size_t errlen);

/* Whether a write failed because the pipe's reader closed it (EPIPE). */
int rvmi_video_writer_reader_gone(const rvmi_video_writer *w);
/* Whether the file is so close to the process's file size limit (ulimit -f) that only the
 * frames in flight and the trailer still fit: the conversion should stop there. */
int rvmi_video_writer_near_limit(const rvmi_video_writer *w);
/* After finish: the i-th one-line warning about the tracks (damaged packets skipped, a
 * track left out from a point on), or NULL past the last. */
const char *rvmi_video_writer_warning(const rvmi_video_writer *w, int i);
void rvmi_video_writer_free(rvmi_video_writer *w);

#endif
