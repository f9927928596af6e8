/* Tests of the TF.js model loader (src/model/tfjs.c).
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The expected values below were read from /work/shared/models/rvm_mobilenetv3_from_tfjs.pth
 * (made from the same TF.js release by an independent Python converter) with torch: per-tensor
 * sums, sums weighted by (flat index % 13 + 1) (which catch layout mistakes a plain sum does
 * not), and single values at the arg-max, arg-min and middle of each tensor. */
#define _POSIX_C_SOURCE 200809L

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/weights.h"
#include "rvm.h"

#include "check.h"

#define MODEL_DIR RVM_SOURCE_DIR "/models/rvm_mobilenetv3_tfjs_int8"
#define REF_PTH RVM_SHARED_DIR "/models/rvm_mobilenetv3_from_tfjs.pth"
#define CASES_DIR RVM_BUILD_DIR "/tfjs_hostile"

static bool close_to(double got, double want)
{
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-12;
}

static double weighted_sum(const rvmi_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++)
        s += (double)t->data[i] * (double)(i % 13 + 1);
    return s;
}

static double plain_sum(const rvmi_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++)
        s += t->data[i];
    return s;
}

static const struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    double sum, wsum;
    int64_t idx[3];
    float val[3];
} expected[] = {
    {"backbone.features.0.0.weight", 4, {16, 3, 3, 3}, -0.77048945426940918, 1.7054157257080078, {310, 311, 216}, {7.86925983f, -6.16333675f, 0}},
    {"backbone.features.0.1.bias", 1, {16, 0, 0, 0}, 25.481395959854126, 108.13126254081726, {13, 3, 8}, {4.85359859f, -3.98688436f, 2.14945102f}},
    {"backbone.features.0.1.running_var", 1, {16, 0, 0, 0}, 15.984000205993652, 96.903001248836517, {0, 0, 8}, {0.999000013f, 0.999000013f, 0.999000013f}},
    {"backbone.features.1.block.0.0.weight", 4, {16, 1, 3, 3}, 0.97925329208374023, 22.054267406463623, {61, 58, 72}, {5.6199789f, -5.23679829f, 0}},
    {"backbone.features.2.block.0.0.weight", 4, {64, 16, 1, 1}, 1.4650205671787262, 10.943838745355606, {246, 966, 512}, {0.914081931f, -0.682431102f, 0.00626081228f}},
    {"backbone.features.4.block.1.0.weight", 4, {72, 1, 5, 5}, -18.90826952457428, -148.87663573026657, {144, 142, 900}, {1.27906275f, -1.24931693f, 0.0198304653f}},
    {"backbone.features.4.block.2.fc1.weight", 4, {24, 72, 1, 1}, 16.139985136687756, 107.09886580705643, {822, 275, 864}, {0.254021257f, -0.19270578f, 0}},
    {"backbone.features.4.block.2.fc2.bias", 1, {72, 0, 0, 0}, 1.8596074916422367, 11.307603871449828, {61, 11, 36}, {0.148791939f, 0, 0.03676036f}},
    {"backbone.features.13.block.1.0.weight", 4, {672, 1, 5, 5}, 52.510502099990845, 384.66784876585007, {8212, 5687, 8400}, {0.710187316f, -0.878389597f, -0.0249188542f}},
    {"backbone.features.13.block.1.1.weight", 1, {672, 0, 0, 0}, 3260.772421836853, 22775.43022441864, {327, 251, 336}, {23.2215233f, -19.6878128f, 10.4328575f}},
    {"backbone.features.15.block.1.1.bias", 1, {960, 0, 0, 0}, 717.28851145505905, 5020.4538640379906, {739, 921, 480}, {3.04070592f, -1.46731734f, 0.636426926f}},
    {"backbone.features.16.0.weight", 4, {960, 160, 1, 1}, 28.514610409736633, 92.511512637138367, {13187, 121983, 76800}, {1.4477725f, -0.817147732f, 0.204286933f}},
    {"aspp.aspp1.1.running_var", 1, {128, 0, 0, 0}, 127.99871826171875, 884.99113798141479, {0, 0, 64}, {0.999989986f, 0.999989986f, 0.999989986f}},
    {"aspp.aspp2.1.weight", 4, {128, 960, 1, 1}, 523.76559907197952, 3520.1524637043476, {20977, 20751, 61440}, {0.686828256f, -0.555307984f, 0.121778071f}},
    {"decoder.decode4.gru.ih.0.weight", 4, {128, 128, 3, 3}, -446.33116513490677, -3054.0433746576309, {118003, 18760, 73728}, {1.00463867f, -0.586559236f, -0.262079656f}},
    {"decoder.decode3.conv.0.weight", 4, {80, 171, 3, 3}, -56.677786804735661, -384.58751087635756, {81418, 90463, 61560}, {0.241571978f, -0.166380718f, -0.0047994554f}},
    {"decoder.decode0.conv.4.bias", 1, {16, 0, 0, 0}, 7.2565082311630249, 58.212199300527573, {10, 4, 8}, {1.34005201f, -0.809088111f, 0.0758519769f}},
    {"decoder.decode1.gru.hh.0.bias", 1, {16, 0, 0, 0}, 0.15649443864822388, -1.636431410908699, {8, 10, 8}, {0.243435964f, -0.249232069f, 0.243435964f}},
    {"project_mat.conv.weight", 4, {4, 16, 1, 1}, -1.2827054262161255, -9.8165510594844818, {59, 60, 32}, {0.420559019f, -0.473128885f, -0.276868016f}},
    {"project_mat.conv.bias", 1, {4, 0, 0, 0}, 0.13383673131465912, 0.5156014384701848, {3, 2, 2}, {0.124928087f, 0.00200544903f, 0.00200544903f}},
    {"project_seg.conv.weight", 4, {1, 16, 1, 1}, 0, 0, {0, 0, 8}, {0, 0, 0}},
};

