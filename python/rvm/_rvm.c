/* rvm's Python extension: the model over librvm, numpy arrays in and out.
 * The official MattingNetwork's call, model(src, r1, r2, r3, r4, downsample_ratio,
 * segmentation_pass), on float32 arrays: [B,3,H,W] is B videos at one time step, [B,T,3,H,W]
 * T frames of each in order. The network runs with the GIL released, each video in a stream
 * of its own taken from a pool, so two threads can call one model at once.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/convert.h"
#include "cli/options.h"
#include "model/arch.h"
#include "model/model.h"
#include "model/network.h"
#include "rvm.h"

/* ---- errors ---- */

/* A number as C's %g writes it, for PyErr_Format (which has no %g). */
typedef struct {
    char s[32];
} number_text;

static number_text number(double v)
{
    number_text t;
    snprintf(t.s, sizeof t.s, "%g", v);
    return t;
}

static PyObject *raise_status(int status, const char *msg)
{
    PyObject *type = PyExc_RuntimeError;
    switch (status) {
    case RVM_EINVAL:
    case RVM_EFORMAT:
    case RVM_EMISMATCH: type = PyExc_ValueError; break;
    case RVM_ENOMEM: type = PyExc_MemoryError; break;
    case RVM_EIO: type = PyExc_OSError; break;
    default: break;
    }
    PyErr_SetString(type, msg && *msg ? msg : rvm_status_string(status));
    return NULL;
}

/* ---- the model: weights, and a pool of idle streams ---- */

/* ---- output arrays whose memory is used again ----
 * A call at 1920x1080 returns 33 MB of new arrays. Memory that fresh from the system is zeroed
 * by the kernel page by page when first written (clear_page: 7.3% of the perf samples of a
 * model(src) loop at 1920x1080, ratio 0.25; 1.4% with this, the rest start-up). The blocks of
 * output arrays the caller has let go are kept (a few per model) and handed out again: a loop
 * that feeds the states back cycles through two sets. Everything here runs with the GIL held
 * (allocation before the network runs, the capsule's destructor when an array dies). */
enum { BLOCK_MIN = 1 << 20, BLOCK_IDLE = 4, BLOCK_HEAD = 64 };

typedef struct {
    int refs; /* the model's and each live block's */
    int open; /* 0 once the model is gone: blocks that come back are freed */
    int n;
    struct {
        void *p;
        size_t bytes;
    } idle[BLOCK_IDLE];
} block_cache;

typedef struct { /* at the start of each block; the array's data starts BLOCK_HEAD after */
    block_cache *cache;
    size_t bytes;
} block_head;

static void free_idle(block_cache *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->idle[i].p);
    c->n = 0;
}

static void cache_unref(block_cache *c)
{
    if (--c->refs)
        return;
    free_idle(c);
    free(c);
}

static void cache_close(block_cache *c)
{
    free_idle(c);
    c->open = 0;
    cache_unref(c);
}

static void block_release(PyObject *capsule)
{
    block_head *h = PyCapsule_GetPointer(capsule, "rvm.output");
    block_cache *c = h->cache;
    if (c->open && c->n < BLOCK_IDLE)
        c->idle[c->n].p = h, c->idle[c->n++].bytes = h->bytes;
    else
        free(h);
    cache_unref(c);
}

/* A new float32 array of the given shape (uninitialised), on a recycled block when it is large. */
static PyArrayObject *new_output(block_cache *c, int nd, npy_intp *shape)
{
    size_t bytes = sizeof(float);
    for (int i = 0; i < nd; i++)
        bytes *= (size_t)shape[i];
    if (bytes < BLOCK_MIN)
        return (PyArrayObject *)PyArray_SimpleNew(nd, shape, NPY_FLOAT32);
    block_head *h = NULL;
    for (int i = 0; i < c->n && !h; i++)
        if (c->idle[i].bytes == bytes) {
            h = c->idle[i].p;
            c->idle[i] = c->idle[--c->n];
        }
    size_t rounded = (bytes + BLOCK_HEAD - 1) / BLOCK_HEAD * BLOCK_HEAD;
    if (!h && !(h = aligned_alloc(BLOCK_HEAD, BLOCK_HEAD + rounded)))
        return (PyArrayObject *)PyErr_NoMemory();
    h->cache = c, h->bytes = bytes;
    c->refs++;
    PyObject *capsule = PyCapsule_New(h, "rvm.output", block_release);
    if (!capsule) {
        free(h);
        cache_unref(c);
        return NULL;
    }
    PyArrayObject *a = (PyArrayObject *)PyArray_SimpleNewFromData(nd, shape, NPY_FLOAT32,
                                                                  (char *)h + BLOCK_HEAD);
    if (!a || PyArray_SetBaseObject(a, capsule) < 0) { /* SetBaseObject takes the capsule */
        if (!a)
            Py_DECREF(capsule);
        Py_XDECREF(a);
        return NULL;
    }
    return a;
}

typedef struct {
    PyObject_HEAD
    rvm_model *model;
    int threads;
    pthread_mutex_t lock; /* guards the pool */
    rvm_stream **idle;
    int nidle, cap;
    pid_t pid; /* the process that last used the lock */
    block_cache *outputs;
} ModelObject;

