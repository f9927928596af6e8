/* libFuzzer target: bytes -> rvmi_pth_load_memory -> rvmi_model_build.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The input is a whole .pth file. Besides crashes and sanitizer reports, the target checks
 * the loaders' contract and aborts when it is broken: a failure returns a negative RVM_E*
 * code with a non-empty one-line message and leaves the weights empty; a success returns
 * well-formed tensors.
 *
 * A custom mutator keeps the archive valid most of the time (see fuzz_zip.h): it unpacks
 * the input, mutates one entry (mostly data.pkl) with libFuzzer's own mutations, and packs it
 * again with correct CRCs; one time in eight it then makes an entry lie about its sizes, CRC,
 * flags or compression method consistently in both headers (see lie()). A quarter of the
 * mutations work on the raw bytes instead, for the container itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_zip.h"
#include "model/model.h"
#include "model/weights.h"
#include "rvm.h"
#include "fuzz_contract.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static void check_weights(const rvmi_weights *w)
{
    for (int i = 0; i < w->count; i++) {
        const rvmi_tensor *t = &w->tensors[i];
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                abort();
            numel *= t->shape[d];
        }
        if (!t->name || !t->name[0] || t->ndim < 0 || t->ndim > RVM_TENSOR_MAX_DIMS ||
            numel != t->numel || !t->data) {
            fprintf(stderr, "tensor %d is malformed\n", i);
            abort();
        }
        /* Touch every element: ASan reports a tensor shorter than its numel. */
        volatile float sink = 0;
        for (int64_t j = 0; j < t->numel; j++)
            sink += t->data[j];
        (void)sink;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rvmi_weights w;
    char err[256];
    int rc = rvmi_pth_load_memory(data, size, &w, err, sizeof err);
    if (rc) {
        check_error(rc, err, &w, "rvmi_pth_load_memory");
        return 0;
    }
    check_weights(&w);
    struct rvm_model m;
    if (build_checked(&m, &w) == 0) {
        /* Asking for what the checkpoint does not hold must fail cleanly. The wrong variant
         * or refiner is picked by the input's size, so that the choice is part of the input;
         * only failing requests are made, as a second full build would halve the speed. */
        rvm_variant other = m.variant == RVM_VARIANT_MOBILENETV3 ? RVM_VARIANT_RESNET50
                                                                 : RVM_VARIANT_MOBILENETV3;
        int has_dgf = m.has_dgf_weights;
        rvmi_model_release(&m);
        if (size % 2 == 0 || !has_dgf) {
            rc = rvmi_model_build(&m, &w, size % 2 ? RVM_VARIANT_AUTO : other,
                                 size % 2 ? RVM_REFINER_DEEP_GUIDED_FILTER : RVM_REFINER_AUTO,
                                 err, sizeof err);
            if (rc == 0) {
                fprintf(stderr, "rvmi_model_build accepted a request the weights do not match\n");
                abort();
            }
            check_error(rc, err, NULL, "rvmi_model_build");
        }
    }
    rvmi_weights_free(&w);
    return 0;
}

/* xorshift32: the mutator must be deterministic for a given seed. */
static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static uint32_t get_le(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static void set_le(uint8_t *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Makes one entry of an archive written by fz_zip_write lie about itself, the same way in its
 * local header and its central directory record, so that libzip's consistency checks pass
 * and the reader's own checks of sizes and methods (stat_entry, read_entry) are what decide. */
static void lie(uint8_t *zip, size_t n, uint32_t *r)
{
    if (n < 22 || get_le(zip + n - 22, 4) != 0x06054b50)
        return;
    uint32_t entries = get_le(zip + n - 12, 2), cd = get_le(zip + n - 6, 4);
    if (entries == 0)
        return;
    uint32_t pick = next_rand(r) % entries;
    size_t at = cd;
    for (uint32_t i = 0; i < pick && at + 46 <= n; i++)
        at += 46 + get_le(zip + at + 28, 2);
    if (at + 46 > n)
        return;
    uint8_t *central = zip + at;
    uint32_t local_at = get_le(central + 42, 4);
    if ((size_t)local_at + 30 > n)
        return;
    uint8_t *local = zip + local_at;
    /* field: offset in the local header, offset in the central record, width */
    static const int fields[5][3] = {{8, 10, 2}, {22, 24, 4}, {18, 20, 4}, {14, 16, 4}, {6, 8, 2}};
    const int *f = fields[next_rand(r) % 5];
    uint32_t v = get_le(local + f[0], f[2]);
    static const uint32_t methods[] = {0, 1, 6, 8, 9, 12, 14, 93, 95, 98, 99};
    switch (next_rand(r) % 6) {
    case 0: v = f[2] == 2 ? methods[next_rand(r) % 11] : 0; break;
    case 1: v += 1; break;
    case 2: v -= 1; break;
    case 3: v = v * 2 + 1; break;
    case 4: v = 0xffffffffu; break;
    default: v = next_rand(r); break;
    }
    set_le(local + f[0], v, f[2]);
    set_le(central + f[1], v, f[2]);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint32_t r = seed;
    if (next_rand(&r) % 4 == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    fz_zip z;
    if (size == 0 || fz_zip_read(data, size, max_size, &z) != 0 || z.n == 0) {
        if (size)
            fz_zip_free(&z);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    /* Mostly the pickle: that is where the unpickler's decisions are. */
    int pick = (int)(next_rand(&r) % (uint32_t)z.n);
    if (next_rand(&r) % 4 != 0)
        for (int i = 0; i < z.n; i++)
            if (ends_with(z.e[i].name, "/data.pkl"))
                pick = i;
    fz_entry *e = &z.e[pick];
    size_t overhead = size > e->len ? size - e->len : 0;
    size_t room = max_size > overhead ? max_size - overhead : 0;
    uint32_t what = next_rand(&r) % 32;
    if (what == 0 && z.n > 1) { /* drop the entry */
        free(e->name);
        free(e->data);
        z.e[pick] = z.e[--z.n];
    } else if (what == 1) { /* rename it (to another storage key, outside the folder...) */
        size_t nl = strlen(e->name);
        char *name = malloc(nl + 17);
        if (name) {
            memcpy(name, e->name, nl);
            size_t n = LLVMFuzzerMutate((uint8_t *)name, nl, nl + 16);
            name[n] = '\0';
            /* a NUL cut the name short; an empty name is skipped */
            if (name[0]) {
                free(e->name);
                e->name = name;
            } else {
                free(name);
            }
        }
    } else if (what == 2) { /* flip its compression */
        e->deflate = !e->deflate;
    } else if (room > 0) {
        uint8_t *buf = malloc(room);
        if (buf) {
            size_t keep = e->len < room ? e->len : room;
            memcpy(buf, e->data, keep);
            size_t n = LLVMFuzzerMutate(buf, keep, room);
            free(e->data);
            e->data = buf;
            e->len = n;
        }
    }
    size_t out_size = 0;
    uint8_t *out = fz_zip_write(&z, &out_size);
    fz_zip_free(&z);
    if (!out || out_size > max_size) {
        free(out);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    if (next_rand(&r) % 8 == 0)
        lie(out, out_size, &r);
    memcpy(data, out, out_size);
    free(out);
    return out_size;
}
