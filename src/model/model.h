/* The network's layers, built from a checkpoint's tensors (BatchNorm folded, weights packed).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_MODEL_H
#define RVM_MODEL_H

#include "kernels/kernels.h"
#include "model/weights.h"
#include "rvm.h"

/* Widest convolution input of either variant (ResNet50 layer4 and LR-ASPP take 2048). */
#define RVM_MAX_CIN 2048

/* MobileNetV3-Large inverted residual block (torchvision layout). */
typedef struct {
    int has_expand, has_se, residual;
    rvmi_conv expand, depthwise, se_reduce, se_expand, project;
} rvmi_mnv3_block;

/* ResNet50 bottleneck block (torchvision layout). */
typedef struct {
    int has_downsample;
    rvmi_conv conv1, conv2, conv3, downsample;
} rvmi_r50_block;

#define RVM_MNV3_BLOCKS 15
#define RVM_R50_BLOCKS 16

/* ConvGRU on half of a decoder block's channels. */
typedef struct {
    int channels; /* of the state */
    rvmi_conv ih;  /* [x, h] -> [r, z], sigmoid */
    rvmi_conv hh;  /* [x, r*h] -> c, tanh */
} rvmi_gru;

struct rvm_model {
    rvm_variant variant;
    rvm_refiner refiner;      /* what runs */
    int has_dgf_weights;
    /* MobileNetV3 */
    rvmi_conv mnv3_stem, mnv3_last;
    rvmi_mnv3_block mnv3[RVM_MNV3_BLOCKS];
    /* ResNet50 */
    rvmi_conv r50_stem;
    rvmi_r50_block r50[RVM_R50_BLOCKS];
    /* LR-ASPP */
    rvmi_conv aspp_main, aspp_gate;
    /* Recurrent decoder; index k = decode(k+1), state r(k+1) */
    rvmi_conv up_conv[3]; /* decode1..decode3 */
    rvmi_gru gru[4];
    rvmi_conv out_conv[2];
    rvmi_conv project_mat, project_seg;
    /* Deep guided filter */
    rvmi_conv dgf_box; /* 3x3 depthwise on [x, y, x*y, x*x] (16 channels), trained weights */
    rvmi_conv dgf_conv[3];
    /* The packed weights and biases of every convolution, in one mapping (model.c), or NULL
     * (each then allocated on its own) */
    char *packed;
    size_t packed_size;
};

/* Builds the model from a checkpoint's tensors (consumes nothing; w stays the caller's). */
int rvmi_model_build(struct rvm_model *m, const void *weights, rvm_variant want_variant,
                    rvm_refiner want_refiner, char *err, size_t errlen);
void rvmi_model_release(struct rvm_model *m);
/* A model from named tensors in memory (rvm_model_load after reading its file; Python's
 * load_state_dict): w stays the caller's; what names the tensors' source in the message. */
rvm_model *rvmi_model_from_weights(const rvmi_weights *w, rvm_variant variant,
                                   rvm_refiner refiner, const char *what, int *status,
                                   char *err, size_t errlen);
/* Reads a checkpoint (.pth) or a TF.js model (its folder or model.json) into *out, as
 * rvm_model_load does; *tfjs (when not NULL) says which it was. 0 or RVM_E* with err set. */
int rvmi_weights_read(const char *path, rvmi_weights *out, int *tfjs, char *err, size_t errlen);

#endif