/* In a child forked since the last call (multiprocessing's default on Linux), the idle
 * streams serve on: the library starts their worker threads again at their first frame in the
 * child. The pool's lock, though, may have been held by a thread that does not exist in the
 * child (one taking or giving back a stream, GIL released, at the fork): then the child frees
 * it, and forgets the idle list, which that thread may have been changing (the streams' memory
 * stays, a copy of the parent's). Called with the GIL held, before any use of the lock in
 * this process, so no other thread of the child is inside it. */
static void after_fork(ModelObject *m)
{
    if (m->pid == getpid())
        return;
    if (pthread_mutex_trylock(&m->lock) == 0) {
        pthread_mutex_unlock(&m->lock);
    } else {
        pthread_mutex_init(&m->lock, NULL);
        m->nidle = 0;
    }
    m->pid = getpid();
}

/* A stream for one video of one call: an idle one, or a new one (GIL released). */
static rvm_stream *take_stream(ModelObject *m, int *status, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->lock);
    rvm_stream *s = m->nidle ? m->idle[--m->nidle] : NULL;
    pthread_mutex_unlock(&m->lock);
    if (!s)
        s = rvm_stream_create(m->model, m->threads, status, err, errlen);
    return s;
}

static void give_back(ModelObject *m, rvm_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&m->lock);
    if (m->nidle == m->cap) {
        int cap = m->cap ? 2 * m->cap : 4;
        rvm_stream **grown = realloc(m->idle, sizeof(*grown) * cap);
        if (!grown) {
            pthread_mutex_unlock(&m->lock);
            rvm_stream_free(s);
            return;
        }
        m->idle = grown, m->cap = cap;
    }
    m->idle[m->nidle++] = s;
    pthread_mutex_unlock(&m->lock);
}

/* tensors: a list of (name, array) pairs, the arrays C-contiguous float32 (the Python side
 * converts), copied into the library's named tensors. */
static int weights_of(PyObject *tensors, rvmi_weights *w)
{
    PyObject *seq = PySequence_Fast(tensors, "tensors must be a list of (name, array) pairs");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *obj;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UO", &name, &obj))
            goto fail;
        PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(obj, NPY_FLOAT32, 0,
                                                            RVM_TENSOR_MAX_DIMS, NPY_ARRAY_CARRAY_RO);
        if (!a)
            goto fail;
        int64_t shape[RVM_TENSOR_MAX_DIMS];
        int ndim = PyArray_NDIM(a);
        for (int k = 0; k < ndim; k++)
            shape[k] = PyArray_DIM(a, k);
        size_t bytes = (size_t)PyArray_SIZE(a) * sizeof(float);
        float *data = malloc(bytes ? bytes : 1);
        const char *utf8 = PyUnicode_AsUTF8(name);
        if (data)
            memcpy(data, PyArray_DATA(a), bytes);
        Py_DECREF(a);
        if (!utf8 || !data || rvmi_weights_add(w, utf8, ndim, shape, data)) {
            free(data);
            if (!PyErr_Occurred())
                PyErr_NoMemory();
            goto fail;
        }
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

static int Model_init(ModelObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"checkpoint", "variant", "threads", "refiner", "tensors", NULL};
    PyObject *path_obj = Py_None, *tensors = Py_None;
    int variant = RVM_VARIANT_AUTO, threads = 0, refiner = RVM_REFINER_AUTO;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OiiiO", names, &path_obj, &variant, &threads,
                                     &refiner, &tensors))
        return -1;
    if (self->model) {
        PyErr_SetString(PyExc_RuntimeError, "the model is already loaded");
        return -1;
    }
    char err[512];
    int status = 0;
    rvm_model *model;
    if (tensors != Py_None) {
        /* a state_dict held in memory: never a file, never a pickle */
        rvmi_weights w = {0};
        if (weights_of(tensors, &w)) {
            rvmi_weights_free(&w);
            return -1;
        }
        Py_BEGIN_ALLOW_THREADS
        model = rvmi_model_from_weights(&w, (rvm_variant)variant, (rvm_refiner)refiner,
                                        "state_dict", &status, err, sizeof err);
        rvmi_weights_free(&w);
        Py_END_ALLOW_THREADS
        if (!model) {
            raise_status(status, err);
            return -1;
        }
        self->model = model;
        self->threads = threads;
        return 0;
    }
    PyObject *bytes = NULL;
    const char *path = NULL;
    if (path_obj != Py_None) {
        if (!PyUnicode_FSConverter(path_obj, &bytes))
            return -1;
        path = PyBytes_AS_STRING(bytes);
    }
    Py_BEGIN_ALLOW_THREADS
    model = rvm_model_load(path, (rvm_variant)variant, (rvm_refiner)refiner, &status, err,
                           sizeof err);
    Py_END_ALLOW_THREADS
    Py_XDECREF(bytes);
    if (!model) {
        if (status == RVM_EIO && path_obj != Py_None)
            PyErr_SetObject(PyExc_FileNotFoundError, PyUnicode_FromString(err));
        else
            raise_status(status, err);
        return -1;
    }
    self->model = model;
    self->threads = threads;
    return 0;
}

