/* Writes the seed corpora of the fuzz targets, small and made from the real model files.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 *   make_seeds <out-dir> <tfjs-model-dir> [<real.pth>]
 *
 * <out-dir>/pth:    .pth checkpoints (fuzz_pth input). Tensor names, shapes and values come
 *                   from the shipped TF.js model (loaded with rvmi_tfjs_load, which gives the
 *                   official PyTorch names). One seed holds every tensor of the network as
 *                   a stride-0 view of a one-element storage, so it is tiny yet builds the
 *                   whole model; the others are truncated state_dicts written in the different
 *                   ways torch writes them (protocols 2 and 4, stored or deflated, byte orders,
 *                   storage types), and small tensors of every storage type and kind of view.
 *                   With <real.pth>, its real data.pkl is kept too, with its first storages
 *                   only.
 * <out-dir>/tfjs:   fuzz_tfjs inputs (4-byte length, model.json, shard bytes): the real
 *                   model.json with an empty and a truncated shard, and small manifests made of
 *                   the first weights of the real one with exactly their bytes.
 * <out-dir>/replay/<target>: inputs too large to fuzz but worth one run each, as they load
 *                   and build the whole network: the real TF.js model in the fuzz_tfjs layout,
 *                   and (a link to) the real .pth when given.
 */
#define _POSIX_C_SOURCE 200809L

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pickle_writer.h"
#include "fuzz_zip.h"
#include "model/weights.h"
#include "rvm.h"

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s\n", what);
    exit(1);
}

/* --- Files -------------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const void *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0)
        die(path);
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b = {0};
    put_stream(&b, f);
    fclose(f);
    *n = b.n;
    return b.p ? b.p : malloc(1);
}

/* --- .pth seeds --------------------------------------------------------------------------- */

/* How a seed is written: pickle protocol 4, deflated entries, big-endian storages, float16
 * storages, a tensor wrapped in _rebuild_parameter, 8-byte ints. */
enum { O_PROTO4 = 1, O_DEFLATE = 2, O_BIG = 4, O_HALF = 8, O_PARAM = 16, O_WIDE = 32 };

static uint16_t to_half(float f)
{
    /* Round-to-nearest is not needed for a seed; truncation keeps this short. */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    uint32_t m = (u >> 13) & 0x3ff;
    if (e <= 0)
        return (uint16_t)sign;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    return (uint16_t)(sign | (uint32_t)e << 10 | m);
}

/* Packs a state_dict pickle of the tensors t and the storages st[0..nst) (entry data/<i>)
 * into <dir>/<file>, under a top folder named after the file, as torch.save does. */
static void write_pth(const char *dir, const char *file, const tensor_spec *t, int n,
                      const buf *st, int nst, int opts)
{
    int defl = (opts & O_DEFLATE) != 0;
    /* Memoized as Python's pickler does, so that the seeds hold the opcodes torch writes. */
    int pk_flags = PK_LIKE_PYTHON | ((opts & O_PROTO4) ? PK_PROTO4 : 0) |
                   ((opts & O_WIDE) ? PK_WIDE_INTS : 0);
    pickle_writer p;
    pk_state_dict(&p, pk_flags, t, n);
    char top[128], name[256];
    snprintf(top, sizeof top, "%.*s", (int)(strcspn(file, ".")), file);
    fz_zip z = {0};
    snprintf(name, sizeof name, "%s/data.pkl", top);
    int bad = fz_zip_add(&z, name, p.b.p, p.b.n, defl);
    if (opts & O_BIG) {
        snprintf(name, sizeof name, "%s/byteorder", top);
        bad |= fz_zip_add(&z, name, "big", 3, 0);
    }
    for (int i = 0; i < nst; i++) {
        snprintf(name, sizeof name, "%s/data/%d", top, i);
        bad |= fz_zip_add(&z, name, st[i].p ? st[i].p : (const uint8_t *)"", st[i].n, defl);
    }
    snprintf(name, sizeof name, "%s/version", top);
    bad |= fz_zip_add(&z, name, "3\n", 2, 0);
    size_t size = 0;
    uint8_t *zip = bad ? NULL : fz_zip_write(&z, &size);
    if (!zip)
        die("out of memory");
    write_file(dir, file, zip, size);
    free(zip);
    fz_zip_free(&z);
    free(p.b.p);
}