/* The whole state_dict of the reference, in order: 365 tensors, FNV-1a 64 of the names each
 * followed by '\n', element count, and sums over everything. */
#define REF_COUNT 365
#define REF_NAMES_FNV 0x21c96963d95074b6ull
#define REF_NUMEL 3772901
#define REF_SUM 24780.430885229685
#define REF_WSUM 171155.61337357174

static void check_shipped(const rvmi_weights *w)
{
    CHECK(w->count == REF_COUNT, "tensor count %d, expected %d", w->count, REF_COUNT);
    uint64_t h = 0xcbf29ce484222325ull;
    int64_t numel = 0;
    double sum = 0, wsum = 0;
    for (int i = 0; i < w->count; i++) {
        const rvmi_tensor *t = &w->tensors[i];
        for (const char *p = t->name;; p++) {
            h = (h ^ (unsigned char)(*p ? *p : '\n')) * 0x100000001b3ull;
            if (!*p)
                break;
        }
        numel += t->numel;
        sum += plain_sum(t);
        wsum += weighted_sum(t);
        const char *dot = strrchr(t->name, '.');
        if (strcmp(dot, ".num_batches_tracked") == 0)
            CHECK(t->ndim == 0 && t->numel == 1 && t->data[0] == 0.0f, "%s", t->name);
        if (strcmp(dot, ".running_mean") == 0)
            CHECK(plain_sum(t) == 0.0 && t->ndim == 1, "%s not zero", t->name);
        if (strcmp(dot, ".running_var") == 0) {
            /* torchvision's backbone BNs use eps 1e-3, the rest PyTorch's default 1e-5 */
            float want = strncmp(t->name, "backbone.", 9) == 0 ? (float)(1.0 - 1e-3)
                                                                : (float)(1.0 - 1e-5);
            bool ok = t->ndim == 1;
            for (int64_t j = 0; j < t->numel; j++)
                ok &= t->data[j] == want;
            CHECK(ok, "%s is not 1-eps", t->name);
        }
    }
    CHECK(h == REF_NAMES_FNV, "names differ from the reference state_dict (fnv %016llx)",
          (unsigned long long)h);
    CHECK(numel == REF_NUMEL, "total numel %lld, expected %d", (long long)numel, REF_NUMEL);
    CHECK(close_to(sum, REF_SUM), "total sum %.17g, expected %.17g", sum, REF_SUM);
    CHECK(close_to(wsum, REF_WSUM), "total weighted sum %.17g, expected %.17g", wsum, REF_WSUM);
    CHECK(w->count > 0 && strcmp(w->tensors[0].name, "backbone.features.0.0.weight") == 0,
          "first tensor");
    CHECK(w->count == REF_COUNT &&
              strcmp(w->tensors[REF_COUNT - 1].name, "project_seg.conv.bias") == 0,
          "last tensor");

    for (size_t e = 0; e < sizeof(expected) / sizeof(expected[0]); e++) {
        const rvmi_tensor *t = rvmi_weights_find(w, expected[e].name);
        CHECK(t != NULL, "%s missing", expected[e].name);
        if (!t)
            continue;
        bool shape_ok = t->ndim == expected[e].ndim;
        for (int d = 0; shape_ok && d < t->ndim; d++)
            shape_ok = t->shape[d] == expected[e].shape[d];
        CHECK(shape_ok, "%s: shape", t->name);
        if (!shape_ok)
            continue;
        CHECK(close_to(plain_sum(t), expected[e].sum), "%s: sum %.17g, expected %.17g", t->name,
              plain_sum(t), expected[e].sum);
        CHECK(close_to(weighted_sum(t), expected[e].wsum), "%s: weighted sum %.17g, expected %.17g",
              t->name, weighted_sum(t), expected[e].wsum);
        for (int k = 0; k < 3; k++)
            CHECK(close_to(t->data[expected[e].idx[k]], expected[e].val[k]),
                  "%s[%lld] = %.9g, expected %.9g", t->name, (long long)expected[e].idx[k],
                  t->data[expected[e].idx[k]], expected[e].val[k]);
    }
}

