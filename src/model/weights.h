/* A checkpoint's tensors by name, in the official PyTorch state_dict naming and layout.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_WEIGHTS_H
#define RVM_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#define RVM_TENSOR_MAX_DIMS 4

typedef struct {
    char *name;                          /* e.g. "backbone.features.0.0.weight" */
    int ndim;                            /* 0..4 */
    int64_t shape[RVM_TENSOR_MAX_DIMS];  /* PyTorch order (OIHW for conv weights) */
    int64_t numel;
    float *data;                         /* contiguous, converted to float32 */
} rvmi_tensor;

typedef struct {
    rvmi_tensor *tensors;
    int count;
    int capacity;
} rvmi_weights;

/* Each loader fills *out (which it first zeroes) and returns 0, or returns a negative RVM_E*
 * code with a one-line message in err, leaving *out empty. Integer tensors (BatchNorm's
 * num_batches_tracked) are converted to float too. */
int rvmi_pth_load(const char *path, rvmi_weights *out, char *err, size_t errlen);
int rvmi_pth_load_memory(const uint8_t *data, size_t size, rvmi_weights *out, char *err,
                        size_t errlen);
/* path: the folder or its model.json. The result uses the same names as the official
 * checkpoint of MattingNetwork('mobilenetv3', refiner='fast_guided_filter'): each folded
 * BatchNorm becomes weight=scale, bias=offset, running_mean=0, running_var=1-eps. */
int rvmi_tfjs_load(const char *path, rvmi_weights *out, char *err, size_t errlen);
/* What can be told before reading the weights, in the loaders' words (0 or RVM_E* with err):
 * a .pth is a regular file, readable, not empty, starting as a zip archive; a TF.js model's
 * model.json is a regular file that opens. */
int rvmi_pth_check(const char *path, char *err, size_t errlen);
int rvmi_tfjs_check(const char *path, char *err, size_t errlen);
/* The same from memory: model.json's bytes (no NUL needed) and the bytes of all its shards
 * concatenated in manifest order (group by group, each group's files in order). Messages
 * call the manifest "model.json". Used by the fuzz target; shares all checks with the above. */
int rvmi_tfjs_load_memory(const char *json, size_t json_len, const uint8_t *shard,
                         size_t shard_len, rvmi_weights *out, char *err, size_t errlen);

/* IEEE half precision to float (checkpoints may store float16). */
float rvmi_half_to_float(uint16_t h);

const rvmi_tensor *rvmi_weights_find(const rvmi_weights *w, const char *name);
/* Appends a tensor (copies name, takes ownership of data). Returns 0 or RVM_ENOMEM. */
int rvmi_weights_add(rvmi_weights *w, const char *name, int ndim, const int64_t *shape,
                    float *data);
void rvmi_weights_free(rvmi_weights *w);

#endif