static PyObject *Model_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args, (void)kw;
    block_cache *outputs = calloc(1, sizeof *outputs);
    if (!outputs)
        return PyErr_NoMemory();
    outputs->refs = outputs->open = 1;
    ModelObject *self = (ModelObject *)type->tp_alloc(type, 0);
    if (!self) {
        free(outputs);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->pid = getpid();
    self->outputs = outputs;
    return (PyObject *)self;
}

static void Model_dealloc(ModelObject *self)
{
    after_fork(self);
    for (int i = 0; i < self->nidle; i++)
        rvm_stream_free(self->idle[i]);
    free(self->idle);
    rvm_model_free(self->model);
    cache_close(self->outputs);
    pthread_mutex_destroy(&self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_loaded(ModelObject *self)
{
    if (!self->model) {
        PyErr_SetString(PyExc_RuntimeError, "the model is not loaded");
        return -1;
    }
    return 0;
}

static PyObject *Model_variant(ModelObject *self, void *closure)
{
    (void)closure;
    if (check_loaded(self))
        return NULL;
    return PyUnicode_FromString(rvm_model_variant(self->model) == RVM_VARIANT_RESNET50 ? "resnet50"
                                                                                      : "mobilenetv3");
}

static PyObject *Model_refiner(ModelObject *self, void *closure)
{
    (void)closure;
    if (check_loaded(self))
        return NULL;
    return PyUnicode_FromString(rvm_model_refiner(self->model) == RVM_REFINER_DEEP_GUIDED_FILTER
                                    ? "deep_guided_filter"
                                    : "fast_guided_filter");
}

/* ---- one call ---- */

/* The float32 array as the library can read it in place: every element 4 bytes apart along the
 * rows, rows at least a row apart, aligned; any other array (negative or odd strides, other
 * byte order, misaligned) is copied to C order first. Returns a new reference. */
static PyArrayObject *readable(PyArrayObject *a, int row_axis)
{
    int nd = PyArray_NDIM(a);
    npy_intp *st = PyArray_STRIDES(a), *sh = PyArray_DIMS(a);
    int ok = PyArray_ISALIGNED(a) && PyArray_ISNOTSWAPPED(a) && st[nd - 1] == 4;
    if (row_axis >= 0)
        ok = ok && st[row_axis] >= 4 * sh[nd - 1];
    for (int i = 0; i < nd && ok; i++)
        ok = st[i] >= 0 && st[i] % 4 == 0;
    if (ok) {
        Py_INCREF(a);
        return a;
    }
    /* native float32, C order, aligned: a copy */
    return (PyArrayObject *)PyArray_FROM_OTF((PyObject *)a, NPY_FLOAT32, NPY_ARRAY_IN_ARRAY);
}

/* A state array [B, C, h, w] given by the caller: checked against the shape frames of this size
 * and ratio need. Returns 0, or -1 with an exception. */
static int check_state(ModelObject *self, PyObject *obj, int k, npy_intp batch, int width,
                       int height, double ratio, PyArrayObject **out)
{
    *out = NULL;
    if (obj == Py_None)
        return 0;
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "r%d must be a numpy float32 array or None, not %s", k + 1,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    int c, h, w;
    rvm_model_state_shape(self->model, k, width, height, ratio, &c, &h, &w);
    if (PyArray_TYPE(a) != NPY_FLOAT32) {
        PyErr_Format(PyExc_TypeError, "r%d must be float32, not %s", k + 1,
                     PyArray_DESCR(a)->typeobj->tp_name);
        return -1;
    }
    npy_intp *d = PyArray_DIMS(a);
    if (PyArray_NDIM(a) != 4 || d[0] != batch || d[1] != c || d[2] != h || d[3] != w) {
        PyObject *shape = PyObject_GetAttrString(obj, "shape");
        PyErr_Format(PyExc_ValueError,
                     "r%d has shape %R; frames of %dx%d at downsample_ratio %s need "
                     "(%zd, %d, %d, %d) (a state from another resolution, ratio or model?)",
                     k + 1, shape, width, height, number(ratio).s, (Py_ssize_t)batch, c, h, w);
        Py_XDECREF(shape);
        return -1;
    }
    npy_intp *st = PyArray_STRIDES(a);
    int ok = PyArray_ISALIGNED(a) && PyArray_ISNOTSWAPPED(a);
    for (int i = 0; i < 4 && ok; i++)
        ok = st[i] % 4 == 0;
    if (ok) {
        Py_INCREF(a);
        *out = a;
    } else if (!(*out = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)a, NPY_FLOAT32,
                                                          NPY_ARRAY_IN_ARRAY))) {
        return -1;
    }
    return 0;
}

static rvm_tensor tensor_of(PyArrayObject *a, npy_intp b)
{
    npy_intp *st = PyArray_STRIDES(a), *d = PyArray_DIMS(a);
    return (rvm_tensor){(float *)((char *)PyArray_DATA(a) + b * st[0]), (int)d[1], (int)d[2],
                        (int)d[3], st[1] / 4, st[2] / 4, st[3] / 4};
}

