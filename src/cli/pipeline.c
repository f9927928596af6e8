/* SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include "cli/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cli/progress.h"
#include "cli/queue.h"
#include "cli/signals.h"
#include "model/network.h"

/* Memory is bounded by the frame buffers, which circulate in pools instead of being
 * allocated per frame (a fresh allocation of this size is fresh pages: a page fault and a
 * zeroing per 4 KiB, every frame). Two input frames: the network hands one back as soon as
 * its results are computed, and the decoder has decoded the next one meanwhile, so the
 * network does not wait for a decoding (~6 ms at 1080p) every frame; the second costs 3 MB at
 * 1080p, 12 MB at 4K (a decoder's 4:2:0 picture; 6 and 25 MB as an RGB frame), and made the
 * README's conversion ~15% faster. The network writes each
 * video output's pixels straight into a picture in its encoder's format (YUV 4:2:0: half the
 * bytes of packed RGB), band by band; VIDEO_PICTURES of them per output let the network fill
 * one while the encoder encodes the other (a third gained ~2%, within the noise, for 5 MB at
 * 1080p and 20 MB at 4K: not kept). Image outputs (PNG sequences, single images) are packed
 * into one buffer, which the encoder hands back as soon as the writers have taken the pixels
 * into their own pictures, before encoding. */
#define INPUT_FRAMES 2
#define VIDEO_PICTURES 2
#define PACKED_BUFFERS 1
/* The network's full-resolution results are taken and packed in bands of this many rows, so
 * no whole frame of them is held (16-bit alpha and foreground: 8 bytes a pixel, 17 MB at
 * 1080p, 66 MB at 4K; a band is 1 MB at 1080p), and a band is packed while it is in cache. */
#define BAND_ROWS 64
/* Encoding runs in lanes, each a thread with its own queue of matted frames: one per video
 * output (its pictures and, for the output that carries them, the audio and subtitle
 * packets, in input order) and one for all image outputs. Lanes let two encoders use both
 * cores while the network waits (for its next input, or between its parallel steps), and
 * an encoder's frame no longer waits behind the other's (~5% faster than one thread
 * for both encoders). */
#define MAX_LANES 3
/* Items in each queue: frames (bounded by the pools anyway) and audio and subtitle packets,
 * which travel in the same queues, in input order, to stay in step with the frames. */
#define QUEUE_ITEMS 32

/* An input frame's place: an RGB buffer, or a reference to the decoder's own 4:2:0 picture
 * (rvmi_reader_read_frame), whichever the reader fills. The buffer's pages are only touched,
 * and counted, when the reader converts into it: 8-bit 4:2:0 video at its own size never
 * does, and two references to the decoder's pictures (which it then does not reuse) hold
 * half the bytes of two RGB frames (12 MB less at 1080p, 25 MB at 4K; the decoder also no
 * longer converts). */
typedef struct {
    uint8_t *rgb;
    AVFrame *yuv;
} input;

typedef struct {
    rvmi_item_kind kind;
    input *in;       /* VIDEO, decoded: from the inputs pool */
    rvm_frame frame; /* VIDEO, decoded: in in->rgb or in->yuv */
    uint8_t *packed; /* VIDEO, matted: from the packed pool, the image outputs as written */
    AVFrame *pics[3]; /* VIDEO, matted: from the pictures pools, the video outputs' pictures */
    int64_t pts, duration;
    int warmup;      /* VIDEO: a segment's warm-up frame: through the network, not written */
    int restart;     /* VIDEO: the network starts over at this frame */
    AVPacket *packet; /* PACKET: of an audio or subtitle track */
    int track;
    atomic_int refs;  /* lanes still to finish with it: the last one frees it */
} item;

/* Buffers of one size, or pictures of one video output; get blocks while all are in use. */
typedef struct {
    rvmi_queue free;
    void **all;
    int count;
    int pictures; /* the items are AVFrames */
    int inputs;   /* the items are inputs */
} pool;

typedef struct rvmi_run run;

typedef struct {
    run *r;
    rvmi_queue matted;
    int outputs[3]; /* the outputs this lane writes (indices into p->outputs) */
    int noutputs;
    int images;     /* they are the image outputs */
    int64_t sent;   /* video frames given to its encoders */
} lane;

