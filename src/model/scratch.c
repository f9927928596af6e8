/* The stream's scratch memory, the loops split across its threads, and convolutions run on
 * them.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/scratch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels/threadpool.h"

/* ---- scratch memory: a stack reset every frame ----
 * base is address space mapped once and large (ARENA_RESERVE), of which a frame touches only
 * the pages it uses: the stack's high-water mark, the same resident memory as a block of the
 * frame's peak size. So the first frame of a stream, which does not know its peak yet, runs
 * in base like the others: it neither faults in blocks of its own that each release gives
 * back to the system (a fresh page costs ~9 us of system time on a virtual machine, and the
 * first 1080p frame touched ~118 MB that way for a peak of 24 MB) nor needs a new base made
 * for the second frame. Where the reservation cannot be had (a 32-bit address space, a limit
 * on it) or a frame needs more, that frame spills into extra blocks; the next reset replaces
 * them with one block of the frame's peak size, so steady-state frames allocate nothing.
 * Spilled blocks follow the stack too (a release frees those above the mark), so even the
 * first frame holds no more than its peak. What a layer keeps (its output) is allocated
 * before its temporaries, which are released when it is done; the layer outputs stay until
 * the decoder's last stages drop those no longer read (rvmi_arena_keep), or, for the tests
 * that read them, until the next frame. */
#define ARENA_RESERVE ((size_t)1 << 30)

static void free_spills_above(arena *a, size_t mark)
{
    while (a->spills && a->spills->at >= mark) {
        spill *s = a->spills;
        a->spills = s->next;
        free(s);
    }
}

/* size bytes of zero pages, page-aligned (64-byte alignment is what the views need), none
 * of it committed until touched; or NULL */
static char *map_base(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    /* In 2 MB pages where the system allows them (THP "madvise" or "always"): the first
     * frame's ~22 MB at 1080p then come in ~11 faults instead of ~5,400. Measured 2026-12-02
     * (one binary with and without this, alternated, 8 rounds): a one-frame 1080p conversion
     * 0.92 -> 0.815 s of CPU, 0.74 -> 0.69 s wall, faults 33.1k -> 27.1k; rvm_bench 1080p
     * (40 frames, 6 rounds) 67.6 -> 67.0 ms of CPU a frame (the same within the noise); peak
     * RSS +0.4-0.8 MiB (the high-water mark rounded up to 2 MB), +1.7 MiB for rvm_bench. */
    (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static void unmap_base(arena *a)
{
    if (a->base)
        munmap(a->base, a->size);
    a->base = NULL;
    a->size = 0;
}

void rvmi_arena_reset(arena *a)
{
    if (a->spills || a->peak > a->size) {
        free_spills_above(a, 0);
        unmap_base(a);
        size_t size = a->peak;
        if ((a->base = size ? map_base(size) : NULL))
            a->size = size;
    }
    if (!a->base && sizeof(size_t) > 4 && (a->base = map_base(ARENA_RESERVE)))
        a->size = ARENA_RESERVE;
    a->used = a->peak = 0;
}

float *rvmi_arena_floats(arena *a, size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p;
    if (a->base && a->used + bytes <= a->size) {
        p = (float *)(a->base + a->used);
    } else {
        /* does not fit (the first frame of a new size): a block of its own until it is
         * released or the next reset, which makes base big enough for the whole frame */
        spill *s = aligned_alloc(64, bytes + 64);
        if (!s)
            return NULL;
        s->next = a->spills;
        s->at = a->used;
        a->spills = s;
        p = (float *)((char *)s + 64);
    }
    a->used += bytes;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

void rvmi_arena_release(arena *a, size_t mark)
{
    free_spills_above(a, mark);
    a->used = mark;
}

int rvmi_arena_keep(arena *a, size_t mark, rvmi_view *const *v, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)v[i]->h * v[i]->w * v[i]->stride;
    if (!a->spills || a->spills->at < mark) {
        /* All in base, in allocation order, so each lands at or below where it was and
         * after the ones before it: moved down in place. */
        a->used = mark;
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)v[i]->h * v[i]->w * v[i]->stride;
            float *to = rvmi_arena_floats(a, k);
            memmove(to, v[i]->data, k * sizeof(float));
            v[i]->data = to;
        }
        return 0;
    }
    /* Some sit in spilled blocks (the first frame of a size), which the release frees:
     * copied out and back. */
    float *tmp = malloc(total * sizeof(float) + 1), *at = tmp;
    if (!tmp)
        return -1;
    for (int i = 0; i < n; i++) {
        size_t k = (size_t)v[i]->h * v[i]->w * v[i]->stride;
        memcpy(at, v[i]->data, k * sizeof(float));
        at += k;
    }
    rvmi_arena_release(a, mark);
    at = tmp;
    for (int i = 0; i < n; i++) {
        size_t k = (size_t)v[i]->h * v[i]->w * v[i]->stride;
        float *to = rvmi_arena_floats(a, k);
        if (!to) {
            free(tmp);
            return -1;
        }
        memcpy(to, at, k * sizeof(float));
        v[i]->data = to;
        at += k;
    }
    free(tmp);
    return 0;
}