/* A new state array [B, C, h, w] whose memory is [B, h, w, C] (the library's layout, so reading
 * the state out is a plain copy; putting it back in, too). */
static PyArrayObject *new_state(npy_intp batch, int c, int h, int w)
{
    npy_intp nhwc[4] = {batch, h, w, c};
    PyArrayObject *mem = (PyArrayObject *)PyArray_SimpleNew(4, nhwc, NPY_FLOAT32);
    if (!mem)
        return NULL;
    PyArray_Dims order;
    npy_intp perm[4] = {0, 3, 1, 2};
    order.ptr = perm, order.len = 4;
    PyArrayObject *view = (PyArrayObject *)PyArray_Transpose(mem, &order);
    Py_DECREF(mem);
    return view;
}

/* 0, or why the values in r cannot be src: 1 NaN or infinite values, 2 values so far outside
 * 0..1 that the array is plainly not in that range (8-bit values, -1..1 data). Values a little
 * outside (a resize's overshoot) are used as given, as the official model does. */
static int range_problem(rvmi_float_range r)
{
    return r.nonfinite ? 1 : r.lo < -0.5f || r.hi > 1.5f ? 2 : 0;
}

static void range_error(int problem, rvmi_float_range r)
{
    if (problem == 1)
        PyErr_SetString(PyExc_ValueError, "src holds NaN or infinite values");
    else
        PyErr_Format(PyExc_ValueError,
                     "src values must be in 0..1, found %s..%s (divide 8-bit frames by 255)",
                     number(r.lo).s, number(r.hi).s);
}

/* The range of src's values, row by row (any strides; run without the GIL). */
static rvmi_float_range src_range(PyArrayObject *a)
{
    int nd = PyArray_NDIM(a);
    npy_intp *d = PyArray_DIMS(a), *st = PyArray_STRIDES(a);
    npy_intp rows = 1, idx[8] = {0};
    for (int i = 0; i < nd - 1; i++)
        rows *= d[i];
    rvmi_float_range r = {INFINITY, -INFINITY, 0};
    const rvmi_kernels *k = rvmi_kernels_default();
    for (npy_intp row = 0; row < rows; row++) {
        const char *p = PyArray_DATA(a);
        for (int i = 0; i < nd - 1; i++)
            p += idx[i] * st[i];
        k->float_range((const float *)p, (int)d[nd - 1], &r);
        for (int i = nd - 2; i >= 0; i--) { /* the next row's index */
            if (++idx[i] < d[i])
                break;
            idx[i] = 0;
        }
    }
    return r;
}

/* The thread Python runs signal handlers in (threading.main_thread()). */
static unsigned long main_thread;

