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
 * data.pkl runs on the restricted machine of pickle.c, and this file is its host: the
 * allow-list of globals (find_class), the storages (persistent_load) and the calls that make
 * an OrderedDict and tensors (reduce). Everything else is refused as a format error. Every
 * count, length, index, shape and stride read from the file is checked before it is used,
 * and every limit below is enforced.
 *
 * Error codes: RVM_EFORMAT for a file that is not a valid checkpoint (including limits that
 * only a malformed or hostile pickle reaches, such as stack depth), RVM_ENOMEM for failed
 * allocations and for size limits that a genuine but too large checkpoint could reach,
 * RVM_EIO when the file cannot be opened or read.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "model/library.h"
#include "model/pickle.h"
#include "model/weights.h"
#include "rvm.h"

/* --- Limits ------------------------------------------------------------------------------- */

/* data.pkl of the official checkpoints is about 60 KB; 16 MiB allows models with many more
 * tensors while keeping the object arena (about 32 bytes per pickle byte at worst) bounded. */
#define PTH_MAX_PICKLE_BYTES ((uint64_t)16 << 20)
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

/* --- Objects of the pickle --------------------------------------------------------------- */

/* What persistent_load and reduce make: host objects of the pickle machine. */
enum { HOST_STORAGE, HOST_TENSOR };

typedef rvmi_pickle_obj obj;

typedef struct {
    int dtype;
    int64_t numel;
    zip_uint64_t entry; /* index of <top>/data/<key> in the archive */
    size_t seq;         /* order of first use, to read each storage once */
    int counted;        /* already added to the storage total of build_weights */
} pth_storage;

typedef struct {
    obj *storage; /* a HOST_STORAGE */
    int64_t offset, numel;
    int ndim;
    int64_t shape[RVM_TENSOR_MAX_DIMS], stride[RVM_TENSOR_MAX_DIMS];
} pth_tensor;

static int is_host(const obj *o, int type)
{
    return o->kind == RVMI_PK_HOST && o->u.host.type == type;
}

static pth_storage *storage_of(const obj *o) { return o->u.host.data; }
static pth_tensor *tensor_of(const obj *o) { return o->u.host.data; }

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
    /* the pickle */
    uint8_t *pkl;
    size_t pkl_len;
    rvmi_pickle vm;
    obj **storage_by_entry; /* zip entry index -> its storage object, so each is made once */
    size_t nstorages;
} pth_ctx;

/* --- Errors ------------------------------------------------------------------------------- */

/* The pickle machine's fail hook, and the loader's own errors. */
__attribute__((format(printf, 3, 0))) static int vfail(void *user, int code, const char *fmt,
                                                       va_list ap)
{
    pth_ctx *c = user;
    /* The first error is the cause; later ones are consequences. */
    if (!c->failed) {
        char msg[320];
        vsnprintf(msg, sizeof msg, fmt, ap);
        rvmi_seterr(c->err, c->errlen, code, "%s: %s", c->name, msg);
    }
    c->failed = 1;
    return code;
}

__attribute__((format(printf, 3, 4))) static int fail(pth_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, code, fmt, ap);
    va_end(ap);
    return code;
}

static const char *kind_name(const pth_ctx *c, const obj *o)
{
    return rvmi_pickle_type_name(&c->vm, o);
}

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

/* --- Globals ------------------------------------------------------------------------------ */

static int name_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* The allow-list (find_class). A state_dict pickle needs OrderedDict, the tensor rebuild
 * function and the storage types; anything else (os.system, builtins.eval, ...) is how
 * pickles attack. */
static int find_class(void *user, const char *mod, size_t ml, const char *name, size_t nl)
{
    (void)user;
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
    return g;
}