/* A checkpoint holding the first n tensors of w, each with its own storage (real values). */
static void pth_head(const char *dir, const char *file, const rvmi_weights *w, int n, int opts)
{
    if (n > w->count)
        n = w->count;
    int big = (opts & O_BIG) != 0;
    tensor_spec *t = calloc((size_t)n, sizeof(*t));
    buf *st = calloc((size_t)n, sizeof(*st));
    char(*skeys)[16] = calloc((size_t)n, sizeof(*skeys)); /* storage i is data/<i> */
    if (!t || !st || !skeys)
        die("out of memory");
    for (int i = 0; i < n; i++) {
        const rvmi_tensor *s = &w->tensors[i];
        int is_long = strstr(s->name, "num_batches_tracked") != NULL;
        int half = (opts & O_HALF) && !is_long && (i % 2 == 0);
        t[i].key = s->name;
        t[i].stype = is_long ? "LongStorage" : half ? "HalfStorage" : "FloatStorage";
        snprintf(skeys[i], sizeof skeys[i], "%d", i);
        t[i].skey = skeys[i];
        t[i].snumel = s->numel;
        t[i].ndim = s->ndim;
        t[i].parameter = (opts & O_PARAM) && i == 0;
        int64_t stride = 1;
        for (int d = s->ndim - 1; d >= 0; d--) {
            t[i].shape[d] = s->shape[d];
            t[i].stride[d] = stride;
            stride *= s->shape[d];
        }
        for (int64_t k = 0; k < s->numel; k++) {
            if (is_long) {
                put_uint(&st[i], (uint64_t)(int64_t)s->data[k], 8, big);
            } else if (half) {
                put_uint(&st[i], to_half(s->data[k]), 2, big);
            } else {
                put_f32(&st[i], s->data[k], big);
            }
        }
    }
    write_pth(dir, file, t, n, st, n, opts);
    for (int i = 0; i < n; i++)
        free(st[i].p);
    free(st);
    free(skeys);
    free(t);
}

/* Every tensor of w as a stride-0 view of a one-element storage (one float, one long): the
 * whole network in a few tens of kilobytes. The reader allows views to repeat storage
 * elements up to a bounded factor plus a slack that the MobileNetV3 network fits in. */
static void pth_views(const char *dir, const char *file, const rvmi_weights *w, int opts)
{
    tensor_spec *t = calloc((size_t)w->count, sizeof(*t));
    if (!t)
        die("out of memory");
    for (int i = 0; i < w->count; i++) {
        const rvmi_tensor *s = &w->tensors[i];
        int is_long = strstr(s->name, "num_batches_tracked") != NULL;
        t[i].key = s->name;
        t[i].stype = is_long ? "LongStorage" : "FloatStorage";
        t[i].skey = is_long ? "1" : "0";
        t[i].snumel = 1;
        t[i].ndim = s->ndim;
        for (int d = 0; d < s->ndim; d++)
            t[i].shape[d] = s->shape[d]; /* strides stay 0 */
    }
    buf st[2] = {{0}, {0}};
    put_uint(&st[0], 0x3f000000, 4, 0); /* 0.5f */
    put_uint(&st[1], 0, 8, 0);
    write_pth(dir, file, t, w->count, st, 2, opts);
    free(st[0].p);
    free(st[1].p);
    free(t);
}

/* Every storage type and the kinds of views torch writes (transposed, offset, expanded by a
 * zero stride, empty, 0-dim), in small tensors: the conversion paths of the reader. */