struct rvmi_run {
    rvmi_pipeline *p;
    pthread_t decoder; /* its thread, started by rvmi_pipeline_start */
    rvmi_queue decoded;
    lane lanes[MAX_LANES];
    int nlanes;
    atomic_int lanes_left; /* lane threads still running */
    pool inputs, packs;
    pool pics[3];         /* of each video output (outputs[i].video) */
    pthread_mutex_t err_lock;
    char err[512];
    atomic_int failed;
    atomic_llong frames;
    atomic_int encoder_done;
    /* Whether every frame reached the encoders (rvmi_pipeline.complete): the decoder read
     * the input's end, and the network took every item it pushed. */
    atomic_int input_end;
    atomic_llong pushed, taken;
    /* The caller's thread waits on this for the lanes' end (and wakes every 0.1 s for the
     * progress and a stop), not in 0.1 s sleeps that left ~50 ms of every run idle. */
    pthread_mutex_t done_lock;
    pthread_cond_t done_cond;
    int width, height;
    int need_fgr;
    rvm_pixel_type type;  /* of the network's results: U16, or U8 when nothing needs more */
    size_t sample;        /* bytes per sample of type */
    uint8_t *result;      /* a band of the network's results (alpha, then foreground) */
    uint8_t *band;        /* a band of one video output's pixels, packed for its writer */
    size_t offset[3];     /* where each image output is in a packed buffer */
    size_t packed;        /* a packed buffer's size (0: no image outputs) */
    int bg_colour;        /* the background is r->colour: no picture per frame */
    uint8_t colour[3];
    /* The README's outputs (an 8-bit 4:2:0 composition, and perhaps an 8-bit 4:2:0 matte,
     * nothing else): the library computes them straight into the pictures
     * (rvmi_stream_yuv420), the same bytes as the bands' 16-bit results packed and converted
     * (~1.3 ms less CPU time a 1080p frame with AVX-512, rvmi_yuv420_direct; other kernel
     * sets keep the bands); these are their outputs, or -1. */
    int yuv_com, yuv_matte;
};

static input *input_new(size_t size)
{
    input *in = calloc(1, sizeof(*in));
    if (in && (!(in->rgb = malloc(size)) || !(in->yuv = av_frame_alloc()))) {
        free(in->rgb);
        free(in);
        in = NULL;
    }
    return in;
}

/* count buffers of size bytes, or (pictures_of given) count pictures of that video output,
 * or (inputs) count inputs of RGB buffers of size bytes. */
static int pool_init(pool *pl, int count, size_t size, rvmi_video_writer *pictures_of,
                     int inputs)
{
    memset(pl, 0, sizeof(*pl));
    pl->pictures = pictures_of != NULL;
    pl->inputs = inputs;
    if (rvmi_queue_init(&pl->free, count) < 0)
        return -1;
    if (!(pl->all = calloc((size_t)count, sizeof(*pl->all))))
        return -1;
    for (; pl->count < count; pl->count++) {
        /* Pages are touched (and counted) only when a buffer is first written. */
        void *it = pictures_of ? (void *)rvmi_video_writer_picture_new(pictures_of)
                   : inputs    ? (void *)input_new(size)
                               : malloc(size);
        if (!(pl->all[pl->count] = it))
            return -1;
        rvmi_queue_push(&pl->free, it);
    }
    return 0;
}

static void pool_destroy(pool *pl)
{
    if (pl->free.items)
        rvmi_queue_destroy(&pl->free);
    for (int i = 0; i < pl->count; i++) {
        if (pl->pictures) {
            AVFrame *pic = pl->all[i];
            av_frame_free(&pic);
        } else if (pl->inputs) {
            input *in = pl->all[i];
            av_frame_free(&in->yuv);
            free(in->rgb);
            free(in);
        } else {
            free(pl->all[i]);
        }
    }
    free(pl->all);
}

/* NULL when the pool was aborted. */
static void *pool_get(pool *pl)
{
    return rvmi_queue_pop(&pl->free);
}

static void pool_put(pool *pl, void *buf)
{
    if (buf)
        rvmi_queue_push(&pl->free, buf); /* never waits: the queue holds every buffer */
}

/* The decoder can fill it again (its picture goes back to the decoder). */
static void input_put(run *r, input *in)
{
    if (in) {
        av_frame_unref(in->yuv);
        pool_put(&r->inputs, in);
    }
}

static void item_free(run *r, item *it)
{
    if (!it)
        return;
    input_put(r, it->in);
    pool_put(&r->packs, it->packed);
    for (int i = 0; i < 3; i++)
        pool_put(&r->pics[i], it->pics[i]);
    av_packet_free(&it->packet);
    free(it);
}

