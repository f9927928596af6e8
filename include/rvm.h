/* rvm: Robust Video Matting (Lin et al., WACV 2022) in C.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The model (weights, immutable after loading) is shared; each video stream has its own
 * rvm_stream (recurrent state r1..r4, scratch memory, worker threads). Functions return 0 on
 * success and a negative RVM_E* code on failure; constructors return NULL, store the code in
 * *status (when status is not NULL) and write a one-line message into err. The library never
 * prints and never exits (rvm_set_log hands its diagnostics to the caller).
 *
 * Build against it with pkg-config: cc prog.c $(pkg-config --cflags --libs rvm)
 * (add --static for the static library, which also needs libzip and cJSON; the shared one
 * needs rvm.pc alone). rvm_default_model_path says where a program finds the model.
 *
 * This header alone compiles as C89 and C++98 with -pedantic (programs older than the library
 * include it): hence no comma after an enum's last member, and no // comments.
 */
#ifndef RVM_H
#define RVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these declarations; rvm_version() is the one of the library running. */
#define RVM_VERSION_MAJOR 0
#define RVM_VERSION_MINOR 2
#define RVM_VERSION_PATCH 0
#define RVM_VERSION_NUMBER (RVM_VERSION_MAJOR * 10000 + RVM_VERSION_MINOR * 100 + RVM_VERSION_PATCH)

/* What the shared library exports: only the functions declared here. */
#if defined(__GNUC__) || defined(__clang__)
#define RVM_API __attribute__((visibility("default")))
#else
#define RVM_API
#endif

/* RVM_VERSION_NUMBER of the library running (a program built against older declarations can
 * compare). */
RVM_API int rvm_version(void);
/* "MAJOR.MINOR.PATCH" of the library running. */
RVM_API const char *rvm_version_string(void);

enum rvm_status {
    RVM_OK = 0,
    RVM_EINVAL = -1,       /* bad argument (size, ratio, NULL pointer) */
    RVM_ENOMEM = -2,       /* allocation failed or a size limit was exceeded */
    RVM_EIO = -3,          /* a file could not be opened or read */
    RVM_EFORMAT = -4,      /* a file is not a valid checkpoint */
    RVM_EMISMATCH = -5,    /* weights do not match what was asked for (variant, refiner) */
    RVM_EUNSUPPORTED = -6  /* the CPU or build lacks what was asked for */
};

typedef enum { RVM_VARIANT_AUTO = 0, RVM_VARIANT_MOBILENETV3, RVM_VARIANT_RESNET50 } rvm_variant;
typedef enum {
    RVM_REFINER_AUTO = 0,
    RVM_REFINER_DEEP_GUIDED_FILTER,
    RVM_REFINER_FAST_GUIDED_FILTER
} rvm_refiner;

/* Largest frame side accepted, in pixels. */
#define RVM_MAX_SIDE 16384

typedef struct rvm_model rvm_model;
typedef struct rvm_stream rvm_stream;

/* Loads weights from an official PyTorch checkpoint (.pth zip) or an official TF.js model
 * folder (or its model.json). path NULL loads the model shipped with rvm.
 * variant/refiner: what the caller expects; AUTO accepts what the weights hold. A checkpoint
 * without refiner weights holds the fast guided filter (it has no parameters); asking a
 * checkpoint with deep-guided-filter weights for the fast guided filter is allowed (the
 * official code can do it too). Any other disagreement is RVM_EMISMATCH. A variant or refiner
 * that is none of the values below is RVM_EINVAL (nothing is read). */
RVM_API rvm_model *rvm_model_load(const char *path, rvm_variant variant, rvm_refiner refiner,
                                  int *status, char *err, size_t errlen);
RVM_API void rvm_model_free(rvm_model *model);
/* What can be told of path (NULL: the shipped model) without reading its weights, in
 * rvm_model_load's words: RVM_OK, or RVM_EIO (missing, unreadable, not a regular file: a FIFO
 * is not opened) or RVM_EFORMAT (empty, not a zip archive: gzip, a torch < 1.6 pickle) with a
 * line in err. Cheap (a stat and a few bytes): for a program that must refuse a bad
 * checkpoint before something that may block, such as opening its input. rvm_model_load
 * makes every check, these first. */
