/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Reader of PyTorch checkpoints written by torch.save (zip format, torch >= 1.6).
 *
 * Such a checkpoint is a zip archive with entries under one top folder of any name:
 *   <top>/data.pkl     a pickle of the state_dict (protocol 2, or 4 with pickle_protocol=4)
 *   <top>/data/<key>   one raw storage per key (little-endian unless <top>/byteorder says big)
 *   <top>/version      the container format version ("3\n")
 *
 * Loading a pickle in Python can run any code, and checkpoints come from the internet. So
 * this is not a general unpickler: it is the small machine that a state_dict needs, with an
 * allow-list of opcodes and of globals (see run_pickle and resolve_global). Everything else
 * is refused as a format error. Every count, length, index, shape and stride read from the
 * file is checked before it is used, and every limit below is enforced.
 *
 * Error codes: RVM_EFORMAT for a file that is not a valid checkpoint (including limits that
 * only a malformed or hostile pickle reaches, such as stack depth), RVM_ENOMEM for failed
 * allocations and for size limits that a genuine but too large checkpoint could reach,
 * RVM_EIO when the file cannot be opened or read.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "model/library.h"
#include "model/weights.h"
#include "rvm.h"

/* --- Limits ------------------------------------------------------------------------------- */

/* data.pkl of the official checkpoints is about 60 KB; 16 MiB allows models with many more
 * tensors while keeping the object arena (about 32 bytes per pickle byte at worst) bounded. */
#define PTH_MAX_PICKLE_BYTES ((uint64_t)16 << 20)
/* A state_dict pickle nests about 4 marks deep and its stack holds at most a SETITEMS batch
 * (pickle batches 1000 pairs). */
#define PTH_MAX_STACK 65536
#define PTH_MAX_MARKS 64
/* A pickler numbers memo entries 0, 1, 2...; an official checkpoint uses about 3600. */
#define PTH_MAX_MEMO (1u << 20)
#define PTH_MAX_OBJECTS (1u << 21)
/* Entries of one dict or list, and so tensors per checkpoint (RVM has about 400). */
#define PTH_MAX_ITEMS 65536
#define PTH_MAX_NAME 1024
#define PTH_MAX_KEY 64
/* Elements of one tensor or storage (1 GiB of float32), and of all tensors together. */
#define PTH_MAX_ELEMS ((int64_t)1 << 28)
#define PTH_MAX_TOTAL_ELEMS ((int64_t)1 << 30)
/* Views can repeat storage elements (stride 0 expands one element to 2^28), so all tensors
 * together may hold at most this many times the elements of the storages they use, plus a
 * slack; real checkpoints stay near 1x. */
#define PTH_VIEW_FACTOR 8
#define PTH_VIEW_SLACK ((int64_t)1 << 24)
/* Deflate cannot expand data by more than about 1032:1, so a larger declared ratio is a lie. */
#define PTH_DEFLATE_MAX_RATIO 1032
/* Entries may overlap inside a hostile archive (several names for the same bytes), so the
 * total read is capped relative to the archive's size, not only per entry. */
#define PTH_READ_FACTOR 64
#define PTH_READ_SLACK ((uint64_t)16 << 20)

/* --- Storage types ------------------------------------------------------------------------ */

enum { DT_F32, DT_F16, DT_F64, DT_I64, DT_I32, DT_U8, DT_BF16, DT_COUNT };

static const struct {
    const char *name;     /* the global torch.<name> in the persistent id */
    const char *fullname; /* for messages */
    int size;             /* bytes per element */
} dtypes[DT_COUNT] = {
    [DT_F32] = {"FloatStorage", "torch.FloatStorage", 4},
    [DT_F16] = {"HalfStorage", "torch.HalfStorage", 2},
    [DT_F64] = {"DoubleStorage", "torch.DoubleStorage", 8},
    [DT_I64] = {"LongStorage", "torch.LongStorage", 8},
    [DT_I32] = {"IntStorage", "torch.IntStorage", 4},
    [DT_U8] = {"ByteStorage", "torch.ByteStorage", 1},
    [DT_BF16] = {"BFloat16Storage", "torch.BFloat16Storage", 2},
};

/* The allowed globals. Storage types follow G_STORAGE in dtypes[] order. */
enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE };

/* --- Pickle objects ----------------------------------------------------------------------- */

enum { K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_TUPLE, K_LIST, K_DICT, K_GLOBAL, K_STORAGE,
       K_TENSOR };

typedef struct obj obj;

typedef struct {
    int dtype;
    int64_t numel;
    zip_uint64_t entry; /* index of <top>/data/<key> in the archive */
    size_t seq;         /* order of first use, to read each storage once */
    int counted;        /* already added to the storage total of build_weights */
} pth_storage;

typedef struct {
    obj *storage; /* a K_STORAGE */
    int64_t offset, numel;
    int ndim;
    int64_t shape[RVM_TENSOR_MAX_DIMS], stride[RVM_TENSOR_MAX_DIMS];
} pth_tensor;

struct obj {
    unsigned char kind;
    unsigned char flag; /* K_BOOL: the value; K_DICT: 1 for an OrderedDict */
    union {
        int64_t i;
        double f;
        int global;
        struct { /* points into the pickle buffer, which outlives all objects */
            const char *s;
            size_t len;
        } str;
        struct { /* K_TUPLE, K_LIST, and K_DICT as alternating key, value */
            obj **items;
            size_t n, cap;
        } seq;
        pth_storage *storage;
        pth_tensor *tensor;
    } u;
};

/* Objects live in chunks owned by the loader and are all freed together at the end, so
 * shared references (memo) and even reference cycles need no bookkeeping. */
#define CHUNK_OBJS 512
typedef struct chunk {
    struct chunk *next;
    size_t used;
    obj objs[CHUNK_OBJS];
} chunk;

typedef struct {
    /* error reporting */
    char *err;
    size_t errlen;
    char name[112];
    int failed;
    /* archive */
    zip_t *za;
    int from_file;
    uint64_t archive_size;
    zip_uint64_t nentries;
    char *top; /* "<top>/" */
    int big_endian;
    uint64_t bytes_read, read_budget;
    /* pickle machine */
    uint8_t *pkl;
    size_t pkl_len, pos;
    obj **stack;
    size_t sp, stack_cap;
    size_t marks[PTH_MAX_MARKS];
    int nmarks;
    obj **memo;
    size_t memo_cap, memo_count;
    chunk *chunks;
    size_t nobjects;
    obj **storage_by_entry; /* zip entry index -> its storage object, so each is made once */
    size_t nstorages;
} pth_ctx;

/* --- Errors ------------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int fail(pth_ctx *c, int code, const char *fmt, ...)
{
    /* The first error is the cause; later ones are consequences. */
    if (!c->failed) {
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        rvmi_seterr(c->err, c->errlen, code, "%s: %s", c->name, msg);
    }
    c->failed = 1;
    return code;
}

/* Copies an untrusted string for a message: at most 60 bytes, non-printable bytes as '?'. */
static const char *shown(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    size_t max = cap - 4;
    for (size_t i = 0; i < len && n < max; i++)
        buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (len > max) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}
#define SHOWN_CAP 64

static int zip_error_to_rvm(const pth_ctx *c, int ze)
{
    switch (ze) {
    case ZIP_ER_MEMORY:
        return RVM_ENOMEM;
    case ZIP_ER_OPEN:
    case ZIP_ER_READ:
    case ZIP_ER_SEEK:
    case ZIP_ER_TELL:
        /* From memory these can only mean offsets that point outside the buffer. */
        return c->from_file ? RVM_EIO : RVM_EFORMAT;
    default:
        return RVM_EFORMAT;
    }
}

/* --- Objects ------------------------------------------------------------------------------ */