static PyObject *Model_run(ModelObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"src", "r1", "r2", "r3", "r4", "downsample_ratio", "segmentation_pass",
                            NULL};
    PyObject *src_obj, *r_obj[4] = {Py_None, Py_None, Py_None, Py_None};
    double ratio = 1.0;
    int seg_pass = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOOdp", names, &src_obj, &r_obj[0], &r_obj[1],
                                     &r_obj[2], &r_obj[3], &ratio, &seg_pass))
        return NULL;
    if (check_loaded(self))
        return NULL;
    if (!PyArray_Check(src_obj)) {
        PyErr_Format(PyExc_TypeError, "src must be a numpy float32 array, not %s",
                     Py_TYPE(src_obj)->tp_name);
        return NULL;
    }
    PyArrayObject *src0 = (PyArrayObject *)src_obj;
    if (PyArray_TYPE(src0) != NPY_FLOAT32) {
        PyErr_Format(PyExc_TypeError,
                     "src must be float32 with values in 0..1, not %s (use "
                     "frames.astype(numpy.float32) / 255 for 8-bit frames)",
                     PyArray_DESCR(src0)->typeobj->tp_name);
        return NULL;
    }
    int nd = PyArray_NDIM(src0);
    npy_intp *d = PyArray_DIMS(src0);
    if ((nd != 4 && nd != 5) || d[nd - 3] != 3) {
        PyObject *shape = PyObject_GetAttrString(src_obj, "shape");
        PyErr_Format(PyExc_ValueError,
                     "src has shape %R; expected [B, 3, H, W] (B videos, one frame each) or "
                     "[B, T, 3, H, W] (T frames of each)",
                     shape);
        Py_XDECREF(shape);
        return NULL;
    }
    npy_intp batch = d[0], frames = nd == 5 ? d[1] : 1, H = d[nd - 2], W = d[nd - 1];
    if (batch < 1 || frames < 1 || H < 1 || W < 1 || H > RVM_MAX_SIDE || W > RVM_MAX_SIDE) {
        PyErr_Format(PyExc_ValueError,
                     "src has %zd videos of %zd frames of %zdx%zd; each must be at least 1 and "
                     "frames at most %d pixels a side",
                     (Py_ssize_t)batch, (Py_ssize_t)frames, (Py_ssize_t)W, (Py_ssize_t)H,
                     RVM_MAX_SIDE);
        return NULL;
    }
    if (!(ratio > 0.0 && ratio <= 1.0)) {
        PyErr_Format(PyExc_ValueError, "downsample_ratio must be in (0, 1], not %s",
                     number(ratio).s);
        return NULL;
    }
    int c0, h0, w0;
    if (rvm_model_state_shape(self->model, 0, (int)W, (int)H, ratio, &c0, &h0, &w0)) {
        PyErr_Format(PyExc_ValueError, "downsample_ratio %s leaves no pixels of a %zdx%zd frame",
                     number(ratio).s, (Py_ssize_t)W, (Py_ssize_t)H);
        return NULL;
    }
    PyArrayObject *rin[4] = {0}, *rout[4] = {0}, *src = NULL, *fgr = NULL, *pha = NULL, *seg = NULL;
    PyObject *result = NULL;
    for (int k = 0; k < 4; k++)
        if (check_state(self, r_obj[k], k, batch, (int)W, (int)H, ratio, &rin[k]))
            goto done;
    if (!(src = readable(src0, nd - 2)))
        goto done;
    /* The segmentation pass reads a downsampled frame: its values are checked here. A full
     * pass checks them as it reads them (rvmi_stream_input_range), which costs no second
     * trip through memory (a 1080p frame's 24 MB took 4 ms: 4% of the step). */
    rvmi_float_range range;
    int problem = 0;
    if (seg_pass) {
        Py_BEGIN_ALLOW_THREADS
        range = src_range(src);
        Py_END_ALLOW_THREADS
        if ((problem = range_problem(range))) {
            range_error(problem, range);
            goto done;
        }
    }

    /* Outputs: fgr [B,(T),3,H,W], pha [B,(T),1,H,W] or seg [B,(T),1,h,w]; states [B,C,h,w]. */
    npy_intp shape[5];
    int od = 0;
    shape[od++] = batch;
    if (nd == 5)
        shape[od++] = frames;
    int sh0 = ratio == 1.0 ? (int)H : (int)floor(H * ratio);
    int sw0 = ratio == 1.0 ? (int)W : (int)floor(W * ratio);
    if (seg_pass) {
        shape[od] = 1, shape[od + 1] = sh0, shape[od + 2] = sw0;
        if (!(seg = new_output(self->outputs, od + 3, shape)))
            goto done;
    } else {
        shape[od] = 3, shape[od + 1] = H, shape[od + 2] = W;
        if (!(fgr = new_output(self->outputs, od + 3, shape)))
            goto done;
        shape[od] = 1;
        if (!(pha = new_output(self->outputs, od + 3, shape)))
            goto done;
    }
    for (int k = 0; k < 4; k++) {
        int c, h, w;
        rvm_model_state_shape(self->model, k, (int)W, (int)H, ratio, &c, &h, &w);
        if (!(rout[k] = new_state(batch, c, h, w)))
            goto done;
    }

    int status = 0, interrupted = 0;
    /* Between the frames of a call of several, Ctrl-C (Python's signal handlers, which run in
     * the main thread only) is looked at: the official model, Python code, stops within an
     * operation, and a [B, T] call can run for minutes. */
    const int check_signals = batch * frames > 1 && PyThread_get_thread_ident() == main_thread;
    char err[512] = "";
    npy_intp *ss = PyArray_STRIDES(src);
    const size_t plane_px = (size_t)H * W, seg_px = (size_t)sh0 * sw0;
    after_fork(self);
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp b = 0; b < batch && !status; b++) {
        rvm_stream *s = take_stream(self, &status, err, sizeof err);
        if (!s)
            break;
        rvm_tensor tin[4];
        const rvm_tensor *given[4];
        for (int k = 0; k < 4; k++) {
            given[k] = NULL;
            if (rin[k]) {
                tin[k] = tensor_of(rin[k], b);
                given[k] = &tin[k];
            }
        }
        status = rvm_stream_set_state(s, (int)W, (int)H, ratio, given);
        for (npy_intp t = 0; t < frames && !status; t++) {
            const char *base = (const char *)PyArray_DATA(src) + b * ss[0] + (nd == 5 ? t * ss[1] : 0);
            npy_intp cs = ss[nd - 3], rs = ss[nd - 2];
            rvm_frame f = {.format = RVM_FORMAT_F32_PLANAR, .width = (int)W, .height = (int)H,
                           .planes = {base, base + cs, base + 2 * cs}, .strides = {rs, rs, rs}};
            size_t index = (size_t)(b * frames + t);
            if (seg_pass) {
                float *o = (float *)PyArray_DATA(seg) + index * seg_px;
                status = rvm_stream_segment_frame(s, &f, ratio, o, seg_px, NULL, NULL);
            } else {
                rvm_output out = {.type = RVM_PIXEL_F32,
                                  .pha = (float *)PyArray_DATA(pha) + index * plane_px,
                                  .pha_stride = 4 * W,
                                  .fgr = (float *)PyArray_DATA(fgr) + index * 3 * plane_px,
                                  .fgr_stride = 4 * W,
                                  .fgr_layout = RVM_FGR_PLANAR,
                                  .fgr_plane_stride = 4 * (ptrdiff_t)plane_px};
                status = rvm_stream_process_frame(s, &f, ratio, &out);
                range = rvmi_stream_input_range(s);
                if (!status && (problem = range_problem(range)))
                    status = RVM_EINVAL;
            }
            if (!status && check_signals && index + 1 < (size_t)(batch * frames)) {
                Py_BLOCK_THREADS
                interrupted = PyErr_CheckSignals() < 0; /* the exception stays set */
                Py_UNBLOCK_THREADS
                if (interrupted)
                    status = RVM_EINVAL; /* stops both loops */
            }
        }
        for (int k = 0; k < 4 && !status; k++) {
            rvm_tensor t = tensor_of(rout[k], b);
            status = rvm_stream_get_state(s, k, &t);
        }
        if (status && !problem && !interrupted)
            snprintf(err, sizeof err, "%s", rvm_stream_error(s));
        give_back(self, s);
    }
    Py_END_ALLOW_THREADS
    if (interrupted)
        goto done;
    if (problem) {
        range_error(problem, range);
        goto done;
    }
    if (status) {
        raise_status(status, err);
        goto done;
    }
    if (seg_pass)
        result = Py_BuildValue("(OOOOO)", seg, rout[0], rout[1], rout[2], rout[3]);
    else
        result = Py_BuildValue("(OOOOOO)", fgr, pha, rout[0], rout[1], rout[2], rout[3]);