RVM_API int rvm_model_check(const char *path, char *err, size_t errlen);
/* What the model holds; for a NULL model RVM_VARIANT_AUTO and RVM_REFINER_AUTO (no model). */
RVM_API rvm_variant rvm_model_variant(const rvm_model *model);
RVM_API rvm_refiner rvm_model_refiner(const rvm_model *model);
/* Path of the model shipped with rvm (the folder rvm_mobilenetv3_tfjs_int8), as found at run
 * time, or NULL. Looked for in this order:
 *  1. the folder named by the environment variable RVM_MODEL_DIR, the model's own folder (the
 *     one holding model.json, not models/ above it); when it is set, it alone: naming no such
 *     folder gives NULL (and rvm_model_load(NULL, ...) says what it named and what it lacks);
 *  2. share/rvm/models/ of the prefix the code calling lives in: librvm.so in <prefix>/lib
 *     (or lib/<arch>), a program linked with librvm.a in <prefix>/bin; so an installation can
 *     be moved;
 *  3. inside rvm's own build folder (its command, tests), the source tree's models/;
 *  4. share/rvm/models/ of the prefix rvm was configured for (CMAKE_INSTALL_PREFIX; installing
 *     the static library under another --prefix warns that its programs need RVM_MODEL_DIR
 *     unless they are installed in <prefix>/bin).
 * An installed library never looks in the source tree (it may be gone, or hold another
 * version). */
RVM_API const char *rvm_default_model_path(void);

/* Arithmetic of a stream's network. */
typedef enum { RVM_PRECISION_FP32 = 0, RVM_PRECISION_INT8 } rvm_precision;

/* The most worker threads a stream runs (more are run as this many). */
#define RVM_MAX_THREADS 256

/* The CPUs this process can use, at least 1: those its affinity allows (taskset, a Slurm
 * job's or a container's cpuset), and no more than its cgroup's CPU time limit (v2 cpu.max or
 * v1 cpu.cfs_quota_us: a Kubernetes CPU limit, docker --cpus; quota / period rounded up). */
RVM_API int rvm_cpu_count(void);

/* A stream runs frames of one video in order, on threads worker threads: threads >= 1, or 0
 * for one per CPU this process can use (rvm_cpu_count); negative is RVM_EINVAL; more than
 * RVM_MAX_THREADS run as RVM_MAX_THREADS. More threads than CPUs take turns on them: slower,
 * not faster. */
RVM_API rvm_stream *rvm_stream_create(const rvm_model *model, int threads, int *status, char *err,
                                      size_t errlen);
RVM_API void rvm_stream_free(rvm_stream *stream);
/* FP32 (the default) or INT8: some of the encoder's 1x1 convolutions with 8-bit weights (per
 * output channel) and activations (per tensor), everything else in float; within ~1e-4 of
 * FP32 in alpha on average, with rare larger local differences (the README's int8 note gives
 * the measured error and speed). INT8 needs int8 dot products (AVX512-VNNI or AVX-VNNI):
 * RVM_EUNSUPPORTED on other CPUs. Allowed between frames; the recurrent state is kept. */
RVM_API int rvm_stream_set_precision(rvm_stream *stream, rvm_precision precision);
RVM_API rvm_precision rvm_stream_precision(const rvm_stream *stream);
/* The stream's helper threads (all but the thread that calls rvm_stream_process and the like)
 * run increment nice levels (0..19; 0 by default) below the priority they started with, from
 * the next frame on; the calling thread keeps its own. For a program that runs other work
 * beside the stream at a lower priority (a decoder, encoders): the helpers then take a core
 * only when that work leaves one, and a step never waits for a helper that has not begun it,
 * so the stream runs on one thread when the other cores are busy and on all of them when they
 * are free. Linux (the nice value is per thread); RVM_EUNSUPPORTED elsewhere; outside 0..19
 * RVM_EINVAL. Going back to a smaller increment may need privilege (CAP_SYS_NICE or
 * RLIMIT_NICE); without it the helpers stay where they are. */