static void pth_dtypes(const char *dir, const char *file, int opts)
{
    static const tensor_spec t[] = {
        {"a.weight", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}, 0},
        {"a.t", "FloatStorage", "0", 6, 0, 2, {3, 2}, {1, 3}, 0},
        {"b.half", "HalfStorage", "1", 4, 0, 1, {4}, {1}, 0},
        {"c.double", "DoubleStorage", "2", 3, 0, 1, {3}, {1}, 0},
        {"d.scalar", "LongStorage", "3", 3, 0, 0, {0}, {0}, 0},
        {"d.offset", "LongStorage", "3", 3, 2, 0, {0}, {0}, 0},
        {"e.int", "IntStorage", "4", 2, 0, 1, {2}, {1}, 0},
        {"f.byte", "ByteStorage", "5", 3, 0, 2, {1, 3}, {3, 1}, 0},
        {"g.bf16", "BFloat16Storage", "6", 2, 0, 4, {2, 1, 1, 1}, {1, 1, 1, 1}, 0},
        {"h.slice", "FloatStorage", "0", 6, 4, 1, {2}, {1}, 0},
        {"i.empty", "FloatStorage", "7", 0, 0, 2, {0, 3}, {3, 1}, 0},
        {"j.expand", "FloatStorage", "8", 2, 0, 2, {3, 2}, {0, 1}, 0},
    };
    int big = (opts & O_BIG) != 0;
    buf st[9];
    memset(st, 0, sizeof st);
    const float f[6] = {0.5f, -1.0f, 2.0f, 3.25f, -4.0f, 1e-3f};
    for (int i = 0; i < 6; i++)
        put_f32(&st[0], f[i], big);
    const uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    for (int i = 0; i < 4; i++)
        put_uint(&st[1], h[i], 2, big);
    const double d[3] = {1.5, -2.25, 1e10};
    for (int i = 0; i < 3; i++)
        put_f64(&st[2], d[i], big);
    const int64_t l[3] = {7, -5, (int64_t)1 << 40};
    for (int i = 0; i < 3; i++)
        put_uint(&st[3], (uint64_t)l[i], 8, big);
    put_uint(&st[4], (uint32_t)-3, 4, big);
    put_uint(&st[4], 100000, 4, big);
    put_u8(&st[5], 0);
    put_u8(&st[5], 255);
    put_u8(&st[5], 17);
    put_uint(&st[6], 0x3f80, 2, big);
    put_uint(&st[6], 0xc040, 2, big);
    put_uint(&st[8], 0x3f800000, 4, big);
    put_uint(&st[8], 0x40000000, 4, big);
    write_pth(dir, file, t, (int)(sizeof t / sizeof t[0]), st, 9, opts);
    for (int i = 0; i < 9; i++)
        free(st[i].p);
}

/* A tensor by name and shape, for the hand-made checkpoint parts below. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
} named_shape;

/* Adds the n tensors of t to w, element k of each set to fill(k). */
static void add_tensors(rvmi_weights *w, const named_shape *t, size_t n, float (*fill)(int64_t))
{
    for (size_t i = 0; i < n; i++) {
        int64_t count = 1;
        for (int d = 0; d < t[i].ndim; d++)
            count *= t[i].shape[d];
        float *data = calloc((size_t)count, sizeof(float));
        for (int64_t k = 0; data && k < count; k++)
            data[k] = fill(k);
        if (!data || rvmi_weights_add(w, t[i].name, t[i].ndim, t[i].shape, data))
            die("out of memory");
    }
}

static float quarter(int64_t k)
{
    (void)k;
    return 0.25f;
}

static float steps_of_an_eighth(int64_t k) { return (float)(k % 7) * 0.125f; }

/* Adds the deep guided filter's tensors (as in the official checkpoints that have them). */
static void add_dgf(rvmi_weights *w)
{
    static const named_shape t[] = {
        {"refiner.box_filter.weight", 4, {4, 1, 3, 3}},
        {"refiner.conv.0.weight", 4, {16, 24, 1, 1}},
        {"refiner.conv.1.weight", 1, {16}},
        {"refiner.conv.1.bias", 1, {16}},
        {"refiner.conv.1.running_mean", 1, {16}},
        {"refiner.conv.1.running_var", 1, {16}},
        {"refiner.conv.1.num_batches_tracked", 0, {0}},
        {"refiner.conv.3.weight", 4, {16, 16, 1, 1}},
        {"refiner.conv.4.weight", 1, {16}},
        {"refiner.conv.4.bias", 1, {16}},
        {"refiner.conv.4.running_mean", 1, {16}},
        {"refiner.conv.4.running_var", 1, {16}},
        {"refiner.conv.4.num_batches_tracked", 0, {0}},
        {"refiner.conv.6.weight", 4, {4, 16, 1, 1}},
        {"refiner.conv.6.bias", 1, {4}},
    };
    add_tensors(w, t, sizeof t / sizeof t[0], quarter);
}

/* The start of a ResNet50 checkpoint: enough for the variant to be recognised. */
static void r50_head(rvmi_weights *w)
{
    static const named_shape t[] = {
        {"backbone.conv1.weight", 4, {64, 3, 7, 7}},
        {"backbone.bn1.weight", 1, {64}},
        {"backbone.bn1.bias", 1, {64}},
        {"backbone.bn1.running_mean", 1, {64}},
        {"backbone.bn1.running_var", 1, {64}},
        {"backbone.bn1.num_batches_tracked", 0, {0}},
        {"backbone.layer1.0.conv1.weight", 4, {64, 64, 1, 1}},
    };
    memset(w, 0, sizeof(*w));
    add_tensors(w, t, sizeof t / sizeof t[0], steps_of_an_eighth);
}

/* The real checkpoint's own data.pkl (torch's exact opcodes), with only its first storages:
 * the unpickler runs the real pickle until the first missing one. */
