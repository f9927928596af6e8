/* A stream's int8 mode: which of the model's convolutions run in int8, their quantised
 * weights, and how the activations entering them are quantised. See quantize.c.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_QUANTIZE_H
#define RVM_QUANTIZE_H

#include "kernels/int8.h"
#include "kernels/threadpool.h"
#include "model/model.h"

typedef struct rvmi_q8_state rvmi_q8_state;

/* How a layer's input scale and zero point are found. */
typedef enum {
    RVM_Q8_DYNAMIC = 0, /* from the tensor's own minimum and maximum, at every call */
    RVM_Q8_CALIBRATED,  /* from the ranges recorded while calibrating */
    RVM_Q8_CALIBRATING, /* float convolutions that record their inputs' ranges */
} rvmi_q8_mode;

/* The int8 state for a model, with kernels k, for a pool of `threads`; NULL on no memory.
 * Every eligible layer (a 1x1 stride-1 convolution over more than one pixel) gets int8
 * weights; the ones the default mix runs in int8 start enabled. */
rvmi_q8_state *rvmi_q8_create(const struct rvm_model *m, const rvmi_kernels_q8 *k, int threads);
void rvmi_q8_free(rvmi_q8_state *q);

/* The float convolution, which the int8 state calls for layers it does not run in int8. */
typedef void (*rvmi_conv_fn)(void *ctx, const rvmi_conv *cv, const rvmi_inputs *in,
                             const rvmi_view *out, const rvmi_view *res);
/* Runs cv: in int8 when it is enabled, else through fp32(ctx, ...) (timed, and its input's
 * range recorded while calibrating). Returns 0 when cv is not a layer of the state (the
 * caller runs it), 1 when done. */
int rvmi_q8_conv(rvmi_q8_state *q, rvmi_pool *pool, const rvmi_conv *cv, const rvmi_inputs *in,
                 const rvmi_view *out, const rvmi_view *res, rvmi_conv_fn fp32, void *ctx);

/* 1 when rvmi_q8_conv must see cv itself: it runs in int8, or the state times every layer
 * (timing) or records ranges (calibrating). The network runs the blocks of other layers its
 * own way (in row bands). */
int rvmi_q8_claims(const rvmi_q8_state *q, const rvmi_conv *cv);
/* Per-layer fp32 times (rvmi_q8_layer_time) need every layer to go through rvmi_q8_conv. */
void rvmi_q8_set_timing(rvmi_q8_state *q, int on);

/* For measurements and tests: the eligible layers, by index. */
int rvmi_q8_layers(const rvmi_q8_state *q);
const char *rvmi_q8_layer_name(const rvmi_q8_state *q, int i);
/* Enables (1) or disables (0) int8 for layer i; -1 gives the current setting. */
int rvmi_q8_layer_enable(rvmi_q8_state *q, int i, int on);
/* Gives layer i 16-bit activations (one pass of int16 activations times the 8-bit weights
 * widened to int16) (1) or 8-bit ones (0); -1 gives the current setting. */
int rvmi_q8_layer_fine(rvmi_q8_state *q, int i, int on);
/* Time spent in layer i since the last reset (ms) and calls, for fp32 and int8 runs. */
void rvmi_q8_layer_time(const rvmi_q8_state *q, int i, double *fp32_ms, int *fp32_calls,
                        double *int8_ms, int *int8_calls);
void rvmi_q8_reset_times(rvmi_q8_state *q);
void rvmi_q8_set_mode(rvmi_q8_state *q, rvmi_q8_mode mode);
const char *rvmi_q8_kernels_name(const rvmi_q8_state *q);

#endif