/* Largest |a - b| over all tensors, or INFINITY when names, order or shapes differ. */
static double max_diff(const rvmi_weights *a, const rvmi_weights *b, bool same_order)
{
    if (a->count != b->count)
        return INFINITY;
    double worst = 0;
    for (int i = 0; i < a->count; i++) {
        const rvmi_tensor *x = &a->tensors[i];
        const rvmi_tensor *y = same_order ? &b->tensors[i] : rvmi_weights_find(b, x->name);
        if (!y || strcmp(x->name, y->name) != 0 || x->ndim != y->ndim || x->numel != y->numel) {
            printf("  mismatch at %s\n", x->name);
            return INFINITY;
        }
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] != y->shape[d]) {
                printf("  shape mismatch at %s\n", x->name);
                return INFINITY;
            }
        for (int64_t j = 0; j < x->numel; j++) {
            double d = fabs((double)x->data[j] - (double)y->data[j]);
            if (!(d <= worst)) {
                worst = d;
                if (isnan(d))
                    return INFINITY;
            }
        }
    }
    return worst;
}

static void test_shipped(void)
{
    char err[256];
    rvmi_weights w, w2;
    int rc = rvmi_tfjs_load(MODEL_DIR, &w, err, sizeof(err));
    CHECK(rc == 0, "loading %s: %d %s", MODEL_DIR, rc, err);
    if (rc)
        return;
    check_shipped(&w);

    /* The same model through its model.json, and with a trailing slash on the folder. */
    rc = rvmi_tfjs_load(MODEL_DIR "/model.json", &w2, err, sizeof(err));
    CHECK(rc == 0 && max_diff(&w, &w2, true) == 0.0, "via model.json: %d %s", rc, err);
    rvmi_weights_free(&w2);
    rc = rvmi_tfjs_load(MODEL_DIR "/", &w2, err, sizeof(err));
    CHECK(rc == 0 && max_diff(&w, &w2, true) == 0.0, "via folder/: %d %s", rc, err);
    rvmi_weights_free(&w2);

    /* Against the checkpoint reader, when it exists (it is written in parallel). */
    FILE *f = fopen(REF_PTH, "rb");
    if (!f) {
        printf("note: %s not found; skipping the comparison with the .pth loader\n", REF_PTH);
    } else {
        fclose(f);
        rc = rvmi_pth_load(REF_PTH, &w2, err, sizeof(err));
        if (rc == RVM_EUNSUPPORTED) {
            printf("note: the .pth loader is not available yet (%s); skipping the comparison\n",
                   err);
        } else {
            CHECK(rc == 0, "rvmi_pth_load(%s): %d %s", REF_PTH, rc, err);
            if (rc == 0) {
                double d = max_diff(&w, &w2, false);
                CHECK(d <= 1e-6, "tfjs and pth loaders differ by %g", d);
                printf("tfjs vs pth: %d tensors, max abs diff %g\n", w.count, d);
            }
            rvmi_weights_free(&w2);
        }
    }
    rvmi_weights_free(&w);
    CHECK(w.count == 0 && w.tensors == NULL, "free leaves the set empty");
}

