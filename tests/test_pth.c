/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Tests of the PyTorch checkpoint reader (src/model/pth.c).
 *
 * 1. Synthetic checkpoints built here (pickle bytes written by hand, zip written with libzip)
 *    with every supported storage type, strided views, shared storages, protocol 2 and 4,
 *    big-endian storages and deflated entries; their values are known exactly.
 * 2. Hostile inputs built the same way: malicious globals, forbidden opcodes, out-of-range
 *    tensors, truncations, zip bombs... Each must fail with the right code, one clear line,
 *    and an empty output (leaks are caught when built with RVM_SANITIZE).
 * 3. The real checkpoints in RVM_SHARED_DIR/models, compared with values read from them by
 *    PyTorch (torch.load) when these tests were written. Without the shared folder this part
 *    is left out (with a note) and parts 1 and 2 decide the result.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "model/weights.h"
#include "rvm.h"

#include "check.h"
#include "pickle_writer.h"

/* --- A zip writer ------------------------------------------------------------------------- */

typedef struct {
    char name[128];
    const void *data;
    size_t len;
    int deflate;
} zentry;

typedef struct {
    zentry e[40];
    int n;
} zlist;

static void zl_add(zlist *z, const char *name, const void *data, size_t len, int deflate)
{
    zentry *e = &z->e[z->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->data = data;
    e->len = len;
    e->deflate = deflate;
}

static uint8_t *zl_build(const zlist *z, size_t *size)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!za) {
        fprintf(stderr, "libzip: %s\n", zip_error_strerror(&ze));
        exit(2);
    }
    zip_source_keep(src);
    for (int i = 0; i < z->n; i++) {
        zip_source_t *s = zip_source_buffer(za, z->e[i].data, z->e[i].len, 0);
        zip_int64_t idx = s ? zip_file_add(za, z->e[i].name, s, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0 ||
            zip_set_file_compression(za, (zip_uint64_t)idx,
                                     z->e[i].deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0) {
            fprintf(stderr, "libzip: %s\n", zip_strerror(za));
            exit(2);
        }
    }
    if (zip_close(za) != 0) {
        fprintf(stderr, "libzip close: %s\n", zip_strerror(za));
        exit(2);
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_stat(src, &st) != 0 || zip_source_open(src) != 0) {
        fprintf(stderr, "libzip: cannot read back the archive\n");
        exit(2);
    }
    uint8_t *out = malloc(st.size ? st.size : 1);
    zip_int64_t got = zip_source_read(src, out, st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        fprintf(stderr, "libzip: short read back\n");
        exit(2);
    }
    *size = st.size;
    return out;
}

/* --- The synthetic checkpoint ------------------------------------------------------------- */

/* Storages '0'..'8' in both byte orders, built once. */
static buf g_store[2][9];

static void make_storages(void)
{
    for (int big = 0; big < 2; big++) {
        buf *s = g_store[big];
        const float f0[6] = {0.5f, -1.0f, 2.0f, 3.25f, -4.0f, 1e-3f};
        for (int i = 0; i < 6; i++)
            put_f32(&s[0], f0[i], big);
        const uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001}; /* 1, -2, 65504, 2^-24 */
        for (int i = 0; i < 4; i++)
            put_uint(&s[1], h[i], 2, big);
        const double d[3] = {1.5, -2.25, 1e10};
        for (int i = 0; i < 3; i++)
            put_f64(&s[2], d[i], big);
        const int64_t l[3] = {7, -5, (int64_t)1 << 40};
        for (int i = 0; i < 3; i++)
            put_uint(&s[3], (uint64_t)l[i], 8, big);
        const int32_t n[2] = {-3, 100000};
        for (int i = 0; i < 2; i++)
            put_uint(&s[4], (uint32_t)n[i], 4, big);
        put_u8(&s[5], 0);
        put_u8(&s[5], 255);
        put_u8(&s[5], 17);
        put_uint(&s[6], 0x3f80, 2, big); /* bfloat16 1 */
        put_uint(&s[6], 0xc040, 2, big); /* bfloat16 -3 */
        /* s[7] stays empty */
        put_f32(&s[8], 1.0f, big);
        put_f32(&s[8], 2.0f, big);
    }
}

static const tensor_spec good_tensors[] = {
    {"a.weight", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}, 0},
    {"a.t", "FloatStorage", "0", 6, 0, 2, {3, 2}, {1, 3}, 0}, /* transposed view */
    {"b.half", "HalfStorage", "1", 4, 0, 1, {4}, {1}, 0},
    {"c.double", "DoubleStorage", "2", 3, 0, 1, {3}, {1}, 0},
    {"d.scalar", "LongStorage", "3", 3, 0, 0, {0}, {0}, 0}, /* 0-dim */
    {"d.big", "LongStorage", "3", 3, 2, 0, {0}, {0}, 0},
    {"d.neg", "LongStorage", "3", 3, 1, 1, {1}, {1}, 0},
    {"e.int", "IntStorage", "4", 2, 0, 1, {2}, {1}, 0},
    {"f.byte", "ByteStorage", "5", 3, 0, 2, {1, 3}, {3, 1}, 0},
    {"g.bf16", "BFloat16Storage", "6", 2, 0, 4, {2, 1, 1, 1}, {1, 1, 1, 1}, 0},
    {"h.slice", "FloatStorage", "0", 6, 4, 1, {2}, {1}, 0}, /* offset view */
    {"i.empty", "FloatStorage", "7", 0, 0, 2, {0, 3}, {3, 1}, 0},
    {"j.expand", "FloatStorage", "8", 2, 0, 2, {3, 2}, {0, 1}, 0}, /* stride 0 (expand) */
};
#define N_GOOD ((int)(sizeof good_tensors / sizeof good_tensors[0]))

static const struct {
    int n;
    float v[6];
} good_values[N_GOOD] = {
    {6, {0.5f, -1.0f, 2.0f, 3.25f, -4.0f, 1e-3f}},
    {6, {0.5f, 3.25f, -1.0f, -4.0f, 2.0f, 1e-3f}},
    {4, {1.0f, -2.0f, 65504.0f, 5.96046448e-08f}},
    {3, {1.5f, -2.25f, 1e10f}},
    {1, {7.0f}},
    {1, {1099511627776.0f}},
    {1, {-5.0f}},
    {2, {-3.0f, 100000.0f}},
    {3, {0.0f, 255.0f, 17.0f}},
    {2, {1.0f, -3.0f}},
    {2, {-4.0f, 1e-3f}},
    {0, {0}},
    {6, {1.0f, 2.0f, 1.0f, 2.0f, 1.0f, 2.0f}},
};