/* A lane is done with it (n: that many lanes at once, for lanes it never reached). */
static void item_release(run *r, item *it, int n)
{
    if (atomic_fetch_sub(&it->refs, n) == n) {
        /* Every lane wrote its outputs of this frame: it is written. */
        if (it->kind == RVM_ITEM_VIDEO && !atomic_load(&r->failed))
            atomic_fetch_add(&r->frames, 1);
        item_free(r, it);
    }
}

/* The first error wins (with the stage it came from); every stage then gives up. */
static void fail_at(run *r, int stage, const char *msg)
{
    pthread_mutex_lock(&r->err_lock);
    if (!atomic_load(&r->failed)) {
        snprintf(r->err, sizeof(r->err), "%s", msg);
        r->p->failed_stage = stage;
        atomic_store(&r->failed, 1);
    }
    pthread_mutex_unlock(&r->err_lock);
    rvmi_queue_abort(&r->decoded);
    for (int l = 0; l < r->nlanes; l++)
        rvmi_queue_abort(&r->lanes[l].matted);
    rvmi_queue_abort(&r->inputs.free);
    rvmi_queue_abort(&r->packs.free);
    for (int i = 0; i < r->p->noutputs; i++)
        if (r->pics[i].free.items)
            rvmi_queue_abort(&r->pics[i].free);
}

static void fail(run *r, const char *msg)
{
    fail_at(r, RVM_STAGE_NETWORK, msg);
}

/* The decoder, the encoders and the network's helper threads run 10 nice levels below the
 * network's own thread (Linux: the nice value is per thread). The network's frame is ~100
 * parallel steps; its thread runs each step's tasks with whichever helpers have a core and
 * waits only for the tasks a helper began (rvmi_pool_run). Below the network's thread, the
 * decoder and encoders take the cores whenever it leaves one (between its steps, while it
 * packs a frame alone, while it waits), and catch up through their queues and pools; at
 * their priority, the helpers take a core only when the decoder and encoders leave it, so
 * no step waits for a helper that an encoder holds off its core. The README's conversion
 * (2 threads, 1080p) ran ~20% faster with the decoder and encoders below the network than at
 * its priority (nice +5: less; SCHED_BATCH, or shorter scheduler slices for the network's
 * threads: no gain), and ~10% faster again with the helpers below it too (the network's thread
 * no longer waiting for a helper to join each step). The work is the same: a busy machine
 * still does it all, the conversion only leaves other programs more of the cores. */
#define NICE_BELOW_NETWORK 10

static void yield_to_network(void)
{
#ifdef __linux__
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, tid);
    int below = nice + NICE_BELOW_NETWORK;
    if (errno == 0)
        (void)setpriority(PRIO_PROCESS, tid, below > 19 ? 19 : below);
#endif
}

static void *decode_thread(void *arg)
{
    run *r = arg;
    char err[512];
    pthread_setname_np(pthread_self(), "rvm-decode");
    yield_to_network();
    input *in = NULL;    /* a free input, kept across audio items */
    int64_t frames = 0;  /* to be written (not a segment's warm-up frames) */
    while (!atomic_load(r->p->stop) && !atomic_load(&r->failed)) {
        if (!in && !(in = pool_get(&r->inputs)))
            break; /* aborted */
        rvmi_read_item ri;
        int k = rvmi_reader_read_frame(r->p->reader, &ri, in->rgb, in->yuv, err, sizeof(err));
        if (k < 0) {
            fail_at(r, RVM_STAGE_DECODE, err);
            break;
        }
        if (k == RVM_ITEM_END) {
            /* A read cut short by the stop also ends so (the reader's interrupt callback):
             * the input's end only if no stop came yet. */
            if (!atomic_load(r->p->stop))
                atomic_store(&r->input_end, 1);
            break;
        }
        if (k == RVM_ITEM_VIDEO && !ri.warmup && r->p->max_frames > 0 &&
            ++frames > r->p->max_frames) {
            fail_at(r, RVM_STAGE_FRAME_LIMIT, "the input has more frames than the outputs hold");
            break;
        }
        item *it = calloc(1, sizeof(*it));
        if (!it) {
            av_packet_free(&ri.packet);
            fail(r, "out of memory");
            break;
        }
        it->kind = (rvmi_item_kind)k;
        it->pts = ri.pts;
        it->duration = ri.duration;
        it->warmup = ri.warmup;
        it->restart = ri.restart;
        it->packet = ri.packet;
        it->track = ri.track;
        if (k == RVM_ITEM_VIDEO) {
            it->in = in;
            it->frame = ri.frame;
            in = NULL;
        }
        if (rvmi_queue_push(&r->decoded, it) < 0) {
            item_free(r, it);
            break;
        }
        atomic_fetch_add(&r->pushed, 1);
    }
    input_put(r, in);
    rvmi_queue_close(&r->decoded);
    return NULL;
}