void rvmi_arena_free(arena *a)
{
    free_spills_above(a, 0);
    unmap_base(a);
    memset(a, 0, sizeof(*a));
}

/* ---- loops over rows ---- */

typedef struct {
    rows_fn fn;
    void *ctx;
    int h, per_task;
} rows_job;

static void rows_task(void *ctx, int task, int thread)
{
    rows_job *j = ctx;
    int y0 = task * j->per_task, y1 = y0 + j->per_task < j->h ? y0 + j->per_task : j->h;
    j->fn(j->ctx, y0, y1, thread);
}

void rvmi_parallel_bands(rvm_stream *s, int h, int band, rows_fn fn, void *ctx)
{
    rows_job j = {fn, ctx, h, band};
    rvmi_pool_run(s->pool, (h + band - 1) / band, rows_task, &j);
}

void rvmi_parallel_rows(rvm_stream *s, int h, rows_fn fn, void *ctx)
{
    int threads = rvmi_pool_threads(s->pool);
    int tasks = threads == 1 ? 1 : threads * 4;
    if (tasks > h)
        tasks = h;
    rvmi_parallel_bands(s, h, (h + tasks - 1) / tasks, fn, ctx);
}

/* ---- convolutions ---- */

typedef struct {
    const rvmi_kernels *k;
    const rvmi_conv *cv;
    const rvmi_inputs *in;
    const rvmi_view *out, *res;
    const float *zeros;
    int first; /* rows (or tile rows) of the task are counted from this one */
    int rows;  /* depthwise_blocks: rows from first on */
} conv_job;

static void conv_rows(void *ctx, int y0, int y1, int thread)
{
    (void)thread;
    conv_job *j = ctx;
    y0 += j->first, y1 += j->first;
    if (j->cv->depthwise)
        j->k->conv_depthwise(j->cv, &j->in->v[0], j->out, j->res, y0, y1);
    else
        j->k->conv_dense(j->cv, j->in, j->out, j->res, y0, y1, j->zeros);
}

typedef struct {
    conv_job c;
    float *scratch; /* per thread */
    size_t scratch_floats;
} winograd_job;

static void winograd_rows(void *ctx, int ty0, int ty1, int thread)
{
    winograd_job *j = ctx;
    ty0 += j->c.first, ty1 += j->c.first;
    j->c.k->conv_winograd(j->c.cv, j->c.in, j->c.out, j->c.res, ty0, ty1, j->c.zeros,
                          j->scratch + (size_t)thread * j->scratch_floats);
}

/* Pixels per unit of a pointwise convolution's tasks: a multiple of every kernel set's pixel
 * block (12, 6 and 3 pixels; 16 for 4 outputs), which only the range's last one may leave
 * partial (see conv_dense). */
#define POINTWISE_UNIT 48

typedef struct {
    conv_job c;
    int pixels; /* from c.first on, in views of one pixel per row */
} cout_job;

/* Output channel blocks [b0, b1) of a pointwise convolution (cout_job): a convolution of its
 * own, as the weights are packed in blocks of 16 output channels. */
static void cout_blocks(void *ctx, int b0, int b1, int thread)
{
    (void)thread;
    const cout_job *cj = ctx;
    const conv_job *j = &cj->c;
    const int co = b0 * RVM_COUT_BLOCK, end = b1 * RVM_COUT_BLOCK;
    rvmi_conv cv = *j->cv;
    cv.cout = (end < cv.cout ? end : cv.cout) - co;
    cv.weight += (size_t)b0 * cv.cin * RVM_COUT_BLOCK;
    cv.bias += co;
    rvmi_view out = *j->out, res = j->res ? *j->res : out;
    out.data += co, out.c = cv.cout;
    res.data += co, res.c = cv.cout;
    j->k->conv_dense(&cv, j->in, &out, j->res ? &res : NULL, j->first, j->first + cj->pixels,
                     j->zeros);
}

/* Channel blocks [b0, b1) of a depthwise convolution (conv_job): a convolution of its own
 * (rvmi_conv.wstride), over the job's rows. */