enum { OPT_BIG = 1, OPT_DEFLATE = 2, OPT_NO_VERSION = 4 };

/* A checkpoint with the given pickle and the standard storages under "arch/". */
static uint8_t *make_ckpt(const buf *pkl, int opts, size_t *size)
{
    zlist z = {.n = 0};
    int big = (opts & OPT_BIG) != 0, defl = (opts & OPT_DEFLATE) != 0;
    zl_add(&z, "arch/data.pkl", pkl->p, pkl->n, defl);
    if (big)
        zl_add(&z, "arch/byteorder", "big", 3, 0);
    for (int i = 0; i < 9; i++) {
        char name[32];
        snprintf(name, sizeof name, "arch/data/%d", i);
        zl_add(&z, name, g_store[big][i].p, g_store[big][i].n, defl);
    }
    if (!(opts & OPT_NO_VERSION))
        zl_add(&z, "arch/version", "3\n", 2, 0);
    return zl_build(&z, size);
}

static void check_good(const char *label, const rvmi_weights *w)
{
    CHECK(w->count == N_GOOD, "%s: %d tensors, want %d", label, w->count, N_GOOD);
    if (w->count != N_GOOD)
        return;
    for (int i = 0; i < N_GOOD; i++) {
        const rvmi_tensor *t = &w->tensors[i];
        const tensor_spec *s = &good_tensors[i];
        CHECK(strcmp(t->name, s->key) == 0, "%s: tensor %d is '%s', want '%s'", label, i, t->name,
              s->key);
        CHECK(t->ndim == s->ndim, "%s: %s has %d dims, want %d", label, s->key, t->ndim, s->ndim);
        int same_shape = t->ndim == s->ndim;
        for (int d = 0; same_shape && d < s->ndim; d++)
            same_shape = t->shape[d] == s->shape[d];
        CHECK(same_shape, "%s: %s has the wrong shape", label, s->key);
        CHECK(t->numel == good_values[i].n, "%s: %s has %lld elements, want %d", label, s->key,
              (long long)t->numel, good_values[i].n);
        CHECK(t->data != NULL, "%s: %s has no data", label, s->key);
        for (int j = 0; j < good_values[i].n && j < t->numel && t->data; j++)
            CHECK(t->data[j] == good_values[i].v[j], "%s: %s[%d] = %.9g, want %.9g", label,
                  s->key, j, t->data[j], good_values[i].v[j]);
    }
    const rvmi_tensor *f = rvmi_weights_find(w, "b.half");
    CHECK(f && f->data[3] > 0 && f->data[3] == ldexpf(1.0f, -24), "%s: half subnormal", label);
}

static void expect_ok(const char *label, const uint8_t *d, size_t n)
{
    rvmi_weights w;
    char err[256];
    int rc = rvmi_pth_load_memory(d, n, &w, err, sizeof err);
    CHECK(rc == 0, "%s: rc %d (%s)", label, rc, err);
    if (rc == 0) {
        check_good(label, &w);
        rvmi_weights_free(&w);
        printf("  ok   %-34s loads %d tensors\n", label, N_GOOD);
    }
}

/* Each hostile input must fail with code, a one-line message containing substr, and an empty
 * output even when the output struct held garbage before the call. */
static void expect_fail(const char *label, const uint8_t *d, size_t n, int code, const char *substr)
{
    rvmi_weights w;
    memset(&w, 0x5a, sizeof w);
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = rvmi_pth_load_memory(d, n, &w, err, sizeof err);
    int terminated = memchr(err, '\0', sizeof err) != NULL;
    CHECK(rc == code, "%s: rc %d, want %d (%s)", label, rc, code, terminated ? err : "?");
    CHECK(terminated && err[0] && !strchr(err, '\n'), "%s: message is not one line", label);
    CHECK(terminated && strstr(err, substr), "%s: message '%s' lacks '%s'", label,
          terminated ? err : "?", substr);
    CHECK(w.count == 0 && w.tensors == NULL && w.capacity == 0, "%s: output not empty", label);
    if (rc == 0)
        rvmi_weights_free(&w);
    else if (rc == code)
        printf("  ok   %-34s %s\n", label, err);
}

/* A checkpoint holding the given pickle; the hostile case is expected to fail. */
static void expect_pickle_fail(const char *label, pickle_writer *p, int code, const char *substr)
{
    size_t n;
    uint8_t *z = make_ckpt(&p->b, 0, &n);
    expect_fail(label, z, n, code, substr);
    free(z);
    free(p->b.p);
}

/* The same for a pickle written opcode by opcode: STOP ends it first. */
static void stop_and_expect_fail(const char *label, pickle_writer *p, int code, const char *substr)
{
    pk_end(p);
    expect_pickle_fail(label, p, code, substr);
}

/* A one-tensor state_dict with the given tensor; for the tensor validation cases. */
static void expect_tensor_fail(const char *label, const tensor_spec *t, int code,
                               const char *substr)
{
    pickle_writer p;
    pk_state_dict(&p, 0, t, 1);
    expect_pickle_fail(label, &p, code, substr);
}

/* Sets the uncompressed (and, if comp, the compressed) size of an entry in both its local
 * header and the central directory, to forge size lies that libzip alone would believe. */
static void patch_sizes(uint8_t *z, size_t n, const char *name, uint32_t size, int comp)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + 46 + nl <= n; i++) {
        if (z[i] == 'P' && z[i + 1] == 'K' && z[i + 2] == 3 && z[i + 3] == 4 &&
            z[i + 26] == nl && memcmp(z + i + 30, name, nl) == 0) {
            for (int k = 0; k < 4; k++) {
                z[i + 22 + k] = (uint8_t)(size >> (8 * k));
                if (comp)
                    z[i + 18 + k] = (uint8_t)(size >> (8 * k));
            }
        }
        if (z[i] == 'P' && z[i + 1] == 'K' && z[i + 2] == 1 && z[i + 3] == 2 &&
            z[i + 28] == nl && memcmp(z + i + 46, name, nl) == 0) {
            for (int k = 0; k < 4; k++) {
                z[i + 24 + k] = (uint8_t)(size >> (8 * k));
                if (comp)
                    z[i + 20 + k] = (uint8_t)(size >> (8 * k));
            }
        }
    }
}