static const char *global_name(void *user, int g)
{
    (void)user;
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

static const char *host_type_name(void *user, int type)
{
    (void)user;
    return type == HOST_STORAGE ? "storage" : "tensor";
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
static int persistent_load(void *user, rvmi_pickle *vm, obj *pid, obj **out)
{
    pth_ctx *c = user;
    if (pid->kind != RVMI_PK_TUPLE || pid->u.seq.n != 5 ||
        !rvmi_pickle_is_str(pid->u.seq.items[0], "storage"))
        return fail(c, RVM_EFORMAT,
                    "pickle persistent id is not ('storage', type, key, location, numel)");
    obj **it = pid->u.seq.items;
    if (it[1]->kind != RVMI_PK_GLOBAL || it[1]->u.global < G_STORAGE)
        return fail(c, RVM_EFORMAT, "pickle persistent id has %s where a storage type belongs",
                    kind_name(c, it[1]));
    int dtype = it[1]->u.global - G_STORAGE;
    obj *key = it[2];
    if (key->kind != RVMI_PK_STR || key->u.str.len == 0 || key->u.str.len > PTH_MAX_KEY)
        return fail(c, RVM_EFORMAT, "pickle storage key is not a short string");
    for (size_t i = 0; i < key->u.str.len; i++) {
        char ch = key->u.str.s[i];
        /* torch uses decimal keys; nothing else, and surely no '/' or "..", belongs here */
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_')) {
            char b[RVMI_EXCERPT_CAP];
            return fail(c, RVM_EFORMAT, "pickle storage key '%s' has invalid characters",
                        rvmi_excerpt(key->u.str.s, key->u.str.len, b, sizeof b));
        }
    }
    if (it[3]->kind != RVMI_PK_STR)
        return fail(c, RVM_EFORMAT, "pickle storage location has type %s, not str",
                    kind_name(c, it[3]));
    if (it[4]->kind != RVMI_PK_INT || it[4]->u.i < 0)
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
    char b[RVMI_EXCERPT_CAP];
    const char *label = rvmi_excerpt(name, strlen(name), b, sizeof b);
    if (idx < 0 || (zip_uint64_t)idx >= c->nentries)
        return fail(c, RVM_EFORMAT, "storage entry %s is missing from the archive", label);

    obj *s = c->storage_by_entry[idx];
    if (s) { /* a storage shared by several tensors */
        if (storage_of(s)->dtype != dtype || storage_of(s)->numel != numel)
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
    rc = rvmi_pickle_new_host(vm, HOST_STORAGE, sizeof(pth_storage), &s);
    if (rc)
        return rc;
    pth_storage *st = storage_of(s);
    st->dtype = dtype;
    st->numel = numel;
    st->entry = (zip_uint64_t)idx;
    st->seq = c->nstorages++;
    st->counted = 0;
    c->storage_by_entry[idx] = s;
    *out = s;
    return 0;
}

/* Reads a tuple of ints (a size or a stride). */
static int int_tuple(pth_ctx *c, const obj *t, const char *what, int64_t *v, int *n)
{
    if (t->kind != RVMI_PK_TUPLE)
        return fail(c, RVM_EFORMAT, "tensor %s has type %s, not tuple", what, kind_name(c, t));
    if (t->u.seq.n > RVM_TENSOR_MAX_DIMS)
        return fail(c, RVM_EFORMAT, "tensor has %zu dimensions (at most %d are supported)",
                    t->u.seq.n, RVM_TENSOR_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (t->u.seq.items[i]->kind != RVMI_PK_INT)
            return fail(c, RVM_EFORMAT, "tensor %s holds %s, not int", what,
                        kind_name(c, t->u.seq.items[i]));
        v[i] = t->u.seq.items[i]->u.i;
    }
    *n = (int)t->u.seq.n;
    return 0;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
 * [, metadata]). Validates the view against its storage so that conversion can index freely. */
static int rebuild_tensor(pth_ctx *c, rvmi_pickle *vm, const obj *args, obj **out)
{
    size_t n = args->u.seq.n;
    if (n != 6 && n != 7)
        return fail(c, RVM_EFORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, not %zu", n);
    obj **a = args->u.seq.items;
    if (!is_host(a[0], HOST_STORAGE))
        return fail(c, RVM_EFORMAT, "_rebuild_tensor_v2 gets %s, not a storage",
                    kind_name(c, a[0]));
    if (a[1]->kind != RVMI_PK_INT)
        return fail(c, RVM_EFORMAT, "tensor storage offset has type %s, not int",
                    kind_name(c, a[1]));
    if (a[4]->kind != RVMI_PK_BOOL)
        return fail(c, RVM_EFORMAT, "tensor requires_grad has type %s, not bool",
                    kind_name(c, a[4]));
    /* Hooks would be callables, which the global allow-list already excludes. */
    if (!rvmi_pickle_is_empty_dict(a[5]))
        return fail(c, RVM_EFORMAT, "tensor backward_hooks is not an empty OrderedDict");
    if (n == 7 && a[6]->kind != RVMI_PK_NONE && a[6]->kind != RVMI_PK_DICT)
        return fail(c, RVM_EFORMAT, "tensor metadata has type %s", kind_name(c, a[6]));

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
    int64_t snumel = storage_of(t.storage)->numel;
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

    rc = rvmi_pickle_new_host(vm, HOST_TENSOR, sizeof(pth_tensor), out);
    if (!rc)
        *tensor_of(*out) = t;
    return rc;
}

/* REDUCE (the machine has checked that fn is an allowed global and args a tuple). */
static int reduce(void *user, rvmi_pickle *vm, int global, obj *args, obj **out)
{
    pth_ctx *c = user;
    obj **a = args->u.seq.items;
    switch (global) {
    case G_ORDERED_DICT: {
        if (args->u.seq.n)
            return fail(c, RVM_EFORMAT, "pickle calls OrderedDict with arguments");
        int rc = rvmi_pickle_new(vm, RVMI_PK_DICT, out);
        if (!rc)
            (*out)->flag = 1;
        return rc;
    }
    case G_REBUILD_TENSOR_V2:
        return rebuild_tensor(c, vm, args, out);
    case G_REBUILD_PARAMETER: /* (data, requires_grad, backward_hooks) -> data */
        if (args->u.seq.n != 3 || !is_host(a[0], HOST_TENSOR) || a[1]->kind != RVMI_PK_BOOL ||
            !rvmi_pickle_is_empty_dict(a[2]))
            return fail(c, RVM_EFORMAT, "_rebuild_parameter has unexpected arguments");
        *out = a[0];
        return 0;
    default:
        return fail(c, RVM_EFORMAT, "pickle REDUCE calls %s, which is not allowed",
                    global_name(c, global));
    }
}

/* --- Conversion to float32 ---------------------------------------------------------------- */

static uint64_t load_uint(const uint8_t *p, int n, int big)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
    return v;
}

static float float_of_bits(uint32_t w)
{
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
}

static float load_elem(const uint8_t *p, int dtype, int big)
{
    uint64_t u = load_uint(p, dtypes[dtype].size, big);
    switch (dtype) {
    case DT_F32:
        return float_of_bits((uint32_t)u);
    case DT_F64: {
        double d;
        memcpy(&d, &u, sizeof d);
        return (float)d;
    }
    case DT_F16:
        return rvmi_half_to_float((uint16_t)u);
    case DT_BF16: /* the upper half of a float */
        return float_of_bits((uint32_t)u << 16);
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
    int dtype = storage_of(t->storage)->dtype;
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
    if (root->kind != RVMI_PK_DICT)
        return fail(c, RVM_EFORMAT, "the pickle holds %s, not a state_dict", kind_name(c, root));
    size_t n = root->u.seq.n / 2;
    obj **items = root->u.seq.items;
    char b[RVMI_EXCERPT_CAP];
    int64_t total = 0, stored = 0;
    uint64_t stored_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const obj *key = items[2 * i], *val = items[2 * i + 1];
        const char *shown_key = rvmi_excerpt(key->u.str.s, key->u.str.len, b, sizeof b);
        if (!is_host(val, HOST_TENSOR))
            return fail(c, RVM_EFORMAT,
                        "entry '%s' has type %s, not tensor (only a flat state_dict is supported)",
                        shown_key, kind_name(c, val));
        if (key->u.str.len == 0 || key->u.str.len > PTH_MAX_NAME ||
            memchr(key->u.str.s, '\0', key->u.str.len))
            return fail(c, RVM_EFORMAT, "tensor name '%s' is empty, too long or has a NUL byte",
                        shown_key);
        total += tensor_of(val)->numel; /* each <= 2^28 and at most 2^16 of them */
        pth_storage *s = storage_of(tensor_of(val)->storage);
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
                     rvmi_excerpt(names[i].s, names[i].len, b, sizeof b));
                free(names);
                return RVM_EFORMAT;
            }
        free(names);
    }

    /* Allocate all outputs in state_dict order... */
    for (size_t i = 0; i < n; i++) {
        const obj *key = items[2 * i];
        const pth_tensor *t = tensor_of(items[2 * i + 1]);
        char name[PTH_MAX_NAME + 1];
        memcpy(name, key->u.str.s, key->u.str.len);
        name[key->u.str.len] = '\0';
        float *data = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
        if (!data)
            return fail(c, RVM_ENOMEM, "out of memory for tensor '%s'",
                        rvmi_excerpt(name, strlen(name), b, sizeof b));
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
        uses[i] = (use_ref){storage_of(tensor_of(items[2 * i + 1])->storage)->seq, i};
    qsort(uses, n, sizeof(*uses), cmp_uses);
    int rc = 0;
    uint8_t *bytes = NULL;
    for (size_t u = 0; u < n && !rc; u++) {
        const pth_tensor *t = tensor_of(items[2 * uses[u].i + 1]);
        const pth_storage *s = storage_of(t->storage);
        if (u == 0 || uses[u].seq != uses[u - 1].seq) {
            free(bytes);
            uint64_t size = (uint64_t)s->numel * (uint64_t)dtypes[s->dtype].size;
            bytes = malloc(size ? (size_t)size : 1);
            if (!bytes) {
                rc = fail(c, RVM_ENOMEM, "out of memory for a storage of %llu bytes",
                          (unsigned long long)size);
                break;
            }
            char label[RVMI_EXCERPT_CAP];
            const char *en = zip_get_name(c->za, s->entry, ZIP_FL_ENC_RAW);
            rc = read_entry(c, s->entry, rvmi_excerpt(en ? en : "?", en ? strlen(en) : 1, label,
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

    static const rvmi_pickle_hooks hooks = {
        .fail = vfail,
        .find_class = find_class,
        .global_name = global_name,
        .host_type_name = host_type_name,
        .persistent_load = persistent_load,
        .reduce = reduce,
    };
    obj *root = NULL;
    rvmi_pickle_init(&c->vm, &hooks, c, c->pkl, c->pkl_len);
    if ((rc = rvmi_pickle_run(&c->vm, &root)))
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
    rvmi_pickle_finish(&c->vm);
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

/* What can be told of the file before its archive is read: there, a regular file, readable,
 * not empty, starting as a zip archive does; its size in *sb. Opened once ourselves for a
 * clear I/O message, the size and the first bytes; without waiting, as tfjs.c's files: a
 * FIFO would block open() until a writer came (it is refused as not a regular file). */
static int check_file(pth_ctx *c, const char *path, struct stat *sb)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(c, RVM_EIO, "cannot open: %s", strerror(errno));
    FILE *f = fdopen(fd, "rb"); /* O_NONBLOCK does nothing to a regular file's reads */
    if (!f) {
        close(fd);
        return fail(c, RVM_ENOMEM, "out of memory");
    }
    uint8_t head[4];
    size_t nhead = 0;
    int rc = 0;
    if (fstat(fileno(f), sb) != 0)
        rc = fail(c, RVM_EIO, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(sb->st_mode))
        rc = fail(c, RVM_EIO, "not a regular file");
    else if (sb->st_size == 0)
        rc = fail(c, RVM_EFORMAT, "file is empty");
    else {
        nhead = fread(head, 1, sizeof head, f);
        if (nhead == 0 && ferror(f))
            rc = fail(c, RVM_EIO, "cannot read: %s", strerror(errno));
    }
    fclose(f);
    if (!rc)
        rc = explain_not_zip(c, head, nhead);
    return rc;
}

int rvmi_pth_check(const char *path, char *err, size_t errlen)
{
    pth_ctx c;
    ctx_init(&c, path ? path : "checkpoint", 1, err, errlen);
    if (!path)
        return fail(&c, RVM_EINVAL, "no path given");
    struct stat sb;
    rvmi_weights none = {0};
    return ctx_finish(&c, check_file(&c, path, &sb), &none);
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
    struct stat sb;
    int rc = check_file(&c, path, &sb);
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
