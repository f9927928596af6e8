/* Input media: a video file, an image folder, any FFmpeg input, or stdin ("-"), decoded into
 * packed RGB24 frames with their timestamps, plus the packets of the audio and subtitle
 * tracks chosen (untouched) so that writers can carry them along.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_READER_H
#define RVM_IO_READER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavutil/rational.h>

#include "io/tracks.h"
#include "rvm.h"

typedef struct rvmi_reader rvmi_reader;

typedef struct {
    int resize_w, resize_h;  /* > 0: frames are scaled to this size (after rotation) */
    double start;            /* seconds to skip from the beginning (0: none) */
    double duration;         /* seconds to keep (< 0: all) */
    double image_fps;        /* frame rate given to image folders (> 0) */
    /* Also return the packets of these audio and subtitle tracks (NULL: none). A choice
     * the input cannot meet (a track it does not have) fails the open. */
    const rvmi_track_choice *tracks;
    /* Made 1 (when set) when the open or a read fails because of what an option asks rather
     * than the input (a track it does not have, --start past its end or its last frame):
     * a usage error. Read after the reader failed; it must outlive the reader. */
    int *usage_error;
    /* Called (when set) with a one-line note about the input that the user should know
     * (the picture changes size mid-stream, ...), from the thread that reads; user is
     * notice_user. */
    void (*notice)(void *user, const char *msg);
    void *notice_user;
    /* The same for what the outputs lose (an input picture's transparency), when set (else
     * notice); user is notice_user too. */
    void (*warning)(void *user, const char *msg);
    /* Polled while reading; when it becomes non-zero blocking reads give up (Ctrl-C). */
    const atomic_int *interrupt;
    /* A segment of a planned run (rvm render), with start = 0 and duration < 0. Frames are
     * named by their source timestamp (video: in the stream's time base, as demuxed; image
     * folders: the file index). Reading seeks to a keyframe at or before segment_from,
     * decodes and drops up to it, returns the frames from segment_from to segment_begin
     * marked as warm-up, then those before segment_end. Timestamps are those a whole run
     * gives. segment_seek_byte >= 0 (a transport stream, whose seeks by time land on any
     * packet): seek to this byte instead, where a keyframe before segment_from starts. */
    int segment;
    int64_t segment_from, segment_begin, segment_end, segment_seek_byte;
    /* Pictures with an alpha channel are put over black (swscale's uniform alpha blend)
     * instead of having their alpha dropped (backgrounds: what a see-through part would
     * show in an opaque picture); rvmi_reader_see_through says whether the first was. */
    int over_black;
} rvmi_reader_options;

typedef enum { RVM_ITEM_END = 0, RVM_ITEM_VIDEO = 1, RVM_ITEM_PACKET = 2 } rvmi_item_kind;

/* What one read returns. Timestamps are in rvmi_reader_time_base() (video) or the track's
 * time base (packets), already shifted by --start. */
typedef struct {
    uint8_t *rgb;      /* VIDEO: width*height*3 bytes, malloc'ed and now owned by the caller
                          (rvmi_reader_read), or the caller's buffer (rvmi_reader_read_into) */
    int64_t pts;       /* VIDEO: presentation time */
    int64_t duration;  /* VIDEO: how long the frame is shown (> 0) */
    int restart;       /* VIDEO: the picture changed size or orientation here: the network's
                          memory of earlier frames no longer applies */
    AVPacket *packet;  /* PACKET: owned by the caller (av_packet_free) */
    int track;         /* PACKET: its track, an index into rvmi_reader_tracks() */
    int warmup;        /* VIDEO: a segment's warm-up frame (run through the network only) */
    /* VIDEO from rvmi_reader_read_frame: the picture as the network reads it, packed RGB24
     * in rgb, or the decoder's own 8-bit 4:2:0 picture (yuv: a reference to it, rgb NULL). */
    rvm_frame frame;
    AVFrame *yuv;
} rvmi_read_item;

/* "file:PATH" (malloc'ed) for a name with a colon before any slash that FFmpeg would take
 * for a URL of a protocol it does not have ("take:2.mkv", "take:2/0001.png", a render's part
 * take:2.mp4.parts/.00000.<hex>.mp4: "Protocol not found"), or for an existing file so
 * named; NULL for any other name (or out of memory): open that as it is. */
char *rvmi_file_url(const char *path);

/* The reader's conversions to RGB: swscale from w x h frames of pf (colour space spc, full
 * or limited range) to dw x dh of out, as the reader makes them. */
struct SwsContext;
struct SwsContext *rvmi_rgb_sws(int w, int h, enum AVPixelFormat pf, int dw, int dh,
                                enum AVPixelFormat out, int spc, int full);
/* What HDR (PQ, HLG) frames of pf are converted to before tone mapping: 16-bit planes
 * (AV_PIX_FMT_GBRP16) from YUV and grey, packed AV_PIX_FMT_RGB48 from anything else. */
enum AVPixelFormat rvmi_hdr_rgb16_format(enum AVPixelFormat pf);

rvmi_reader *rvmi_reader_open(const char *source, const rvmi_reader_options *opt, char *err,
                            size_t errlen);
void rvmi_reader_close(rvmi_reader *r);