RVM_API int rvm_stream_set_helper_nice(rvm_stream *stream, int increment);
/* Forgets the recurrent state (the next frame starts from zeros, as a new video would). */
RVM_API void rvm_stream_reset(rvm_stream *stream);
/* The message of the last failed call on this stream. */
RVM_API const char *rvm_stream_error(const rvm_stream *stream);

typedef enum { RVM_PIXEL_F32 = 0, RVM_PIXEL_U8, RVM_PIXEL_U16 } rvm_pixel_type;

/* How the foreground is laid out in rvm_output.fgr. */
typedef enum {
    RVM_FGR_RGB = 0,             /* interleaved RGB */
    RVM_FGR_PLANAR,              /* three planes R, G, B, fgr_plane_stride bytes apart */
    RVM_FGR_RGBA_PREMULTIPLIED   /* interleaved R*a, G*a, B*a, a */
} rvm_fgr_layout;

/* Where a frame's results go. pha: one channel; fgr: as fgr_layout says. Either may be NULL.
 * Strides are in bytes and at least a row's bytes (planes: at least fgr_stride * height);
 * anything less is RVM_EINVAL. F32 holds 0..1, U8 round(v*255), U16 round(v*65535). The
 * fields after fgr_stride may be left out of a designated initialiser (zero: interleaved
 * RGB). */
typedef struct {
    rvm_pixel_type type;
    void *pha;
    ptrdiff_t pha_stride;
    void *fgr;
    ptrdiff_t fgr_stride;
    rvm_fgr_layout fgr_layout;
    ptrdiff_t fgr_plane_stride;
} rvm_output;

/* Input pixel formats. */
typedef enum {
    RVM_FORMAT_RGB24 = 0, /* packed 8-bit R, G, B */
    RVM_FORMAT_BGR24,
    RVM_FORMAT_RGBA,      /* packed 8-bit, 4 bytes a pixel; the 4th byte is ignored */
    RVM_FORMAT_BGRA,
    RVM_FORMAT_RGBX,
    RVM_FORMAT_BGRX,
    RVM_FORMAT_NV12,      /* 8-bit 4:2:0: plane 0 Y, plane 1 interleaved U, V */
    RVM_FORMAT_I420,      /* 8-bit 4:2:0: planes Y, U, V */
    RVM_FORMAT_F32_PLANAR  /* planes R, G, B of floats in 0..1 (what numpy and torch hold) */
} rvm_format;

/* YUV formats: the matrix and range that turned RGB into YUV. */
typedef enum { RVM_MATRIX_BT601 = 0, RVM_MATRIX_BT709 } rvm_matrix;
typedef enum { RVM_RANGE_LIMITED = 0, RVM_RANGE_FULL } rvm_range;

/* One input frame. Packed formats use plane 0 only. Strides are in bytes, at least a row's
 * bytes of that plane (RVM_EINVAL otherwise). 4:2:0 chroma planes have (width+1)/2 by
 * (height+1)/2 samples; each serves its 2x2 block of luma pixels (as the official reader's
 * swscale does at an even height, any width; at an odd height swscale interpolates chroma
 * between rows instead, which the library does not: README, GStreamer). YUV becomes RGB
 * clamped to 0..1. Float values are used as they are (the official model takes 0..1); planes of floats
 * and their strides must be 4-byte aligned. */
typedef struct {
    rvm_format format;
    int width, height;
    const void *planes[3];
    ptrdiff_t strides[3];
    rvm_matrix matrix;
    rvm_range range;
} rvm_frame;