/* ------------------------------------------------------------------------------------------
 * Hostile folders. Each case is a folder under the build dir, made from the shipped model
 * with one thing wrong. */

static char *shard;
static size_t shard_len;
static cJSON *manifest_json; /* the shipped model.json */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *b = realloc(buf, cap + 1);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void put(const char *dir, const char *file, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        printf("cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

/* An empty case folder (files from an earlier run are removed). */
static const char *case_dir(const char *name)
{
    static char dir[1024];
    mkdir(RVM_BUILD_DIR, 0777);
    mkdir(CASES_DIR, 0777);
    snprintf(dir, sizeof(dir), "%s/%s", CASES_DIR, name);
    mkdir(dir, 0777);
    char path[1100];
    snprintf(path, sizeof(path), "%s/model.json", dir);
    remove(path);
    snprintf(path, sizeof(path), "%s/group1-shard1of1.bin", dir);
    remove(path);
    return dir;
}

/* model.json as the text json (len bytes) followed by the n bytes of tail. */
static void put_json_then(const char *dir, const char *json, size_t len, const char *tail,
                          size_t n)
{
    char *t = malloc(len + n);
    if (!t) {
        printf("out of memory\n");
        exit(2);
    }
    memcpy(t, json, len);
    memcpy(t + len, tail, n);
    put(dir, "model.json", t, len + n);
    free(t);
}

static void put_json(const char *dir, const cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    if (!text) {
        printf("cJSON_PrintUnformatted failed\n");
        exit(2);
    }
    put(dir, "model.json", text, strlen(text));
    cJSON_free(text);
}

static cJSON *weights_of(cJSON *j)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "weightsManifest"), 0), "weights");
}

/* The weight whose name ends with suffix. */
static cJSON *weight_named(cJSON *j, const char *suffix)
{
    cJSON *w;
    size_t sl = strlen(suffix);
    cJSON_ArrayForEach(w, weights_of(j))
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "name"));
        if (n && strlen(n) >= sl && strcmp(n + strlen(n) - sl, suffix) == 0)
            return w;
    }
    printf("test bug: no weight named *%s\n", suffix);
    exit(2);
}

static void set_string(cJSON *obj, const char *key, const char *value)
{
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(value));
}

static void set_shape(cJSON *w, const double *dims, int n)
{
    cJSON_ReplaceItemInObjectCaseSensitive(w, "shape", cJSON_CreateDoubleArray(dims, n));
}

/* Loads dir (or dir/file), expects failure with code and a message containing needle. */
static void expect_fail(const char *what, const char *path, int code, const char *needle)
{
    char err[256];
    rvmi_weights w;
    memset(err, 'x', sizeof(err));
    int rc = rvmi_tfjs_load(path, &w, err, sizeof(err));
    bool one_line = memchr(err, '\0', sizeof(err)) && !strchr(err, '\n') && err[0];
    CHECK(rc == code, "%s: returned %d (%s), expected %d", what, rc, rc ? err : "ok", code);
    CHECK(w.count == 0 && w.tensors == NULL, "%s: output not empty after failure", what);
    CHECK(one_line, "%s: message is not one non-empty line", what);
    CHECK(!needle || (one_line && strstr(err, needle)), "%s: message '%s' lacks '%s'", what, err,
          needle);
    printf("  %-22s -> %d: %s\n", what, rc, err);
    if (rc == 0)
        rvmi_weights_free(&w);
}