done:
    for (int k = 0; k < 4; k++)
        Py_XDECREF(rin[k]), Py_XDECREF(rout[k]);
    Py_XDECREF(src), Py_XDECREF(fgr), Py_XDECREF(pha), Py_XDECREF(seg);
    return result;
}

static PyObject *Model_state_shapes(ModelObject *self, PyObject *args)
{
    int w, h;
    double ratio;
    if (!PyArg_ParseTuple(args, "iid", &w, &h, &ratio) || check_loaded(self))
        return NULL;
    PyObject *list = PyList_New(4);
    for (int k = 0; k < 4 && list; k++) {
        int c, sh, sw;
        if (rvm_model_state_shape(self->model, k, w, h, ratio, &c, &sh, &sw)) {
            Py_DECREF(list);
            PyErr_Format(PyExc_ValueError, "no state for %dx%d frames at ratio %s", w, h,
                         number(ratio).s);
            return NULL;
        }
        PyList_SET_ITEM(list, k, Py_BuildValue("(iii)", c, sh, sw));
    }
    return list;
}

static PyMethodDef Model_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Model_run, METH_VARARGS | METH_KEYWORDS,
     "run(src, r1=None, r2=None, r3=None, r4=None, downsample_ratio=1.0, "
     "segmentation_pass=False)\n--\n\nThe official forward pass (see rvm.MattingNetwork)."},
    {"state_shapes", (PyCFunction)Model_state_shapes, METH_VARARGS,
     "state_shapes(width, height, ratio) -> [(C, h, w)] * 4"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Model_getset[] = {
    {"variant", (getter)Model_variant, NULL, "mobilenetv3 or resnet50", NULL},
    {"refiner", (getter)Model_refiner, NULL, "deep_guided_filter or fast_guided_filter", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rvm._rvm.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Model(checkpoint=None, variant=0, threads=0, refiner=0, tensors=None): weights loaded by "
               "librvm from a file, or from (name, float32 array) pairs",
    .tp_new = Model_new,
    .tp_init = (initproc)Model_init,
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
};

/* ---- convert_video: the rvm command's conversion in this process ---- */

/* A message waiting for the calling thread to hand it to Python (notices come from the
 * decoding thread, which does not take the GIL). */
typedef struct pending_message {
    struct pending_message *next;
    int kind;
    char text[];
} pending_message;

typedef struct {
    PyObject *progress, *message; /* callables: progress(done, total), message(kind, text) */
    PyObject *exc_type, *exc_value, *exc_tb; /* what a callback or Ctrl-C raised */
    atomic_int *stop;
    pthread_mutex_t lock; /* guards the pending list */
    pending_message *head, **tail;
} convert_context;

static void on_message(void *user, rvmi_message_kind kind, const char *text)
{
    convert_context *c = user;
    size_t n = strlen(text) + 1;
    pending_message *m = malloc(sizeof(*m) + n);
    if (!m)
        return; /* out of memory: the message is lost, not the run */
    m->next = NULL;
    m->kind = (int)kind;
    memcpy(m->text, text, n);
    pthread_mutex_lock(&c->lock);
    *c->tail = m;
    c->tail = &m->next;
    pthread_mutex_unlock(&c->lock);
}

/* Keeps the exception raised (by a callback, or KeyboardInterrupt) and stops the run as
 * Ctrl-C stops the command: the outputs are completed with the frames done. Python raises
 * it again once the conversion has returned. */
static void keep_exception(convert_context *c)
{
    if (c->exc_type) {
        PyErr_Clear();
        return;
    }
    PyErr_Fetch(&c->exc_type, &c->exc_value, &c->exc_tb);
    int none = 0;
    atomic_compare_exchange_strong(c->stop, &none, SIGINT);
}

/* With the GIL: hands the pending messages to Python, in order. */
static void deliver_messages(convert_context *c)
{
    pthread_mutex_lock(&c->lock);
    pending_message *m = c->head;
    c->head = NULL;
    c->tail = &c->head;
    pthread_mutex_unlock(&c->lock);
    while (m) {
        pending_message *next = m->next;
        /* Also after a kept exception: "interrupted: ..." comes then. File names in
         * messages may not be UTF-8: decoded as os.fsdecode would. */
        PyObject *text = PyUnicode_DecodeFSDefault(m->text);
        PyObject *r = text ? PyObject_CallFunction(c->message, "iO", m->kind, text) : NULL;
        if (!r)
            keep_exception(c);
        Py_XDECREF(r);
        Py_XDECREF(text);
        free(m);
        m = next;
    }
}

/* From the thread that called convert (the GIL released there): takes the GIL to hand over
 * messages and progress and to run Python's signal handlers, so that Ctrl-C raises
 * KeyboardInterrupt here, which stops the run cleanly. */
static void on_progress(void *user, int64_t done, int64_t total)
{
    convert_context *c = user;
    PyGILState_STATE g = PyGILState_Ensure();
    deliver_messages(c);
    /* Also after a stop, so that the bar ends at the frames done. */
    PyObject *r = PyObject_CallFunction(c->progress, "LL", (long long)done, (long long)total);
    if (!r)
        keep_exception(c);
    Py_XDECREF(r);
    if (!c->exc_type && PyErr_CheckSignals() < 0)
        keep_exception(c);
    PyGILState_Release(g);
}

static PyObject *convert(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *model_obj, *argv_list, *progress, *message;
    if (!PyArg_ParseTuple(args, "O!O!OO", &ModelType, &model_obj, &PyList_Type, &argv_list,
                          &progress, &message))
        return NULL;
    if (!PyCallable_Check(progress) || !PyCallable_Check(message)) {
        PyErr_SetString(PyExc_TypeError, "convert: progress and message must be callable");
        return NULL;
    }
    ModelObject *model = (ModelObject *)model_obj;
    if (check_loaded(model))
        return NULL;
    Py_ssize_t argc = PyList_GET_SIZE(argv_list);
    PyObject *bytes = PyList_New(argc); /* keeps the strings the options point into */
    char **argv = calloc((size_t)argc + 1, sizeof(char *));
    PyObject *result = NULL;
    if (!bytes || !argv) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < argc; i++) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(PyList_GET_ITEM(argv_list, i), &b))
            goto done;
        PyList_SET_ITEM(bytes, i, b);
        argv[i] = PyBytes_AS_STRING(b);
    }
    rvmi_cli_options opt;
    char err[1024];
    if (rvmi_cli_parse((int)argc, argv, &opt, err, sizeof err) < 0) {
        PyObject *text = PyUnicode_DecodeFSDefault(err);
        PyObject *r = text ? PyObject_CallFunction(message, "iO", RVMI_MESSAGE_ERROR, text) : NULL;
        Py_XDECREF(text);
        if (r)
            result = PyLong_FromLong(2); /* the command's usage error */
        Py_XDECREF(r);
        goto done;
    }
    atomic_int stop = 0;
    convert_context ctx = {.progress = progress, .message = message, .stop = &stop};
    ctx.tail = &ctx.head;
    pthread_mutex_init(&ctx.lock, NULL);
    rvmi_convert_hooks hooks = {on_message, on_progress, &ctx};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = rvmi_convert_in_process(&opt, model->model, &stop, &hooks);
    Py_END_ALLOW_THREADS
    deliver_messages(&ctx); /* the last ones (errors come after the last progress) */
    pthread_mutex_destroy(&ctx.lock);
    if (ctx.exc_type) {
        PyErr_Restore(ctx.exc_type, ctx.exc_value, ctx.exc_tb);
        goto done;
    }
    result = PyLong_FromLong(status);