static int new_obj(pth_ctx *c, int kind, obj **out)
{
    if (c->nobjects >= PTH_MAX_OBJECTS)
        return fail(c, RVM_EFORMAT, "pickle creates more than %u objects", PTH_MAX_OBJECTS);
    if (!c->chunks || c->chunks->used == CHUNK_OBJS) {
        chunk *k = malloc(sizeof(*k));
        if (!k)
            return fail(c, RVM_ENOMEM, "out of memory");
        k->next = c->chunks;
        k->used = 0;
        c->chunks = k;
    }
    obj *o = &c->chunks->objs[c->chunks->used++];
    memset(o, 0, sizeof(*o));
    o->kind = (unsigned char)kind;
    c->nobjects++;
    *out = o;
    return 0;
}

static void free_objects(pth_ctx *c)
{
    while (c->chunks) {
        chunk *k = c->chunks;
        for (size_t i = 0; i < k->used; i++) {
            obj *o = &k->objs[i];
            if (o->kind == K_TUPLE || o->kind == K_LIST || o->kind == K_DICT)
                free(o->u.seq.items);
            else if (o->kind == K_STORAGE)
                free(o->u.storage);
            else if (o->kind == K_TENSOR)
                free(o->u.tensor);
        }
        c->chunks = k->next;
        free(k);
    }
}

static const char *global_name(int g)
{
    switch (g) {
    case G_ORDERED_DICT:
        return "collections.OrderedDict";
    case G_REBUILD_TENSOR_V2:
        return "torch._utils._rebuild_tensor_v2";
    case G_REBUILD_PARAMETER:
        return "torch._utils._rebuild_parameter";
    default:
        if (g >= G_STORAGE && g < G_STORAGE + DT_COUNT)
            return dtypes[g - G_STORAGE].fullname;
        return "?";
    }
}

static const char *kind_name(const obj *o)
{
    switch (o->kind) {
    case K_NONE: return "None";
    case K_BOOL: return "bool";
    case K_INT: return "int";
    case K_FLOAT: return "float";
    case K_STR: return "str";
    case K_TUPLE: return "tuple";
    case K_LIST: return "list";
    case K_DICT: return o->flag ? "OrderedDict" : "dict";
    case K_GLOBAL: return global_name(o->u.global);
    case K_STORAGE: return "storage";
    case K_TENSOR: return "tensor";
    default: return "?";
    }
}

static int is_str(const obj *o, const char *s)
{
    size_t n = strlen(s);
    return o->kind == K_STR && o->u.str.len == n && memcmp(o->u.str.s, s, n) == 0;
}

/* Appends to a list or dict (a dict appends key then value). */
static int seq_append(pth_ctx *c, obj *o, obj *item)
{
    size_t per = o->kind == K_DICT ? 2 : 1;
    if (o->u.seq.n / per >= PTH_MAX_ITEMS && o->u.seq.n % per == 0)
        return fail(c, RVM_ENOMEM, "pickle %s holds more than %d entries",
                    kind_name(o), PTH_MAX_ITEMS);
    if (o->u.seq.n == o->u.seq.cap) {
        size_t cap = o->u.seq.cap ? o->u.seq.cap * 2 : 8;
        obj **items = realloc(o->u.seq.items, cap * sizeof(*items));
        if (!items)
            return fail(c, RVM_ENOMEM, "out of memory");
        o->u.seq.items = items;
        o->u.seq.cap = cap;
    }
    o->u.seq.items[o->u.seq.n++] = item;
    return 0;
}

static int dict_set(pth_ctx *c, obj *d, obj *key, obj *value)
{
    /* Only string keys occur in a state_dict and its metadata. Duplicates are looked for
     * once, in the final state_dict (see build_weights), to keep this O(1). */
    if (key->kind != K_STR)
        return fail(c, RVM_EFORMAT, "pickle dict key has type %s, not str", kind_name(key));
    int rc = seq_append(c, d, key);
    return rc ? rc : seq_append(c, d, value);
}

/* --- The pickle stack --------------------------------------------------------------------- */

/* As in Python's unpickler, MARK starts a new frame: opcodes may not pop below it. */
static size_t frame_base(const pth_ctx *c)
{
    return c->nmarks ? c->marks[c->nmarks - 1] : 0;
}

static int push(pth_ctx *c, obj *o)
{
    if (c->sp == c->stack_cap) {
        if (c->stack_cap >= PTH_MAX_STACK)
            return fail(c, RVM_EFORMAT, "pickle stack deeper than %d", PTH_MAX_STACK);
        size_t cap = c->stack_cap ? c->stack_cap * 2 : 256;
        obj **s = realloc(c->stack, cap * sizeof(*s));
        if (!s)
            return fail(c, RVM_ENOMEM, "out of memory");
        c->stack = s;
        c->stack_cap = cap;
    }
    c->stack[c->sp++] = o;
    return 0;
}

static int pop(pth_ctx *c, const char *op, obj **out)
{
    if (c->sp <= frame_base(c))
        return fail(c, RVM_EFORMAT, "pickle %s at offset %zu finds the stack empty", op,
                    c->pos - 1);
    *out = c->stack[--c->sp];
    return 0;
}

static int peek(pth_ctx *c, const char *op, obj **out)
{
    if (c->sp <= frame_base(c))
        return fail(c, RVM_EFORMAT, "pickle %s at offset %zu finds the stack empty", op,
                    c->pos - 1);
    *out = c->stack[c->sp - 1];
    return 0;
}

/* Ends the innermost MARK; the items are stack[*from .. sp). */
static int pop_mark(pth_ctx *c, const char *op, size_t *from)
{
    if (!c->nmarks)
        return fail(c, RVM_EFORMAT, "pickle %s at offset %zu without a MARK", op, c->pos - 1);
    *from = c->marks[--c->nmarks];
    return 0;
}

/* A tuple of the n stack items from index first (the stack is not allocated before the
 * first push: an empty tuple touches no pointer into it). */
static int make_tuple(pth_ctx *c, size_t first, size_t n, obj **out)
{
    int rc = new_obj(c, K_TUPLE, out);
    if (rc)
        return rc;
    if (n) {
        (*out)->u.seq.items = malloc(n * sizeof(obj *));
        if (!(*out)->u.seq.items)
            return fail(c, RVM_ENOMEM, "out of memory");
        memcpy((*out)->u.seq.items, c->stack + first, n * sizeof(obj *));
    }
    (*out)->u.seq.n = (*out)->u.seq.cap = n;
    return 0;
}

static int memo_put(pth_ctx *c, uint64_t idx)
{
    obj *top = NULL;
    int rc = peek(c, "PUT", &top);
    if (rc)
        return rc;
    if (idx >= PTH_MAX_MEMO)
        return fail(c, RVM_EFORMAT, "pickle memo index %llu is too large (limit %u)",
                    (unsigned long long)idx, PTH_MAX_MEMO);
    if (idx >= c->memo_cap) {
        size_t cap = c->memo_cap ? c->memo_cap : 1024;
        while (cap <= idx)
            cap *= 2;
        obj **m = realloc(c->memo, cap * sizeof(*m));
        if (!m)
            return fail(c, RVM_ENOMEM, "out of memory");
        memset(m + c->memo_cap, 0, (cap - c->memo_cap) * sizeof(*m));
        c->memo = m;
        c->memo_cap = cap;
    }
    if (!c->memo[idx])
        c->memo_count++;
    c->memo[idx] = top;
    return 0;
}

static int memo_get(pth_ctx *c, uint64_t idx)
{
    if (idx >= c->memo_cap || !c->memo[idx])
        return fail(c, RVM_EFORMAT, "pickle memo index %llu at offset %zu is out of range",
                    (unsigned long long)idx, c->pos);
    return push(c, c->memo[idx]);
}

/* --- Reading the pickle bytes ------------------------------------------------------------- */

