/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rvm.h"

const rvmi_tensor *rvmi_weights_find(const rvmi_weights *w, const char *name)
{
    for (int i = 0; i < w->count; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return &w->tensors[i];
    return NULL;
}

int rvmi_weights_add(rvmi_weights *w, const char *name, int ndim, const int64_t *shape,
                    float *data)
{
    if (ndim < 0 || ndim > RVM_TENSOR_MAX_DIMS)
        return RVM_EINVAL;
    if (w->count == w->capacity) {
        int cap = w->capacity ? w->capacity * 2 : 64;
        rvmi_tensor *t = realloc(w->tensors, (size_t)cap * sizeof(*t));
        if (!t)
            return RVM_ENOMEM;
        w->tensors = t;
        w->capacity = cap;
    }
    rvmi_tensor *t = &w->tensors[w->count];
    memset(t, 0, sizeof(*t));
    t->name = strdup(name);
    if (!t->name)
        return RVM_ENOMEM;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= shape[i];
    }
    t->data = data;
    w->count++;
    return 0;
}

void rvmi_weights_free(rvmi_weights *w)
{
    for (int i = 0; i < w->count; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->tensors);
    memset(w, 0, sizeof(*w));
}

float rvmi_half_to_float(uint16_t h)
{
    unsigned e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0)
        v = ldexpf((float)m, -24); /* zero or subnormal */
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 1024), (int)e - 25);
    return (h & 0x8000) ? -v : v;
}