done:
    free(argv);
    Py_XDECREF(bytes);
    return result;
}

static PyObject *default_model_path(PyObject *mod, PyObject *noargs)
{
    (void)mod, (void)noargs;
    const char *p = rvm_default_model_path();
    if (!p)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(p);
}

/* read_weights(path) -> [(name, float32 array)]: a checkpoint's tensors by their official
 * names, through the library's own readers (the .pth reader runs no pickle code). */
static PyObject *read_weights(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *path_obj, *bytes = NULL;
    if (!PyArg_ParseTuple(args, "O", &path_obj) || !PyUnicode_FSConverter(path_obj, &bytes))
        return NULL;
    rvmi_weights w = {0};
    char err[512];
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = rvmi_weights_read(PyBytes_AS_STRING(bytes), &w, NULL, err, sizeof err);
    Py_END_ALLOW_THREADS
    Py_DECREF(bytes);
    if (status)
        return raise_status(status, err);
    PyObject *list = PyList_New(w.count);
    for (int i = 0; list && i < w.count; i++) {
        const rvmi_tensor *t = &w.tensors[i];
        npy_intp dims[RVM_TENSOR_MAX_DIMS];
        for (int k = 0; k < t->ndim; k++)
            dims[k] = (npy_intp)t->shape[k];
        PyObject *a = PyArray_SimpleNew(t->ndim, dims, NPY_FLOAT32);
        PyObject *pair = a ? Py_BuildValue("(sN)", t->name, a) : NULL;
        if (!pair) {
            Py_CLEAR(list);
            break;
        }
        memcpy(PyArray_DATA((PyArrayObject *)a), t->data, (size_t)t->numel * sizeof(float));
        PyList_SET_ITEM(list, i, pair);
    }
    rvmi_weights_free(&w);
    return list;
}