/* A zip of the entries in z is expected to fail; z is emptied for the next case. */
static void expect_zip_fail(const char *label, zlist *z, int code, const char *substr)
{
    size_t n;
    uint8_t *d = zl_build(z, &n);
    expect_fail(label, d, n, code, substr);
    free(d);
    z->n = 0;
}

/* A zip of the pickle alone, as arch/data.pkl, whose headers claim that data.pkl holds 1 GiB:
 * deflated, only the uncompressed size lies (an impossible ratio); stored, both sizes lie (more
 * bytes than the archive has). libzip writes the true sizes, so the lie is patched in after. */
static void expect_size_lie_fail(const char *label, const buf *pkl, int deflate, int code,
                                 const char *substr)
{
    zlist z = {.n = 0};
    size_t n;
    zl_add(&z, "arch/data.pkl", pkl->p, pkl->n, deflate);
    uint8_t *d = zl_build(&z, &n);
    patch_sizes(d, n, "arch/data.pkl", 1u << 30, !deflate);
    expect_fail(label, d, n, code, substr);
    free(d);
}

static int write_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(d, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* --- Part 1: valid synthetic checkpoints -------------------------------------------------- */

static void test_valid(void)
{
    printf("valid synthetic checkpoints\n");
    pickle_writer p;
    size_t n;
    uint8_t *z;

    pk_state_dict(&p, 0, good_tensors, N_GOOD);
    z = make_ckpt(&p.b, 0, &n);
    expect_ok("protocol 2 (as torch 1.13)", z, n);

    /* The same by path, and truncated on disk. */
    const char *path = RVM_BUILD_DIR "/test_pth_synthetic.pth";
    CHECK(write_file(path, z, n) == 0, "cannot write %s", path);
    rvmi_weights w;
    char err[256];
    int rc = rvmi_pth_load(path, &w, err, sizeof err);
    CHECK(rc == 0, "load by path: rc %d (%s)", rc, err);
    if (rc == 0) {
        check_good("by path", &w);
        rvmi_weights_free(&w);
    }
    rc = rvm_model_check(path, err, sizeof err);
    CHECK(rc == 0, "rvm_model_check of a good checkpoint: rc %d (%s)", rc, err);
    CHECK(write_file(path, z, n / 2) == 0, "cannot write %s", path);
    rc = rvmi_pth_load(path, &w, err, sizeof err);
    CHECK(rc == RVM_EFORMAT && w.count == 0, "truncated file by path: rc %d (%s)", rc, err);
    unlink(path);
    rc = rvmi_pth_load(RVM_BUILD_DIR "/no-such-checkpoint.pth", &w, err, sizeof err);
    CHECK(rc == RVM_EIO && strstr(err, "No such file"), "missing file: rc %d (%s)", rc, err);
    /* rvm_model_check says what the loader would of these, without blocking on a FIFO. */
    rc = rvm_model_check(RVM_BUILD_DIR "/no-such-checkpoint.pth", err, sizeof err);
    CHECK(rc == RVM_EIO && strstr(err, "No such file"), "rvm_model_check, missing: rc %d (%s)",
          rc, err);
    const char *fifo = RVM_BUILD_DIR "/test_pth_fifo.pth";
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0, "cannot make %s", fifo);
    rc = rvm_model_check(fifo, err, sizeof err);
    CHECK(rc == RVM_EIO && strstr(err, "not a regular file"), "rvm_model_check, FIFO: rc %d (%s)",
          rc, err);
    unlink(fifo);
    static const uint8_t gzip_head[] = {0x1f, 0x8b, 8, 0};
    CHECK(write_file(path, gzip_head, sizeof gzip_head) == 0, "cannot write %s", path);
    rc = rvm_model_check(path, err, sizeof err);
    CHECK(rc == RVM_EFORMAT && strstr(err, "gzip"), "rvm_model_check, gzip: rc %d (%s)", rc, err);
    unlink(path);
    rc = rvmi_pth_load(RVM_BUILD_DIR, &w, err, sizeof err);
    CHECK(rc == RVM_EIO && w.count == 0, "directory: rc %d (%s)", rc, err);

    /* The same bytes with a big-endian storage order, deflated entries, no version entry. */
    free(z);
    z = make_ckpt(&p.b, OPT_BIG, &n);
    expect_ok("big-endian storages", z, n);
    free(z);
    z = make_ckpt(&p.b, OPT_DEFLATE, &n);
    expect_ok("deflated entries", z, n);
    free(z);
    z = make_ckpt(&p.b, OPT_NO_VERSION, &n);
    expect_ok("no version entry", z, n);
    free(z);
    free(p.b.p);

    /* Protocol 4 (torch.save(..., pickle_protocol=4)): FRAME, MEMOIZE, STACK_GLOBAL. */
    pk_state_dict(&p, PK_PROTO4, good_tensors, N_GOOD);
    z = make_ckpt(&p.b, 0, &n);
    expect_ok("protocol 4", z, n);
    free(z);
    free(p.b.p);

    /* A plain dict of nn.Parameter (_rebuild_parameter), without _metadata. */
    pk_begin(&p, 0);
    pk_op(&p, '}');
    pk_op(&p, '(');
    for (int i = 0; i < N_GOOD; i++) {
        pk_str(&p, good_tensors[i].key);
        pk_parameter_value(&p, &good_tensors[i], 1); /* requires_grad True */
    }
    pk_op(&p, 'u');
    pk_end(&p);
    z = make_ckpt(&p.b, 0, &n);
    expect_ok("dict of parameters", z, n);
    free(z);
    free(p.b.p);

    /* An empty state_dict is valid: zero tensors. */
    pk_state_dict(&p, 0, NULL, 0);
    z = make_ckpt(&p.b, 0, &n);
    rc = rvmi_pth_load_memory(z, n, &w, err, sizeof err);
    CHECK(rc == 0 && w.count == 0, "empty state_dict: rc %d (%s)", rc, err);
    rvmi_weights_free(&w);
    free(z);
    free(p.b.p);
}

/* --- Part 2: hostile inputs --------------------------------------------------------------- */

