/* Loader of the official TensorFlow.js release of RVM MobileNetV3 (graph model: model.json
 * plus binary shards), mapped onto the official PyTorch state_dict naming and layout.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The TF.js converter folded every BatchNorm it could into the preceding convolution (the
 * kernel is pre-scaled, the BN shift becomes a "_bn_offset" bias). We give each folded BN back
 * to PyTorch as an identity-statistics BN (weight 1, bias = offset, running_mean 0,
 * running_var 1 - eps) so that y = (x - 0) / sqrt(1 - eps + eps) * 1 + offset is exactly the
 * TF.js arithmetic. The dilated depthwise convolutions of the last stage were exported with
 * the BN unfolded (Scaled/Offset tensors), which become the BN weight and bias.
 *
 * Tensors are found by their Keras layer name (conv2d_7, depthwise_conv2d_3,
 * batch_normalization_37). Keras numbers layers of a kind in creation order, which is the
 * module order of the PyTorch model, so the layer list below (built from the official model
 * definition) assigns each layer its Keras name by counting; a lookup then has to find that
 * exact name, with the exact shape, exactly once.
 *
 * The folder is untrusted: every manifest field is checked, sizes are capped before anything
 * is allocated, and the shards must hold exactly the bytes the manifest describes. */
#define _POSIX_C_SOURCE 200809L

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/arch.h"
#include "model/library.h"
#include "model/weights.h"
#include "rvm.h"

/* The real model.json is 0.6 MiB and its shard 3.6 MiB; the caps only keep a hostile folder
 * from making us allocate without bound. */
#define TFJS_MAX_JSON_BYTES ((uint64_t)64 << 20)
#define TFJS_MAX_SHARD_BYTES ((uint64_t)1 << 30) /* all shards together */
#define TFJS_MAX_RANK 8
#define TFJS_MAX_LAYERS 96

/* ------------------------------------------------------------------------------------------
 * Error messages (written with rvmi_seterr: one line, never longer than the caller's buffer). */

/* Weight names are up to ~200 characters, mostly scopes; the end says which layer. Messages
 * drop the scope every name of the official export starts with, and cut very long names at a
 * '/' so they stay readable. */
static const char *name_tail(const char *name)
{
    static const char scope[] =
        "StatefulPartitionedCall/matting_network_wrapper/StatefulPartitionedCall/";
    if (strncmp(name, scope, sizeof(scope) - 1) == 0 && name[sizeof(scope) - 1])
        name += sizeof(scope) - 1;
    size_t n = strlen(name);
    if (n > 120) {
        const char *cut = strchr(name + n - 120, '/');
        name = cut && cut[1] ? cut + 1 : name + n - 120;
    }
    return name;
}

/* ------------------------------------------------------------------------------------------
 * The layers of MattingNetwork('mobilenetv3', refiner='fast_guided_filter') that hold
 * parameters, in module (= state_dict) order. */

typedef struct {
    char conv[64];     /* PyTorch Conv2d module */
    char bn[64];       /* BatchNorm2d following it, "" when none */
    char tf_conv[32];  /* Keras layer of the kernel; "" when not exported (project_seg) */
    char tf_bn[32];    /* Keras BatchNormalization left unfolded by the converter, or "" */
    int out, in, k;    /* weight [out, in, k, k]; in is per group (1 when depthwise) */
    bool depthwise;
    bool bias;         /* the PyTorch conv has a bias */
    double eps;        /* of bn (PyTorch stores it as a double) */
} layer;

typedef struct {
    layer l[TFJS_MAX_LAYERS];
    int n;
    int tf_conv, tf_dw, tf_cba; /* Keras name counters */
} layer_list;

/* Keras names the first layer of a kind "conv2d", the next "conv2d_1", ... */
static void keras_name(char *buf, size_t size, const char *base, int index)
{
    if (index == 0)
        snprintf(buf, size, "%s", base);
    else
        snprintf(buf, size, "%s_%d", base, index);
}

static layer *add_layer(layer_list *L, const char *conv, const char *bn, int out, int in, int k,
                        bool depthwise, bool bias, double eps)
{
    layer *l = &L->l[L->n++];
    memset(l, 0, sizeof(*l));
    snprintf(l->conv, sizeof(l->conv), "%s", conv);
    snprintf(l->bn, sizeof(l->bn), "%s", bn ? bn : "");
    if (depthwise)
        keras_name(l->tf_conv, sizeof(l->tf_conv), "depthwise_conv2d", L->tf_dw++);
    else
        keras_name(l->tf_conv, sizeof(l->tf_conv), "conv2d", L->tf_conv++);
    l->out = out;
    l->in = in;
    l->k = k;
    l->depthwise = depthwise;
    l->bias = bias;
    l->eps = eps;
    return l;
}

/* The layers of arch.c's MobileNetV3 (the export has no deep guided filter), each given its
 * Keras name by counting. */