static void pth_real(const char *dir, const char *real, int keep)
{
    size_t n = 0;
    uint8_t *d = read_file(real, &n);
    if (!d) {
        fprintf(stderr, "make_seeds: %s not found, its seed is skipped\n", real);
        return;
    }
    fz_zip z, out = {0};
    if (fz_zip_read(d, n, (size_t)64 << 20, &z) != 0)
        die("cannot read the real checkpoint");
    for (int i = 0; i < z.n; i++) {
        const char *slash = strstr(z.e[i].name, "/data/");
        if (slash && atoi(slash + 6) >= keep)
            continue;
        fz_zip_add(&out, z.e[i].name, z.e[i].data, z.e[i].len, z.e[i].deflate);
    }
    size_t size;
    uint8_t *zip = fz_zip_write(&out, &size);
    if (!zip)
        die("out of memory");
    write_file(dir, "real_pickle_first_storages.pth", zip, size);
    free(zip);
    fz_zip_free(&z);
    fz_zip_free(&out);
    free(d);
}

/* --- TF.js seeds -------------------------------------------------------------------------- */

static void tfjs_input(const char *dir, const char *file, const char *json, size_t jn,
                       const uint8_t *shard, size_t sn)
{
    buf b = {0};
    put_uint(&b, jn, 4, 0);
    put(&b, json, jn);
    put(&b, shard, sn);
    write_file(dir, file, b.p, b.n);
    free(b.p);
}

/* Bytes of one manifest weight in the shard. */
static size_t weight_bytes(const cJSON *w)
{
    size_t n = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(w, "shape"))
        n *= (size_t)d->valuedouble;
    const char *dt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "dtype"));
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "quantization");
    const char *qt = q ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(q, "dtype")) : NULL;
    if (qt)
        return n * (strcmp(qt, "uint8") == 0 ? 1 : 2);
    return n * (dt && strcmp(dt, "bool") == 0 ? 1 : 4);
}

/* A manifest of the real weights picked by keep(i) (and split into two groups at split, if
 * split > 0), with exactly their bytes. retype: the first float weights are rewritten as
 * float32, float16 and uint16, the other encodings the loader reads. */
