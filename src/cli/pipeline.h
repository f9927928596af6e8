/* The conversion: decode -> network (and packing of the outputs' pixels) -> encode, each
 * in its own thread, joined by queues; the frame buffers circulate in small fixed pools, so
 * that the cores stay busy and memory stays bounded.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_PIPELINE_H
#define RVM_CLI_PIPELINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "io/background.h"
#include "io/compose.h"
#include "io/reader.h"
#include "io/image.h"
#include "io/writer.h"
#include "rvm.h"

typedef enum { RVM_OUT_COMPOSITION, RVM_OUT_ALPHA, RVM_OUT_FOREGROUND } rvmi_out_kind;

typedef struct {
    rvmi_out_kind kind;
    rvmi_layout layout;       /* what is written: gray (alpha), RGB, RGBA (transparent) */
    int depth;               /* 8, or 16 for PNG sequences and 16-bit images */
    int tracks;              /* carries the input's audio and subtitle tracks
                                (composition/foreground videos) */
    rvmi_video_writer *video; /* exactly one of video and image */
    rvmi_image_writer *image; /* a PNG sequence or a single image */
    int finished;             /* set by the run: the video writer was finished (encoder
                                 flushed, trailer written) by its lane */
} rvmi_pipeline_output;

typedef struct {
    rvmi_reader *reader;
    rvm_stream *stream;
    double ratio;                /* in (0, 1] */
    rvmi_background *background;  /* needed by RGB compositions */
    rvmi_pipeline_output outputs[3];
    int noutputs;
    atomic_int *stop;            /* non-zero: stop reading, finish what is done (the
                                    encoder sets SIGXFSZ there near the file size limit) */
    int progress;                /* draw a progress bar on stderr */
    int progress_fd;             /* -1, or where JSON progress lines go (--progress-fd) */
    /* Called (when set) from the calling thread about every 0.1 s while the run goes on,
     * and once when it ends: frames written, and the total expected (<= 0: unknown). */
    void (*on_progress)(void *user, int64_t done, int64_t total);
    void *progress_user;
    /* > 0: the outputs hold at most this many frames (a single image holds one); a frame
     * more to write fails the run at the stage RVM_STAGE_FRAME_LIMIT. */
    int64_t max_frames;
    /* Set by a failed run: which stage failed, so that the caller can tell bad input from
     * a failure to write. */
    enum {
        RVM_STAGE_NONE,
        RVM_STAGE_DECODE,
        RVM_STAGE_NETWORK,
        RVM_STAGE_ENCODE,
        RVM_STAGE_FRAME_LIMIT
    } failed_stage;
    /* Set when the decoder stayed blocked in a read after the run (a silent pipe or
     * device) and was left running: it still uses the reader, which must not be closed. */
    int decoder_left;
    /* Set by a run that wrote every frame of the input (to its end, or --duration's), even
     * if *stop was set meanwhile (while the encoders flushed): the outputs are complete. */
    int complete;
    /* Set by rvmi_pipeline_start: the run whose decoder already reads; taken by
     * rvmi_pipeline_run or rvmi_pipeline_cancel. */
    struct rvmi_run *started;
} rvmi_pipeline;

/* Starts the decoder alone, so that the first frames are decoded while the caller still
 * sets up (the model loads): needs the reader, outputs, background, stop and max_frames set,
 * not the stream or ratio. Nothing is written to an output before rvmi_pipeline_run. A run
 * started so is ended by rvmi_pipeline_run or, when the conversion does not run,
 * rvmi_pipeline_cancel. Returns 0, or -1 with a message. */
int rvmi_pipeline_start(rvmi_pipeline *p, char *err, size_t errlen);

/* Stops and frees a run rvmi_pipeline_start started that will not run (nothing when none
 * was started); the decoder may be left reading (p->decoder_left). */
void rvmi_pipeline_cancel(rvmi_pipeline *p);

/* Runs (starting the decoder first unless rvmi_pipeline_start did) until the input ends,
 * an error, or *stop. A video writer that was given frames is
 * finished here by its lane once its last frame is in (outputs[i].finished), so that the
 * encoders flush and the trailers are written beside each other; the caller finishes the
 * others on success or stop, and discards them all on error. Returns 0, or -1 with a
 * message. *frames gets the number of frames written to every output. */
int rvmi_pipeline_run(rvmi_pipeline *p, int64_t *frames, char *err, size_t errlen);

#endif