static void build_layers(layer_list *L)
{
    rvmi_arch arch;
    rvmi_arch_describe(&arch, RVM_VARIANT_MOBILENETV3, false);
    memset(L, 0, sizeof(*L));
    for (int i = 0; i < arch.n; i++) {
        const rvmi_arch_conv *c = &arch.conv[i];
        layer *l = add_layer(L, c->name, c->bn[0] ? c->bn : NULL, c->cout,
                             c->depthwise ? 1 : c->cin, c->k, c->depthwise, c->bias, c->bn_eps);
        /* The backbone's Conv2dNormActivation layers are the exporter's conv_bn_activation
         * layers, whose BN (batch_normalization_<same number>) is named after their own
         * counter. A dilated depthwise conv becomes SpaceToBatch + conv + BatchToSpace in TF,
         * which stopped the converter from folding its BN. */
        if (c->bn[0] && strncmp(c->name, "backbone.", 9) == 0) {
            if (c->depthwise && c->dilation > 1)
                keras_name(l->tf_bn, sizeof(l->tf_bn), "batch_normalization", L->tf_cba);
            L->tf_cba++;
        }
        /* The TF.js export has no segmentation head; project_seg stays zero. It is the last
         * layer, so it does not shift the Keras numbering of the others. */
        if (strcmp(c->name, "project_seg.conv") == 0)
            l->tf_conv[0] = '\0';
    }
}

/* ------------------------------------------------------------------------------------------
 * The manifest. */

typedef enum { ST_F32, ST_I32, ST_BOOL, ST_Q_U8, ST_Q_U16, ST_Q_F16 } storage;

typedef enum { ROLE_NONE, ROLE_KERNEL, ROLE_BIAS, ROLE_BN_SCALE, ROLE_BN_OFFSET } role;

typedef struct {
    const char *name; /* points into the parsed JSON */
    int group;
    uint64_t offset;  /* within the group's bytes */
    uint64_t numel, nbytes;
    int ndim;
    int64_t shape[TFJS_MAX_RANK];
    storage st;
    bool is_float;    /* dtype float32, quantized or not */
    float scale, min;
    /* What the name says the tensor is, if it belongs to a layer we know the form of. */
    role role;
    const char *key;  /* Keras layer name inside name, not terminated */
    size_t keylen;
    bool used;
} entry;

typedef struct {
    const cJSON *paths;
    uint64_t nbytes;
    const uint8_t *data; /* the group's bytes: owned (read from its shards) or the caller's */
    uint8_t *owned;
} group;

typedef struct {
    char *dir;         /* folder of model.json */
    const char *jname; /* model.json's file name, for messages */
    cJSON *json;
    group *groups;
    int ngroups;
    entry *entries;
    int nentries;
    float *scratch;
    size_t scratch_len;
} loader;

static void loader_free(loader *ld)
{
    for (int g = 0; g < ld->ngroups; g++)
        free(ld->groups[g].owned);
    free(ld->groups);
    free(ld->entries);
    free(ld->scratch);
    cJSON_Delete(ld->json);
    free(ld->dir);
}

/* Keras layer names we map tensors of: base name, optionally followed by _<number>. */
static bool is_layer_key(const char *s, size_t n)
{
    static const char *const bases[] = {"conv2d", "depthwise_conv2d", "batch_normalization"};
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        size_t bl = strlen(bases[b]);
        if (n < bl || memcmp(s, bases[b], bl) != 0)
            continue;
        if (n == bl)
            return true;
        if (s[bl] != '_' || n == bl + 1 || n > bl + 6)
            continue;
        bool digits = true;
        for (size_t i = bl + 1; i < n; i++)
            digits &= s[i] >= '0' && s[i] <= '9';
        if (digits)
            return true;
    }
    return false;
}

/* Finds "<layer>/<role tail>" at the end of a weight name. These are the names the TF.js
 * converter gives to folded kernels/offsets and to variables read unchanged. */
static void classify(entry *e)
{
    static const struct {
        const char *tail;
        role r;
    } tails[] = {
        {"Conv2D_weights", ROLE_KERNEL},         {"depthwise_weights", ROLE_KERNEL},
        {"Conv2D/ReadVariableOp", ROLE_KERNEL},  {"depthwise/ReadVariableOp", ROLE_KERNEL},
        {"Conv2D_bn_offset", ROLE_BIAS},         {"depthwise_bn_offset", ROLE_BIAS},
        {"BiasAdd/ReadVariableOp", ROLE_BIAS},   {"FusedBatchNormV3/Scaled", ROLE_BN_SCALE},
        {"FusedBatchNormV3/Offset", ROLE_BN_OFFSET},
    };
    size_t n = strlen(e->name);
    e->role = ROLE_NONE;
    for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
        size_t tl = strlen(tails[t].tail);
        if (n < tl + 2 || strcmp(e->name + n - tl, tails[t].tail) != 0 ||
            e->name[n - tl - 1] != '/')
            continue;
        size_t end = n - tl - 1, start = end;
        while (start > 0 && e->name[start - 1] != '/')
            start--;
        if (is_layer_key(e->name + start, end - start)) {
            e->role = tails[t].r;
            e->key = e->name + start;
            e->keylen = end - start;
        }
        return;
    }
}

