/* Builds the network from a checkpoint's tensors: detects the variant and refiner, checks
 * every shape, folds BatchNorm into the convolutions and packs weights for the kernels.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE /* dladdr */
#include "model/model.h"

#include <errno.h>
#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "model/arch.h"
#include "model/library.h"
#include "model/weights.h"

typedef struct {
    const rvmi_weights *w;
    unsigned char *used; /* which tensors the network consumed, to reject unknown ones */
    char *err;
    size_t errlen;
    int status;
    /* A convolution's weights with its BatchNorm folded in, before packing: one buffer for
     * every layer, the largest layer's size. A buffer per layer came in fresh pages each
     * time (blocks above the command's 256 KB mmap threshold are mapped for each malloc and
     * unmapped at each free): ~15 MB touched anew for the shipped model, ~3,700 page faults. */
    float *scaled;
    /* Where the next packed buffer goes in the model's block (load_convs), and its end;
     * NULL when there is no block. */
    char *next, *end;
} builder;

/* The first error is the cause; later ones are its consequences. */
__attribute__((format(printf, 3, 4))) static int fail(builder *b, int status, const char *fmt,
                                                      ...)
{
    if (b->status == 0) {
        va_list ap;
        va_start(ap, fmt);
        b->status = rvmi_vseterr(b->err, b->errlen, status, fmt, ap);
        va_end(ap);
    }
    return status;
}

__attribute__((format(printf, 2, 3))) static const rvmi_tensor *get(builder *b, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const rvmi_tensor *t = rvmi_weights_find(b->w, name);
    if (!t) {
        fail(b, RVM_EFORMAT, "checkpoint has no tensor '%s'", name);
        return NULL;
    }
    b->used[t - b->w->tensors] = 1;
    return t;
}

static int has(builder *b, const char *name) { return rvmi_weights_find(b->w, name) != NULL; }

static int check_shape(builder *b, const rvmi_tensor *t, int ndim, const int64_t *shape)
{
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[80] = "", got[80] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "x" : "",
                     (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "x" : "",
                     (long long)t->shape[i]);
        return fail(b, RVM_EFORMAT, "tensor '%s' has shape %s, expected %s", t->name,
                    t->ndim ? got : "scalar", want);
    }
    return 0;
}

/* Takes bytes (a multiple of 64) of the model's block, or of their own allocation when the block
 * has no room (or there is none); NULL on no memory. */
static float *take(builder *b, size_t bytes)
{
    if (b->next && bytes <= (size_t)(b->end - b->next)) {
        float *p = (float *)b->next;
        b->next += bytes;
        return p;
    }
    return aligned_alloc(64, bytes);
}