static size_t packed_size(const run *r, const rvmi_pipeline_output *o)
{
    return (size_t)r->width * r->height * o->layout * (o->depth == 16 ? 2 : 1);
}

/* Packs n pixels of one output from the network's results (pha, and fgr where needed) into
 * buf, as its writer takes them. bg: the background picture's same pixels, or NULL for the
 * colour r->colour. */
static void pack_output(const run *r, const rvmi_pipeline_output *o, const uint8_t *pha,
                        const uint8_t *fgr, size_t n, const uint8_t *bg, void *buf)
{
    int d16 = o->depth == 16;
    if (r->type == RVM_PIXEL_U8) {
        /* No 16-bit output and no composition over a background: the network's 8-bit
         * values are the outputs. */
        if (o->kind == RVM_OUT_ALPHA)
            memcpy(buf, pha, n);
        else if (o->kind == RVM_OUT_FOREGROUND)
            memcpy(buf, fgr, 3 * n);
        else
            rvmi_pack_rgba8_from8(fgr, pha, n, buf);
        return;
    }
    const uint16_t *pha16 = (const uint16_t *)pha, *fgr16 = (const uint16_t *)fgr;
    switch (o->kind) {
    case RVM_OUT_ALPHA:
        d16 ? (void)memcpy(buf, pha16, 2 * n) : rvmi_u16_to_u8(pha16, n, buf);
        break;
    case RVM_OUT_FOREGROUND:
        d16 ? (void)memcpy(buf, fgr16, 6 * n) : rvmi_u16_to_u8(fgr16, 3 * n, buf);
        break;
    case RVM_OUT_COMPOSITION:
        if (o->layout == RVM_LAYOUT_RGBA)
            rvmi_pack_rgba(fgr16, pha16, n, o->depth, buf);
        else if (bg)
            rvmi_compose_over(fgr16, pha16, bg, n, o->depth, buf);
        else
            rvmi_compose_colour(fgr16, pha16, r->colour, n, o->depth, buf);
        break;
    }
}

/* The network, then the packing of its results into the outputs' pixels (compositing
 * included), so that only the compact packed pixels wait for the encoders. */