static int need(pth_ctx *c, uint64_t n, const char *what)
{
    if (n > c->pkl_len - c->pos)
        return fail(c, RVM_EFORMAT, "pickle ends inside %s at offset %zu", what, c->pos);
    return 0;
}

static uint64_t take_le(pth_ctx *c, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)c->pkl[c->pos + i] << (8 * i);
    c->pos += (size_t)n;
    return v;
}

static int push_int(pth_ctx *c, int64_t v)
{
    obj *o = NULL;
    int rc = new_obj(c, K_INT, &o);
    if (rc)
        return rc;
    o->u.i = v;
    return push(c, o);
}

static int push_str(pth_ctx *c, uint64_t len)
{
    if (len > c->pkl_len - c->pos)
        return fail(c, RVM_EFORMAT, "pickle string of %llu bytes at offset %zu runs past the end",
                    (unsigned long long)len, c->pos);
    obj *o = NULL;
    int rc = new_obj(c, K_STR, &o);
    if (rc)
        return rc;
    o->u.str.s = (const char *)c->pkl + c->pos;
    o->u.str.len = (size_t)len;
    c->pos += (size_t)len;
    return push(c, o);
}

/* Reads one newline-terminated line of a GLOBAL opcode. */
static int take_line(pth_ctx *c, const char **s, size_t *len)
{
    size_t avail = c->pkl_len - c->pos;
    if (avail > 256)
        avail = 256;
    const uint8_t *start = c->pkl + c->pos;
    const uint8_t *nl = memchr(start, '\n', avail);
    if (!nl)
        return fail(c, RVM_EFORMAT, "pickle GLOBAL at offset %zu: name unterminated or too long",
                    c->pos - 1);
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    c->pos += *len + 1;
    return 0;
}

/* --- Globals ------------------------------------------------------------------------------ */

static int name_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* The allow-list. A state_dict pickle needs OrderedDict, the tensor rebuild function and the
 * storage types; anything else (os.system, builtins.eval, ...) is how pickles attack. */
static int resolve_global(pth_ctx *c, const char *mod, size_t ml, const char *name, size_t nl)
{
    int g = -1;
    if (name_is(mod, ml, "collections") && name_is(name, nl, "OrderedDict"))
        g = G_ORDERED_DICT;
    else if (name_is(mod, ml, "torch._utils") && name_is(name, nl, "_rebuild_tensor_v2"))
        g = G_REBUILD_TENSOR_V2;
    else if (name_is(mod, ml, "torch._utils") && name_is(name, nl, "_rebuild_parameter"))
        g = G_REBUILD_PARAMETER;
    else if (name_is(mod, ml, "torch"))
        for (int d = 0; d < DT_COUNT; d++)
            if (name_is(name, nl, dtypes[d].name))
                g = G_STORAGE + d;
    if (g < 0) {
        char b1[SHOWN_CAP], b2[SHOWN_CAP];
        return fail(c, RVM_EFORMAT, "pickle uses forbidden global %s.%s",
                    shown(mod, ml, b1, sizeof b1), shown(name, nl, b2, sizeof b2));
    }
    obj *o = NULL;
    int rc = new_obj(c, K_GLOBAL, &o);
    if (rc)
        return rc;
    o->u.global = g;
    return push(c, o);
}

/* --- Storages and tensors ----------------------------------------------------------------- */

/* Checks an entry's sizes before anything is read from it; *size is its uncompressed size. */
static int stat_entry(pth_ctx *c, zip_uint64_t idx, const char *label, uint64_t limit,
                      uint64_t *size)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(c->za, idx, ZIP_FL_ENC_RAW, &st) != 0)
        return fail(c, RVM_EFORMAT, "cannot read the zip entry of %s: %s", label,
                    zip_strerror(c->za));
    const zip_uint64_t want = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((st.valid & want) != want)
        return fail(c, RVM_EFORMAT, "zip entry %s has no sizes", label);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return fail(c, RVM_EFORMAT, "zip entry %s is encrypted", label);
    if (st.comp_size > c->archive_size)
        return fail(c, RVM_EFORMAT, "zip entry %s claims %llu bytes, more than the archive holds",
                    label, (unsigned long long)st.comp_size);
    if (st.comp_method == ZIP_CM_STORE) {
        if (st.size != st.comp_size)
            return fail(c, RVM_EFORMAT, "stored zip entry %s has inconsistent sizes", label);
    } else if (st.comp_method == ZIP_CM_DEFLATE) {
        /* comp_size <= archive size, so this cannot overflow */
        if (st.size > st.comp_size * PTH_DEFLATE_MAX_RATIO + 1024)
            return fail(c, RVM_EFORMAT,
                        "zip entry %s claims %llu bytes from %llu compressed (impossible ratio)",
                        label, (unsigned long long)st.size, (unsigned long long)st.comp_size);
    } else {
        return fail(c, RVM_EFORMAT,
                    "zip entry %s uses compression method %d (only stored and deflate allowed)",
                    label, (int)st.comp_method);
    }
    if (st.size > limit)
        return fail(c, RVM_ENOMEM, "zip entry %s has %llu bytes, over the limit of %llu", label,
                    (unsigned long long)st.size, (unsigned long long)limit);
    *size = st.size;
    return 0;
}

/* Reads a whole entry whose size stat_entry checked; libzip verifies the CRC at its end. */
static int read_entry(pth_ctx *c, zip_uint64_t idx, const char *label, uint8_t *buf,
                      uint64_t size)
{
    if (size > c->read_budget - c->bytes_read)
        return fail(c, RVM_ENOMEM, "archive expands to more than %llu bytes when read",
                    (unsigned long long)c->read_budget);
    c->bytes_read += size;
    zip_file_t *f = zip_fopen_index(c->za, idx, 0);
    if (!f) {
        zip_error_t *ze = zip_get_error(c->za);
        return fail(c, zip_error_to_rvm(c, zip_error_code_zip(ze)), "cannot open zip entry %s: %s",
                    label, zip_error_strerror(ze));
    }
    uint64_t got = 0;
    zip_int64_t n = 1;
    while (got < size) {
        uint64_t want = size - got;
        if (want > ((uint64_t)1 << 30))
            want = (uint64_t)1 << 30;
        n = zip_fread(f, buf + got, want);
        if (n <= 0)
            break;
        got += (uint64_t)n;
    }
    if (n >= 0 && got == size) {
        /* One more read reaches the end, where libzip checks the CRC; it must give nothing. */
        uint8_t extra;
        n = zip_fread(f, &extra, 1);
        if (n > 0) {
            zip_fclose(f);
            return fail(c, RVM_EFORMAT, "zip entry %s is longer than declared", label);
        }
    }
    if (n < 0) {
        zip_error_t *ze = zip_file_get_error(f);
        int code = zip_error_to_rvm(c, zip_error_code_zip(ze));
        fail(c, code, "cannot read zip entry %s: %s", label, zip_error_strerror(ze));
        zip_fclose(f);
        return code;
    }
    zip_fclose(f);
    if (got != size)
        return fail(c, RVM_EFORMAT, "zip entry %s is shorter than declared", label);
    return 0;
}

static int locate(pth_ctx *c, const char *suffix, zip_int64_t *idx, char *name, size_t cap)
{
    int n = snprintf(name, cap, "%s%s", c->top, suffix);
    if (n < 0 || (size_t)n >= cap)
        return fail(c, RVM_EFORMAT, "zip entry name too long");
    *idx = zip_name_locate(c->za, name, ZIP_FL_ENC_RAW);
    return 0;
}