static int parse_weight(loader *ld, const cJSON *w, int g, int i, uint64_t *group_bytes,
                        char *err, size_t errlen)
{
    const char *jn = ld->jname;
    entry *e = &ld->entries[ld->nentries];
    memset(e, 0, sizeof(*e));
    if (!cJSON_IsObject(w))
        return rvmi_seterr(err, errlen, RVM_EFORMAT,
                           "%s: weightsManifest[%d].weights[%d] is not an object", jn, g, i);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        return rvmi_seterr(err, errlen, RVM_EFORMAT,
                           "%s: weightsManifest[%d].weights[%d] has no name", jn, g, i);
    e->name = name->valuestring;
    const char *tn = name_tail(e->name);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
    if (!cJSON_IsArray(shape))
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weight '%s' has no \"shape\" array", jn,
                           tn);
    int rank = cJSON_GetArraySize(shape);
    if (rank > TFJS_MAX_RANK)
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weight '%s' has rank %d (at most %d)", jn,
                           tn, rank, TFJS_MAX_RANK);
    e->ndim = rank;
    e->numel = 1;
    const cJSON *d;
    int k = 0;
    cJSON_ArrayForEach(d, shape)
    {
        /* Every dimension is at most the byte cap (an element takes at least one byte), so
         * the running product below stays under 2^60 and cannot overflow. */
        double v = cJSON_IsNumber(d) ? d->valuedouble : -1.0;
        if (!(v >= 0.0 && v <= (double)TFJS_MAX_SHARD_BYTES) || v != floor(v))
            return rvmi_seterr(
                err, errlen, RVM_EFORMAT,
                "%s: weight '%s' has an invalid dimension (not an integer in 0..%llu)", jn, tn,
                (unsigned long long)TFJS_MAX_SHARD_BYTES);
        e->shape[k++] = (int64_t)v;
        e->numel *= (uint64_t)v;
        if (e->numel > TFJS_MAX_SHARD_BYTES)
            return rvmi_seterr(err, errlen, RVM_ENOMEM,
                               "%s: weight '%s' has more elements than the %llu MiB limit allows",
                               jn, tn, (unsigned long long)(TFJS_MAX_SHARD_BYTES >> 20));
    }

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
    const char *dt = cJSON_IsString(dtype) ? dtype->valuestring : NULL;
    if (!dt)
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weight '%s' has no dtype", jn, tn);
    unsigned esize;
    if (strcmp(dt, "float32") == 0) {
        e->st = ST_F32;
        e->is_float = true;
        esize = 4;
    } else if (strcmp(dt, "int32") == 0) {
        e->st = ST_I32;
        esize = 4;
    } else if (strcmp(dt, "bool") == 0) {
        e->st = ST_BOOL;
        esize = 1;
    } else {
        return rvmi_seterr(err, errlen, RVM_EFORMAT,
                           "%s: weight '%s' has unsupported dtype '%.20s'", jn, tn, dt);
    }

    const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "quantization");
    if (q && !cJSON_IsNull(q)) {
        const cJSON *qd = cJSON_IsObject(q) ? cJSON_GetObjectItemCaseSensitive(q, "dtype") : NULL;
        const char *qt = cJSON_IsString(qd) ? qd->valuestring : NULL;
        if (!qt)
            return rvmi_seterr(err, errlen, RVM_EFORMAT,
                               "%s: weight '%s' has a malformed quantization", jn, tn);
        /* The converter quantizes float weights only. */
        if (e->st != ST_F32)
            return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weight '%s' is %s but quantized", jn,
                               tn, dt);
        if (strcmp(qt, "uint8") == 0 || strcmp(qt, "uint16") == 0) {
            e->st = qt[4] == '8' ? ST_Q_U8 : ST_Q_U16;
            esize = e->st == ST_Q_U8 ? 1 : 2;
            const cJSON *mn = cJSON_GetObjectItemCaseSensitive(q, "min");
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(q, "scale");
            if (!cJSON_IsNumber(mn) || !cJSON_IsNumber(sc))
                return rvmi_seterr(err, errlen, RVM_EFORMAT,
                                   "%s: weight '%s' is quantized without min and scale", jn, tn);
            /* Dequantization happens in float32, as TF.js does it. */
            e->min = (float)mn->valuedouble;
            e->scale = (float)sc->valuedouble;
            if (!isfinite(e->min) || !isfinite(e->scale))
                return rvmi_seterr(err, errlen, RVM_EFORMAT,
                                   "%s: weight '%s' has a non-finite quantization min or scale", jn,
                                   tn);
        } else if (strcmp(qt, "float16") == 0) {
            e->st = ST_Q_F16;
            esize = 2;
        } else {
            return rvmi_seterr(err, errlen, RVM_EFORMAT,
                               "%s: weight '%s' has unsupported quantization dtype '%.20s'", jn, tn,
                               qt);
        }
    }

    e->group = g;
    e->nbytes = e->numel * esize;
    e->offset = *group_bytes;
    *group_bytes += e->nbytes;
    classify(e);
    ld->nentries++;
    return 0;
}