static void test_container(void)
{
    printf("hostile containers\n");
    rvmi_weights w;
    char err[256], small[12];
    pickle_writer p;
    size_t n;

    /* Arguments */
    CHECK(rvmi_pth_load_memory(NULL, 5, &w, err, sizeof err) == RVM_EINVAL, "NULL data");
    CHECK(rvmi_pth_load_memory((const uint8_t *)"x", 1, NULL, err, sizeof err) == RVM_EINVAL,
          "NULL out");
    CHECK(rvmi_pth_load(NULL, &w, err, sizeof err) == RVM_EINVAL, "NULL path");
    CHECK(rvmi_pth_load_memory((const uint8_t *)"junk", 4, &w, NULL, 0) == RVM_EFORMAT,
          "NULL err buffer");
    CHECK(rvmi_pth_load_memory((const uint8_t *)"junk", 4, &w, small, sizeof small) ==
                  RVM_EFORMAT && strlen(small) == sizeof small - 1,
          "small err buffer is truncated and terminated");

    expect_fail("empty input", (const uint8_t *)"", 0, RVM_EFORMAT, "empty");
    const char *text = "this is not a checkpoint, just some text";
    expect_fail("not a zip", (const uint8_t *)text, strlen(text), RVM_EFORMAT, "not a zip");
    const uint8_t gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    expect_fail("gzip file", gz, sizeof gz, RVM_EFORMAT, "gzip");
    const uint8_t legacy[] = {0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20};
    expect_fail("legacy torch format", legacy, sizeof legacy, RVM_EFORMAT, "legacy");

    /* Truncations of a valid checkpoint at several lengths */
    pk_state_dict(&p, 0, good_tensors, N_GOOD);
    uint8_t *z = make_ckpt(&p.b, 0, &n);
    const size_t cuts[] = {1, 2, 4, 30, 100, n / 3, n / 2, n - 100, n - 23, n - 22, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "truncated to %zu of %zu", cuts[i], n);
        expect_fail(label, z, cuts[i], RVM_EFORMAT, "checkpoint: ");
    }

    /* A flipped byte inside a stored storage: the CRC check catches it. */
    uint8_t *bad = malloc(n);
    memcpy(bad, z, n);
    for (size_t i = 0; i + 4 <= n; i++) /* the first float of storage 0 is 0.5f */
        if (bad[i] == 0 && bad[i + 1] == 0 && bad[i + 2] == 0 && bad[i + 3] == 0x3f &&
            bad[i + 4] == 0 && bad[i + 5] == 0 && bad[i + 6] == 0x80 && bad[i + 7] == 0xbf) {
            bad[i + 3] ^= 1;
            break;
        }
    expect_fail("corrupted storage (CRC)", bad, n, RVM_EFORMAT, "CRC");
    free(bad);
    free(z);

    /* Archives without the right entries */
    zlist zl = {.n = 0};
    zl_add(&zl, "arch/version", "3\n", 2, 0);
    zl_add(&zl, "arch/data/0", g_store[0][0].p, g_store[0][0].n, 0);
    expect_zip_fail("zip without data.pkl", &zl, RVM_EFORMAT, "data.pkl");
    zl_add(&zl, "data.pkl", p.b.p, p.b.n, 0);
    expect_zip_fail("data.pkl without a folder", &zl, RVM_EFORMAT, "data.pkl");
    zl_add(&zl, "a/data.pkl", p.b.p, p.b.n, 0);
    zl_add(&zl, "b/data.pkl", p.b.p, p.b.n, 0);
    expect_zip_fail("two data.pkl", &zl, RVM_EFORMAT, "more than one");

    /* Bad byteorder and version entries */
    zl_add(&zl, "arch/data.pkl", p.b.p, p.b.n, 0);
    zl_add(&zl, "arch/byteorder", "middle", 6, 0);
    expect_zip_fail("byteorder 'middle'", &zl, RVM_EFORMAT, "byteorder");
    zl_add(&zl, "arch/data.pkl", p.b.p, p.b.n, 0);
    zl_add(&zl, "arch/version", "99\n", 3, 0);
    expect_zip_fail("version 99", &zl, RVM_EFORMAT, "version 99");

    /* Zip bombs. A data.pkl that inflates past the pickle limit: */
    size_t big = (size_t)20 << 20;
    uint8_t *zeros = calloc(big, 1);
    zl_add(&zl, "arch/data.pkl", zeros, big, 1);
    expect_zip_fail("data.pkl inflating to 20 MiB", &zl, RVM_ENOMEM, "over the limit");
    free(zeros);
    /* Entries lying about their size: 1 GiB claimed from a few deflated bytes, and a stored
     * entry claiming more bytes than the archive has. */
    expect_size_lie_fail("deflate ratio bomb", &p.b, 1, RVM_EFORMAT, "impossible ratio");
    expect_size_lie_fail("stored entry larger than archive", &p.b, 0, RVM_EFORMAT, "checkpoint: ");
    free(p.b.p);
}

/* The pieces of the hand-written hostile pickles: each case writes the rest, what it tests. */

/* PROTO 2 and an empty dict, the smallest valid result, before the opcodes under test. */
static void begin_with_empty_dict(pickle_writer *p)
{
    pk_begin(p, 0);
    pk_op(p, '}');
}

/* A whole pickle that only calls mod.name(1): an argument that no allowed callable takes. */
static void pickle_calling_with_1(pickle_writer *p, const char *mod, const char *name)
{
    pk_begin(p, 0);
    pk_global(p, mod, name);
    pk_op(p, '(');
    pk_int(p, 1);
    pk_op(p, 't');
    pk_op(p, 'R');
    pk_end(p);
}

/* The persistent id of storage '0' as torch writes it, without the element count that ends
 * it: MARK, 'storage', the storage type mod.type, the key '0', the location 'cpu'. */
static void pk_storage_0_id_without_count(pickle_writer *p, const char *mod, const char *type)
{
    pk_op(p, '(');
    pk_str(p, "storage");
    pk_global(p, mod, type);
    pk_str(p, "0");
    pk_str(p, "cpu");
}

/* Storage '0' as 6 elements of type mod.type: the whole persistent id, loaded (BINPERSID). */
static void pk_load_storage_0(pickle_writer *p, const char *mod, const char *type)
{
    pk_storage_0_id_without_count(p, mod, type);
    pk_int(p, 6);
    pk_op(p, 't');
    pk_op(p, 'Q');
}

/* A state_dict whose entry 't' is a _rebuild_tensor_v2 call written up to its strides: the
 * FloatStorage '0' of 6 elements, offset 0, sizes (6,). The caller writes the strides and the
 * arguments after them, then end_tensor_t: by hand, because pk_state_dict (tensor_spec) can
 * only write them well-formed. */
static void begin_tensor_t_up_to_strides(pickle_writer *p)
{
    pk_begin(p, 0);
    pk_ordered_dict(p);
    pk_str(p, "t");
    pk_global(p, "torch._utils", "_rebuild_tensor_v2");
    pk_op(p, '(');
    pk_load_storage_0(p, "torch", "FloatStorage");
    pk_int(p, 0); /* storage offset */
    pk_int(p, 6);
    pk_op(p, 0x85); /* sizes (6,) */
}