static void *network_thread(void *arg)
{
    run *r = arg;
    rvmi_pipeline *p = r->p;
    char err[512];
    size_t band_n = (size_t)r->width * BAND_ROWS;
    pthread_setname_np(pthread_self(), "rvm-network");
    (void)rvm_stream_set_helper_nice(p->stream, NICE_BELOW_NETWORK); /* best effort, as above */
    int need_bg = 0;
    for (int i = 0; i < p->noutputs; i++)
        need_bg |= p->outputs[i].kind == RVM_OUT_COMPOSITION &&
                   p->outputs[i].layout == RVM_LAYOUT_RGB;
    item *it;
    while ((it = rvmi_queue_pop(&r->decoded))) {
        if (atomic_load(p->stop)) {
            /* Frames not yet matted are dropped: the outputs end at the last frame done. */
            item_free(r, it);
            break;
        }
        atomic_fetch_add(&r->taken, 1);
        if (it->kind == RVM_ITEM_VIDEO) {
            /* The picture changed size (it is fitted into the first one's) or orientation:
             * the recurrent state describes another picture. */
            if (it->restart)
                rvm_stream_reset(p->stream);
            const rvm_frame frame = it->frame;
            int ret = rvmi_stream_matte(p->stream, &frame, p->ratio);
            if (ret == 0 && it->warmup) {
                /* Only the recurrent state was wanted from it. */
                item_free(r, it);
                continue;
            }
            const uint8_t *bg = NULL;
            if (ret == 0 && need_bg && !r->bg_colour &&
                !(bg = rvmi_background_next(p->background, err, sizeof(err)))) {
                item_free(r, it);
                fail(r, err);
                break;
            }
            int aborted = 0;
            if (ret == 0 && r->packed && !(it->packed = pool_get(&r->packs)))
                aborted = 1;
            for (int i = 0; ret == 0 && i < p->noutputs && !aborted; i++)
                if (p->outputs[i].video && !(it->pics[i] = pool_get(&r->pics[i])))
                    aborted = 1;
            if (aborted) {
                item_free(r, it);
                break;
            }
            /* The full-resolution results band by band, each packed into every output. */
            int fill_failed = 0; /* a video output's picture: err says why */
            const int direct = r->yuv_com >= 0 && rvmi_yuv420_direct(p->stream, &frame);
            if (ret == 0 && direct) {
                rvmi_yuv420_out yo = {.bg = bg, .bg_stride = 3 * (ptrdiff_t)r->width};
                memcpy(yo.colour, r->colour, 3);
                for (int i = 0; i < p->noutputs && !fill_failed; i++)
                    fill_failed = rvmi_video_writer_planes(p->outputs[i].video, it->pics[i],
                                                           err, sizeof(err)) < 0;
                AVFrame *com = it->pics[r->yuv_com];
                for (int c = 0; c < 3; c++)
                    yo.com[c] = com->data[c], yo.com_stride[c] = com->linesize[c];
                if (r->yuv_matte >= 0) {
                    yo.matte = it->pics[r->yuv_matte]->data[0];
                    yo.matte_stride = it->pics[r->yuv_matte]->linesize[0];
                }
                if (!fill_failed)
                    ret = rvmi_stream_yuv420(p->stream, &frame, &yo);
                for (int i = 0; i < p->noutputs && !fill_failed && ret == 0; i++)
                    rvmi_video_writer_planes_done(p->outputs[i].video, it->pics[i]);
            }
            for (int y = 0; !direct && ret == 0 && !fill_failed && y < r->height;
                 y += BAND_ROWS) {
                int rows = r->height - y < BAND_ROWS ? r->height - y : BAND_ROWS;
                size_t at = (size_t)y * r->width, n = (size_t)rows * r->width;
                rvm_output out = {.type = r->type,
                                  .pha = r->result,
                                  .pha_stride = (ptrdiff_t)(r->width * r->sample),
                                  .fgr = r->need_fgr ? r->result + band_n * r->sample : NULL,
                                  .fgr_stride = (ptrdiff_t)(3 * r->width * r->sample)};
                ret = rvmi_stream_output_rows(p->stream, &frame, &out, y, rows);
                for (int i = 0; ret == 0 && !fill_failed && i < p->noutputs; i++) {
                    const rvmi_pipeline_output *o = &p->outputs[i];
                    size_t px = (size_t)o->layout * (o->depth == 16 ? 2 : 1);
                    const uint8_t *bg_band = bg ? bg + 3 * at : NULL;
                    if (!o->video) {
                        pack_output(r, o, out.pha, out.fgr, n, bg_band,
                                    it->packed + r->offset[i] + px * at);
                        continue;
                    }
                    pack_output(r, o, out.pha, out.fgr, n, bg_band, r->band);
                    if (rvmi_video_writer_fill_rows(o->video, it->pics[i], r->band, y, rows, err,
                                                    sizeof(err)) < 0)
                        fill_failed = 1;
                }
            }
            if (fill_failed) {
                item_free(r, it);
                fail(r, err);
                break;
            }
            if (ret < 0) {
                const char *why = rvm_stream_error(p->stream);
                snprintf(err, sizeof(err), "the network failed: %s",
                         why && *why ? why : rvm_status_string(ret));
                item_free(r, it);
                fail(r, err);
                break;
            }
            input_put(r, it->in);
            it->in = NULL;
        }
        int pushed = 0;
        atomic_store(&it->refs, r->nlanes);
        while (pushed < r->nlanes && rvmi_queue_push(&r->lanes[pushed].matted, it) == 0)
            pushed++;
        if (pushed < r->nlanes) {
            item_release(r, it, r->nlanes - pushed);
            break;
        }
    }
    for (int l = 0; l < r->nlanes; l++)
        rvmi_queue_close(&r->lanes[l].matted);
    /* Unblocks the decoder if it still waits to push or for a buffer (after a stop or an
     * error). */
    rvmi_queue_abort(&r->decoded);
    rvmi_queue_abort(&r->inputs.free);
    return NULL;
}