static int parse_manifest(loader *ld, char *err, size_t errlen)
{
    const char *jn = ld->jname;
    if (!cJSON_IsObject(ld->json))
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: not a JSON object", jn);
    const cJSON *man = cJSON_GetObjectItemCaseSensitive(ld->json, "weightsManifest");
    if (!cJSON_IsArray(man) || cJSON_GetArraySize(man) == 0)
        return rvmi_seterr(err, errlen, RVM_EFORMAT,
                           "%s: no \"weightsManifest\" array (not a TF.js graph model)", jn);

    int ngroups = cJSON_GetArraySize(man), nweights = 0;
    const cJSON *grp;
    cJSON_ArrayForEach(grp, man)
    {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(grp, "weights");
        if (!cJSON_IsObject(grp) || !cJSON_IsArray(ws))
            return rvmi_seterr(err, errlen, RVM_EFORMAT,
                               "%s: weightsManifest entry without a \"weights\" array", jn);
        int n = cJSON_GetArraySize(ws);
        if (n > INT32_MAX / 2 - nweights) /* cannot happen below the JSON size cap */
            return rvmi_seterr(err, errlen, RVM_ENOMEM, "%s: too many weights", jn);
        nweights += n;
    }
    ld->groups = calloc((size_t)ngroups, sizeof(*ld->groups));
    ld->entries = calloc(nweights ? (size_t)nweights : 1, sizeof(*ld->entries));
    if (!ld->groups || !ld->entries)
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "%s: out of memory", jn);
    ld->ngroups = ngroups;

    uint64_t total = 0;
    int g = 0;
    cJSON_ArrayForEach(grp, man)
    {
        group *G = &ld->groups[g];
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(grp, "paths");
        if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) == 0)
            return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weightsManifest[%d] has no \"paths\"",
                               jn, g);
        const cJSON *p;
        cJSON_ArrayForEach(p, paths)
        {
            /* Shards must be plain files next to model.json: no way out of the folder. */
            const char *s = cJSON_IsString(p) ? p->valuestring : NULL;
            if (!s || !s[0] || strchr(s, '/') || strchr(s, '\\') || strcmp(s, ".") == 0 ||
                strcmp(s, "..") == 0)
                return rvmi_seterr(
                    err, errlen, RVM_EFORMAT,
                    "%s: weightsManifest[%d] has a shard path that is not a plain file "
                    "name in the model folder",
                    jn, g);
        }
        G->paths = paths;
        int i = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(grp, "weights"))
        {
            int rc = parse_weight(ld, w, g, i++, &G->nbytes, err, errlen);
            if (rc)
                return rc;
            /* Checked per weight so the sum never exceeds 2^31 + 2^32 and cannot overflow. */
            if (total + G->nbytes > TFJS_MAX_SHARD_BYTES)
                return rvmi_seterr(err, errlen, RVM_ENOMEM,
                                   "%s: the weights need more than the %llu MiB limit", jn,
                                   (unsigned long long)(TFJS_MAX_SHARD_BYTES >> 20));
        }
        total += G->nbytes;
        g++;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Files. */

/* Opens a regular file and returns its size (the caller checks it against a cap). Opened
 * without waiting: a FIFO in a checkpoint file's place would block open() until a writer
 * came (a run's set-up hung on it); it is refused as not a regular file. */
static FILE *open_regular(const char *path, uint64_t *size, char *err, size_t errlen, int *rc)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        *rc = rvmi_seterr(err, errlen, RVM_EIO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0) {
        close(fd);
        *rc = rvmi_seterr(err, errlen, RVM_EIO, "%s is not a regular file", path);
        return NULL;
    }
    FILE *f = fdopen(fd, "rb"); /* O_NONBLOCK does nothing to a regular file's reads */
    if (!f) {
        close(fd);
        *rc = rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
        return NULL;
    }
    *size = (uint64_t)st.st_size;
    return f;
}

/* Reads exactly n bytes and makes sure the file ends there (it may not grow meanwhile). */
static int read_exact(FILE *f, const char *path, uint8_t *dst, uint64_t n, char *err,
                      size_t errlen)
{
    if (n > 0 && fread(dst, 1, (size_t)n, f) != (size_t)n)
        return rvmi_seterr(err, errlen, RVM_EIO, "cannot read %s: %s", path,
                           ferror(f) ? strerror(errno) : "file shrank while reading");
    if (fgetc(f) != EOF)
        return rvmi_seterr(err, errlen, RVM_EIO, "cannot read %s: file grew while reading", path);
    return 0;
}