/* Ends the call of begin_tensor_t_up_to_strides (TUPLE, REDUCE), sets it as entry 't' of the
 * state_dict (SETITEM) and ends the pickle (STOP). */
static void end_tensor_t(pickle_writer *p)
{
    pk_op(p, 't');
    pk_op(p, 'R');
    pk_op(p, 's');
    pk_end(p);
}

static void test_pickle(void)
{
    printf("hostile pickles\n");
    pickle_writer p;

    /* Code execution through globals, the classic pickle attack */
    const char *bad_globals[][2] = {
        {"os", "system"}, {"builtins", "eval"}, {"subprocess", "Popen"}, {"posix", "system"},
        {"__builtin__", "exec"}, {"torch", "load"}, {"torch._utils", "_rebuild_tensor"},
        {"collections", "OrderedDictX"}, {"torch", "FloatStorage\x01"},
    };
    for (size_t i = 0; i < sizeof bad_globals / sizeof bad_globals[0]; i++) {
        for (int proto4 = 0; proto4 < 2; proto4++) {
            char label[96], want[96];
            snprintf(label, sizeof label, "global %s.%s%s", bad_globals[i][0], bad_globals[i][1],
                     proto4 ? " (STACK_GLOBAL)" : "");
            pk_begin(&p, proto4 ? PK_PROTO4 : 0);
            pk_global_raw(&p, bad_globals[i][0], bad_globals[i][1]);
            pk_op(&p, '(');
            pk_str(&p, "touch /tmp/pwned");
            pk_op(&p, 't');
            pk_op(&p, 'R');
            snprintf(want, sizeof want, "forbidden global %s.", bad_globals[i][0]);
            stop_and_expect_fail(label, &p, RVM_EFORMAT, want);
        }
    }

    /* REDUCE of something that is not an allowed callable */
    pk_begin(&p, 0);
    pk_global(&p, "torch", "FloatStorage");
    pk_op(&p, ')');
    pk_op(&p, 'R');
    stop_and_expect_fail("REDUCE on torch.FloatStorage", &p, RVM_EFORMAT,
                         "REDUCE calls torch.FloatStorage");
    pk_begin(&p, 0);
    pk_str(&p, "os.system");
    pk_op(&p, ')');
    pk_op(&p, 'R');
    stop_and_expect_fail("REDUCE on a str", &p, RVM_EFORMAT, "REDUCE calls an object of type str");
    pickle_calling_with_1(&p, "collections", "OrderedDict");
    expect_pickle_fail("OrderedDict with arguments", &p, RVM_EFORMAT, "OrderedDict with arguments");

    /* Opcodes outside the allow-list */
    const struct {
        unsigned op;
        const char *want;
    } ops[] = {
        {0xff, "unknown pickle opcode 0xff"}, {'i', "INST (0x69)"},  {'o', "OBJ (0x6f)"},
        {0x81, "NEWOBJ (0x81)"},             {0x82, "EXT1 (0x82)"}, {'0', "POP (0x30)"},
        {'P', "PERSID (0x50)"},              {'B', "BINBYTES"},     {0x92, "NEWOBJ_EX"},
        {'2', "DUP"},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "opcode 0x%02x", ops[i].op);
        begin_with_empty_dict(&p);
        pk_op(&p, ops[i].op);
        stop_and_expect_fail(label, &p, RVM_EFORMAT, ops[i].want);
    }

    /* Malformed pickles */
    pk_begin(&p, 0);
    p.b.p[1] = 6;
    pk_op(&p, '}');
    stop_and_expect_fail("protocol 6", &p, RVM_EFORMAT, "protocol 6");
    begin_with_empty_dict(&p);
    expect_pickle_fail("no STOP", &p, RVM_EFORMAT, "without STOP");
    begin_with_empty_dict(&p);
    pk_op(&p, '}');
    stop_and_expect_fail("STOP with two objects", &p, RVM_EFORMAT, "STOP leaves 2");
    pk_begin(&p, 0);
    pk_op(&p, 'X');
    put_uint(&p.b, 0x7fffffff, 4, 0);
    put(&p.b, "abc", 3);
    stop_and_expect_fail("string longer than pickle", &p, RVM_EFORMAT, "runs past the end");
    pk_begin(&p, 0);
    pk_op(&p, 0x8a);
    pk_op(&p, 9);
    put(&p.b, "\x01\0\0\0\0\0\0\0\0", 9);
    stop_and_expect_fail("LONG1 of 9 bytes", &p, RVM_EFORMAT, "LONG1 of 9 bytes");
    pk_begin(&p, 0);
    pk_op(&p, 's');
    stop_and_expect_fail("SETITEM on empty stack", &p, RVM_EFORMAT, "stack empty");
    pk_begin(&p, 0);
    pk_op(&p, ']');
    pk_str(&p, "k");
    pk_int(&p, 1);
    pk_op(&p, 's');
    stop_and_expect_fail("SETITEM on a list", &p, RVM_EFORMAT, "SETITEM on list");
    begin_with_empty_dict(&p);
    pk_int(&p, 3);
    pk_int(&p, 1);
    pk_op(&p, 's');
    stop_and_expect_fail("int dict key", &p, RVM_EFORMAT, "key has type int");

    /* Resource limits: marks, stack, memo */
    pk_begin(&p, 0);
    for (int i = 0; i < 100; i++)
        pk_op(&p, '(');
    stop_and_expect_fail("100 nested MARKs", &p, RVM_EFORMAT, "deeper than 64 marks");
    pk_begin(&p, 0);
    pk_op(&p, ']');
    pk_memo(&p);
    for (int i = 0; i < 70000; i++)
        pk_get(&p, 0);
    stop_and_expect_fail("stack of 70000 items", &p, RVM_EFORMAT, "stack deeper than 65536");
    pk_begin(&p, 0);
    pk_op(&p, ']');
    for (int i = 0; i < 70000; i++)
        pk_op(&p, ']');
    stop_and_expect_fail("70000 nested lists", &p, RVM_EFORMAT, "stack deeper");
    begin_with_empty_dict(&p);
    pk_get(&p, 5);
    stop_and_expect_fail("BINGET of unset memo", &p, RVM_EFORMAT, "memo index 5");
    begin_with_empty_dict(&p);
    pk_get(&p, 70000);
    stop_and_expect_fail("LONG_BINGET past memo", &p, RVM_EFORMAT, "memo index 70000");
    begin_with_empty_dict(&p);
    pk_op(&p, 'r');
    put_uint(&p.b, 0xffffffffu, 4, 0);
    stop_and_expect_fail("LONG_BINPUT 2^32-1", &p, RVM_EFORMAT, "too large");

    /* BUILD may only set _metadata on an OrderedDict */
    pk_begin(&p, 0);
    pk_ordered_dict(&p);
    pk_op(&p, '}');
    pk_str(&p, "__class__");
    pk_int(&p, 1);
    pk_op(&p, 's');
    pk_op(&p, 'b');
    stop_and_expect_fail("BUILD sets __class__", &p, RVM_EFORMAT, "attribute '__class__'");
    pk_begin(&p, 0);
    pk_op(&p, ']');
    pk_op(&p, '}');
    pk_op(&p, 'b');
    stop_and_expect_fail("BUILD on a list", &p, RVM_EFORMAT, "BUILD on list");

    /* Results that are not a flat state_dict */
    pk_begin(&p, 0);
    pk_ordered_dict(&p);
    pk_str(&p, "x");
    pk_int(&p, 1);
    pk_op(&p, 's');
    stop_and_expect_fail("non-tensor value", &p, RVM_EFORMAT, "entry 'x' has type int, not tensor");
    begin_with_empty_dict(&p);
    pk_str(&p, "state_dict");
    pk_ordered_dict(&p);
    pk_str(&p, good_tensors[0].key);
    pk_tensor_value(&p, &good_tensors[0]);
    pk_op(&p, 's');
    pk_op(&p, 's');
    stop_and_expect_fail("wrapped {'state_dict': ...}", &p, RVM_EFORMAT,
                         "'state_dict' has type OrderedDict");
    pk_begin(&p, 0);
    pk_op(&p, ']');
    stop_and_expect_fail("a list", &p, RVM_EFORMAT, "holds list, not a state_dict");
    /* MARK, TUPLE before anything was pushed: an empty tuple from a stack not yet allocated
     * (found by fuzz_pth: UBSan reported the pointer arithmetic on it) */
    pk_begin(&p, 0);
    pk_op(&p, '(');
    pk_op(&p, 't');
    stop_and_expect_fail("an empty tuple first", &p, RVM_EFORMAT, "holds tuple, not a state_dict");
    tensor_spec two[2] = {good_tensors[0], good_tensors[1]};
    two[1].key = two[0].key;
    pk_state_dict(&p, 0, two, 2);
    expect_pickle_fail("duplicate key", &p, RVM_EFORMAT, "'a.weight' appears twice");
}