static void *encode_thread(void *arg)
{
    lane *ln = arg;
    run *r = ln->r;
    rvmi_pipeline *p = r->p;
    char err[512];
    pthread_setname_np(pthread_self(), "rvm-encode");
    yield_to_network();
    item *it;
    while ((it = rvmi_queue_pop(&ln->matted))) {
        int ret = 0;
        if (it->kind == RVM_ITEM_PACKET) {
            for (int k = 0; k < ln->noutputs && ret == 0; k++) {
                rvmi_pipeline_output *o = &p->outputs[ln->outputs[k]];
                if (o->tracks && o->video)
                    ret = rvmi_video_writer_track(o->video, it->track, it->packet, err,
                                                  sizeof(err));
            }
        } else if (ln->images) {
            /* Each image writer first takes the pixels into its own picture; the packed
             * buffer then goes back to the network before the (slower) encoding. */
            for (int k = 0; k < ln->noutputs && ret == 0; k++) {
                int i = ln->outputs[k];
                ret = rvmi_image_writer_take(p->outputs[i].image, it->packed + r->offset[i],
                                             err, sizeof(err));
            }
            pool_put(&r->packs, it->packed);
            it->packed = NULL;
            /* The input's ICC profile (the first picture's, known once a picture is
             * here) goes with the colours: the composition and the foreground, not the
             * matte. */
            const AVBufferRef *icc = p->reader ? rvmi_reader_icc(p->reader) : NULL;
            for (int k = 0; k < ln->noutputs && ret == 0; k++) {
                rvmi_pipeline_output *o = &p->outputs[ln->outputs[k]];
                if (icc && o->kind != RVM_OUT_ALPHA &&
                    rvmi_image_writer_set_icc(o->image, icc->data, icc->size) < 0) {
                    snprintf(err, sizeof(err), "out of memory");
                    ret = -1;
                    break;
                }
                ret = rvmi_image_writer_encode(o->image, err, sizeof(err));
            }
        } else {
            /* A video picture goes back as soon as its encoder has it. */
            for (int k = 0; k < ln->noutputs && ret == 0; k++) {
                int i = ln->outputs[k];
                ret = rvmi_video_writer_send(p->outputs[i].video, it->pics[i], it->pts,
                                             it->duration, err, sizeof(err));
                pool_put(&r->pics[i], it->pics[i]);
                it->pics[i] = NULL;
            }
            ln->sent++;
            /* Near the file size limit: stop as SIGXFSZ would, while the trailer fits. */
            for (int k = 0; k < ln->noutputs && ret == 0; k++)
                if (rvmi_video_writer_near_limit(p->outputs[ln->outputs[k]].video)) {
                    int none = 0;
                    atomic_compare_exchange_strong(p->stop, &none, SIGXFSZ);
                }
        }
        if (ret < 0)
            fail_at(r, RVM_STAGE_ENCODE, err);
        item_release(r, it, 1);
        if (ret < 0)
            break;
    }
    /* The input is all in (or the run stopped): this lane's encoders flush their last
     * frames and its files get their trailers now, beside the other lanes (the matte's
     * while the composition still encodes), not one output after the other once every
     * lane is done. A lane that wrote no frame leaves its writers to the caller (a run
     * stopped before its first frame writes nothing). */
    for (int k = 0; k < ln->noutputs && !ln->images && ln->sent > 0 && !atomic_load(&r->failed);
         k++) {
        rvmi_pipeline_output *o = &p->outputs[ln->outputs[k]];
        if (rvmi_video_writer_finish(o->video, err, sizeof(err)) < 0) {
            fail_at(r, RVM_STAGE_ENCODE, err);
            break;
        }
        o->finished = 1;
    }
    if (atomic_fetch_sub(&r->lanes_left, 1) == 1) {
        pthread_mutex_lock(&r->done_lock);
        atomic_store(&r->encoder_done, 1);
        pthread_cond_signal(&r->done_cond);
        pthread_mutex_unlock(&r->done_lock);
    }
    return NULL;
}

static void run_free(run *r)
{
    item *it;
    while ((it = rvmi_queue_take_left(&r->decoded)))
        item_free(r, it);
    for (int l = 0; l < r->nlanes; l++) {
        while ((it = rvmi_queue_take_left(&r->lanes[l].matted)))
            item_release(r, it, 1);
        rvmi_queue_destroy(&r->lanes[l].matted);
    }
    rvmi_queue_destroy(&r->decoded);
    pool_destroy(&r->inputs);
    pool_destroy(&r->packs);
    for (int i = 0; i < 3; i++)
        pool_destroy(&r->pics[i]);
    free(r->result);
    free(r->band);
    pthread_mutex_destroy(&r->err_lock);
    pthread_mutex_destroy(&r->done_lock);
    pthread_cond_destroy(&r->done_cond);
    free(r);
}