/* BINPERSID: the tuple ('storage', storage_type, key, location, numel) names <top>/data/<key>. */
static int persistent_load(pth_ctx *c, obj *pid, obj **out)
{
    if (pid->kind != K_TUPLE || pid->u.seq.n != 5 || !is_str(pid->u.seq.items[0], "storage"))
        return fail(c, RVM_EFORMAT,
                    "pickle persistent id is not ('storage', type, key, location, numel)");
    obj **it = pid->u.seq.items;
    if (it[1]->kind != K_GLOBAL || it[1]->u.global < G_STORAGE)
        return fail(c, RVM_EFORMAT, "pickle persistent id has %s where a storage type belongs",
                    kind_name(it[1]));
    int dtype = it[1]->u.global - G_STORAGE;
    obj *key = it[2];
    if (key->kind != K_STR || key->u.str.len == 0 || key->u.str.len > PTH_MAX_KEY)
        return fail(c, RVM_EFORMAT, "pickle storage key is not a short string");
    for (size_t i = 0; i < key->u.str.len; i++) {
        char ch = key->u.str.s[i];
        /* torch uses decimal keys; nothing else, and surely no '/' or "..", belongs here */
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_')) {
            char b[SHOWN_CAP];
            return fail(c, RVM_EFORMAT, "pickle storage key '%s' has invalid characters",
                        shown(key->u.str.s, key->u.str.len, b, sizeof b));
        }
    }
    if (it[3]->kind != K_STR)
        return fail(c, RVM_EFORMAT, "pickle storage location has type %s, not str",
                    kind_name(it[3]));
    if (it[4]->kind != K_INT || it[4]->u.i < 0)
        return fail(c, RVM_EFORMAT, "pickle storage size is not a non-negative int");
    int64_t numel = it[4]->u.i;
    if (numel > PTH_MAX_ELEMS)
        return fail(c, RVM_ENOMEM, "storage of %lld elements exceeds the limit of %lld",
                    (long long)numel, (long long)PTH_MAX_ELEMS);

    char suffix[8 + PTH_MAX_KEY], name[1024];
    snprintf(suffix, sizeof suffix, "data/%.*s", (int)key->u.str.len, key->u.str.s);
    zip_int64_t idx = -1;
    int rc = locate(c, suffix, &idx, name, sizeof name);
    if (rc)
        return rc;
    char b[SHOWN_CAP];
    const char *label = shown(name, strlen(name), b, sizeof b);
    if (idx < 0 || (zip_uint64_t)idx >= c->nentries)
        return fail(c, RVM_EFORMAT, "storage entry %s is missing from the archive", label);

    obj *s = c->storage_by_entry[idx];
    if (s) { /* a storage shared by several tensors */
        if (s->u.storage->dtype != dtype || s->u.storage->numel != numel)
            return fail(c, RVM_EFORMAT, "storage %s is used with two different types or sizes",
                        label);
        *out = s;
        return 0;
    }
    uint64_t size = 0;
    rc = stat_entry(c, (zip_uint64_t)idx, label, (uint64_t)PTH_MAX_ELEMS * 8, &size);
    if (rc)
        return rc;
    uint64_t expect = (uint64_t)numel * (uint64_t)dtypes[dtype].size;
    if (size != expect)
        return fail(c, RVM_EFORMAT,
                    "storage entry %s has %llu bytes, but %lld elements of %s need %llu",
                    label, (unsigned long long)size, (long long)numel, dtypes[dtype].name,
                    (unsigned long long)expect);
    rc = new_obj(c, K_STORAGE, &s);
    if (rc)
        return rc;
    s->u.storage = malloc(sizeof(pth_storage));
    if (!s->u.storage) {
        s->kind = K_NONE; /* nothing for free_objects to free */
        return fail(c, RVM_ENOMEM, "out of memory");
    }
    s->u.storage->dtype = dtype;
    s->u.storage->numel = numel;
    s->u.storage->entry = (zip_uint64_t)idx;
    s->u.storage->seq = c->nstorages++;
    s->u.storage->counted = 0;
    c->storage_by_entry[idx] = s;
    *out = s;
    return 0;
}

/* Reads a tuple of ints (a size or a stride). */
static int int_tuple(pth_ctx *c, const obj *t, const char *what, int64_t *v, int *n)
{
    if (t->kind != K_TUPLE)
        return fail(c, RVM_EFORMAT, "tensor %s has type %s, not tuple", what, kind_name(t));
    if (t->u.seq.n > RVM_TENSOR_MAX_DIMS)
        return fail(c, RVM_EFORMAT, "tensor has %zu dimensions (at most %d are supported)",
                    t->u.seq.n, RVM_TENSOR_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (t->u.seq.items[i]->kind != K_INT)
            return fail(c, RVM_EFORMAT, "tensor %s holds %s, not int", what,
                        kind_name(t->u.seq.items[i]));
        v[i] = t->u.seq.items[i]->u.i;
    }
    *n = (int)t->u.seq.n;
    return 0;
}

static int is_empty_dict(const obj *o)
{
    return o->kind == K_DICT && o->u.seq.n == 0;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
 * [, metadata]). Validates the view against its storage so that conversion can index freely. */