static void depthwise_blocks(void *ctx, int b0, int b1, int thread)
{
    (void)thread;
    const conv_job *j = ctx;
    const int c0 = b0 * RVM_COUT_BLOCK, end = b1 * RVM_COUT_BLOCK;
    rvmi_conv cv = *j->cv;
    cv.wstride = rvmi_depthwise_wstride(j->cv);
    cv.cin = cv.cout = (end < cv.cout ? end : cv.cout) - c0;
    cv.weight += c0;
    cv.bias += c0;
    rvmi_view in = j->in->v[0], out = *j->out, res = j->res ? *j->res : out;
    in.data += c0, in.c = cv.cin;
    out.data += c0, out.c = cv.cout;
    res.data += c0, res.c = cv.cout;
    j->k->conv_depthwise(&cv, &in, &out, j->res ? &res : NULL, j->first, j->first + j->rows);
}

/* Depthwise convolutions with at least this many channels on maps of fewer rows than
 * DEPTHWISE_SPLIT_ROWS run, on more than one thread, in tasks of channels rather than of
 * rows: at 30x17 (1080p, ratio 0.25) the rows made 6 tasks of 3 rows, each of which read
 * again the rows its taps reach above and below (4 either side with dilation 2). Per call,
 * 2 threads, tasks of channels and of rows alternating frame by frame in one run (medians of
 * 151): 960 channels 5x5 dilation 2 0.452 -> 0.405 ms, 672 5x5 0.279 -> 0.244, 672 3x3
 * 0.237 -> 0.190; but 480 3x3 0.163 -> 0.206, hence 512. The same floats either way (each
 * channel's taps summed in the same order). */
#define DEPTHWISE_SPLIT_CHANNELS 512
#define DEPTHWISE_SPLIT_ROWS 64

/* Pointwise convolutions on fewer pixels than a unit (the squeeze-and-excitation layers and
 * the LR-ASPP's pooled branch: one pixel, 0.9 MB of weights at most) with enough weights to
 * be worth a parallel step: in tasks of output channels. */
#define POINTWISE_SPLIT_WEIGHTS 32768

/* A pointwise convolution (j's rows) in tasks of whole pixel units, not of whole rows: with
 * rows of 30 pixels (30x17 at 1080p, ratio 0.25), each of the 6 tasks of 3 rows ended in a
 * partial block of 6 pixels that cost a whole one (the 2-thread tasks of every pointwise layer
 * there took 4-5% more time than in units: 160->960 0.660 -> 0.631 ms, one thread, best of
 * 200). The kernel sees views of one pixel per row, so that its rows are pixels: a pointwise
 * convolution does not care where rows end, and views are row-major without gaps. Every pixel
 * gets the same sums in the same order either way. */
