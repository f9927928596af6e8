/* Byte buffers and a pickle writer, for the programs that make .pth checkpoints by hand: the
 * reader's tests (tests/test_pth.c) and the fuzz seeds (tests/fuzz/make_seeds.c). They write
 * the data.pkl of a checkpoint as torch.save writes a state_dict (pk_state_dict), or opcode by
 * opcode the malformed and hostile pickles the reader must refuse.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The functions are static inline so that a file that uses only some of them builds without
 * unused-function warnings. */
#ifndef RVM_TEST_PICKLE_WRITER_H
#define RVM_TEST_PICKLE_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- Byte buffers ------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

/* Appends n bytes. Out of memory, it exits: these tools have nothing better to do. */
static inline void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static inline void put_u8(buf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

/* n <= 8 bytes of v, little- or big-endian */
static inline void put_uint(buf *b, uint64_t v, int n, int big)
{
    for (int i = 0; i < n; i++)
        put_u8(b, (unsigned)(v >> (8 * (big ? n - 1 - i : i))) & 0xff);
}

static inline void put_f32(buf *b, float f, int big)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_uint(b, u, 4, big);
}

static inline void put_f64(buf *b, double f, int big)
{
    uint64_t u;
    memcpy(&u, &f, 8);
    put_uint(b, u, 8, big);
}

/* Appends all that is left to read of f. */
static inline void put_stream(buf *b, FILE *f)
{
    uint8_t tmp[1 << 16];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        put(b, tmp, n);
}

/* --- A pickle writer ---------------------------------------------------------------------- */

/* How a pickle is written (pk_begin, pk_state_dict). */
enum {
    /* Protocol 4, as torch.save(..., pickle_protocol=4): FRAME, SHORT_BINUNICODE, MEMOIZE,
     * STACK_GLOBAL. Without it, protocol 2, torch's default. */
    PK_PROTO4 = 1,
    /* Every int as an 8-byte LONG1: legal, if not what torch writes, and a fuzzer's byte
     * mutations of such a pickle then reach any value. */
    PK_WIDE_INTS = 2,
    /* Memoize every tuple and OrderedDict, and write tuples of 1 to 3 items as TUPLE1..3, as
     * Python's pickler does (the fuzz seeds). Without it, tuples are MARK ... TUPLE and only
     * the keys, the tensors and the globals are memoized: the lighter form the reader's tests
     * use. Both are valid pickles, and the reader must take both. */
    PK_LIKE_PYTHON = 4,
};

typedef struct {
    buf b;         /* the pickle */
    int flags;     /* PK_* */
    int memo_next; /* next memo index */
    /* memo indices of globals already written, so that later uses are BINGET (as torch) */
    char gname[16][64];
    int gmemo[16], ng;
} pickle_writer;

static inline void pk_op(pickle_writer *p, unsigned op) { put_u8(&p->b, op); }

static inline int pk_memo(pickle_writer *p)
{
    int idx = p->memo_next++;
    if (p->flags & PK_PROTO4) {
        pk_op(p, 0x94);
    } else if (idx < 256) {
        pk_op(p, 'q');
        pk_op(p, (unsigned)idx);
    } else {
        pk_op(p, 'r');
        put_uint(&p->b, (uint64_t)idx, 4, 0);
    }
    return idx;
}

/* The memo entries that only Python's pickler writes (PK_LIKE_PYTHON). */
static inline void pk_memo_like_python(pickle_writer *p)
{
    if (p->flags & PK_LIKE_PYTHON)
        pk_memo(p);
}

/* Starts a pickle (the writer is reset): PROTO, and with PK_PROTO4 a FRAME. */
static inline void pk_begin(pickle_writer *p, int flags)
{
    memset(p, 0, sizeof(*p));
    p->flags = flags;
    pk_op(p, 0x80);
    pk_op(p, (flags & PK_PROTO4) ? 4 : 2);
    if (flags & PK_PROTO4) { /* FRAME with the length patched in pk_end */
        pk_op(p, 0x95);
        put_uint(&p->b, 0, 8, 0);
    }
}

/* STOP, and the FRAME's length. */
static inline void pk_end(pickle_writer *p)
{
    pk_op(p, '.');
    if (p->flags & PK_PROTO4) {
        uint64_t len = p->b.n - 11;
        for (int i = 0; i < 8; i++)
            p->b.p[3 + i] = (uint8_t)(len >> (8 * i));
    }
}

static inline void pk_get(pickle_writer *p, int idx)
{
    if (idx < 256) {
        pk_op(p, 'h');
        pk_op(p, (unsigned)idx);
    } else {
        pk_op(p, 'j');
        put_uint(&p->b, (uint64_t)idx, 4, 0);
    }
}

static inline void pk_str(pickle_writer *p, const char *s)
{
    size_t n = strlen(s);
    if ((p->flags & PK_PROTO4) && n < 256) {
        pk_op(p, 0x8c);
        pk_op(p, (unsigned)n);
    } else {
        pk_op(p, 'X');
        put_uint(&p->b, n, 4, 0);
    }
    put(&p->b, s, n);
}

/* The shortest of BININT1, BININT2, BININT (as Python writes ints), LONG1 beyond 32 bits or
 * with PK_WIDE_INTS. */