/* t seen as a 2-D view: rows x cols elements, rows row_stride and columns col_stride apart. */
static tensor_spec as_2d_view(tensor_spec t, int64_t rows, int64_t cols, int64_t row_stride,
                              int64_t col_stride)
{
    t.ndim = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.stride[0] = row_stride;
    t.stride[1] = col_stride;
    return t;
}

static void test_tensors(void)
{
    printf("hostile tensors\n");
    const tensor_spec base = {"t", "FloatStorage", "0", 6, 0, 1, {6}, {1}, 0};
    tensor_spec t;
    pickle_writer p;

    t = base;
    t.offset = 5;
    t.shape[0] = 2;
    expect_tensor_fail("view past storage end", &t, RVM_EFORMAT, "reads element 6");
    t = base;
    t.offset = 7;
    expect_tensor_fail("offset past storage", &t, RVM_EFORMAT, "offset 7 is outside");
    t = as_2d_view(base, 2, 2, 100, 1);
    expect_tensor_fail("stride past storage", &t, RVM_EFORMAT, "stride 100");
    t = as_2d_view(base, 3, 3, 3, 1);
    expect_tensor_fail("3x3 view of 6 elements", &t, RVM_EFORMAT, "reads element 8");
    t = base;
    t.skey = "9";
    expect_tensor_fail("storage entry missing", &t, RVM_EFORMAT, "arch/data/9 is missing");
    t = base;
    t.snumel = 7;
    expect_tensor_fail("storage entry too short", &t, RVM_EFORMAT, "has 24 bytes");
    t = base;
    t.stype = "DoubleStorage";
    expect_tensor_fail("storage entry size for type", &t, RVM_EFORMAT, "need 48");
    t = base;
    t.skey = "../0";
    expect_tensor_fail("storage key with path", &t, RVM_EFORMAT, "invalid characters");
    t = as_2d_view(base, (int64_t)1 << 40, (int64_t)1 << 40, 0, 0);
    expect_tensor_fail("shape product overflows", &t, RVM_EFORMAT, "overflows");
    t = as_2d_view(base, (int64_t)1 << 20, (int64_t)1 << 20, 0, 0);
    expect_tensor_fail("2^40 elements", &t, RVM_ENOMEM, "exceeds the limit");
    t = base;
    t.shape[0] = -1;
    expect_tensor_fail("negative size", &t, RVM_EFORMAT, "negative size -1");
    t = base;
    t.stride[0] = -1;
    expect_tensor_fail("negative stride", &t, RVM_EFORMAT, "negative stride");
    t = base;
    t.offset = -2;
    expect_tensor_fail("negative offset", &t, RVM_EFORMAT, "offset -2");
    t = base;
    t.ndim = 5;
    for (int d = 0; d < 5; d++) {
        t.shape[d] = 1;
        t.stride[d] = 1;
    }
    expect_tensor_fail("5 dimensions", &t, RVM_EFORMAT, "5 dimensions");
    /* 2^28 elements from a single stored float through stride 0: within the per-tensor
     * limit, but far beyond what the storages hold. */
    t = base;
    t.shape[0] = (int64_t)1 << 28;
    t.stride[0] = 0;
    expect_tensor_fail("stride-0 view of 2^28", &t, RVM_ENOMEM, "views repeat");
    t = base;
    t.snumel = (int64_t)1 << 30;
    expect_tensor_fail("storage of 2^30 elements", &t, RVM_ENOMEM, "storage of 1073741824");

    /* Sizes and strides that disagree, and other malformed calls, written by hand. */
    begin_tensor_t_up_to_strides(&p);
    pk_op(&p, ')');      /* no strides */
    pk_op(&p, 0x89);     /* requires_grad False */
    pk_ordered_dict(&p); /* backward_hooks */
    end_tensor_t(&p);
    expect_pickle_fail("sizes without strides", &p, RVM_EFORMAT, "1 sizes but 0 strides");

    pickle_calling_with_1(&p, "torch._utils", "_rebuild_tensor_v2");
    expect_pickle_fail("_rebuild_tensor_v2 with 1 argument", &p, RVM_EFORMAT, "6 or 7 arguments");

    pk_begin(&p, 0);
    pk_storage_0_id_without_count(&p, "torch", "FloatStorage");
    pk_op(&p, 't');
    pk_op(&p, 'Q');
    stop_and_expect_fail("persistent id of 4 items", &p, RVM_EFORMAT, "persistent id");

    pk_begin(&p, 0);
    pk_load_storage_0(&p, "collections", "OrderedDict");
    stop_and_expect_fail("persistent id with OrderedDict type", &p, RVM_EFORMAT,
                         "where a storage type belongs");

    /* Two tensors that use storage '0' with different types */
    tensor_spec two[2] = {base, base};
    two[1].key = "u";
    two[1].stype = "IntStorage";
    pk_state_dict(&p, 0, two, 2);
    expect_pickle_fail("storage with two types", &p, RVM_EFORMAT, "two different types");

    /* backward hooks must be empty */
    begin_tensor_t_up_to_strides(&p);
    pk_int(&p, 1);
    pk_op(&p, 0x85);     /* strides (1,) */
    pk_op(&p, 0x89);     /* requires_grad False */
    pk_ordered_dict(&p); /* backward_hooks, with one hook */
    pk_str(&p, "hook");
    pk_int(&p, 1);
    pk_op(&p, 's');
    end_tensor_t(&p);
    expect_pickle_fail("non-empty backward_hooks", &p, RVM_EFORMAT, "backward_hooks");
}