static void pointwise_tasks(rvm_stream *s, const conv_job *j, int rows)
{
    rvmi_inputs in = *j->in;
    for (int g = 0; g < in.n; g++)
        in.v[g].h *= in.v[g].w, in.v[g].w = 1;
    rvmi_view o = *j->out, r = j->res ? *j->res : o;
    o.h *= o.w, o.w = 1;
    r.h *= r.w, r.w = 1;
    conv_job p = *j;
    p.in = &in, p.out = &o, p.res = j->res ? &r : NULL;
    p.first = j->first * j->out->w;
    const int px = rows * j->out->w, units = (px + POINTWISE_UNIT - 1) / POINTWISE_UNIT;
    const int threads = rvmi_pool_threads(s->pool);
    const int blocks = (j->cv->cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
    if (threads > 1 && units == 1 && blocks > 1 &&
        (long)j->cv->cin * j->cv->cout >= POINTWISE_SPLIT_WEIGHTS) {
        cout_job cj = {p, px};
        rvmi_parallel_bands(s, blocks, (blocks + 2 * threads - 1) / (2 * threads), cout_blocks,
                            &cj);
        return;
    }
    int tasks = threads == 1 ? 1 : threads * 4;
    tasks = tasks < units ? tasks : units;
    rvmi_parallel_bands(s, px, (units + tasks - 1) / tasks * POINTWISE_UNIT, conv_rows, &p);
}

/* The rows of a convolution that run_conv_cat_fp32 computes (its context). */
typedef struct {
    rvm_stream *s;
    int y0, y1;
} fp32_rows;

static void run_conv_cat_fp32(void *ctx, const rvmi_conv *cv, const rvmi_inputs *in,
                              const rvmi_view *out, const rvmi_view *res);

/* In int8 mode the int8 state runs the layers it holds, the others come back through
 * run_conv_cat_fp32. It holds only whole-picture runs: it would compute every row, and the
 * rows outside [y0, y1) may hold results the caller keeps (network.c's decode_full). */
void rvmi_run_conv_rows(rvm_stream *s, const rvmi_conv *cv, const rvmi_inputs *in,
                        const rvmi_view *out, const rvmi_view *res, int y0, int y1)
{
    /* What the forward pass guarantees: the inputs hold the conv's channels at one size, out
     * has the conv's output size (a wrong one would read or write outside the buffers). */
    assert(in->n >= 1 && in->n <= RVM_MAX_INPUTS);
    int cin = 0;
    for (int g = 0; g < in->n; g++) {
        assert(in->v[g].h == in->v[0].h && in->v[g].w == in->v[0].w);
        cin += in->v[g].c;
    }
    assert(cin == cv->cin && out->c == cv->cout);
    assert(out->h == rvmi_conv_out_size(in->v[0].h, cv->kh, cv->stride, cv->dilation) &&
           out->w == rvmi_conv_out_size(in->v[0].w, cv->kw, cv->stride, cv->dilation));
    assert(!res || (res->h == out->h && res->w == out->w && res->c == out->c));
    assert(0 <= y0 && y0 % 4 == 0 && y0 <= y1 && y1 <= out->h);
    (void)cin;
    if (y0 == y1)
        return;
    fp32_rows rows = {s, y0, y1};
    int whole = y0 == 0 && y1 == out->h;
    if (!whole || !s->q8 ||
        !rvmi_q8_conv(s->q8, s->pool, cv, in, out, res, run_conv_cat_fp32, &rows))
        run_conv_cat_fp32(&rows, cv, in, out, res);
}

void rvmi_run_conv_cat(rvm_stream *s, const rvmi_conv *cv, const rvmi_inputs *in,
                       const rvmi_view *out, const rvmi_view *res)
{
    rvmi_run_conv_rows(s, cv, in, out, res, 0, out->h);
}

static void run_conv_cat_fp32(void *ctx, const rvmi_conv *cv, const rvmi_inputs *in,
                              const rvmi_view *out, const rvmi_view *res)
{
    const fp32_rows *rows = ctx;
    rvm_stream *s = rows->s;
    conv_job j = {s->kernels, cv, in, out, res, s->zeros, rows->y0, 0};
    if (cv->winograd && s->kernels->conv_winograd) {
        size_t n = rvmi_winograd_scratch(cv->cin, cv->cout);
        size_t mark = rvmi_arena_mark(&s->scratch);
        float *scratch = rvmi_arena_floats(&s->scratch, n * rvmi_pool_threads(s->pool));
        if (scratch) {
            j.first = rows->y0 / 4;
            winograd_job w = {j, scratch, n};
            rvmi_parallel_rows(s, (rows->y1 + 3) / 4 - j.first, winograd_rows, &w);
            rvmi_arena_release(&s->scratch, mark);
            return;
        }
        /* no memory for the transform: the direct convolution needs none */
    }
    if (cv->kh == 1 && cv->kw == 1 && cv->stride == 1 && !cv->depthwise) {
        pointwise_tasks(s, &j, rows->y1 - rows->y0);
        return;
    }
    const int threads = rvmi_pool_threads(s->pool);
    if (cv->depthwise && threads > 1 && cv->cout >= DEPTHWISE_SPLIT_CHANNELS &&
        out->h < DEPTHWISE_SPLIT_ROWS) {
        j.rows = rows->y1 - rows->y0;
        const int blocks = (cv->cout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK;
        rvmi_parallel_bands(s, blocks, (blocks + 2 * threads - 1) / (2 * threads),
                            depthwise_blocks, &j);
        return;
    }
    rvmi_parallel_rows(s, rows->y1 - rows->y0, conv_rows, &j);
}

void rvmi_run_conv(rvm_stream *s, const rvmi_conv *cv, const rvmi_view *in, const rvmi_view *out,
                   const rvmi_view *res)
{
    rvmi_inputs one = rvmi_inputs_of(in);
    rvmi_run_conv_cat(s, cv, &one, out, res);
}

/* ---- bilinear resampling ---- */

const rvmi_lerp *rvmi_lerp_table(rvm_stream *s, float scale, int out_size, int in_size)
{
    rvmi_lerp *t = (rvmi_lerp *)rvmi_arena_floats(
        &s->scratch, (size_t)out_size * sizeof(rvmi_lerp) / sizeof(float) + 1);
    for (int i = 0; t && i < out_size; i++)
        t[i] = rvmi_lerp_at(scale, i, in_size);
    if (!t)
        rvmi_stream_fail(s, RVM_ENOMEM, "out of memory");
    return t;
}