/* Bytes of the packed weights, bias and Winograd weights of a convolution. */
static size_t packed_bytes(const rvmi_arch_conv *a)
{
    const int pcout = a->cout * a->repeat;
    size_t bias = ((size_t)(pcout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK *
                       sizeof(float) + 63) / 64 * 64;
    if (a->depthwise)
        return bias + rvmi_pack_depthwise_bytes(pcout, a->k, a->k);
    int winograd = a->k == 3 && a->stride == 1 && a->dilation == 1;
    return bias + rvmi_pack_dense_bytes(pcout, a->cin, a->k, a->k) +
           (winograd ? rvmi_pack_winograd_bytes(pcout, a->cin) : 0);
}

/* Loads conv "<name>.weight" (and "<name>.bias" when it has one), folds its BatchNorm
 * "<bn>.*" into it when it has one, and packs it as arch.h says. */
static void load_conv(builder *b, rvmi_conv *cv, const rvmi_arch_conv *a)
{
    if (b->status)
        return;
    const int cout = a->cout, cin = a->cin, k = a->k, depthwise = a->depthwise;
    const rvmi_tensor *w = get(b, "%s.weight", a->name);
    if (!w || check_shape(b, w, 4, (int64_t[]){cout, depthwise ? 1 : cin, k, k}))
        return;
    const rvmi_tensor *bias = NULL, *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    if (a->bias && (!(bias = get(b, "%s.bias", a->name)) ||
                    check_shape(b, bias, 1, (int64_t[]){cout})))
        return;
    const char *bn = a->bn[0] ? a->bn : NULL;
    if (bn) {
        g = get(b, "%s.weight", bn);
        beta = get(b, "%s.bias", bn);
        mean = get(b, "%s.running_mean", bn);
        var = get(b, "%s.running_var", bn);
        char nbt[160];
        snprintf(nbt, sizeof nbt, "%s.num_batches_tracked", bn);
        const rvmi_tensor *t = rvmi_weights_find(b->w, nbt);
        if (t) /* training bookkeeping, not used at inference */
            b->used[t - b->w->tensors] = 1;
        if (b->status)
            return;
        const rvmi_tensor *all[] = {g, beta, mean, var};
        for (int i = 0; i < 4; i++)
            if (check_shape(b, all[i], 1, (int64_t[]){cout}))
                return;
    }
    /* Packed channels: repeat copies of the cout filters (arch.h). */
    const int pcout = cout * a->repeat;
    memset(cv, 0, sizeof(*cv));
    cv->cin = depthwise ? pcout : cin;
    cv->cout = pcout;
    cv->kh = cv->kw = k;
    cv->stride = a->stride;
    cv->dilation = a->dilation;
    cv->depthwise = depthwise;
    cv->act = a->act;
    size_t per_out = (size_t)(depthwise ? 1 : cin) * k * k;
    float *scaled = b->scaled; /* load_convs made it the largest layer's size */
    int cpad = (pcout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
    cv->bias = take(b, ((size_t)cpad * sizeof(float) + 63) / 64 * 64);
    if (!cv->bias) {
        fail(b, RVM_ENOMEM, "out of memory packing '%s'", a->name);
        return;
    }
    memset(cv->bias, 0, (size_t)cpad * sizeof(float));
    for (int po = 0; po < pcout; po++) {
        int o = po % cout;
        /* y = (conv(x) + bias - mean) * g / sqrt(var + eps) + beta */
        double s = 1.0, shift = bias ? bias->data[o] : 0.0;
        if (bn) {
            double v = var->data[o] + a->bn_eps;
            if (!(v > 0))
                v = a->bn_eps; /* a negative variance is corrupt data; keep the numbers finite */
            s = g->data[o] / sqrt(v);
            shift = (shift - mean->data[o]) * s + beta->data[o];
        }
        for (size_t i = 0; i < per_out; i++)
            scaled[po * per_out + i] = (float)(w->data[o * per_out + i] * s);
        cv->bias[po] = (float)shift;
    }
    if (depthwise && (cv->weight = take(b, rvmi_pack_depthwise_bytes(pcout, k, k))))
        rvmi_pack_depthwise_into(cv->weight, scaled, pcout, k, k);
    if (!depthwise && (cv->weight = take(b, rvmi_pack_dense_bytes(pcout, cin, k, k))))
        rvmi_pack_dense_into(cv->weight, scaled, pcout, cin, k, k);
    int winograd = !depthwise && k == 3 && a->stride == 1 && a->dilation == 1;
    if (winograd && (cv->winograd = take(b, rvmi_pack_winograd_bytes(pcout, cin))))
        rvmi_pack_winograd_into(cv->winograd, scaled, pcout, cin);
    if (!cv->weight || (winograd && !cv->winograd))
        fail(b, RVM_ENOMEM, "out of memory packing '%s'", a->name);
}

/* Frees what is not in the model's block. */
static void conv_release(const struct rvm_model *m, rvmi_conv *cv)
{
    float *own[] = {cv->weight, cv->bias, cv->winograd};
    for (int i = 0; i < 3; i++)
        if (!m->packed || (char *)own[i] < m->packed || (char *)own[i] >= m->packed + m->packed_size)
            free(own[i]);
    cv->weight = cv->bias = cv->winograd = NULL;
}

/* The convolutions' packed weights in one mapping, in transparent huge pages where the
 * system allows them: the model's ~30 MB (MobileNetV3) came in fresh 4 KB pages from a
 * mapping per buffer, ~7,500 page faults on the loading's critical path. Rounded up to
 * 2 MB so that the kernel can place it on huge page boundaries. NULL when it cannot be
 * had: each buffer is then allocated on its own. */
static char *map_packed(size_t *size)
{
    const size_t huge = (size_t)2 << 20;
    *size = (*size + huge - 1) / huge * huge;
    void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, *size, MADV_HUGEPAGE);
#endif
    return p;
}

/* Loads every convolution arch.c describes into its place; the deep guided filter's are
 * checked (the checkpoint holds them) but dropped unless it runs. */
static void load_convs(builder *b, struct rvm_model *m)
{
    rvmi_arch *arch = malloc(sizeof *arch);
    if (!arch) {
        fail(b, RVM_ENOMEM, "out of memory");
        return;
    }
    rvmi_arch_describe(arch, m->variant, m->has_dgf_weights);
    int use_dgf = m->refiner == RVM_REFINER_DEEP_GUIDED_FILTER;
    size_t largest = 0, packed = 0;
    for (int i = 0; i < arch->n; i++) {
        const rvmi_arch_conv *a = &arch->conv[i];
        size_t n = (size_t)a->cout * a->repeat * (a->depthwise ? 1 : a->cin) * a->k * a->k;
        largest = n > largest ? n : largest;
        if (!a->refiner || use_dgf)
            packed += packed_bytes(a);
    }
    if ((m->packed = map_packed(&packed))) {
        m->packed_size = packed;
        b->next = m->packed;
        b->end = m->packed + packed;
    }
    if (!(b->scaled = malloc(largest * sizeof(float)))) {
        free(arch);
        fail(b, RVM_ENOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < arch->n && !b->status; i++) {
        const rvmi_arch_conv *a = &arch->conv[i];
        if (a->refiner && !use_dgf) {
            /* checked, not kept: packed outside the block */
            char *next = b->next;
            b->next = NULL;
            rvmi_conv unused = {0};
            load_conv(b, &unused, a);
            conv_release(m, &unused);
            b->next = next;
            continue;
        }
        load_conv(b, (rvmi_conv *)((char *)m + a->slot), a);
    }
    free(b->scaled);
    b->scaled = NULL;
    free(arch);
}

/* What the forward pass asks of each block, read from the convolutions loaded. */
static void set_block_structure(struct rvm_model *m)
{
    for (int i = 0; i < RVM_MNV3_BLOCKS; i++) {
        rvmi_mnv3_block *blk = &m->mnv3[i];
        blk->has_expand = blk->expand.weight != NULL;
        blk->has_se = blk->se_reduce.weight != NULL;
        int in = blk->has_expand ? blk->expand.cin : blk->depthwise.cin;
        blk->residual = blk->depthwise.stride == 1 && blk->project.cout == in;
    }
    for (int i = 0; i < RVM_R50_BLOCKS; i++)
        m->r50[i].has_downsample = m->r50[i].downsample.weight != NULL;
    for (int k = 0; k < 4; k++)
        m->gru[k].channels = m->gru[k].hh.cout;
}

int rvmi_model_build(struct rvm_model *m, const void *weights, rvm_variant want_variant,
                    rvm_refiner want_refiner, char *err, size_t errlen)
{
    const rvmi_weights *w = weights;
    builder b = {.w = w, .err = err, .errlen = errlen};
    memset(m, 0, sizeof(*m));
    b.used = calloc((size_t)w->count + 1, 1);
    if (!b.used)
        return fail(&b, RVM_ENOMEM, "out of memory");

    if (has(&b, "backbone.features.0.0.weight"))
        m->variant = RVM_VARIANT_MOBILENETV3;
    else if (has(&b, "backbone.conv1.weight"))
        m->variant = RVM_VARIANT_RESNET50;
    else {
        fail(&b, RVM_EFORMAT, "not an RVM checkpoint: no MobileNetV3 or ResNet50 backbone tensors");
        goto done;
    }
    if (want_variant != RVM_VARIANT_AUTO && want_variant != m->variant) {
        fail(&b, RVM_EMISMATCH, "checkpoint holds the %s variant, not %s",
             m->variant == RVM_VARIANT_MOBILENETV3 ? "mobilenetv3" : "resnet50",
             want_variant == RVM_VARIANT_MOBILENETV3 ? "mobilenetv3" : "resnet50");
        goto done;
    }
    m->has_dgf_weights = has(&b, "refiner.box_filter.weight");
    if (want_refiner == RVM_REFINER_DEEP_GUIDED_FILTER && !m->has_dgf_weights) {
        fail(&b, RVM_EMISMATCH,
             "checkpoint has no deep guided filter weights (it uses the fast guided filter)");
        goto done;
    }
    m->refiner = want_refiner == RVM_REFINER_AUTO
                     ? (m->has_dgf_weights ? RVM_REFINER_DEEP_GUIDED_FILTER
                                           : RVM_REFINER_FAST_GUIDED_FILTER)
                     : want_refiner;

    load_convs(&b, m);
    if (b.status)
        goto done;
    set_block_structure(m);
    for (int i = 0; i < w->count; i++)
        if (!b.used[i]) {
            fail(&b, RVM_EFORMAT, "checkpoint has an unexpected tensor '%s'", w->tensors[i].name);
            break;
        }
done:
    free(b.used);
    if (b.status)
        rvmi_model_release(m);
    return b.status;
}

void rvmi_model_release(struct rvm_model *m)
{
    conv_release(m, &m->mnv3_stem);
    conv_release(m, &m->mnv3_last);
    for (int i = 0; i < RVM_MNV3_BLOCKS; i++) {
        rvmi_mnv3_block *b = &m->mnv3[i];
        conv_release(m, &b->expand);
        conv_release(m, &b->depthwise);
        conv_release(m, &b->se_reduce);
        conv_release(m, &b->se_expand);
        conv_release(m, &b->project);
    }
    conv_release(m, &m->r50_stem);
    for (int i = 0; i < RVM_R50_BLOCKS; i++) {
        conv_release(m, &m->r50[i].conv1);
        conv_release(m, &m->r50[i].conv2);
        conv_release(m, &m->r50[i].conv3);
        conv_release(m, &m->r50[i].downsample);
    }
    conv_release(m, &m->aspp_main);
    conv_release(m, &m->aspp_gate);
    for (int k = 0; k < 4; k++) {
        conv_release(m, &m->gru[k].ih);
        conv_release(m, &m->gru[k].hh);
    }
    for (int k = 0; k < 3; k++)
        conv_release(m, &m->up_conv[k]);
    conv_release(m, &m->out_conv[0]);
    conv_release(m, &m->out_conv[1]);
    conv_release(m, &m->project_mat);
    conv_release(m, &m->project_seg);
    conv_release(m, &m->dgf_box);
    for (int k = 0; k < 3; k++)
        conv_release(m, &m->dgf_conv[k]);
    if (m->packed)
        munmap(m->packed, m->packed_size);
    m->packed = NULL;
    m->packed_size = 0;
}

/* ---- public model API ---- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The shipped model's folder, as installed (share/rvm/models/...) and in the source tree. */
#define SHIPPED_MODEL_NAME "rvm_mobilenetv3_tfjs_int8"

/* A TF.js model's own folder: one holding model.json (its shards are checked at load). */
static int holds_model_json(const char *dir)
{
    char json[PATH_MAX];
    struct stat st;
    int k = snprintf(json, sizeof json, "%s/model.json", dir);
    return k > 0 && (size_t)k < sizeof json && stat(json, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Where the model is looked for (rvm.h, rvm_default_model_path): the installed layout is
 * <prefix>/lib[/<arch>]/librvm.so (or <prefix>/bin/program for a program that linked librvm.a,
 * as rvm itself does) and <prefix>/share/rvm/models. The code looks beside its own file
 * first, so an installation moved to another prefix (or a temporary one, as the install test
 * makes) still finds its model. The source tree's model serves only code inside the build
 * folder (the command and tests run from it): an installed librvm.a compiled the same path
 * in, and the tree may be gone by the time its programs run, or hold another version. */
static char installed_model[PATH_MAX];
static int in_build_tree;

/* The real path of the file holding this code: the shared library, or the program that
 * linked the static one. For a program glibc's dladdr gives argv[0], which may be a bare
 * name found through PATH or relative to a folder the program has left: its link map entry
 * (an empty name) tells, and /proc/self/exe is then the file itself. */
static int code_file(char *out)
{
    Dl_info info;
    const char *name = NULL;
#ifdef __GLIBC__
    struct link_map *map = NULL;
    if (dladdr1((void *)rvm_default_model_path, &info, (void **)&map, RTLD_DL_LINKMAP) &&
        info.dli_fname)
        name = map && map->l_name && !map->l_name[0] ? "/proc/self/exe" : info.dli_fname;
#else
    if (dladdr((void *)rvm_default_model_path, &info) && info.dli_fname)
        name = info.dli_fname;
#endif
    return name && realpath(name, out) != NULL;
}

static void find_model_beside_code(void)
{
    char lib[PATH_MAX];
    installed_model[0] = 0;
    if (!code_file(lib))
        return;
#ifdef RVM_BUILD_DIR
    char build[PATH_MAX];
    size_t n = realpath(RVM_BUILD_DIR, build) ? strlen(build) : 0;
    in_build_tree = n > 0 && strncmp(lib, build, n) == 0 && lib[n] == '/';
#endif
    char *slash = strrchr(lib, '/');
    if (!slash)
        return;
    *slash = 0; /* the code's folder */
    static const char *const up[] = {"/..", "/../.."}; /* lib/ or lib/<arch>/, bin/ */
    for (int i = 0; i < 2; i++) {
        char dir[PATH_MAX];
        int k = snprintf(dir, sizeof dir, "%s%s/share/rvm/models/" SHIPPED_MODEL_NAME, lib,
                         up[i]);
        if (k > 0 && (size_t)k < sizeof dir && is_dir(dir) && realpath(dir, installed_model))
            return;
    }
    installed_model[0] = 0;
}

static void find_model_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_model_beside_code);
}

const char *rvm_default_model_path(void)
{
    /* Set, it alone decides: a wrong one (models/ above the model's folder, a typo) is said
     * by model_not_found rather than passed over for another model. */
    const char *env = getenv("RVM_MODEL_DIR");
    if (env && env[0])
        return holds_model_json(env) ? env : NULL;
    find_model_once();
    if (installed_model[0])
        return installed_model;
    if (in_build_tree && is_dir(RVM_MODEL_SOURCE_DIR))
        return RVM_MODEL_SOURCE_DIR;
    if (is_dir(RVM_MODEL_INSTALL_DIR))
        return RVM_MODEL_INSTALL_DIR;
    return NULL;
}

/* Why rvm_default_model_path found nothing, and what to set. It said "(set RVM_MODEL_DIR)"
 * alone, and people named models/ rather than the model's folder inside it. */
static int model_not_found(char *err, size_t errlen)
{
    const char *env = getenv("RVM_MODEL_DIR");
    if (!env || !env[0])
        return rvmi_seterr(err, errlen, RVM_EIO,
                           "the shipped model was not found: set RVM_MODEL_DIR to the model's "
                           "folder (the one holding model.json, e.g. "
                           ".../share/rvm/models/" SHIPPED_MODEL_NAME ")");
    size_t n = strlen(env);
    while (n > 1 && env[n - 1] == '/')
        n--; /* "/x/models/" suggests /x/models/rvm_..., not /x/models//rvm_... */
    char inside[PATH_MAX];
    int k = snprintf(inside, sizeof inside, "%.*s/" SHIPPED_MODEL_NAME, (int)n, env);
    int model_inside = k > 0 && (size_t)k < sizeof inside && holds_model_json(inside);
    struct stat st;
    const char *lack = stat(env, &st) != 0
                           ? (errno == ENOENT || errno == ENOTDIR ? "does not exist"
                                                                  : "cannot be read")
                       : !S_ISDIR(st.st_mode) ? "is not a folder"
                                              : "holds no model.json";
    return rvmi_seterr(err, errlen, RVM_EIO,
                       "RVM_MODEL_DIR=%s %s: name the model's folder, e.g. %s", env, lack,
                       model_inside ? inside : ".../share/rvm/models/" SHIPPED_MODEL_NAME);
}

static const char *variant_name(rvm_variant v)
{
    return v == RVM_VARIANT_RESNET50 ? "resnet50" : "mobilenetv3";
}

static const char *refiner_name(rvm_refiner r)
{
    return r == RVM_REFINER_DEEP_GUIDED_FILTER ? "deep guided filter" : "fast guided filter";
}

/* A variant or refiner outside its enum (a cast integer, another version's value): refused
 * by name before anything is read, rather than reported as a mismatch with the checkpoint. */
static int bad_choice(rvm_variant variant, rvm_refiner refiner, char *err, size_t errlen)
{
    if ((int)variant < RVM_VARIANT_AUTO || (int)variant > RVM_VARIANT_RESNET50) {
        snprintf(err, errlen, "variant %d is not an rvm_variant (AUTO 0, MOBILENETV3 1, RESNET50 2)",
                 (int)variant);
        return 1;
    }
    if ((int)refiner < RVM_REFINER_AUTO || (int)refiner > RVM_REFINER_FAST_GUIDED_FILTER) {
        snprintf(err, errlen, "refiner %d is not an rvm_refiner (AUTO 0, DEEP_GUIDED_FILTER 1, "
                 "FAST_GUIDED_FILTER 2)", (int)refiner);
        return 1;
    }
    return 0;
}

/* A TF.js model is named by its folder or its model.json; anything else is a .pth. */
static int names_tfjs(const char *path) { return is_dir(path) || ends_with(path, ".json"); }

int rvmi_weights_read(const char *path, rvmi_weights *out, int *tfjs, char *err, size_t errlen)
{
    int is_tfjs = names_tfjs(path);
    if (tfjs)
        *tfjs = is_tfjs;
    return is_tfjs ? rvmi_tfjs_load(path, out, err, errlen) : rvmi_pth_load(path, out, err, errlen);
}

rvm_model *rvmi_model_from_weights(const rvmi_weights *w, rvm_variant variant,
                                   rvm_refiner refiner, const char *what, int *status,
                                   char *err, size_t errlen)
{
    /* A checkpoint is data: a NaN or infinity in it (a diverged training run, a damaged
     * file) would be hidden by the clamps and the int8 paths (finite outputs where PyTorch
     * gives NaN), so it is refused here, once for every source (a .pth, a state_dict from
     * Python; TF.js shards are checked as they are read). One pass over the floats, far
     * below the cost of reading them. */
    if (bad_choice(variant, refiner, err, errlen)) {
        *status = RVM_EINVAL;
        return NULL;
    }
    for (int t = 0; t < w->count; t++) {
        const rvmi_tensor *x = &w->tensors[t];
        for (int64_t i = 0; i < x->numel; i++)
            if (!isfinite(x->data[i])) {
                snprintf(err, errlen, "%s: tensor '%s' holds a non-finite value (%s at element %lld): "
                         "a damaged or diverged checkpoint", what, x->name,
                         isnan(x->data[i]) ? "NaN" : "infinity", (long long)i);
                *status = RVM_EFORMAT;
                return NULL;
            }
    }
    rvm_model *m = malloc(sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        *status = RVM_ENOMEM;
        return NULL;
    }
    char msg[256];
    int st = rvmi_model_build(m, w, variant, refiner, msg, sizeof msg);
    if (st) {
        snprintf(err, errlen, "%s: %s", what, msg);
        free(m);
        *status = st;
        return NULL;
    }
    return m;
}

int rvm_model_check(const char *path, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    if (!path && !(path = rvm_default_model_path()))
        return model_not_found(err, errlen);
    return names_tfjs(path) ? rvmi_tfjs_check(path, err, errlen)
                            : rvmi_pth_check(path, err, errlen);
}

rvm_model *rvm_model_load(const char *path, rvm_variant variant, rvm_refiner refiner,
                          int *status, char *err, size_t errlen)
{
    char dummy[8];
    int ignored;
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!status)
        status = &ignored;
    err[0] = 0;
    *status = RVM_OK;
    if (bad_choice(variant, refiner, err, errlen)) {
        *status = RVM_EINVAL;
        return NULL;
    }
    if (!path && !(path = rvm_default_model_path())) {
        *status = model_not_found(err, errlen);
        return NULL;
    }
    int tfjs;
    rvmi_weights w = {0};
    int st = rvmi_weights_read(path, &w, &tfjs, err, errlen);
    if (st) {
        *status = st;
        return NULL;
    }
    rvm_model *m = rvmi_model_from_weights(&w, variant, refiner, path, status, err, errlen);
    rvmi_weights_free(&w);
    if (!m)
        return NULL;
    rvmi_log(RVM_LOG_INFO, "model: %s with the %s, from %s (%s)", variant_name(m->variant),
             refiner_name(m->refiner), path, tfjs ? "TF.js" : "PyTorch checkpoint");
    return m;
}

void rvm_model_free(rvm_model *m)
{
    if (!m)
        return;
    rvmi_model_release(m);
    free(m);
}

rvm_variant rvm_model_variant(const rvm_model *m) { return m ? m->variant : RVM_VARIANT_AUTO; }
rvm_refiner rvm_model_refiner(const rvm_model *m) { return m ? m->refiner : RVM_REFINER_AUTO; }