/* --- Part 3: the real checkpoints --------------------------------------------------------- */

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    float first[4];
    float last;
    double sum;
} exp_tensor;

typedef struct {
    const char *file;
    int gz;
    int count;
    long long total;
    double sum, abssum;
    const char *first_key, *last_key;
    exp_tensor t[6];
} exp_file;

/* Generated with torch 1.13.0a0 (torch.load on the decompressed files, values as float32,
 * sums in float64), an independent reader of the same files. */
static const exp_file expected[] = {
    {"rvm_mobilenetv3_from_tfjs.pth", 0, 365, 3772901LL, 24780.430885229685, 312075.815644125,
     "backbone.features.0.0.weight", "project_seg.conv.bias",
     {
         {"backbone.features.0.0.weight", 4, {16, 3, 3, 3},
          {-0.110059738f, -0.0550298691f, 0.16508913f, -0.275149345f},
          -0.0550298691f, -0.7704894542694092},
         {"backbone.features.0.1.num_batches_tracked", 0, {0, 0, 0, 0},
          {0.0f, 0.0f, 0.0f, 0.0f}, 0.0f, 0.0},
         {"backbone.features.16.1.running_var", 1, {960, 0, 0, 0},
          {0.999000013f, 0.999000013f, 0.999000013f, 0.999000013f},
          0.999000013f, 959.0400123596191},
         {"aspp.aspp1.0.weight", 4, {128, 960, 1, 1},
          {-0.00098194927f, 0.0147291049f, -7.4505806e-09f, -0.00589165092f},
          -0.013747178f, -97.39240796118975},
         {"decoder.decode4.gru.ih.0.weight", 4, {128, 128, 3, 3},
          {-0.149759799f, -0.131039798f, -0.0623999238f, -0.081119895f},
          0.118559897f, -446.33116513490677},
         {"project_mat.conv.bias", 1, {4, 0, 0, 0},
          {0.00393364718f, 0.00296954811f, 0.00200544903f, 0.124928087f},
          0.124928087f, 0.13383673131465912},
     }},
    {"rvm_mobilenetv3_random.pth.gz", 1, 380, 3773775LL, 22002.714843779802, 190055.1835937798,
     "backbone.features.0.0.weight", "refiner.conv.6.bias",
     {
         {"backbone.features.0.0.weight", 4, {16, 3, 3, 3},
          {0.03125f, -0.15625f, -0.0625f, 0.09375f}, 0.375f, 0.4375},
         {"backbone.features.0.1.num_batches_tracked", 0, {0, 0, 0, 0},
          {0.0f, 0.0f, 0.0f, 0.0f}, 0.0f, 0.0},
         {"aspp.aspp1.0.weight", 4, {128, 960, 1, 1},
          {0.02734375f, 0.0234375f, -0.0078125f, 0.015625f}, 0.0078125f, -0.28515625},
         {"project_mat.conv.bias", 1, {4, 0, 0, 0},
          {0.0f, 0.0f, 0.0f, 0.5f}, 0.5f, 0.5},
         {"refiner.box_filter.weight", 4, {4, 1, 3, 3},
          {0.111111112f, 0.111111112f, 0.111111112f, 0.111111112f},
          0.111111112f, 4.000000029802322},
         {"refiner.conv.6.bias", 1, {4, 0, 0, 0},
          {-0.01953125f, 0.05859375f, -0.01953125f, 0.015625f}, 0.015625f, 0.03515625},
     }},
    {"rvm_resnet50_random.pth.gz", 1, 390, 26944730LL, 47268.3320312798, 664762.3789062798,
     "backbone.conv1.weight", "refiner.conv.6.bias",
     {
         {"backbone.conv1.weight", 4, {64, 3, 7, 7},
          {-0.0625f, 0.0859375f, -0.0625f, -0.03125f}, 0.015625f, 0.8671875},
         {"backbone.bn1.num_batches_tracked", 0, {0, 0, 0, 0},
          {0.0f, 0.0f, 0.0f, 0.0f}, 0.0f, 0.0},
         {"backbone.layer4.2.bn3.weight", 1, {2048, 0, 0, 0},
          {1.046875f, 0.87109375f, 1.18359375f, 1.04296875f}, 1.1015625f, 2038.15625},
         {"aspp.aspp1.0.weight", 4, {256, 2048, 1, 1},
          {0.021484375f, 0.005859375f, 0.017578125f, 0.01953125f}, -0.009765625f, -0.69140625},
         {"decoder.decode4.gru.ih.0.weight", 4, {256, 256, 3, 3},
          {-0.00390625f, -0.01171875f, -0.015625f, -0.00390625f}, -0.001953125f, 11.35546875},
         {"refiner.conv.0.weight", 4, {16, 24, 1, 1},
          {0.3125f, 0.34375f, -0.1875f, -0.0625f}, 0.1875f, -4.1875},
     }},
};