static inline void pk_int(pickle_writer *p, int64_t v)
{
    if ((p->flags & PK_WIDE_INTS) || v < INT32_MIN || v > INT32_MAX) {
        pk_op(p, 0x8a);
        pk_op(p, 8);
        put_uint(&p->b, (uint64_t)v, 8, 0);
    } else if (v >= 0 && v < 256) {
        pk_op(p, 'K');
        pk_op(p, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        pk_op(p, 'M');
        put_uint(&p->b, (uint64_t)v, 2, 0);
    } else {
        pk_op(p, 'J');
        put_uint(&p->b, (uint64_t)(uint32_t)(int32_t)v, 4, 0);
    }
}

/* A tuple of ints (a tensor's sizes or strides). */
static inline void pk_int_tuple(pickle_writer *p, const int64_t *v, int n)
{
    int like_python = (p->flags & PK_LIKE_PYTHON) != 0;
    if (like_python && n == 0) { /* EMPTY_TUPLE, which Python does not memoize */
        pk_op(p, ')');
        return;
    }
    int tuple_n = like_python && n <= 3; /* TUPLE1..3, without a MARK */
    if (!tuple_n)
        pk_op(p, '(');
    for (int i = 0; i < n; i++)
        pk_int(p, v[i]);
    pk_op(p, tuple_n ? 0x84 + (unsigned)n : 't');
    pk_memo_like_python(p);
}

/* A global, written directly (GLOBAL or STACK_GLOBAL), whatever its name. */
static inline void pk_global_raw(pickle_writer *p, const char *mod, const char *name)
{
    if (p->flags & PK_PROTO4) {
        pk_str(p, mod);
        pk_str(p, name);
        pk_op(p, 0x93);
    } else {
        pk_op(p, 'c');
        put(&p->b, mod, strlen(mod));
        pk_op(p, '\n');
        put(&p->b, name, strlen(name));
        pk_op(p, '\n');
    }
}

/* A global memoized on first use and fetched with BINGET afterwards, as torch writes them. */
static inline void pk_global(pickle_writer *p, const char *mod, const char *name)
{
    char full[64];
    snprintf(full, sizeof full, "%s.%s", mod, name);
    for (int i = 0; i < p->ng; i++)
        if (strcmp(p->gname[i], full) == 0) {
            pk_get(p, p->gmemo[i]);
            return;
        }
    pk_global_raw(p, mod, name);
    if (p->ng < 16) {
        snprintf(p->gname[p->ng], sizeof p->gname[0], "%s", full);
        p->gmemo[p->ng++] = pk_memo(p);
    }
}

/* collections.OrderedDict(), not memoized. */
static inline void pk_ordered_dict(pickle_writer *p)
{
    pk_global(p, "collections", "OrderedDict");
    pk_op(p, ')');
    pk_op(p, 'R');
}

/* One tensor of a state_dict, and where its values are: the entry data/<skey> of the archive
 * holds a storage of snumel elements of type stype, and the tensor is the view of it at
 * offset with the given shape and strides (in elements). */
typedef struct {
    const char *key;   /* state_dict key */
    const char *stype; /* torch storage type, such as "FloatStorage" */
    const char *skey;  /* storage key */
    int64_t snumel, offset;
    int ndim;
    int64_t shape[6], stride[6];
    int parameter; /* an nn.Parameter (_rebuild_parameter around the tensor) */
} tensor_spec;

/* The persistent id and _rebuild_tensor_v2 call of one tensor (without its key, not
 * memoized). */
static inline void pk_tensor_value(pickle_writer *p, const tensor_spec *t)
{
    pk_global(p, "torch._utils", "_rebuild_tensor_v2");
    pk_op(p, '(');
    pk_op(p, '(');
    pk_str(p, "storage");
    pk_global(p, "torch", t->stype);
    pk_str(p, t->skey);
    pk_str(p, "cpu");
    pk_int(p, t->snumel);
    pk_op(p, 't');
    pk_memo_like_python(p);
    pk_op(p, 'Q');
    pk_int(p, t->offset);
    pk_int_tuple(p, t->shape, t->ndim);
    pk_int_tuple(p, t->stride, t->ndim);
    pk_op(p, 0x89); /* requires_grad False */
    pk_ordered_dict(p);
    pk_memo_like_python(p);
    pk_op(p, 't');
    pk_memo_like_python(p);
    pk_op(p, 'R');
}

/* The tensor as an nn.Parameter: _rebuild_parameter(tensor, requires_grad, OrderedDict()),
 * not memoized. */
static inline void pk_parameter_value(pickle_writer *p, const tensor_spec *t, int requires_grad)
{
    pk_global(p, "torch._utils", "_rebuild_parameter");
    pk_tensor_value(p, t);
    pk_memo_like_python(p);
    pk_op(p, requires_grad ? 0x88 : 0x89);
    pk_ordered_dict(p);
    pk_memo_like_python(p);
    pk_op(p, 0x87); /* TUPLE3 */
    pk_op(p, 'R');
}

/* state_dict._metadata as torch writes it, set by BUILD. */
static inline void pk_metadata(pickle_writer *p)
{
    pk_op(p, '}');
    pk_str(p, "_metadata");
    pk_ordered_dict(p);
    pk_memo_like_python(p);
    pk_op(p, '(');
    pk_str(p, "");
    pk_op(p, '}');
    pk_str(p, "version");
    pk_int(p, 1);
    pk_op(p, 's');
    pk_op(p, 'u');
    pk_op(p, 's');
    pk_op(p, 'b');
}

/* A whole state_dict pickle (the writer is reset): an OrderedDict of the n tensors t, then
 * _metadata. */
static inline void pk_state_dict(pickle_writer *p, int flags, const tensor_spec *t, int n)
{
    pk_begin(p, flags);
    pk_ordered_dict(p);
    pk_memo(p);
    pk_op(p, '(');
    for (int i = 0; i < n; i++) {
        pk_str(p, t[i].key);
        pk_memo(p);
        if (t[i].parameter)
            pk_parameter_value(p, &t[i], 0);
        else
            pk_tensor_value(p, &t[i]);
        pk_memo(p);
    }
    pk_op(p, 'u');
    pk_metadata(p);
    pk_end(p);
}

#endif
