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

#include "cli/progress.h"
#include "cli/queue.h"

/* A few items in each queue are enough to hide the jitter between stages; more would only
 * hold memory (a 1080p frame with float outputs is ~33 MB). Audio packets travel in the same
 * queues, in input order, which keeps them in step with the frames. */
#define QUEUE_ITEMS 4

typedef struct {
    rvm_item_kind kind;
    uint8_t *rgb;
    int64_t pts, duration;
    float *pha, *fgr;
    AVPacket *packet;
} item;

typedef struct {
    rvm_pipeline *p;
    rvm_queue decoded, matted;
    pthread_mutex_t err_lock;
    char err[512];
    atomic_int failed;
    atomic_llong frames;
    atomic_int encoder_done;
    int width, height;
    int need_fgr;
} run;

static void item_free(item *it)
{
    if (!it)
        return;
    free(it->rgb);
    free(it->pha);
    free(it->fgr);
    av_packet_free(&it->packet);
    free(it);
}

/* The first error wins; every stage then gives up. */
static void fail(run *r, const char *msg)
{
    pthread_mutex_lock(&r->err_lock);
    if (!atomic_load(&r->failed)) {
        snprintf(r->err, sizeof(r->err), "%s", msg);
        atomic_store(&r->failed, 1);
    }
    pthread_mutex_unlock(&r->err_lock);
    rvm_queue_abort(&r->decoded);
    rvm_queue_abort(&r->matted);
}

static void *decode_thread(void *arg)
{
    run *r = arg;
    char err[512];
    while (!atomic_load(r->p->stop) && !atomic_load(&r->failed)) {
        rvm_read_item ri;
        int k = rvm_reader_read(r->p->reader, &ri, err, sizeof(err));
        if (k < 0) {
            fail(r, err);
            break;
        }
        if (k == RVM_ITEM_END)
            break;
        item *it = calloc(1, sizeof(*it));
        if (!it) {
            free(ri.rgb);
            av_packet_free(&ri.packet);
            fail(r, "out of memory");
            break;
        }
        it->kind = (rvm_item_kind)k;
        it->rgb = ri.rgb;
        it->pts = ri.pts;
        it->duration = ri.duration;
        it->packet = ri.packet;
        if (rvm_queue_push(&r->decoded, it) < 0) {
            item_free(it);
            break;
        }
    }
    rvm_queue_close(&r->decoded);
    return NULL;
}

static void *network_thread(void *arg)
{
    run *r = arg;
    size_t n = (size_t)r->width * r->height;
    item *it;
    while ((it = rvm_queue_pop(&r->decoded))) {
        if (atomic_load(r->p->stop)) {
            /* Frames not yet matted are dropped: the outputs end at the last frame done. */
            item_free(it);
            break;
        }
        if (it->kind == RVM_ITEM_VIDEO) {
            it->pha = malloc(n * sizeof(float));
            it->fgr = r->need_fgr ? malloc(3 * n * sizeof(float)) : NULL;
            if (!it->pha || (r->need_fgr && !it->fgr)) {
                item_free(it);
                fail(r, "out of memory");
                break;
            }
            rvm_output out = {RVM_PIXEL_F32, it->pha, (ptrdiff_t)(r->width * sizeof(float)),
                              it->fgr, (ptrdiff_t)(3 * r->width * sizeof(float))};
            int ret = rvm_stream_process(r->p->stream, it->rgb, r->width, r->height,
                                         (ptrdiff_t)r->width * 3, r->p->ratio, &out);
            if (ret < 0) {
                char msg[512];
                const char *why = rvm_stream_error(r->p->stream);
                snprintf(msg, sizeof(msg), "the network failed: %s",
                         why && *why ? why : rvm_status_string(ret));
                item_free(it);
                fail(r, msg);
                break;
            }
            free(it->rgb);
            it->rgb = NULL;
        }
        if (rvm_queue_push(&r->matted, it) < 0) {
            item_free(it);
            break;
        }
    }
    rvm_queue_close(&r->matted);
    /* Unblocks the decoder if it still waits to push (after a stop or an error). */
    rvm_queue_abort(&r->decoded);
    return NULL;
}

static int write_output(run *r, rvm_pipeline_output *o, const item *it, const uint8_t *bg,
                        void *buf, char *err, size_t errlen)
{
    size_t n = (size_t)r->width * r->height;
    int d16 = o->depth == 16;
    switch (o->kind) {
    case RVM_OUT_ALPHA:
        d16 ? rvm_pack_gray16(it->pha, n, buf) : rvm_pack_gray8(it->pha, n, buf);
        break;
    case RVM_OUT_FOREGROUND:
        d16 ? rvm_pack_rgb16(it->fgr, n, buf) : rvm_pack_rgb8(it->fgr, n, buf);
        break;
    case RVM_OUT_COMPOSITION:
        if (o->layout == RVM_LAYOUT_RGBA)
            d16 ? rvm_pack_rgba16(it->fgr, it->pha, n, buf)
                : rvm_pack_rgba8(it->fgr, it->pha, n, buf);
        else
            d16 ? rvm_compose_over16(it->fgr, it->pha, bg, n, buf)
                : rvm_compose_over8(it->fgr, it->pha, bg, n, buf);
        break;
    }
    if (o->png)
        return rvm_png_writer_frame(o->png, buf, err, errlen);
    return rvm_video_writer_frame(o->video, buf, it->pts, it->duration, err, errlen);
}

