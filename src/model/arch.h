/* The network's architecture, described once: every convolution of the official
 * MattingNetwork with its name in the PyTorch state_dict, shapes, stride, dilation, batch norm,
 * activation and bias, in state_dict order. The .pth/TF.js model builder (model.c) packs each
 * into its place in struct rvm_model; the TF.js loader (tfjs.c) maps the export's tensors onto
 * the same names.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_MODEL_ARCH_H
#define RVM_MODEL_ARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/kernels.h"
#include "rvm.h"

/* The most convolutions of any variant (MobileNetV3 with the deep guided filter has 83). */
#define RVMI_ARCH_MAX_CONVS 96

typedef struct {
    char name[64];  /* the Conv2d module: its tensors are "<name>.weight" and "<name>.bias" */
    char bn[64];    /* the BatchNorm2d that follows it, or "" */
    double bn_eps;  /* of bn */
    int cout, cin;  /* cin counts every input channel (a depthwise conv has cin == cout) */
    int k;          /* square kernel */
    int stride, dilation;
    bool depthwise;
    bool bias;      /* the conv has a bias tensor */
    rvmi_act act;   /* after the batch norm (and after the residual add, where there is one) */
    int repeat;     /* > 1: packed for repeat * cout channels, channel j filtered by j % cout
                       (the deep guided filter's box filter runs on [x, y, xy, xx] at once) */
    bool refiner;   /* part of the deep guided filter, whose weights are optional */
    size_t slot;    /* where it is packed: offset of its rvmi_conv in struct rvm_model */
} rvmi_arch_conv;

typedef struct {
    int n;
    rvmi_arch_conv conv[RVMI_ARCH_MAX_CONVS];
} rvmi_arch;

/* Every convolution of MattingNetwork(variant) in state_dict order; with_dgf adds the deep
 * guided filter's (which come last). */
void rvmi_arch_describe(rvmi_arch *a, rvm_variant variant, bool with_dgf);

#endif