static char *join_path(const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, file, b + 1);
    }
    return p;
}

/* Parses model.json from buf, which holds size bytes and room for one more; frees buf. */
static int parse_json(loader *ld, char *buf, size_t size, char *err, size_t errlen)
{
    buf[size] = '\0';
    /* The terminating NUL is passed too: with it cJSON insists that nothing but whitespace
     * follows the value (without it, it would reject every document). */
    const char *end = NULL;
    ld->json = cJSON_ParseWithLengthOpts(buf, size + 1, &end, 1);
    size_t pos = end ? (size_t)(end - buf) : 0;
    free(buf);
    if (!ld->json)
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: invalid JSON near byte %zu", ld->jname,
                           pos);
    if (pos != size) /* cJSON skips NULs as whitespace; anything else after the value fails */
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: invalid JSON near byte %zu", ld->jname,
                           pos);
    return 0;
}

static int read_json(loader *ld, const char *jpath, char *err, size_t errlen)
{
    int rc = 0;
    uint64_t size;
    FILE *f = open_regular(jpath, &size, err, errlen, &rc);
    if (!f)
        return rc;
    if (size > TFJS_MAX_JSON_BYTES) {
        fclose(f);
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "%s: larger than %llu MiB", ld->jname,
                           (unsigned long long)(TFJS_MAX_JSON_BYTES >> 20));
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "%s: out of memory", ld->jname);
    }
    rc = read_exact(f, jpath, (uint8_t *)buf, size, err, errlen);
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    return parse_json(ld, buf, (size_t)size, err, errlen);
}

/* Group g's shards hold only `have` of the bytes its weights need. */
static int shards_too_short(const loader *ld, int g, uint64_t have, char *err, size_t errlen)
{
    /* Name the first weight that does not fit: that is what a reader wants to know. */
    const entry *e = NULL;
    for (int i = 0; i < ld->nentries && !e; i++)
        if (ld->entries[i].group == g && ld->entries[i].offset + ld->entries[i].nbytes > have)
            e = &ld->entries[i];
    return rvmi_seterr(
        err, errlen, RVM_EFORMAT,
        "%s: weight '%s' needs bytes %llu..%llu but the shards of group %d end at %llu", ld->jname,
        e ? name_tail(e->name) : "?", (unsigned long long)(e ? e->offset : 0),
        (unsigned long long)(e ? e->offset + e->nbytes : 0), g + 1, (unsigned long long)have);
}

/* Checks that the shards of group g hold exactly the bytes its weights need. Done from the
 * file sizes before any allocation, so a manifest claiming a gigabyte next to a tiny shard
 * costs nothing. */
static int check_shard_sizes(loader *ld, int g, char *err, size_t errlen)
{
    const group *G = &ld->groups[g];
    uint64_t have = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, G->paths)
    {
        char *path = join_path(ld->dir, p->valuestring);
        if (!path)
            return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
        struct stat st;
        int rc = 0;
        if (stat(path, &st) != 0)
            rc = rvmi_seterr(err, errlen, RVM_EIO, "cannot open %s: %s", path, strerror(errno));
        else if (!S_ISREG(st.st_mode) || st.st_size < 0)
            rc = rvmi_seterr(err, errlen, RVM_EIO, "%s is not a regular file", path);
        else if ((uint64_t)st.st_size > G->nbytes - have)
            rc = rvmi_seterr(
                err, errlen, RVM_EFORMAT,
                "%s: shard '%.80s' is too long: the weights of group %d take %llu bytes, "
                "the shards hold at least %llu",
                ld->jname, p->valuestring, g + 1, (unsigned long long)G->nbytes,
                (unsigned long long)(have + (uint64_t)st.st_size));
        free(path);
        if (rc)
            return rc;
        have += (uint64_t)st.st_size;
    }
    if (have < G->nbytes)
        return shards_too_short(ld, g, have, err, errlen);
    return 0;
}

static int read_shards(loader *ld, char *err, size_t errlen)
{
    for (int g = 0; g < ld->ngroups; g++) {
        int rc = check_shard_sizes(ld, g, err, errlen);
        if (rc)
            return rc;
        group *G = &ld->groups[g];
        G->owned = malloc(G->nbytes ? (size_t)G->nbytes : 1);
        if (!G->owned)
            return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory for %llu bytes of weights",
                               (unsigned long long)G->nbytes);
        G->data = G->owned;
        uint64_t filled = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, G->paths)
        {
            char *path = join_path(ld->dir, p->valuestring);
            if (!path)
                return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
            uint64_t size;
            FILE *f = open_regular(path, &size, err, errlen, &rc);
            /* The sizes were right a moment ago; a file replaced since is an I/O problem. */
            if (f && size > G->nbytes - filled)
                rc = rvmi_seterr(err, errlen, RVM_EIO, "cannot read %s: file changed while reading",
                                 path);
            if (f && !rc)
                rc = read_exact(f, path, G->owned + filled, size, err, errlen);
            if (f)
                fclose(f);
            free(path);
            if (rc)
                return rc;
            filled += size;
        }
        if (filled != G->nbytes)
            return rvmi_seterr(err, errlen, RVM_EIO, "cannot read the shards of group %d: files "
                               "changed while reading", g + 1);
    }
    return 0;
}