static int rebuild_tensor(pth_ctx *c, const obj *args, obj **out)
{
    size_t n = args->u.seq.n;
    if (n != 6 && n != 7)
        return fail(c, RVM_EFORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, not %zu", n);
    obj **a = args->u.seq.items;
    if (a[0]->kind != K_STORAGE)
        return fail(c, RVM_EFORMAT, "_rebuild_tensor_v2 gets %s, not a storage",
                    kind_name(a[0]));
    if (a[1]->kind != K_INT)
        return fail(c, RVM_EFORMAT, "tensor storage offset has type %s, not int",
                    kind_name(a[1]));
    if (a[4]->kind != K_BOOL)
        return fail(c, RVM_EFORMAT, "tensor requires_grad has type %s, not bool",
                    kind_name(a[4]));
    /* Hooks would be callables, which the global allow-list already excludes. */
    if (!is_empty_dict(a[5]))
        return fail(c, RVM_EFORMAT, "tensor backward_hooks is not an empty OrderedDict");
    if (n == 7 && a[6]->kind != K_NONE && a[6]->kind != K_DICT)
        return fail(c, RVM_EFORMAT, "tensor metadata has type %s", kind_name(a[6]));

    pth_tensor t;
    memset(&t, 0, sizeof t);
    t.storage = a[0];
    t.offset = a[1]->u.i;
    int nstride = 0;
    int rc = int_tuple(c, a[2], "size", t.shape, &t.ndim);
    if (!rc)
        rc = int_tuple(c, a[3], "stride", t.stride, &nstride);
    if (rc)
        return rc;
    if (nstride != t.ndim)
        return fail(c, RVM_EFORMAT, "tensor has %d sizes but %d strides", t.ndim, nstride);

    /* Element count: reject negatives, overflow and absurd sizes before multiplying further.
     * Zero-sized dimensions are left out of the product so that every dimension is bounded. */
    int64_t prod = 1;
    int empty = 0;
    for (int d = 0; d < t.ndim; d++) {
        if (t.shape[d] < 0)
            return fail(c, RVM_EFORMAT, "tensor has a negative size %lld",
                        (long long)t.shape[d]);
        if (t.stride[d] < 0)
            return fail(c, RVM_EFORMAT, "tensor has a negative stride %lld",
                        (long long)t.stride[d]);
        if (t.shape[d] == 0) {
            empty = 1;
            continue;
        }
        if (prod > INT64_MAX / t.shape[d])
            return fail(c, RVM_EFORMAT, "tensor shape overflows a 64-bit element count");
        prod *= t.shape[d];
    }
    if (prod > PTH_MAX_ELEMS)
        return fail(c, RVM_ENOMEM, "tensor of %lld elements exceeds the limit of %lld",
                    (long long)prod, (long long)PTH_MAX_ELEMS);
    t.numel = empty ? 0 : prod;

    /* Every element read must lie in the storage: the largest index is
     * offset + sum((size-1)*stride). Each term is checked first, so nothing overflows. */
    int64_t snumel = t.storage->u.storage->numel;
    if (t.offset < 0 || t.offset > snumel)
        return fail(c, RVM_EFORMAT, "tensor storage offset %lld is outside its storage of %lld",
                    (long long)t.offset, (long long)snumel);
    if (t.numel > 0) {
        int64_t last = t.offset;
        for (int d = 0; d < t.ndim; d++) {
            if (t.shape[d] == 1)
                continue;
            if (t.stride[d] >= snumel)
                return fail(c, RVM_EFORMAT, "tensor stride %lld runs past its storage of %lld",
                            (long long)t.stride[d], (long long)snumel);
            last += (t.shape[d] - 1) * t.stride[d]; /* < 2^28 * 2^28, at most 4 terms */
        }
        if (last >= snumel)
            return fail(c, RVM_EFORMAT,
                        "tensor reads element %lld of a storage of %lld elements",
                        (long long)last, (long long)snumel);
    }

    rc = new_obj(c, K_TENSOR, out);
    if (rc)
        return rc;
    (*out)->u.tensor = malloc(sizeof(pth_tensor));
    if (!(*out)->u.tensor) {
        (*out)->kind = K_NONE;
        return fail(c, RVM_ENOMEM, "out of memory");
    }
    *(*out)->u.tensor = t;
    return 0;
}

static int reduce(pth_ctx *c)
{
    obj *args = NULL, *fn = NULL, *res = NULL;
    int rc = pop(c, "REDUCE", &args);
    if (!rc)
        rc = pop(c, "REDUCE", &fn);
    if (rc)
        return rc;
    if (fn->kind != K_GLOBAL)
        return fail(c, RVM_EFORMAT,
                    "pickle REDUCE calls an object of type %s (only allowed globals may be called)",
                    kind_name(fn));
    if (args->kind != K_TUPLE)
        return fail(c, RVM_EFORMAT, "pickle REDUCE arguments have type %s, not tuple",
                    kind_name(args));
    switch (fn->u.global) {
    case G_ORDERED_DICT:
        if (args->u.seq.n)
            return fail(c, RVM_EFORMAT, "pickle calls OrderedDict with arguments");
        rc = new_obj(c, K_DICT, &res);
        if (rc)
            return rc;
        res->flag = 1;
        return push(c, res);
    case G_REBUILD_TENSOR_V2:
        rc = rebuild_tensor(c, args, &res);
        return rc ? rc : push(c, res);
    case G_REBUILD_PARAMETER: /* (data, requires_grad, backward_hooks) -> data */
        if (args->u.seq.n != 3 || args->u.seq.items[0]->kind != K_TENSOR ||
            args->u.seq.items[1]->kind != K_BOOL || !is_empty_dict(args->u.seq.items[2]))
            return fail(c, RVM_EFORMAT, "_rebuild_parameter has unexpected arguments");
        return push(c, args->u.seq.items[0]);
    default:
        return fail(c, RVM_EFORMAT, "pickle REDUCE calls %s, which is not allowed",
                    global_name(fn->u.global));
    }
}

/* BUILD: torch sets state_dict._metadata (per-module versions); it is ignored here. */
static int build(pth_ctx *c)
{
    obj *state = NULL, *target = NULL;
    int rc = pop(c, "BUILD", &state);
    if (!rc)
        rc = peek(c, "BUILD", &target);
    if (rc)
        return rc;
    if (target->kind != K_DICT || !target->flag)
        return fail(c, RVM_EFORMAT, "pickle BUILD on %s (only OrderedDict._metadata is allowed)",
                    kind_name(target));
    if (state->kind != K_DICT)
        return fail(c, RVM_EFORMAT,
                    "pickle BUILD state has type %s (only {'_metadata': ...} is allowed)",
                    kind_name(state));
    for (size_t i = 0; i < state->u.seq.n; i += 2)
        if (!is_str(state->u.seq.items[i], "_metadata")) {
            char b[SHOWN_CAP];
            const obj *k = state->u.seq.items[i];
            return fail(c, RVM_EFORMAT,
                        "pickle BUILD sets attribute '%s' (only _metadata is allowed)",
                        shown(k->u.str.s, k->u.str.len, b, sizeof b));
        }
    return 0;
}

/* --- The pickle machine ------------------------------------------------------------------- */

static const char *opcode_name(uint8_t op)
{
    switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

/* Runs data.pkl and returns its result in *result. Only the opcodes below exist here. */
static int run_pickle(pth_ctx *c, obj **result)
{
    int rc = 0;
    while (!rc) {
        if (c->pos >= c->pkl_len)
            return fail(c, RVM_EFORMAT, "pickle ends without STOP");
        size_t at = c->pos;
        uint8_t op = c->pkl[c->pos++];
        obj *o = NULL, *k = NULL, *v = NULL;
        size_t from = 0;
        switch (op) {
        case 0x80: /* PROTO: torch writes 2; 4 and 5 come from pickle_protocol=4/5 */
            if ((rc = need(c, 1, "PROTO")))
                break;
            if (at != 0)
                return fail(c, RVM_EFORMAT, "pickle PROTO at offset %zu is not at the start", at);
            if (c->pkl[c->pos] < 2 || c->pkl[c->pos] > 5)
                return fail(c, RVM_EFORMAT, "pickle protocol %d is not supported",
                            c->pkl[c->pos]);
            c->pos++;
            break;
        case 0x95: { /* FRAME: only a read-ahead hint, but its length must be sane */
            if ((rc = need(c, 8, "FRAME")))
                break;
            uint64_t len = take_le(c, 8);
            if (len > c->pkl_len - c->pos)
                return fail(c, RVM_EFORMAT, "pickle FRAME at offset %zu runs past the end", at);
            break;
        }
        case '.': /* STOP */
            if (c->nmarks || c->sp != 1)
                return fail(c, RVM_EFORMAT, "pickle STOP leaves %zu objects and %d marks", c->sp,
                            c->nmarks);
            *result = c->stack[0];
            return 0;
        case '(': /* MARK */
            if (c->nmarks == PTH_MAX_MARKS)
                return fail(c, RVM_EFORMAT, "pickle nests deeper than %d marks", PTH_MAX_MARKS);
            c->marks[c->nmarks++] = c->sp;
            break;
        case '}': /* EMPTY_DICT */
            if (!(rc = new_obj(c, K_DICT, &o)))
                rc = push(c, o);
            break;
        case ']': /* EMPTY_LIST */
            if (!(rc = new_obj(c, K_LIST, &o)))
                rc = push(c, o);
            break;
        case ')': /* EMPTY_TUPLE */
            if (!(rc = new_obj(c, K_TUPLE, &o)))
                rc = push(c, o);
            break;
        case 'N': /* NONE */
            if (!(rc = new_obj(c, K_NONE, &o)))
                rc = push(c, o);
            break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            if (!(rc = new_obj(c, K_BOOL, &o))) {
                o->flag = op == 0x88;
                rc = push(c, o);
            }
            break;
        case 'X': /* BINUNICODE */
            if (!(rc = need(c, 4, "BINUNICODE")))
                rc = push_str(c, take_le(c, 4));
            break;
        case 0x8c: /* SHORT_BINUNICODE */
            if (!(rc = need(c, 1, "SHORT_BINUNICODE")))
                rc = push_str(c, take_le(c, 1));
            break;
        case 0x8d: /* BINUNICODE8 */
            if (!(rc = need(c, 8, "BINUNICODE8")))
                rc = push_str(c, take_le(c, 8));
            break;
        case 'J': /* BININT: signed 32-bit */
            if (!(rc = need(c, 4, "BININT")))
                rc = push_int(c, (int32_t)(uint32_t)take_le(c, 4));
            break;
        case 'K': /* BININT1 */
            if (!(rc = need(c, 1, "BININT1")))
                rc = push_int(c, (int64_t)take_le(c, 1));
            break;
        case 'M': /* BININT2 */
            if (!(rc = need(c, 2, "BININT2")))
                rc = push_int(c, (int64_t)take_le(c, 2));
            break;
        case 0x8a: { /* LONG1: n-byte little-endian two's complement */
            if ((rc = need(c, 1, "LONG1")))
                break;
            int n = (int)take_le(c, 1);
            if (n > 8)
                return fail(c, RVM_EFORMAT, "pickle LONG1 of %d bytes at offset %zu is too large",
                            n, at);
            if ((rc = need(c, (uint64_t)n, "LONG1")))
                break;
            uint64_t u = take_le(c, n);
            if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1)
                u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
            int64_t val;
            memcpy(&val, &u, sizeof val);
            rc = push_int(c, val);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            if ((rc = need(c, 8, "BINFLOAT")))
                break;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++)
                u = (u << 8) | c->pkl[c->pos++];
            if (!(rc = new_obj(c, K_FLOAT, &o))) {
                memcpy(&o->u.f, &u, sizeof u);
                rc = push(c, o);
            }
            break;
        }
        case 't': /* TUPLE */
            if (!(rc = pop_mark(c, "TUPLE", &from)) &&
                !(rc = make_tuple(c, from, c->sp - from, &o))) {
                c->sp = from;
                rc = push(c, o);
            }
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: { /* TUPLE3 */
            size_t n = (size_t)(op - 0x84);
            if (c->sp - frame_base(c) < n)
                return fail(c, RVM_EFORMAT, "pickle %s at offset %zu finds too few items",
                            opcode_name(op), at);
            if (!(rc = make_tuple(c, c->sp - n, n, &o))) {
                c->sp -= n;
                rc = push(c, o);
            }
            break;
        }
        case 'q': /* BINPUT */
            if (!(rc = need(c, 1, "BINPUT")))
                rc = memo_put(c, take_le(c, 1));
            break;
        case 'r': /* LONG_BINPUT */
            if (!(rc = need(c, 4, "LONG_BINPUT")))
                rc = memo_put(c, take_le(c, 4));
            break;
        case 0x94: /* MEMOIZE: the next free index, as Python's len(memo) */
            rc = memo_put(c, c->memo_count);
            break;
        case 'h': /* BINGET */
            if (!(rc = need(c, 1, "BINGET")))
                rc = memo_get(c, take_le(c, 1));
            break;
        case 'j': /* LONG_BINGET */
            if (!(rc = need(c, 4, "LONG_BINGET")))
                rc = memo_get(c, take_le(c, 4));
            break;
        case 's': /* SETITEM */
            if (!(rc = pop(c, "SETITEM", &v)) && !(rc = pop(c, "SETITEM", &k)) &&
                !(rc = peek(c, "SETITEM", &o))) {
                if (o->kind != K_DICT)
                    return fail(c, RVM_EFORMAT, "pickle SETITEM on %s", kind_name(o));
                rc = dict_set(c, o, k, v);
            }
            break;
        case 'u': /* SETITEMS */
            if ((rc = pop_mark(c, "SETITEMS", &from)))
                break;
            if (from <= frame_base(c) || c->stack[from - 1]->kind != K_DICT ||
                (c->sp - from) % 2)
                return fail(c, RVM_EFORMAT, "pickle SETITEMS at offset %zu is malformed", at);
            o = c->stack[from - 1];
            for (size_t i = from; i < c->sp && !rc; i += 2)
                rc = dict_set(c, o, c->stack[i], c->stack[i + 1]);
            c->sp = from;
            break;
        case 'a': /* APPEND */
            if (!(rc = pop(c, "APPEND", &v)) && !(rc = peek(c, "APPEND", &o))) {
                if (o->kind != K_LIST)
                    return fail(c, RVM_EFORMAT, "pickle APPEND on %s", kind_name(o));
                rc = seq_append(c, o, v);
            }
            break;
        case 'e': /* APPENDS */
            if ((rc = pop_mark(c, "APPENDS", &from)))
                break;
            if (from <= frame_base(c) || c->stack[from - 1]->kind != K_LIST)
                return fail(c, RVM_EFORMAT, "pickle APPENDS at offset %zu is malformed", at);
            o = c->stack[from - 1];
            for (size_t i = from; i < c->sp && !rc; i++)
                rc = seq_append(c, o, c->stack[i]);
            c->sp = from;
            break;
        case 'c': { /* GLOBAL module\nname\n */
            const char *mod = NULL, *name = NULL;
            size_t ml = 0, nl = 0;
            if (!(rc = take_line(c, &mod, &ml)) && !(rc = take_line(c, &name, &nl)))
                rc = resolve_global(c, mod, ml, name, nl);
            break;
        }
        case 0x93: /* STACK_GLOBAL (protocol 4): module and name strings from the stack */
            if (!(rc = pop(c, "STACK_GLOBAL", &v)) && !(rc = pop(c, "STACK_GLOBAL", &k))) {
                if (k->kind != K_STR || v->kind != K_STR)
                    return fail(c, RVM_EFORMAT, "pickle STACK_GLOBAL at offset %zu needs two str",
                                at);
                rc = resolve_global(c, k->u.str.s, k->u.str.len, v->u.str.s, v->u.str.len);
            }
            break;
        case 'R':
            rc = reduce(c);
            break;
        case 'b':
            rc = build(c);
            break;
        case 'Q': /* BINPERSID */
            if (!(rc = pop(c, "BINPERSID", &k)) && !(rc = persistent_load(c, k, &o)))
                rc = push(c, o);
            break;
        default: {
            const char *name = opcode_name(op);
            if (name)
                return fail(c, RVM_EFORMAT,
                            "pickle opcode %s (0x%02x) at offset %zu is not allowed",
                            name, op, at);
            return fail(c, RVM_EFORMAT, "unknown pickle opcode 0x%02x at offset %zu", op, at);
        }
        }
    }
    return rc;
}