static void *encode_thread(void *arg)
{
    run *r = arg;
    rvm_pipeline *p = r->p;
    char err[512];
    void *buf = malloc((size_t)r->width * r->height * 4 * 2);
    if (!buf) {
        fail(r, "out of memory");
        atomic_store(&r->encoder_done, 1);
        return NULL;
    }
    int need_bg = 0;
    for (int i = 0; i < p->noutputs; i++)
        need_bg |= p->outputs[i].kind == RVM_OUT_COMPOSITION &&
                   p->outputs[i].layout == RVM_LAYOUT_RGB;
    item *it;
    while ((it = rvm_queue_pop(&r->matted))) {
        int ret = 0;
        if (it->kind == RVM_ITEM_AUDIO) {
            for (int i = 0; i < p->noutputs && ret == 0; i++)
                if (p->outputs[i].audio && p->outputs[i].video)
                    ret = rvm_video_writer_audio(p->outputs[i].video, it->packet, err,
                                                 sizeof(err));
        } else {
            const uint8_t *bg = NULL;
            if (need_bg && !(bg = rvm_background_next(p->background, err, sizeof(err))))
                ret = -1;
            for (int i = 0; i < p->noutputs && ret == 0; i++)
                ret = write_output(r, &p->outputs[i], it, bg, buf, err, sizeof(err));
            if (ret == 0)
                atomic_fetch_add(&r->frames, 1);
        }
        item_free(it);
        if (ret < 0) {
            fail(r, err);
            break;
        }
    }
    free(buf);
    atomic_store(&r->encoder_done, 1);
    return NULL;
}

int rvm_pipeline_run(rvm_pipeline *p, int64_t *frames, char *err, size_t errlen)
{
    run *r = calloc(1, sizeof(*r));
    if (!r || rvm_queue_init(&r->decoded, QUEUE_ITEMS) < 0) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rvm_queue_init(&r->matted, QUEUE_ITEMS) < 0) {
        rvm_queue_destroy(&r->decoded);
        free(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->p = p;
    pthread_mutex_init(&r->err_lock, NULL);
    r->width = rvm_reader_width(p->reader);
    r->height = rvm_reader_height(p->reader);
    for (int i = 0; i < p->noutputs; i++)
        r->need_fgr |= p->outputs[i].kind != RVM_OUT_ALPHA;

    /* Signals go to the main thread only: it waits on the workers and reacts. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_t th[3];
    void *(*fn[3])(void *) = {decode_thread, network_thread, encode_thread};
    int started = 0;
    for (; started < 3; started++)
        if (pthread_create(&th[started], NULL, fn[started], r) != 0)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started < 3)
        fail(r, "cannot start threads");

    rvm_progress bar;
    int64_t total = rvm_reader_frame_estimate(p->reader);
    if (p->progress)
        rvm_progress_start(&bar, total);
    /* The main thread draws the progress bar and watches for a stop. */
    int stop_seen = 0;
    while (started == 3 && !atomic_load(&r->encoder_done)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (atomic_load(p->stop) && !stop_seen) {
            stop_seen = 1;
            /* The network stops at its next frame; unblock anything waiting on input. */
            rvm_queue_abort(&r->decoded);
        }
        if (p->progress)
            rvm_progress_update(&bar, atomic_load(&r->frames));
    }
    if (p->progress)
        rvm_progress_end(&bar, atomic_load(&r->frames),
                         !atomic_load(p->stop) && !atomic_load(&r->failed));
    /* The network and encoder stages always end once the decoded queue is aborted or
     * closed. The decoder can be stuck in a blocking read (a silent pipe or device); it is
     * given a moment and otherwise left behind, since the process exits next. */
    if (started >= 3) {
        pthread_join(th[2], NULL);
        pthread_join(th[1], NULL);
    } else {
        for (int i = started - 1; i >= 1; i--)
            pthread_join(th[i], NULL);
    }
    int decoder_joined = 1;
    if (started >= 1) {
        rvm_queue_abort(&r->decoded);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 2;
        if (pthread_timedjoin_np(th[0], NULL, &dl) != 0) {
            pthread_detach(th[0]);
            decoder_joined = 0;
        }
    }
    int ret = atomic_load(&r->failed) ? -1 : 0;
    if (ret < 0)
        snprintf(err, errlen, "%s", r->err);
    *frames = atomic_load(&r->frames);
    if (!decoder_joined)
        return ret; /* the decoder still uses r; leak it rather than free under its feet */
    item *it;
    while ((it = rvm_queue_take_left(&r->decoded)))
        item_free(it);
    while ((it = rvm_queue_take_left(&r->matted)))
        item_free(it);
    rvm_queue_destroy(&r->decoded);
    rvm_queue_destroy(&r->matted);
    pthread_mutex_destroy(&r->err_lock);
    free(r);
    return ret;
}