/* The in-memory form: one buffer holds the shards of all groups, in manifest order. The
 * groups point into it (no copy); it must hold exactly the bytes the manifest describes. */
static int attach_shards(loader *ld, const uint8_t *shard, size_t len, char *err, size_t errlen)
{
    static const uint8_t none[1];
    if (!shard)
        shard = none; /* len is 0: no weight may need a byte */
    uint64_t off = 0;
    for (int g = 0; g < ld->ngroups; g++) {
        group *G = &ld->groups[g];
        if (G->nbytes > (uint64_t)len - off)
            return shards_too_short(ld, g, (uint64_t)len - off, err, errlen);
        G->data = shard + off;
        off += G->nbytes;
    }
    if (off != (uint64_t)len)
        return rvmi_seterr(
            err, errlen, RVM_EFORMAT,
            "%s: the shard data is too long: the weights take %llu bytes, it holds %llu", ld->jname,
            (unsigned long long)off, (unsigned long long)len);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Tensor conversion. */

/* The product is stored before the sum so that no compiler fuses them into an FMA: TF.js
 * (and the reference .pth) round after the multiply, and we want the same bits. */
static float dequant(unsigned q, float scale, float min)
{
    volatile float prod = (float)q * scale;
    return prod + min;
}

/* Decodes a float tensor of the manifest into dst (numel floats, TF order). */
static int decode(const loader *ld, const entry *e, float *dst, char *err, size_t errlen)
{
    const uint8_t *s = ld->groups[e->group].data + e->offset;
    size_t n = (size_t)e->numel;
    switch (e->st) {
    case ST_Q_U8: {
        float lut[256];
        for (unsigned q = 0; q < 256; q++)
            lut[q] = dequant(q, e->scale, e->min);
        for (size_t i = 0; i < n; i++)
            dst[i] = lut[s[i]];
        break;
    }
    case ST_Q_U16:
        for (size_t i = 0; i < n; i++)
            dst[i] = dequant((unsigned)s[2 * i] | (unsigned)s[2 * i + 1] << 8, e->scale, e->min);
        break;
    case ST_Q_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = rvmi_half_to_float((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        break;
    case ST_F32:
        for (size_t i = 0; i < n; i++) {
            /* The shard is little-endian whatever the host. */
            uint32_t u = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 |
                         (uint32_t)s[4 * i + 2] << 16 | (uint32_t)s[4 * i + 3] << 24;
            memcpy(&dst[i], &u, 4);
        }
        break;
    default:
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weight '%s' is not a float tensor",
                           ld->jname, name_tail(e->name));
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weight '%s' holds a non-finite value",
                               ld->jname, name_tail(e->name));
    return 0;
}

/* Finds the one tensor of a Keras layer with the given role and checks its TF shape. */
static int find(loader *ld, const char *key, role r, int ndim, const int64_t *shape,
                const entry **out, char *err, size_t errlen)
{
    static const char *const what[] = {"", "kernel", "bias", "BatchNorm scale", "BatchNorm offset"};
    size_t kl = strlen(key);
    entry *hit = NULL;
    for (int i = 0; i < ld->nentries; i++) {
        entry *e = &ld->entries[i];
        if (e->role != r || e->keylen != kl || memcmp(e->key, key, kl) != 0)
            continue;
        if (hit)
            return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: the %s of layer '%s' appears twice",
                               ld->jname, what[r], key);
        hit = e;
    }
    if (!hit)
        return rvmi_seterr(err, errlen, RVM_EFORMAT,
                           "%s: the %s of layer '%s' is missing (not the RVM MobileNetV3 model?)",
                           ld->jname, what[r], key);
    if (!hit->is_float)
        return rvmi_seterr(err, errlen, RVM_EFORMAT, "%s: weight '%s' is not a float32 tensor",
                           ld->jname, name_tail(hit->name));
    bool same = hit->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = hit->shape[d] == shape[d];
    if (!same) {
        char want[64] = "", got[96] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%lld", d ? "," : "",
                     (long long)shape[d]);
        for (int d = 0; d < hit->ndim; d++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%lld", d ? "," : "",
                     (long long)hit->shape[d]);
        return rvmi_seterr(err, errlen, RVM_EFORMAT,
                           "%s: weight '%s' has shape [%s], expected [%s]", ld->jname,
                           name_tail(hit->name), got, want);
    }
    hit->used = true;
    *out = hit;
    return 0;
}