/* The run's queues, pools and settings, from p (no thread started); NULL with a message. */
static run *run_new(rvmi_pipeline *p, char *err, size_t errlen)
{
    run *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->p = p;
    p->failed_stage = RVM_STAGE_NONE;
    p->decoder_left = 0;
    p->complete = 0;
    pthread_mutex_init(&r->err_lock, NULL);
    pthread_mutex_init(&r->done_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < p->noutputs; i++)
        p->outputs[i].finished = 0;
    r->width = rvmi_reader_width(p->reader);
    r->height = rvmi_reader_height(p->reader);
    /* 16-bit results when a 16-bit output or a composition over a background needs them
     * (the composition is then computed from 16-bit values and rounded once); otherwise the
     * network's 8-bit results are the outputs (rounded once, and half the memory). */
    r->type = RVM_PIXEL_U8;
    for (int i = 0; i < p->noutputs; i++) {
        const rvmi_pipeline_output *o = &p->outputs[i];
        r->need_fgr |= o->kind != RVM_OUT_ALPHA;
        if (o->depth == 16 || (o->kind == RVM_OUT_COMPOSITION && o->layout == RVM_LAYOUT_RGB))
            r->type = RVM_PIXEL_U16;
    }
    r->sample = r->type == RVM_PIXEL_U16 ? 2 : 1;
    r->bg_colour = p->background && rvmi_background_colour(p->background, r->colour);
    r->yuv_com = r->yuv_matte = -1;
    int direct = r->type == RVM_PIXEL_U16;
    for (int i = 0; direct && i < p->noutputs; i++) {
        const rvmi_pipeline_output *o = &p->outputs[i];
        int how = o->video && o->depth == 8 ? rvmi_video_writer_direct(o->video) : 0;
        if (o->kind == RVM_OUT_COMPOSITION && o->layout == RVM_LAYOUT_RGB &&
            how == RVMI_DIRECT_YUV420 && r->yuv_com < 0)
            r->yuv_com = i;
        else if (o->kind == RVM_OUT_ALPHA && how == RVMI_DIRECT_LUMA && r->yuv_matte < 0)
            r->yuv_matte = i;
        else
            direct = 0;
    }
    if (!direct)
        r->yuv_com = r->yuv_matte = -1;
    size_t n = (size_t)r->width * r->height;
    size_t band = 0; /* the largest band of a video output's pixels */
    for (int i = 0; i < p->noutputs; i++) {
        const rvmi_pipeline_output *o = &p->outputs[i];
        if (o->video) {
            size_t b = packed_size(r, o) / r->height * BAND_ROWS;
            band = b > band ? b : band;
            continue;
        }
        r->offset[i] = r->packed;
        r->packed += (packed_size(r, o) + 63) / 64 * 64;
    }
    int ok = rvmi_queue_init(&r->decoded, QUEUE_ITEMS) == 0;
    /* A lane per video output, one for the image outputs. */
    int image_lane = -1;
    for (int i = 0; ok && i < p->noutputs; i++) {
        int l = p->outputs[i].image && image_lane >= 0 ? image_lane : r->nlanes;
        if (l == r->nlanes) {
            if (rvmi_queue_init(&r->lanes[l].matted, QUEUE_ITEMS) < 0) {
                ok = 0;
                break;
            }
            r->lanes[l].r = r;
            r->lanes[l].images = p->outputs[i].image != NULL;
            if (p->outputs[i].image)
                image_lane = l;
            r->nlanes++;
        }
        r->lanes[l].outputs[r->lanes[l].noutputs++] = i;
    }
    atomic_store(&r->lanes_left, r->nlanes);
    ok = ok && r->nlanes > 0 &&
             pool_init(&r->inputs, INPUT_FRAMES, 3 * n, NULL, 1) == 0 &&
             (!r->packed || pool_init(&r->packs, PACKED_BUFFERS, r->packed, NULL, 0) == 0) &&
             (!band || (r->band = malloc(band))) &&
             (r->result = malloc((r->need_fgr ? 4 : 1) * (size_t)r->width * BAND_ROWS * r->sample));
    for (int i = 0; ok && i < p->noutputs; i++)
        if (p->outputs[i].video)
            ok = pool_init(&r->pics[i], VIDEO_PICTURES, 0, p->outputs[i].video, 0) == 0;
    if (!ok) {
        run_free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return r;
}

int rvmi_pipeline_start(rvmi_pipeline *p, char *err, size_t errlen)
{
    if (p->started)
        return 0;
    run *r = run_new(p, err, errlen);
    if (!r)
        return -1;
    /* Signals go to the main thread only: it waits on the workers and reacts. */
    sigset_t block, old;
    rvmi_signals_worker_set(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int ok = pthread_create(&r->decoder, NULL, decode_thread, r) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        run_free(r);
        snprintf(err, errlen, "cannot start threads");
        return -1;
    }
    p->started = r;
    return 0;
}

/* Stops the decoder (its queue and free inputs aborted) and joins it. It can be stuck in a
 * blocking read (a silent pipe or device): it is given a moment and otherwise left behind
 * with its reader and run (p->decoder_left: the command exits next; a program running the
 * conversion in its process leaks them). Returns whether it was joined. */
static int stop_decoder(run *r)
{
    rvmi_queue_abort(&r->decoded);
    rvmi_queue_abort(&r->inputs.free);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 2;
    if (pthread_timedjoin_np(r->decoder, NULL, &dl) != 0) {
        pthread_detach(r->decoder);
        r->p->decoder_left = 1;
        return 0;
    }
    return 1;
}

void rvmi_pipeline_cancel(rvmi_pipeline *p)
{
    run *r = p->started;
    if (!r)
        return;
    p->started = NULL;
    atomic_store(&r->failed, 1);
    if (stop_decoder(r))
        run_free(r);
}

int rvmi_pipeline_run(rvmi_pipeline *p, int64_t *frames, char *err, size_t errlen)
{
    if (rvmi_pipeline_start(p, err, errlen) < 0)
        return -1;
    run *r = p->started;
    p->started = NULL;
    sigset_t block, old;
    rvmi_signals_worker_set(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    /* The decoder runs; the network, then the encoding lanes. */
    pthread_t th[2 + MAX_LANES];
    th[0] = r->decoder;
    int threads = 2 + r->nlanes, started = 1;
    for (; started < threads; started++)
        if (pthread_create(&th[started], NULL, started == 1 ? network_thread : encode_thread,
                           started == 1 ? (void *)r : (void *)&r->lanes[started - 2]) != 0)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started < threads)
        fail(r, "cannot start threads");

    rvmi_progress bar;
    int64_t total = rvmi_reader_frame_estimate(p->reader);
    int show = p->progress || p->progress_fd >= 0;
    if (show)
        rvmi_progress_start(&bar, total, p->progress, p->progress_fd);
    /* The main thread draws the progress bar and watches for a stop. */
    int stop_seen = 0;
    while (started == threads && !atomic_load(&r->encoder_done)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000 * 1000 * 1000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_mutex_lock(&r->done_lock);
        while (!atomic_load(&r->encoder_done) &&
               pthread_cond_timedwait(&r->done_cond, &r->done_lock, &ts) == 0)
            ;
        pthread_mutex_unlock(&r->done_lock);
        if (atomic_load(p->stop) && !stop_seen) {
            stop_seen = 1;
            /* The network stops at its next frame; unblock anything waiting on input. */
            rvmi_queue_abort(&r->decoded);
        }
        if (show)
            rvmi_progress_update(&bar, atomic_load(&r->frames));
        if (p->on_progress)
            p->on_progress(p->progress_user, atomic_load(&r->frames), total);
    }
    if (p->on_progress)
        p->on_progress(p->progress_user, atomic_load(&r->frames), total);
    if (show)
        rvmi_progress_end(&bar, atomic_load(&r->frames),
                         !atomic_load(p->stop) && !atomic_load(&r->failed));
    /* The network and encoder stages always end once the decoded queue is aborted or
     * closed; then the decoder is stopped. */
    for (int i = started - 1; i >= 1; i--)
        pthread_join(th[i], NULL);
    int decoder_joined = stop_decoder(r);
    int ret = atomic_load(&r->failed) ? -1 : 0;
    if (ret < 0)
        snprintf(err, errlen, "%s", r->err);
    /* The decoder read the input's end after its last push: pushed is final then. */
    p->complete = ret == 0 && atomic_load(&r->input_end) &&
                  atomic_load(&r->taken) == atomic_load(&r->pushed);
    *frames = atomic_load(&r->frames);
    if (!decoder_joined)
        return ret; /* the decoder still uses r; leak it rather than free under its feet */
    run_free(r);
    return ret;
}
