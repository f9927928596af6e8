/* The model builder's packing (src/model/model.c) against each layer folded and packed on
 * its own: every convolution of a loaded model holds the bytes its BatchNorm-folded weights
 * give packed alone, in fresh buffers. The builder folds every layer into one buffer it
 * reuses (the largest layer's size): a layer that read another's leftovers, or a buffer too
 * small for one, fails here.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * test_packing [CHECKPOINT...]: the shipped model when none is named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/arch.h"
#include "model/model.h"
#include "model/weights.h"

#include "check.h"

#define SHIPPED RVM_SOURCE_DIR "/models/rvm_mobilenetv3_tfjs_int8"

static const rvmi_tensor *tensor(const rvmi_weights *w, const char *module, const char *param)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", module, param);
    return rvmi_weights_find(w, name);
}

/* y = (conv(x) + bias - mean) * g / sqrt(var + eps) + beta, per output channel, into fresh
 * weights (repeat copies of the filters) and a bias of cpad entries. */
static void fold(const rvmi_weights *w, const rvmi_arch_conv *a, float **weights, float **bias)
{
    const int pcout = a->cout * a->repeat;
    const size_t per_out = (size_t)(a->depthwise ? 1 : a->cin) * a->k * a->k;
    const int cpad = (pcout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
    const rvmi_tensor *wt = tensor(w, a->name, "weight");
    const rvmi_tensor *b = a->bias ? tensor(w, a->name, "bias") : NULL;
    const rvmi_tensor *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    if (a->bn[0]) {
        g = tensor(w, a->bn, "weight");
        beta = tensor(w, a->bn, "bias");
        mean = tensor(w, a->bn, "running_mean");
        var = tensor(w, a->bn, "running_var");
    }
    *weights = malloc((size_t)pcout * per_out * sizeof(float));
    *bias = calloc((size_t)cpad, sizeof(float));
    for (int po = 0; po < pcout; po++) {
        int o = po % a->cout;
        double s = 1.0, shift = b ? b->data[o] : 0.0;
        if (g) {
            double v = var->data[o] + a->bn_eps;
            if (!(v > 0))
                v = a->bn_eps;
            s = g->data[o] / sqrt(v);
            shift = (shift - mean->data[o]) * s + beta->data[o];
        }
        for (size_t i = 0; i < per_out; i++)
            (*weights)[po * per_out + i] = (float)(wt->data[o * per_out + i] * s);
        (*bias)[po] = (float)shift;
    }
}

static void check_model(const char *path)
{
    char err[512];
    int tfjs, status;
    rvmi_weights w = {0};
    int rc = rvmi_weights_read(path, &w, &tfjs, err, sizeof err);
    CHECK(rc == 0, "%s: %s", path, err);
    if (rc)
        return;
    rvm_model *m = rvmi_model_from_weights(&w, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, path, &status,
                                           err, sizeof err);
    CHECK(m != NULL, "%s: %s", path, err);
    if (!m) {
        rvmi_weights_free(&w);
        return;
    }
    rvmi_arch arch;
    rvmi_arch_describe(&arch, m->variant, m->has_dgf_weights);
    int layers = 0, same = 0;
    for (int i = 0; i < arch.n; i++) {
        const rvmi_arch_conv *a = &arch.conv[i];
        if (a->refiner && m->refiner != RVM_REFINER_DEEP_GUIDED_FILTER)
            continue;
        const rvmi_conv *cv = (const rvmi_conv *)((const char *)m + a->slot);
        const int pcout = a->cout * a->repeat, taps = a->k * a->k;
        const size_t cpad = (size_t)(pcout + RVM_COUT_BLOCK - 1) / RVM_COUT_BLOCK * RVM_COUT_BLOCK;
        float *folded, *bias;
        fold(&w, a, &folded, &bias);
        float *packed = a->depthwise ? rvmi_pack_depthwise(folded, pcout, a->k, a->k)
                                     : rvmi_pack_dense(folded, pcout, a->cin, a->k, a->k);
        size_t nw = a->depthwise ? taps * cpad : cpad * taps * a->cin;
        int ok = memcmp(packed, cv->weight, nw * sizeof(float)) == 0 &&
                 memcmp(bias, cv->bias, cpad * sizeof(float)) == 0;
        if (!a->depthwise && a->k == 3 && a->stride == 1 && a->dilation == 1) {
            float *wino = rvmi_pack_winograd(folded, pcout, a->cin);
            ok = ok && cv->winograd &&
                 memcmp(wino, cv->winograd, 36 * cpad * a->cin * sizeof(float)) == 0;
            free(wino);
        }
        CHECK(ok, "%s: layer %s is not its weights folded and packed alone", path, a->name);
        layers++;
        same += ok;
        free(packed);
        free(folded);
        free(bias);
    }
    printf("%s: %d of %d layers packed as alone\n", path, same, layers);
    CHECK(layers > 0, "%s: no layers", path);
    rvm_model_free(m);
    rvmi_weights_free(&w);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        check_model(SHIPPED);
    for (int i = 1; i < argc; i++)
        check_model(argv[i]);
    return check_report();
}