static int emit(rvmi_weights *w, const char *module, const char *param, int ndim,
                const int64_t *shape, float *data, char *err, size_t errlen)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.%s", module, param);
    if (!data || rvmi_weights_add(w, name, ndim, shape, data) != 0) {
        free(data);
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
    }
    return 0;
}

static float *filled(size_t n, float v)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; p && i < n; i++)
        p[i] = v;
    return p;
}

/* Decodes one manifest tensor into a new buffer (vectors only: no layout change). */
static int vector_of(loader *ld, const entry *e, float **out, char *err, size_t errlen)
{
    *out = malloc((size_t)e->numel * sizeof(float));
    if (!*out)
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
    int rc = decode(ld, e, *out, err, errlen);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static int map_layer(loader *ld, const layer *l, rvmi_weights *w, char *err, size_t errlen)
{
    const int64_t wshape[4] = {l->out, l->in, l->k, l->k};
    const int64_t vshape[1] = {l->out};
    size_t wn = (size_t)l->out * (size_t)l->in * (size_t)l->k * (size_t)l->k;
    int rc;

    if (!l->tf_conv[0]) { /* not in the export: zeros */
        rc = emit(w, l->conv, "weight", 4, wshape, calloc(wn, sizeof(float)), err, errlen);
        if (!rc && l->bias)
            rc = emit(w, l->conv, "bias", 1, vshape, calloc((size_t)l->out, sizeof(float)), err,
                      errlen);
        return rc;
    }

    /* TF kernels are [kh, kw, in, out]; a depthwise kernel is [kh, kw, channels, 1], which
     * has the memory layout of [kh, kw, 1, channels], so one transpose serves both. */
    const int64_t tshape[4] = {l->k, l->k, l->depthwise ? l->out : l->in,
                               l->depthwise ? 1 : l->out};
    const entry *ke, *be = NULL;
    rc = find(ld, l->tf_conv, ROLE_KERNEL, 4, tshape, &ke, err, errlen);
    /* The conv's own bias, or the folded BN's offset; absent only for a conv without bias
     * whose BN was left unfolded, or which has no BN at all (LR-ASPP's gate). */
    bool has_bias = l->bias || (l->bn[0] && !l->tf_bn[0]);
    if (!rc && has_bias)
        rc = find(ld, l->tf_conv, ROLE_BIAS, 1, vshape, &be, err, errlen);
    if (rc)
        return rc;

    if (wn > ld->scratch_len) {
        float *s = realloc(ld->scratch, wn * sizeof(float));
        if (!s)
            return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
        ld->scratch = s;
        ld->scratch_len = wn;
    }
    rc = decode(ld, ke, ld->scratch, err, errlen);
    if (rc)
        return rc;
    float *kw = malloc(wn * sizeof(float));
    if (kw) {
        const float *src = ld->scratch;
        int K = l->k, I = l->in, O = l->out;
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++)
                for (int y = 0; y < K; y++)
                    for (int x = 0; x < K; x++)
                        kw[(((size_t)o * I + i) * K + y) * K + x] =
                            src[(((size_t)y * K + x) * I + i) * O + o];
    }
    rc = emit(w, l->conv, "weight", 4, wshape, kw, err, errlen);
    if (rc)
        return rc;

    float *bias = NULL;
    if (be && (rc = vector_of(ld, be, &bias, err, errlen)) != 0)
        return rc;
    if (l->bias)
        return emit(w, l->conv, "bias", 1, vshape, bias, err, errlen);
    if (!l->bn[0])
        return 0;

    /* BN after a conv without bias: the folded offset, or the unfolded BN's scale/offset. */
    float *scale = NULL;
    if (l->tf_bn[0]) {
        const entry *se, *oe;
        rc = find(ld, l->tf_bn, ROLE_BN_SCALE, 1, vshape, &se, err, errlen);
        if (!rc)
            rc = find(ld, l->tf_bn, ROLE_BN_OFFSET, 1, vshape, &oe, err, errlen);
        if (!rc)
            rc = vector_of(ld, se, &scale, err, errlen);
        if (!rc && (rc = vector_of(ld, oe, &bias, err, errlen)) != 0)
            free(scale);
        if (rc)
            return rc;
    } else {
        scale = filled((size_t)l->out, 1.0f);
    }
    rc = emit(w, l->bn, "weight", 1, vshape, scale, err, errlen);
    if (rc) {
        free(bias);
        return rc;
    }
    rc = emit(w, l->bn, "bias", 1, vshape, bias, err, errlen);
    if (!rc)
        rc = emit(w, l->bn, "running_mean", 1, vshape, filled((size_t)l->out, 0.0f), err,
                  errlen);
    if (!rc)
        rc = emit(w, l->bn, "running_var", 1, vshape, filled((size_t)l->out, (float)(1.0 - l->eps)),
                  err, errlen);
    if (!rc)
        rc = emit(w, l->bn, "num_batches_tracked", 0, NULL, filled(1, 0.0f), err, errlen);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */

/* Everything after model.json is parsed: the manifest, the shard bytes (read from the folder,
 * or the caller's buffer when in_memory), and the layers. */
static int load_parsed(loader *ld, bool in_memory, const uint8_t *shard, size_t shard_len,
                       rvmi_weights *out, char *err, size_t errlen)
{
    int rc = parse_manifest(ld, err, errlen);
    if (!rc)
        rc = in_memory ? attach_shards(ld, shard, shard_len, err, errlen)
                       : read_shards(ld, err, errlen);

    layer_list *L = NULL;
    if (!rc && !(L = malloc(sizeof(*L))))
        rc = rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
    if (!rc) {
        build_layers(L);
        for (int i = 0; i < L->n && !rc; i++)
            rc = map_layer(ld, &L->l[i], out, err, errlen);
    }
    /* A layer tensor we did not consume means a graph with layers RVM does not have. */
    for (int i = 0; i < ld->nentries && !rc; i++)
        if (ld->entries[i].role != ROLE_NONE && !ld->entries[i].used)
            rc = rvmi_seterr(err, errlen, RVM_EFORMAT,
                             "%s: weight '%s' belongs to no layer of RVM MobileNetV3", ld->jname,
                             name_tail(ld->entries[i].name));
    free(L);
    return rc;
}

static int load(loader *ld, const char *path, rvmi_weights *out, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return rvmi_seterr(err, errlen, RVM_EIO, "cannot open %s: %s", path, strerror(errno));

    char *jpath;
    if (S_ISDIR(st.st_mode)) {
        ld->dir = strdup(path);
        jpath = join_path(path, "model.json");
    } else {
        /* model.json given: its folder holds the shards. */
        const char *slash = strrchr(path, '/');
        ld->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
        jpath = strdup(path);
    }
    if (!ld->dir || !jpath) {
        free(jpath);
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
    }
    const char *slash = strrchr(jpath, '/');
    ld->jname = slash ? slash + 1 : jpath;

    int rc = read_json(ld, jpath, err, errlen);
    if (!rc)
        rc = load_parsed(ld, false, NULL, 0, out, err, errlen);
    free(jpath); /* ld->jname pointed into it; no message is written after this */
    ld->jname = NULL;
    return rc;
}

int rvmi_tfjs_check(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return rvmi_seterr(err, errlen, RVM_EIO, "cannot open %s: %s", path, strerror(errno));
    char *jpath = S_ISDIR(st.st_mode) ? join_path(path, "model.json") : strdup(path);
    if (!jpath)
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "out of memory");
    int rc = 0;
    uint64_t size;
    FILE *f = open_regular(jpath, &size, err, errlen, &rc);
    if (f)
        fclose(f);
    free(jpath);
    return rc;
}