/* Returns an rvmi_item_kind, or -1 with a message in err. */
int rvmi_reader_read(rvmi_reader *r, rvmi_read_item *item, char *err, size_t errlen);
/* The same, but a video frame is written into rgb (width*height*3 bytes, the caller's) and
 * item->rgb is rgb: no allocation per frame. rgb is untouched by other items. */
int rvmi_reader_read_into(rvmi_reader *r, rvmi_read_item *item, uint8_t *rgb, char *err,
                         size_t errlen);

/* The same, but a frame that the library reads exactly as it is (8-bit 4:2:0 SDR, progressive,
 * even sizes, BT.601 or BT.709, at its own size and orientation) is returned as a reference to
 * the decoder's picture, moved into yuv (the caller's, unreferenced by the caller when done),
 * instead of being converted into rgb: half the bytes of RGB held, and no conversion. */
int rvmi_reader_read_frame(rvmi_reader *r, rvmi_read_item *item, uint8_t *rgb, AVFrame *yuv,
                           char *err, size_t errlen);

/* The size of the frames returned: what the network sees (square pixels). */
int rvmi_reader_width(const rvmi_reader *r);
int rvmi_reader_height(const rvmi_reader *r);
/* The size and sample aspect ratio video outputs should have: the input's own (an
 * anamorphic input's frames are returned stretched to square pixels), or --input-resize's. */
void rvmi_reader_storage(const rvmi_reader *r, int *width, int *height, AVRational *sar);
AVRational rvmi_reader_time_base(const rvmi_reader *r);
/* Once read to the end: the damaged frames (or images) skipped that the outputs lack, those
 * the end's warning counts (not those before the first frame written, a segment's warm-up or
 * --start's, nor after the last); and the first frame returned that is not warm-up: its
 * timestamp as demuxed, before any shift (a segment's units: a folder's image index), or
 * AV_NOPTS_VALUE before any. rvm render checks its part with them. */
int rvmi_reader_damaged(const rvmi_reader *r);
int64_t rvmi_reader_first_written(const rvmi_reader *r);
AVRational rvmi_reader_frame_rate(const rvmi_reader *r);
/* The colour primaries (AVCOL_PRI_*) of the RGB returned, for the outputs' tags: the
 * input's when they are SD ones (BT.470 BG, SMPTE 170M/240M, BT.470 M: not converted),
 * else BT.709 (BT.709, untagged, and BT.2020, which is converted to BT.709). */
int rvmi_reader_primaries(const rvmi_reader *r);
/* With over_black: whether the first picture had a pixel that is not opaque. */
int rvmi_reader_see_through(const rvmi_reader *r);
/* The ICC profile the first picture carries (its bytes), or NULL: set once that picture is
 * read, and unchanged after, so other threads may read it once they have a picture. */
const AVBufferRef *rvmi_reader_icc(const rvmi_reader *r);
/* Expected number of frames, or -1 when the input cannot tell (stdin, devices). */
int64_t rvmi_reader_frame_estimate(const rvmi_reader *r);
/* The audio and subtitle tracks whose packets are returned (*count 0: none). */
const rvmi_track *rvmi_reader_tracks(const rvmi_reader *r, int *count);
/* The input container's own tags (title, artist, creation_time, ...), or NULL (an image
 * folder). Valid while the reader is open. */
const AVDictionary *rvmi_reader_metadata(const rvmi_reader *r);
/* The input's container (for its attachments), NULL for an image folder or picture. */
const AVFormatContext *rvmi_reader_container(const rvmi_reader *r);
/* The input's chapters (*n 0: none), and where the outputs' time 0 is on their timeline
 * (*shift, AV_TIME_BASE units) and how long the outputs are at most (*length, INT64_MAX:
 * to the end), as --start and --duration cut. Valid while the reader is open. */
void rvmi_reader_chapters(const rvmi_reader *r, AVChapter *const **chapters, unsigned *n,
                          int64_t *shift, int64_t *length);
/* The SMPTE timecode of the outputs' first frame into out (AV_TIMECODE_STR_SIZE bytes):
 * the input's (its video track's, else its container's), advanced by the frames --start
 * skips. Returns 0, or -1 when there is none (or it cannot be advanced: a timecode that
 * is not at the video's frame rate). */
int rvmi_reader_timecode(const rvmi_reader *r, char *out);
/* Whether a file name is one an image folder's frames are taken from (by extension). */
int rvmi_is_image_name(const char *name);
/* Whether a file name is a video's (by extension), as rvm batch takes a folder's videos (a
 * GIF is both: a folder of inputs takes it as a video). */
int rvmi_is_video_name(const char *name);
/* Whether the source is an image folder. */
int rvmi_reader_is_folder(const rvmi_reader *r);
/* Whether the source is one still picture read as media (a PNG, WebP, TIFF, ...: FFmpeg's
 * image2 demuxer or one of its *_pipe ones), not a video nor a folder (single JPEGs are read
 * as a folder of one: their EXIF orientation). */
int rvmi_reader_is_still_image(const rvmi_reader *r);
/* The colour matrix taken for YUV that does not say its own (what mpv assumes): BT.709 for
 * HD (1280 pixels wide or more, or more than 576 lines: a 1920x800 crop of HD is HD), BT.601
 * (SMPTE 170M) for SD. The writer converts to it for the containers that cannot say the
 * matrix, so that rvm and players read them back right. */
enum AVColorSpace rvmi_untagged_colorspace(int width, int height);

#endif