/* The official converter's rule: min(512 / max(width, height), 1). */
RVM_API double rvm_auto_downsample_ratio(int width, int height);
/* The smallest downsample ratio in thousandths (0.001, 0.002, ... as printed with %g) that
 * leaves the network a pixel of both sides of a width x height frame (floor(side * ratio) >=
 * 1); 1 for sizes below 1. What to suggest when a ratio leaves none. */
RVM_API double rvm_least_downsample_ratio(int width, int height);

/* Runs one frame: alpha and foreground out, at the input's size. downsample_ratio in (0, 1];
 * at 1 the refiner is skipped. The recurrent state advances. Frame size may change between
 * calls (the state is reset when the internal size changes). */
RVM_API int rvm_stream_process_frame(rvm_stream *stream, const rvm_frame *frame,
                                     double downsample_ratio, const rvm_output *out);
/* The same for interleaved 8-bit RGB (stride in bytes). */
RVM_API int rvm_stream_process(rvm_stream *stream, const uint8_t *rgb, int width, int height,
                               ptrdiff_t stride, double downsample_ratio, const rvm_output *out);

/* The official segmentation pass: raw logits at the internal (low) resolution,
 * seg_w = floor(width*ratio) (width at ratio 1), likewise seg_h, into seg, which holds
 * capacity floats (fewer than seg_w*seg_h: RVM_EINVAL, nothing written). Pass seg NULL to
 * learn the size only. The recurrent state advances. */
RVM_API int rvm_stream_segment_frame(rvm_stream *stream, const rvm_frame *frame,
                                     double downsample_ratio, float *seg, size_t capacity,
                                     int *seg_w, int *seg_h);
RVM_API int rvm_stream_segment(rvm_stream *stream, const uint8_t *rgb, int width, int height,
                               ptrdiff_t stride, double downsample_ratio, float *seg,
                               size_t capacity, int *seg_w, int *seg_h);

/* The recurrent state r1..r4 (index 0..3), as the official model passes it between frames:
 * r1 at half the internal size, r2 a quarter, r3 an eighth, r4 a sixteenth (rounded up), with
 * the model's channels (MobileNetV3 16, 20, 40, 64; ResNet50 16, 32, 64, 128). A tensor
 * describes floats with strides in floats for channel, row and column, so that NCHW (the
 * official layout), NHWC or views of other arrays all work. */
typedef struct {
    float *data;
    int channels, height, width;
    ptrdiff_t channel_stride, row_stride, column_stride;
} rvm_tensor;

/* The state's shape for frames of width x height at downsample_ratio (RVM_EINVAL for a bad
 * size or ratio). */
RVM_API int rvm_model_state_shape(const rvm_model *model, int index, int width, int height,
                                  double downsample_ratio, int *channels, int *state_height,
                                  int *state_width);
/* Copies state r(index+1) out; dst's shape must be the state's (RVM_EINVAL otherwise, or
 * when the stream has no state: before its first frame or after a reset). */
RVM_API int rvm_stream_get_state(const rvm_stream *stream, int index, const rvm_tensor *dst);
/* Puts a state in for the next frame, which must be width x height at downsample_ratio
 * (another size starts over, as always). r[k] NULL: zeros, as a first frame has. Every given
 * tensor must have its state's shape (RVM_EINVAL otherwise, the stream unchanged). */
RVM_API int rvm_stream_set_state(rvm_stream *stream, int width, int height,
                                 double downsample_ratio, const rvm_tensor *const r[4]);

RVM_API const char *rvm_status_string(int status);

/* Diagnostics: which checkpoint was loaded, which kernel set and how many threads a stream
 * uses, when a stream's state starts over. The library never prints them; a program that
 * wants them sets a function (NULL: none, the default). It is called from the thread making
 * the call that reports, possibly several at once; message is valid during the call only. */
typedef enum { RVM_LOG_INFO = 0, RVM_LOG_DEBUG = 1 } rvm_log_level;
typedef void (*rvm_log_fn)(void *user, rvm_log_level level, const char *message);
RVM_API void rvm_set_log(rvm_log_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