static int close_to(double got, double want)
{
    return fabs(got - want) <= 1e-6 * fmax(1.0, fabs(want));
}

/* Decompresses a .gz with the gzip tool into memory (no Python, no temporary file). */
static uint8_t *gunzip(const char *path, size_t *size)
{
    char cmd[1024];
    if (snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path) >= (int)sizeof cmd)
        return NULL; /* a cut command would name another file */
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    buf b = {0};
    put_stream(&b, f);
    if (pclose(f) != 0) {
        free(b.p);
        return NULL;
    }
    *size = b.n;
    return b.p;
}

static void check_real(const exp_file *e, const rvmi_weights *w)
{
    CHECK(w->count == e->count, "%s: %d tensors, want %d", e->file, w->count, e->count);
    if (w->count == 0)
        return;
    CHECK(strcmp(w->tensors[0].name, e->first_key) == 0, "%s: first tensor %s", e->file,
          w->tensors[0].name);
    CHECK(strcmp(w->tensors[w->count - 1].name, e->last_key) == 0, "%s: last tensor %s",
          e->file, w->tensors[w->count - 1].name);
    long long total = 0;
    double sum = 0, abssum = 0;
    for (int i = 0; i < w->count; i++) {
        const rvmi_tensor *t = &w->tensors[i];
        total += t->numel;
        for (int64_t j = 0; j < t->numel; j++) {
            sum += t->data[j];
            abssum += fabs(t->data[j]);
        }
    }
    CHECK(total == e->total, "%s: %lld elements, want %lld", e->file, total, e->total);
    CHECK(close_to(sum, e->sum), "%s: checksum %.10g, want %.10g", e->file, sum, e->sum);
    CHECK(close_to(abssum, e->abssum), "%s: abs checksum %.10g, want %.10g", e->file, abssum,
          e->abssum);
    for (int k = 0; k < 6; k++) {
        const exp_tensor *x = &e->t[k];
        const rvmi_tensor *t = rvmi_weights_find(w, x->name);
        CHECK(t != NULL, "%s: no tensor %s", e->file, x->name);
        if (!t)
            continue;
        int64_t numel = 1;
        int same = t->ndim == x->ndim;
        for (int d = 0; d < x->ndim; d++) {
            same = same && t->shape[d] == x->shape[d];
            numel *= x->shape[d];
        }
        CHECK(same && t->numel == numel, "%s: %s has the wrong shape", e->file, x->name);
        if (!same || t->numel != numel)
            continue;
        for (int j = 0; j < 4 && j < numel; j++)
            CHECK(t->data[j] == x->first[j], "%s: %s[%d] = %.9g, want %.9g", e->file, x->name, j,
                  t->data[j], x->first[j]);
        CHECK(t->data[numel - 1] == x->last, "%s: %s last = %.9g, want %.9g", e->file, x->name,
              t->data[numel - 1], x->last);
        double s = 0;
        for (int64_t j = 0; j < numel; j++)
            s += t->data[j];
        CHECK(close_to(s, x->sum), "%s: %s sum %.10g, want %.10g", e->file, x->name, s, x->sum);
    }
}

/* Part 3, on the real checkpoints in shared/models. Returns 0 when they are absent (the
 * caller skips). */
static int test_real(const char *shared)
{
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/models", shared);
    snprintf(path, sizeof path, "%s/%s", dir, expected[0].file);
    if (access(path, R_OK) != 0)
        return 0;
    printf("real checkpoints in %s\n", dir);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const exp_file *e = &expected[i];
        snprintf(path, sizeof path, "%s/%s", dir, e->file);
        rvmi_weights w;
        char err[256];
        int rc;
        uint8_t *data = NULL;
        size_t size = 0;
        if (e->gz) {
            data = gunzip(path, &size);
            CHECK(data != NULL, "cannot decompress %s", path);
            if (!data)
                continue;
            rc = rvmi_pth_load_memory(data, size, &w, err, sizeof err);
        } else {
            rc = rvmi_pth_load(path, &w, err, sizeof err);
        }
        CHECK(rc == 0, "%s: rc %d (%s)", e->file, rc, err);
        if (rc == 0) {
            check_real(e, &w);
            printf("  ok   %-34s %d tensors\n", e->file, w.count);
        }

        /* The decompressed copy loaded by path (from the build folder) gives the same. */
        if (data && rc == 0 && i == 1) {
            char copy[1024];
            snprintf(copy, sizeof copy, "%s/test_pth_%.*s", RVM_BUILD_DIR,
                     (int)(strlen(e->file) - 3), e->file);
            CHECK(write_file(copy, data, size) == 0, "cannot write %s", copy);
            rvmi_weights w2;
            int rc2 = rvmi_pth_load(copy, &w2, err, sizeof err);
            CHECK(rc2 == 0 && w2.count == w.count, "%s by path: rc %d (%s)", copy, rc2, err);
            int same = rc2 == 0 && w2.count == w.count;
            for (int k = 0; same && k < w.count; k++)
                same = w.tensors[k].numel == w2.tensors[k].numel &&
                       memcmp(w.tensors[k].data, w2.tensors[k].data,
                              (size_t)w.tensors[k].numel * sizeof(float)) == 0;
            CHECK(same, "%s: by path and from memory differ", e->file);
            if (rc2 == 0)
                rvmi_weights_free(&w2);
            unlink(copy);
        }
        if (rc == 0)
            rvmi_weights_free(&w);

        /* Truncations of the real file */
        if (data) {
            const size_t cuts[] = {64, 4096, size / 2, size - 4096, size - 1};
            for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
                char label[96];
                snprintf(label, sizeof label, "%.12s... cut at %zu", e->file, cuts[c]);
                expect_fail(label, data, cuts[c], RVM_EFORMAT, "checkpoint: ");
            }
        }
        free(data);
    }
    return 1;
}

/* test_pth: parts 1 and 2 (need nothing). test_pth --real SHARED: part 3, skipped (77)
 * without the real checkpoints, so that a missing folder never passes as checked. */
int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--real") == 0) {
        if (!test_real(argv[2])) {
            printf("SKIP: no real checkpoints in %s/models\n", argv[2]);
            return 77;
        }
        return check_report();
    }
    make_storages();
    test_valid();
    test_container();
    test_pickle();
    test_tensors();
    for (int big = 0; big < 2; big++)
        for (int i = 0; i < 9; i++)
            free(g_store[big][i].p);
    return check_report();
}