static void tfjs_subset(const char *dir, const char *file, const cJSON *real, const uint8_t *shard,
                        size_t shard_len, int first, int ints, int split, int retype)
{
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(real, "weightsManifest"), 0),
        "weights");
    cJSON *groups[2] = {cJSON_CreateArray(), cJSON_CreateArray()};
    buf data = {0};
    size_t off = 0;
    int i = 0, kept = 0, nint = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, ws)
    {
        size_t nb = weight_bytes(w);
        const char *dt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "dtype"));
        int is_float = dt && strcmp(dt, "float32") == 0;
        int take = i < first || (!is_float && nint < ints);
        if (off + nb > shard_len)
            die("the real shard is shorter than its manifest");
        if (take) {
            nint += !is_float && i >= first;
            cJSON *c = cJSON_Duplicate(w, 1);
            const uint8_t *src = shard + off;
            cJSON *q = cJSON_GetObjectItemCaseSensitive(c, "quantization");
            double mn = q ? cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(q, "min")) : 0;
            double sc = q ? cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(q, "scale")) : 0;
            if (retype && q && kept < 3) {
                /* kept 0: plain float32; 1: float16; 2: uint16 with the same min and scale */
                for (size_t k = 0; k < nb; k++) {
                    float v = (float)(src[k] * sc + mn);
                    if (kept == 0) {
                        put_f32(&data, v, 0);
                    } else if (kept == 1) {
                        put_uint(&data, to_half(v), 2, 0);
                    } else {
                        put_uint(&data, src[k], 2, 0);
                    }
                }
                if (kept == 0)
                    cJSON_DeleteItemFromObjectCaseSensitive(c, "quantization");
                else
                    cJSON_ReplaceItemInObjectCaseSensitive(
                        q, "dtype", cJSON_CreateString(kept == 1 ? "float16" : "uint16"));
            } else {
                put(&data, src, nb);
            }
            cJSON_AddItemToArray(groups[split > 0 && kept >= split], c);
            kept++;
        }
        off += nb;
        i++;
    }
    cJSON *root = cJSON_CreateObject(), *man = cJSON_AddArrayToObject(root, "weightsManifest");
    cJSON_AddStringToObject(root, "format", "graph-model");
    for (int g = 0; g < (split > 0 ? 2 : 1); g++) {
        cJSON *grp = cJSON_CreateObject();
        cJSON *paths = cJSON_AddArrayToObject(grp, "paths");
        char pname[64];
        snprintf(pname, sizeof pname, "group%d-shard1of1.bin", g + 1);
        cJSON_AddItemToArray(paths, cJSON_CreateString(pname));
        cJSON_AddItemToObject(grp, "weights", groups[g]);
        cJSON_AddItemToArray(man, grp);
    }
    if (split <= 0)
        cJSON_Delete(groups[1]);
    char *text = cJSON_PrintUnformatted(root);
    if (!text)
        die("out of memory");
    tfjs_input(dir, file, text, strlen(text), data.p, data.n);
    cJSON_free(text);
    cJSON_Delete(root);
    free(data.p);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: make_seeds <out-dir> <tfjs-model-dir> [<real.pth>]\n");
        return 2;
    }
    char pdir[4096], tdir[4096], rdir[4096], path[4096];
    make_dir(argv[1]);
    snprintf(pdir, sizeof pdir, "%s/pth", argv[1]);
    snprintf(tdir, sizeof tdir, "%s/tfjs", argv[1]);
    snprintf(rdir, sizeof rdir, "%s/replay", argv[1]);
    make_dir(pdir);
    make_dir(tdir);
    make_dir(rdir);
    snprintf(path, sizeof path, "%s/pth", rdir);
    make_dir(path);
    snprintf(rdir, sizeof rdir, "%s/replay/tfjs", argv[1]);
    make_dir(rdir);

    /* The official names, shapes and values, from the shipped model. */
    rvmi_weights w;
    char err[512];
    if (rvmi_tfjs_load(argv[2], &w, err, sizeof err) != 0) {
        fprintf(stderr, "make_seeds: %s\n", err);
        return 1;
    }
    pth_views(pdir, "mnv3_views.pth", &w, 0);
    pth_head(pdir, "mnv3_head.pth", &w, 12, 0);
    pth_head(pdir, "mnv3_head_p4_deflate.pth", &w, 7, O_PROTO4 | O_DEFLATE);
    pth_head(pdir, "mnv3_head_big_half_param.pth", &w, 6, O_BIG | O_HALF | O_PARAM);
    pth_dtypes(pdir, "dtypes.pth", 0);
    pth_dtypes(pdir, "dtypes_big_p4.pth", O_BIG | O_PROTO4);
    pth_dtypes(pdir, "dtypes_wide_ints.pth", O_WIDE);
    add_dgf(&w);
    pth_views(pdir, "mnv3_dgf_views_p4.pth", &w, O_PROTO4);
    rvmi_weights_free(&w);
    r50_head(&w);
    pth_views(pdir, "r50_head_views.pth", &w, O_DEFLATE);
    rvmi_weights_free(&w);
    if (argc == 4) {
        pth_real(pdir, argv[3], 24);
        /* The whole real checkpoint is replayed once (a link, not a 15 MB copy). */
        snprintf(path, sizeof path, "%s/replay/pth/real.pth", argv[1]);
        if (symlink(argv[3], path) != 0 && errno != EEXIST)
            die(path);
    }

    /* TF.js: the real manifest and shard. */
    size_t jn = 0, sn = 0;
    snprintf(path, sizeof path, "%s/model.json", argv[2]);
    char *json = (char *)read_file(path, &jn);
    snprintf(path, sizeof path, "%s/group1-shard1of1.bin", argv[2]);
    uint8_t *shard = read_file(path, &sn);
    if (!json || !shard)
        die("cannot read the shipped TF.js model");
    tfjs_input(rdir, "tfjs_real_model", json, jn, shard, sn);
    tfjs_input(tdir, "real_json_empty_shard", json, jn, NULL, 0);
    tfjs_input(tdir, "real_json_short_shard", json, jn, shard, 4096);
    cJSON *real = cJSON_ParseWithLength(json, jn);
    if (!real)
        die("the shipped model.json does not parse");
    tfjs_subset(tdir, "head_2", real, shard, sn, 2, 0, 0, 0);
    tfjs_subset(tdir, "head_16_ints", real, shard, sn, 16, 3, 0, 0);
    tfjs_subset(tdir, "head_40", real, shard, sn, 40, 0, 0, 0);
    tfjs_subset(tdir, "head_8_retyped", real, shard, sn, 8, 0, 0, 1);
    tfjs_subset(tdir, "head_10_two_groups", real, shard, sn, 10, 1, 5, 0);
    cJSON_Delete(real);
    free(json);
    free(shard);
    return 0;
}