/* --- Conversion to float32 ---------------------------------------------------------------- */

static uint64_t load_uint(const uint8_t *p, int n, int big)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
    return v;
}

static float load_elem(const uint8_t *p, int dtype, int big)
{
    uint64_t u = load_uint(p, dtypes[dtype].size, big);
    switch (dtype) {
    case DT_F32: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    case DT_F64: {
        double d;
        memcpy(&d, &u, sizeof d);
        return (float)d;
    }
    case DT_F16:
        return rvmi_half_to_float((uint16_t)u);
    case DT_BF16: {
        uint32_t w = (uint32_t)u << 16;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    case DT_I64: {
        int64_t i;
        memcpy(&i, &u, sizeof i);
        return (float)i;
    }
    case DT_I32:
        return (float)(int32_t)(uint32_t)u;
    default: /* DT_U8 */
        return (float)u;
    }
}

/* Gathers a (possibly strided) view into contiguous floats; rebuild_tensor has checked that
 * every index lies within the storage. */
static void convert(const pth_tensor *t, const uint8_t *bytes, int big, float *dst)
{
    int64_t sh[4] = {1, 1, 1, 1}, st[4] = {0, 0, 0, 0};
    int pad = 4 - t->ndim;
    for (int d = 0; d < t->ndim; d++) {
        sh[pad + d] = t->shape[d];
        st[pad + d] = t->stride[d];
    }
    int dtype = t->storage->u.storage->dtype;
    size_t esz = (size_t)dtypes[dtype].size;
    size_t o = 0;
    if (t->numel == 0)
        return;
    for (int64_t i0 = 0; i0 < sh[0]; i0++)
        for (int64_t i1 = 0; i1 < sh[1]; i1++)
            for (int64_t i2 = 0; i2 < sh[2]; i2++) {
                int64_t base = t->offset + i0 * st[0] + i1 * st[1] + i2 * st[2];
                for (int64_t i3 = 0; i3 < sh[3]; i3++)
                    dst[o++] = load_elem(bytes + (size_t)(base + i3 * st[3]) * esz, dtype, big);
            }
}

/* --- The state_dict ----------------------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t len;
    size_t i;
} name_ref;

static int cmp_names(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->s, y->s, x->len);
}

typedef struct {
    size_t seq, i;
} use_ref;

static int cmp_uses(const void *a, const void *b)
{
    const use_ref *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Checks the pickle's result is a flat {str: tensor} and fills out in its order. */
static int build_weights(pth_ctx *c, const obj *root, rvmi_weights *out)
{
    if (root->kind != K_DICT)
        return fail(c, RVM_EFORMAT, "the pickle holds %s, not a state_dict", kind_name(root));
    size_t n = root->u.seq.n / 2;
    obj **items = root->u.seq.items;
    char b[SHOWN_CAP];
    int64_t total = 0, stored = 0;
    uint64_t stored_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const obj *key = items[2 * i], *val = items[2 * i + 1];
        const char *shown_key = shown(key->u.str.s, key->u.str.len, b, sizeof b);
        if (val->kind != K_TENSOR)
            return fail(c, RVM_EFORMAT,
                        "entry '%s' has type %s, not tensor (only a flat state_dict is supported)",
                        shown_key, kind_name(val));
        if (key->u.str.len == 0 || key->u.str.len > PTH_MAX_NAME ||
            memchr(key->u.str.s, '\0', key->u.str.len))
            return fail(c, RVM_EFORMAT, "tensor name '%s' is empty, too long or has a NUL byte",
                        shown_key);
        total += val->u.tensor->numel; /* each <= 2^28 and at most 2^16 of them */
        pth_storage *s = val->u.tensor->storage->u.storage;
        if (!s->counted) {
            s->counted = 1;
            stored += s->numel;
            stored_bytes += (uint64_t)s->numel * (uint64_t)dtypes[s->dtype].size;
        }
    }
    /* The storages are read in full below; when the archive's size does not allow that much
     * (see PTH_READ_FACTOR), refuse now rather than after allocating every tensor. Each entry
     * alone passed stat_entry, but entries can each claim up to 1032 times the archive. */
    if (stored_bytes > c->read_budget - c->bytes_read)
        return fail(c, RVM_ENOMEM, "archive expands to more than %llu bytes when read",
                    (unsigned long long)c->read_budget);
    if (total > PTH_MAX_TOTAL_ELEMS)
        return fail(c, RVM_ENOMEM, "tensors hold %lld elements, over the limit of %lld",
                    (long long)total, (long long)PTH_MAX_TOTAL_ELEMS);
    if (total > stored * PTH_VIEW_FACTOR + PTH_VIEW_SLACK)
        return fail(c, RVM_ENOMEM,
                    "tensors hold %lld elements but their storages only %lld (views repeat "
                    "data beyond the limit)",
                    (long long)total, (long long)stored);

    /* Duplicate names: torch never writes them, and which one wins would be ambiguous. */
    if (n > 1) {
        name_ref *names = malloc(n * sizeof(*names));
        if (!names)
            return fail(c, RVM_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            names[i] = (name_ref){items[2 * i]->u.str.s, items[2 * i]->u.str.len, i};
        qsort(names, n, sizeof(*names), cmp_names);
        for (size_t i = 1; i < n; i++)
            if (cmp_names(&names[i - 1], &names[i]) == 0) {
                fail(c, RVM_EFORMAT, "tensor name '%s' appears twice",
                     shown(names[i].s, names[i].len, b, sizeof b));
                free(names);
                return RVM_EFORMAT;
            }
        free(names);
    }

    /* Allocate all outputs in state_dict order... */
    for (size_t i = 0; i < n; i++) {
        const obj *key = items[2 * i];
        const pth_tensor *t = items[2 * i + 1]->u.tensor;
        char name[PTH_MAX_NAME + 1];
        memcpy(name, key->u.str.s, key->u.str.len);
        name[key->u.str.len] = '\0';
        float *data = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
        if (!data)
            return fail(c, RVM_ENOMEM, "out of memory for tensor '%s'",
                        shown(name, strlen(name), b, sizeof b));
        if (rvmi_weights_add(out, name, t->ndim, t->shape, data) != 0) {
            free(data);
            return fail(c, RVM_ENOMEM, "out of memory");
        }
    }

    /* ...then fill them storage by storage, so each storage is read once even when several
     * tensors share it. */
    use_ref *uses = malloc((n ? n : 1) * sizeof(*uses));
    if (!uses)
        return fail(c, RVM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        uses[i] = (use_ref){items[2 * i + 1]->u.tensor->storage->u.storage->seq, i};
    qsort(uses, n, sizeof(*uses), cmp_uses);
    int rc = 0;
    uint8_t *bytes = NULL;
    for (size_t u = 0; u < n && !rc; u++) {
        const pth_tensor *t = items[2 * uses[u].i + 1]->u.tensor;
        const pth_storage *s = t->storage->u.storage;
        if (u == 0 || uses[u].seq != uses[u - 1].seq) {
            free(bytes);
            uint64_t size = (uint64_t)s->numel * (uint64_t)dtypes[s->dtype].size;
            bytes = malloc(size ? (size_t)size : 1);
            if (!bytes) {
                rc = fail(c, RVM_ENOMEM, "out of memory for a storage of %llu bytes",
                          (unsigned long long)size);
                break;
            }
            char label[SHOWN_CAP];
            const char *en = zip_get_name(c->za, s->entry, ZIP_FL_ENC_RAW);
            rc = read_entry(c, s->entry, shown(en ? en : "?", en ? strlen(en) : 1, label,
                                               sizeof label), bytes, size);
            if (rc)
                break;
        }
        convert(t, bytes, c->big_endian, out->tensors[uses[u].i].data);
    }
    free(bytes);
    free(uses);
    return rc;
}

/* --- The archive -------------------------------------------------------------------------- */

/* torch.save puts everything under one top folder of any name; find <top>/data.pkl. */
static int find_top(pth_ctx *c, zip_uint64_t *pkl_index)
{
    int found = 0;
    for (zip_uint64_t i = 0; i < c->nentries; i++) {
        const char *nm = zip_get_name(c->za, i, ZIP_FL_ENC_RAW);
        if (!nm)
            return fail(c, RVM_EFORMAT, "zip entry %llu has no name", (unsigned long long)i);
        size_t len = strlen(nm);
        static const char tail[] = "/data.pkl";
        size_t tl = sizeof tail - 1;
        if (len <= tl || strcmp(nm + len - tl, tail) != 0 || memchr(nm, '/', len - tl))
            continue;
        if (found)
            return fail(c, RVM_EFORMAT, "the archive holds more than one data.pkl");
        found = 1;
        *pkl_index = i;
        c->top = malloc(len - tl + 2);
        if (!c->top)
            return fail(c, RVM_ENOMEM, "out of memory");
        memcpy(c->top, nm, len - tl + 1); /* keeps the '/' */
        c->top[len - tl + 1] = '\0';
    }
    if (!found)
        return fail(c, RVM_EFORMAT,
                    "zip archive has no <folder>/data.pkl (not a PyTorch checkpoint)");
    return 0;
}

/* Reads a small text entry such as version or byteorder; *text is "" when it is absent. */
static int small_entry(pth_ctx *c, const char *suffix, char *text, size_t cap, int *present)
{
    char name[1024];
    zip_int64_t idx = -1;
    int rc = locate(c, suffix, &idx, name, sizeof name);
    if (rc)
        return rc;
    text[0] = '\0';
    *present = idx >= 0;
    if (idx < 0)
        return 0;
    uint64_t size = 0;
    if ((rc = stat_entry(c, (zip_uint64_t)idx, suffix, cap - 1, &size)) ||
        (rc = read_entry(c, (zip_uint64_t)idx, suffix, (uint8_t *)text, size)))
        return rc;
    text[size] = '\0';
    return 0;
}

static int check_metadata(pth_ctx *c)
{
    char text[32];
    int present;
    int rc = small_entry(c, "version", text, sizeof text, &present);
    if (rc)
        return rc;
    if (present) {
        /* torch writes "3\n"; its own reader accepts versions 1 to 10 */
        char *end;
        long v = strtol(text, &end, 10);
        if (end == text || (*end && strcmp(end, "\n") != 0) || text[0] == '-' || text[0] == ' ')
            return fail(c, RVM_EFORMAT, "version entry is not a number");
        if (v < 1 || v > 10)
            return fail(c, RVM_EFORMAT, "checkpoint format version %ld is not supported", v);
    }
    rc = small_entry(c, "byteorder", text, sizeof text, &present);
    if (rc)
        return rc;
    if (present) {
        if (strcmp(text, "little") == 0)
            c->big_endian = 0;
        else if (strcmp(text, "big") == 0)
            c->big_endian = 1; /* converted element by element */
        else
            return fail(c, RVM_EFORMAT, "byteorder entry is neither 'little' nor 'big'");
    }
    return 0;
}

/* Takes ownership of src. */
static int load_source(pth_ctx *c, zip_source_t *src, rvmi_weights *out)
{
    zip_error_t ze;
    zip_error_init(&ze);
    c->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!c->za) {
        int zc = zip_error_code_zip(&ze);
        int code = zip_error_to_rvm(c, zc);
        if (zc == ZIP_ER_NOZIP)
            fail(c, code, "not a zip archive (truncated, or not a torch >= 1.6 checkpoint)");
        else
            fail(c, code, "cannot open zip archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        return code;
    }
    zip_error_fini(&ze);
    zip_int64_t ne = zip_get_num_entries(c->za, 0);
    if (ne < 0)
        return fail(c, RVM_EFORMAT, "cannot count zip entries");
    c->nentries = (zip_uint64_t)ne;
    /* Budget for all reads: PTH_READ_FACTOR times the archive, see the limits. */
    uint64_t cap = UINT64_MAX / (2 * PTH_READ_FACTOR);
    c->read_budget = (c->archive_size < cap ? c->archive_size : cap) * PTH_READ_FACTOR +
                     PTH_READ_SLACK;

    zip_uint64_t pkl_index = 0;
    uint64_t size = 0;
    int rc = find_top(c, &pkl_index);
    if (!rc)
        rc = check_metadata(c);
    if (!rc)
        rc = stat_entry(c, pkl_index, "data.pkl", PTH_MAX_PICKLE_BYTES, &size);
    if (rc)
        return rc;
    c->pkl = malloc(size ? (size_t)size : 1);
    if (!c->pkl)
        return fail(c, RVM_ENOMEM, "out of memory");
    c->pkl_len = (size_t)size;
    if ((rc = read_entry(c, pkl_index, "data.pkl", c->pkl, size)))
        return rc;
    c->storage_by_entry = calloc(c->nentries ? (size_t)c->nentries : 1, sizeof(obj *));
    if (!c->storage_by_entry)
        return fail(c, RVM_ENOMEM, "out of memory");

    obj *root = NULL;
    if ((rc = run_pickle(c, &root)))
        return rc;
    return build_weights(c, root, out);
}

static void ctx_init(pth_ctx *c, const char *name, int from_file, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->err = err;
    c->errlen = errlen;
    c->from_file = from_file;
    /* Keep long paths from pushing the message out of the caller's buffer. */
    size_t len = strlen(name);
    if (len < sizeof c->name)
        memcpy(c->name, name, len + 1);
    else
        snprintf(c->name, sizeof c->name, "...%s", name + len - (sizeof c->name - 4));
    if (err && errlen)
        err[0] = '\0';
}

static int ctx_finish(pth_ctx *c, int rc, rvmi_weights *out)
{
    free_objects(c);
    free(c->stack);
    free(c->memo);
    free(c->storage_by_entry);
    free(c->pkl);
    free(c->top);
    if (c->za)
        zip_discard(c->za);
    if (rc) {
        rvmi_weights_free(out);
        if (!c->failed) /* every path sets a message; this only guards the contract */
            fail(c, rc, "cannot load checkpoint");
    }
    return rc;
}

/* Names a non-zip input people commonly try, for a more useful message. */
static int explain_not_zip(pth_ctx *c, const uint8_t *head, size_t n)
{
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return fail(c, RVM_EFORMAT, "file is gzip-compressed; decompress it first");
    if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
        return fail(c, RVM_EFORMAT,
                    "legacy (torch < 1.6) checkpoint format is not supported; re-save it with a "
                    "newer torch");
    if (n < 4 || head[0] != 'P' || head[1] != 'K')
        return fail(c, RVM_EFORMAT, "not a zip archive (not a torch >= 1.6 checkpoint)");
    return 0;
}

int rvmi_pth_load_memory(const uint8_t *data, size_t size, rvmi_weights *out, char *err,
                        size_t errlen)
{
    pth_ctx c;
    ctx_init(&c, "checkpoint", 0, err, errlen);
    if (!out)
        return fail(&c, RVM_EINVAL, "no output given");
    memset(out, 0, sizeof(*out));
    if (!data && size)
        return fail(&c, RVM_EINVAL, "no data given");
    if (size == 0)
        return fail(&c, RVM_EFORMAT, "checkpoint is empty");
    int rc = explain_not_zip(&c, data, size);
    if (rc)
        return ctx_finish(&c, rc, out);
    c.archive_size = size;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    zip_error_fini(&ze);
    if (!src)
        return ctx_finish(&c, fail(&c, RVM_ENOMEM, "out of memory"), out);
    rc = load_source(&c, src, out);
    return ctx_finish(&c, rc, out);
}

int rvmi_pth_load(const char *path, rvmi_weights *out, char *err, size_t errlen)
{
    pth_ctx c;
    ctx_init(&c, path ? path : "checkpoint", 1, err, errlen);
    if (!out)
        return fail(&c, RVM_EINVAL, "no output given");
    memset(out, 0, sizeof(*out));
    if (!path)
        return fail(&c, RVM_EINVAL, "no path given");

    /* Open once ourselves for a clear I/O message, the size and the first bytes. stat first:
     * opening a FIFO would block. */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fail(&c, RVM_EIO, "cannot open: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return fail(&c, RVM_EIO, "not a regular file");
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(&c, RVM_EIO, "cannot open: %s", strerror(errno));
    uint8_t head[4];
    size_t nhead = 0;
    int rc = 0;
    if (fstat(fileno(f), &sb) != 0)
        rc = fail(&c, RVM_EIO, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        rc = fail(&c, RVM_EIO, "not a regular file");
    else if (sb.st_size == 0)
        rc = fail(&c, RVM_EFORMAT, "file is empty");
    else {
        nhead = fread(head, 1, sizeof head, f);
        if (nhead == 0 && ferror(f))
            rc = fail(&c, RVM_EIO, "cannot read: %s", strerror(errno));
    }
    fclose(f);
    if (!rc)
        rc = explain_not_zip(&c, head, nhead);
    if (rc)
        return ctx_finish(&c, rc, out);
    c.archive_size = (uint64_t)sb.st_size;

    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_file_create(path, 0, -1, &ze);
    if (!src) {
        rc = fail(&c, zip_error_to_rvm(&c, zip_error_code_zip(&ze)), "cannot open: %s",
                  zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return ctx_finish(&c, rc, out);
    }
    zip_error_fini(&ze);
    /* The size libzip will use (the file may have changed since fstat). */
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_stat(src, &st) == 0 && (st.valid & ZIP_STAT_SIZE))
        c.archive_size = st.size;
    rc = load_source(&c, src, out);
    return ctx_finish(&c, rc, out);
}