int rvmi_tfjs_load(const char *path, rvmi_weights *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return rvmi_seterr(err, errlen, RVM_EINVAL, "rvmi_tfjs_load: no output");
    memset(out, 0, sizeof(*out));
    if (!path || !path[0])
        return rvmi_seterr(err, errlen, RVM_EINVAL, "rvmi_tfjs_load: no path");

    loader ld;
    memset(&ld, 0, sizeof(ld));
    int rc = load(&ld, path, out, err, errlen);
    loader_free(&ld);
    if (rc)
        rvmi_weights_free(out);
    return rc;
}

int rvmi_tfjs_load_memory(const char *json, size_t json_len, const uint8_t *shard,
                         size_t shard_len, rvmi_weights *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return rvmi_seterr(err, errlen, RVM_EINVAL, "rvmi_tfjs_load_memory: no output");
    memset(out, 0, sizeof(*out));
    if ((!json && json_len) || (!shard && shard_len))
        return rvmi_seterr(err, errlen, RVM_EINVAL, "rvmi_tfjs_load_memory: no data");
    if ((uint64_t)json_len > TFJS_MAX_JSON_BYTES)
        return rvmi_seterr(err, errlen, RVM_ENOMEM, "model.json: larger than %llu MiB",
                           (unsigned long long)(TFJS_MAX_JSON_BYTES >> 20));

    loader ld;
    memset(&ld, 0, sizeof(ld));
    ld.jname = "model.json";
    /* parse_json wants a terminated copy (the caller's bytes need not end in a NUL). */
    char *buf = malloc(json_len + 1);
    int rc;
    if (!buf) {
        rc = rvmi_seterr(err, errlen, RVM_ENOMEM, "model.json: out of memory");
    } else {
        if (json_len)
            memcpy(buf, json, json_len);
        rc = parse_json(&ld, buf, json_len, err, errlen);
    }
    if (!rc)
        rc = load_parsed(&ld, true, shard, shard_len, out, err, errlen);
    loader_free(&ld);
    if (rc)
        rvmi_weights_free(out);
    return rc;
}