/* A case made of the shipped manifest with one edit, and the shipped shard. */
#define JSON_CASE(name, edit, code, needle)                                                     \
    do {                                                                                        \
        cJSON *j = cJSON_Duplicate(manifest_json, 1);                                           \
        edit;                                                                                   \
        const char *dir = case_dir(name);                                                       \
        put_json(dir, j);                                                                       \
        put(dir, "group1-shard1of1.bin", shard, shard_len);                                     \
        cJSON_Delete(j);                                                                        \
        expect_fail(name, dir, code, needle);                                                   \
    } while (0)

static void test_hostile(void)
{
    size_t jlen;
    char *jtext = slurp(MODEL_DIR "/model.json", &jlen);
    shard = slurp(MODEL_DIR "/group1-shard1of1.bin", &shard_len);
    manifest_json = jtext ? cJSON_Parse(jtext) : NULL;
    CHECK(jtext && shard && manifest_json, "reading the shipped model");
    if (!jtext || !shard || !manifest_json) {
        free(jtext);
        free(shard);
        cJSON_Delete(manifest_json);
        return;
    }
    const char *dir;
    printf("hostile folders (in %s):\n", CASES_DIR);

    expect_fail("NULL path", NULL, RVM_EINVAL, NULL);
    expect_fail("nonexistent path", CASES_DIR "/does-not-exist", RVM_EIO, "does-not-exist");

    dir = case_dir("missing_json");
    put(dir, "group1-shard1of1.bin", shard, shard_len);
    expect_fail("missing model.json", dir, RVM_EIO, "model.json");

    dir = case_dir("missing_shard");
    put(dir, "model.json", jtext, jlen);
    expect_fail("missing shard", dir, RVM_EIO, "group1-shard1of1.bin");

    dir = case_dir("invalid_json");
    put(dir, "model.json", "{\"weightsManifest\": [", 21);
    expect_fail("invalid JSON", dir, RVM_EFORMAT, "invalid JSON");

    dir = case_dir("trailing_garbage");
    put_json_then(dir, jtext, jlen, " }", 2);
    expect_fail("trailing garbage", dir, RVM_EFORMAT, "invalid JSON");

    dir = case_dir("embedded_nul");
    put_json_then(dir, jtext, jlen, "\0xx", 3);
    expect_fail("NUL then garbage", dir, RVM_EFORMAT, "invalid JSON");

    dir = case_dir("no_manifest");
    put(dir, "model.json", "{\"format\": \"graph-model\"}", 25);
    expect_fail("no weightsManifest", dir, RVM_EFORMAT, "weightsManifest");

    dir = case_dir("manifest_not_array");
    put(dir, "model.json", "{\"weightsManifest\": 5}", 22);
    expect_fail("weightsManifest = 5", dir, RVM_EFORMAT, "weightsManifest");

    dir = case_dir("short_shard");
    put(dir, "model.json", jtext, jlen);
    put(dir, "group1-shard1of1.bin", shard, shard_len - 1);
    expect_fail("shard too short", dir, RVM_EFORMAT, "end at 3739354");

    dir = case_dir("long_shard");
    put(dir, "model.json", jtext, jlen);
    {
        char *s = malloc(shard_len + 1);
        memcpy(s, shard, shard_len);
        s[shard_len] = 0;
        put(dir, "group1-shard1of1.bin", s, shard_len + 1);
        free(s);
    }
    expect_fail("shard too long", dir, RVM_EFORMAT, "too long");

    /* model.json larger than the cap; a sparse file, so this costs no disk. */
    dir = case_dir("huge_json");
    put(dir, "group1-shard1of1.bin", shard, shard_len);
    {
        char path[1100];
        snprintf(path, sizeof(path), "%s/model.json", dir);
        put(dir, "model.json", "{", 1);
        CHECK(truncate(path, (off_t)(64 << 20) + 1) == 0, "truncate: %s", strerror(errno));
    }
    expect_fail("model.json > 64 MiB", dir, RVM_ENOMEM, "MiB");

    JSON_CASE("no_shape", cJSON_DeleteItemFromObject(cJSON_GetArrayItem(weights_of(j), 0), "shape"),
              RVM_EFORMAT, "shape");
    JSON_CASE("no_name", cJSON_DeleteItemFromObject(cJSON_GetArrayItem(weights_of(j), 0), "name"),
              RVM_EFORMAT, "no name");
    JSON_CASE("weight_not_object", cJSON_ReplaceItemInArray(weights_of(j), 0, cJSON_CreateNumber(7)),
              RVM_EFORMAT, "not an object");
    JSON_CASE("no_paths",
              cJSON_DeleteItemFromObject(
                  cJSON_GetArrayItem(cJSON_GetObjectItem(j, "weightsManifest"), 0), "paths"),
              RVM_EFORMAT, "paths");
    JSON_CASE("path_traversal",
              cJSON_ReplaceItemInObject(
                  cJSON_GetArrayItem(cJSON_GetObjectItem(j, "weightsManifest"), 0), "paths",
                  cJSON_CreateStringArray((const char *[]){"../group1-shard1of1.bin"}, 1)),
              RVM_EFORMAT, "plain file name");
    JSON_CASE("unknown_dtype", set_string(cJSON_GetArrayItem(weights_of(j), 3), "dtype", "float64"),
              RVM_EFORMAT, "float64");
    JSON_CASE("unknown_quantization",
              set_string(cJSON_GetObjectItem(cJSON_GetArrayItem(weights_of(j), 0), "quantization"),
                         "dtype", "uint4"),
              RVM_EFORMAT, "uint4");
    JSON_CASE("quantized_without_scale",
              cJSON_DeleteItemFromObject(
                  cJSON_GetObjectItem(cJSON_GetArrayItem(weights_of(j), 0), "quantization"),
                  "scale"),
              RVM_EFORMAT, "min and scale");
    JSON_CASE("huge_scale",
              cJSON_ReplaceItemInObject(
                  cJSON_GetObjectItem(cJSON_GetArrayItem(weights_of(j), 0), "quantization"),
                  "scale", cJSON_CreateNumber(1e300)),
              RVM_EFORMAT, "non-finite");
    {
        static const double big4[] = {2147483647.0, 2147483647.0, 2147483647.0, 2147483647.0};
        static const double big2[] = {1073741824.0, 1073741824.0};
        static const double gib[] = {1024, 1024, 1024, 2};
        static const double neg[] = {-1, 16};
        static const double frac[] = {1.5, 16};
        static const double many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        JSON_CASE("huge_dim", set_shape(cJSON_GetArrayItem(weights_of(j), 0), big4, 4),
                  RVM_EFORMAT, "dimension");
        JSON_CASE("overflowing_shape", set_shape(cJSON_GetArrayItem(weights_of(j), 0), big2, 2),
                  RVM_ENOMEM, "limit");
        JSON_CASE("shape_over_cap", set_shape(cJSON_GetArrayItem(weights_of(j), 0), gib, 4),
                  RVM_ENOMEM, "limit");
        JSON_CASE("negative_dim", set_shape(cJSON_GetArrayItem(weights_of(j), 0), neg, 2),
                  RVM_EFORMAT, "dimension");
        JSON_CASE("fractional_dim", set_shape(cJSON_GetArrayItem(weights_of(j), 0), frac, 2),
                  RVM_EFORMAT, "dimension");
        JSON_CASE("rank_9", set_shape(cJSON_GetArrayItem(weights_of(j), 0), many, 9),
                  RVM_EFORMAT, "rank");
    }
    /* Same byte count, so only the mapping can notice. */
    JSON_CASE("missing_tensor",
              set_string(weight_named(j, "/conv2d_62/Conv2D/ReadVariableOp"), "name",
                         "StatefulPartitionedCall/conv2d_62/Conv2D/Renamed"),
              RVM_EFORMAT, "kernel of layer 'conv2d_62' is missing");
    {
        static const double swapped[] = {1, 1, 4, 16};
        JSON_CASE("wrong_shape",
                  set_shape(weight_named(j, "/conv2d_62/Conv2D/ReadVariableOp"), swapped, 4),
                  RVM_EFORMAT, "[1,1,4,16], expected [1,1,16,4]");
    }
    JSON_CASE("duplicate_tensor",
              set_string(weight_named(j, "/depthwise_conv2d/depthwise_bn_offset"), "name",
                         cJSON_GetStringValue(cJSON_GetObjectItem(
                             weight_named(j, "/conv2d/Conv2D_bn_offset"), "name"))),
              RVM_EFORMAT, "appears twice");
    JSON_CASE("unexpected_layer",
              set_string(weight_named(j, "StatefulPartitionedCall/x"), "name",
                         "StatefulPartitionedCall/conv2d_99/BiasAdd/ReadVariableOp"),
              RVM_EFORMAT, "belongs to no layer");
    {
        /* 16 int32 take the 64 bytes of the 64 uint8 of the real kernel. */
        static const double ints[] = {1, 1, 16, 1};
        JSON_CASE("int_kernel",
                  cJSON *k = weight_named(j, "/conv2d_62/Conv2D/ReadVariableOp");
                  set_string(k, "dtype", "int32"); cJSON_DeleteItemFromObject(k, "quantization");
                  set_shape(k, ints, 4),
                  RVM_EFORMAT, "not a float32 tensor");
    }

    {
        /* A weight claiming 128 MiB next to the 3.6 MiB shard: refused from the file size. */
        static const double big[] = {1024, 1024, 128};
        JSON_CASE("claims_128MiB", set_shape(weight_named(j, "StatefulPartitionedCall/x"), big, 3),
                  RVM_EFORMAT, "end at 3739355");
    }

    /* The shard split in two files at an arbitrary byte (the converter splits at 4 MiB). */
    {
        cJSON *j = cJSON_Duplicate(manifest_json, 1);
        cJSON_ReplaceItemInObject(
            cJSON_GetArrayItem(cJSON_GetObjectItem(j, "weightsManifest"), 0), "paths",
            cJSON_CreateStringArray((const char *[]){"part-a.bin", "part-b.bin"}, 2));
        dir = case_dir("two_shards");
        put_json(dir, j);
        cJSON_Delete(j);
        put(dir, "part-a.bin", shard, 1000003);
        put(dir, "part-b.bin", shard + 1000003, shard_len - 1000003);
        char err[256];
        rvmi_weights w, ref;
        int rc = rvmi_tfjs_load(dir, &w, err, sizeof(err));
        int rc2 = rvmi_tfjs_load(MODEL_DIR, &ref, err, sizeof(err));
        CHECK(rc == 0 && rc2 == 0 && max_diff(&w, &ref, true) == 0.0, "two shards: %d %s", rc,
              err);
        rvmi_weights_free(&w);
        rvmi_weights_free(&ref);
        put(dir, "part-b.bin", shard + 1000003, shard_len - 1000003 - 7);
        expect_fail("second shard short", dir, RVM_EFORMAT, "end at 3739348");
        put(dir, "part-a.bin", shard, 1000003 + 7);
        put(dir, "part-b.bin", shard + 1000003, shard_len - 1000003);
        expect_fail("first shard long", dir, RVM_EFORMAT, "part-b.bin' is too long");
    }

    /* The unmodified model written by the same helpers loads: the edits above are what fail. */
    {
        cJSON *j = cJSON_Duplicate(manifest_json, 1);
        dir = case_dir("control");
        put_json(dir, j);
        put(dir, "group1-shard1of1.bin", shard, shard_len);
        cJSON_Delete(j);
        char err[256];
        rvmi_weights w;
        int rc = rvmi_tfjs_load(dir, &w, err, sizeof(err));
        CHECK(rc == 0 && w.count == REF_COUNT, "control case: %d %s", rc, err);
        rvmi_weights_free(&w);
    }

    cJSON_Delete(manifest_json);
    free(jtext);
    free(shard);
}

int main(void)
{
    test_shipped();
    test_hostile();
    return check_report();
}