/* state_dict_shapes(variant, with_dgf) -> [(name, shape)]: every tensor of the official
 * MattingNetwork(variant)'s state_dict (with the deep guided filter's or not), in its order,
 * from the architecture the builder checks checkpoints against. */
static PyObject *state_dict_shapes(PyObject *mod, PyObject *args)
{
    (void)mod;
    int variant, with_dgf;
    if (!PyArg_ParseTuple(args, "ip", &variant, &with_dgf))
        return NULL;
    if (variant != RVM_VARIANT_MOBILENETV3 && variant != RVM_VARIANT_RESNET50) {
        PyErr_SetString(PyExc_ValueError, "no such variant");
        return NULL;
    }
    rvmi_arch *arch = malloc(sizeof *arch);
    if (!arch)
        return PyErr_NoMemory();
    rvmi_arch_describe(arch, (rvm_variant)variant, with_dgf);
    PyObject *list = PyList_New(0);
    for (int i = 0; list && i < arch->n; i++) {
        const rvmi_arch_conv *a = &arch->conv[i];
        char name[160];
        int ok = 1;
        snprintf(name, sizeof name, "%s.weight", a->name);
        PyObject *item = Py_BuildValue("(s(iiii))", name, a->cout, a->depthwise ? 1 : a->cin,
                                       a->k, a->k);
        ok = item && !PyList_Append(list, item);
        Py_XDECREF(item);
        if (ok && a->bias) {
            snprintf(name, sizeof name, "%s.bias", a->name);
            item = Py_BuildValue("(s(i))", name, a->cout);
            ok = item && !PyList_Append(list, item);
            Py_XDECREF(item);
        }
        static const char *const bn_parts[] = {"weight", "bias", "running_mean", "running_var",
                                               "num_batches_tracked"};
        for (int k = 0; ok && a->bn[0] && k < 5; k++) {
            snprintf(name, sizeof name, "%s.%s", a->bn, bn_parts[k]);
            item = k < 4 ? Py_BuildValue("(s(i))", name, a->cout) : Py_BuildValue("(s())", name);
            ok = item && !PyList_Append(list, item);
            Py_XDECREF(item);
        }
        if (!ok)
            Py_CLEAR(list);
    }
    free(arch);
    return list;
}

static PyMethodDef module_methods[] = {
    {"read_weights", read_weights, METH_VARARGS,
     "read_weights(path) -> [(name, array)]: a checkpoint's tensors, read without pickle"},
    {"state_dict_shapes", state_dict_shapes, METH_VARARGS,
     "state_dict_shapes(variant, with_dgf) -> [(name, shape)]: the official state_dict's"},
    {"default_model_path", default_model_path, METH_NOARGS, "the shipped model librvm finds"},
    {"convert", convert, METH_VARARGS,
     "convert(model, argv, progress, message) -> exit code: the rvm command's conversion "
     "with these arguments, in this process; progress(done, total) and message(kind, text) "
     "are called from this thread"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rvm._rvm", "librvm for Python", -1,
                                    module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__rvm(void)
{
    import_array();
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main = threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    main_thread = ident ? PyLong_AsUnsignedLong(ident) : 0;
    Py_XDECREF(ident);
    Py_XDECREF(main);
    Py_XDECREF(threading);
    if (PyErr_Occurred())
        return NULL;
    if (PyType_Ready(&ModelType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&ModelType);
    PyModule_AddObject(m, "Model", (PyObject *)&ModelType);
    PyModule_AddStringConstant(m, "library_version", rvm_version_string());
    PyModule_AddIntConstant(m, "VARIANT_AUTO", RVM_VARIANT_AUTO);
    PyModule_AddIntConstant(m, "VARIANT_MOBILENETV3", RVM_VARIANT_MOBILENETV3);
    PyModule_AddIntConstant(m, "VARIANT_RESNET50", RVM_VARIANT_RESNET50);
    PyModule_AddIntConstant(m, "REFINER_AUTO", RVM_REFINER_AUTO);
    PyModule_AddIntConstant(m, "REFINER_DEEP_GUIDED_FILTER", RVM_REFINER_DEEP_GUIDED_FILTER);
    PyModule_AddIntConstant(m, "REFINER_FAST_GUIDED_FILTER", RVM_REFINER_FAST_GUIDED_FILTER);
    PyModule_AddIntConstant(m, "MESSAGE_ERROR", RVMI_MESSAGE_ERROR);
    PyModule_AddIntConstant(m, "MESSAGE_WARNING", RVMI_MESSAGE_WARNING);
    PyModule_AddIntConstant(m, "MESSAGE_NOTICE", RVMI_MESSAGE_NOTICE);
    return m;
}
