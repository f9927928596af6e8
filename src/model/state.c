/* The recurrent state r1..r4 read out of a stream and put back (rvm_stream_get_state,
 * rvm_stream_set_state), as the official model(src, *rec) passes it between calls.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/network.h"

int rvmi_internal_size(int width, int height, double ratio, int *h0, int *w0)
{
    if (width < 1 || height < 1 || width > RVM_MAX_SIDE || height > RVM_MAX_SIDE)
        return RVM_EINVAL;
    if (!(ratio > 0.0 && ratio <= 1.0))
        return RVM_EINVAL;
    *h0 = ratio == 1.0 ? height : (int)floor(height * ratio);
    *w0 = ratio == 1.0 ? width : (int)floor(width * ratio);
    return *h0 < 1 || *w0 < 1 ? RVM_EINVAL : 0;
}

/* State k of an internal size h0 x w0: r1 at 1/2, r2 at 1/4, r3 at 1/8, r4 at 1/16, each
 * halving rounded up (the encoder's stride-2 convolutions). */
static void state_size(int k, int h0, int w0, int *h, int *w)
{
    for (int i = 0; i <= k; i++)
        h0 = (h0 + 1) / 2, w0 = (w0 + 1) / 2;
    *h = h0, *w = w0;
}

int rvm_model_state_shape(const rvm_model *m, int index, int width, int height, double ratio,
                          int *channels, int *state_height, int *state_width)
{
    int h0, w0;
    if (!m || index < 0 || index > 3 || rvmi_internal_size(width, height, ratio, &h0, &w0))
        return RVM_EINVAL;
    int h, w;
    state_size(index, h0, w0, &h, &w);
    if (channels)
        *channels = m->gru[index].channels;
    if (state_height)
        *state_height = h;
    if (state_width)
        *state_width = w;
    return 0;
}

static int fail(rvm_stream *s, const char *fmt, int a, int b, int c, int d)
{
    snprintf(s->err, sizeof s->err, fmt, a, b, c, d);
    return RVM_EINVAL;
}

int rvm_stream_get_state(const rvm_stream *cs, int k, const rvm_tensor *t)
{
    rvm_stream *s = (rvm_stream *)cs; /* only its message changes */
    if (!s)
        return RVM_EINVAL;
    if (k < 0 || k > 3 || !t || !t->data)
        return fail(s, "no state r%d or no tensor to copy it to", k + 1, 0, 0, 0);
    if (!s->state[0])
        return fail(s, "the stream has no state yet (no frame since it began or was reset)", 0, 0,
                    0, 0);
    int c = s->model->gru[k].channels, h = s->state_h[k], w = s->state_w[k];
    if (t->channels != c || t->height != h || t->width != w)
        return fail(s, "r%d is %dx%d with %d channels", k + 1, h, w, c);
    const float *src = s->state[k];
    if (t->column_stride == c && t->channel_stride == 1 && t->row_stride == (ptrdiff_t)w * c) {
        memcpy(t->data, src, sizeof(float) * c * h * w); /* NHWC, as held */
        return 0;
    }
    for (int y = 0; y < h; y++)
        for (int ch = 0; ch < c; ch++) {
            float *d = t->data + y * t->row_stride + ch * t->channel_stride;
            const float *p = src + (size_t)y * w * c + ch;
            for (int x = 0; x < w; x++)
                d[x * t->column_stride] = p[(size_t)x * c];
        }
    return 0;
}

int rvm_stream_set_state(rvm_stream *s, int width, int height, double ratio,
                         const rvm_tensor *const r[4])
{
    if (!s)
        return RVM_EINVAL;
    int h0, w0;
    if (rvmi_internal_size(width, height, ratio, &h0, &w0))
        return fail(s, "no state for a %dx%d frame at this ratio", width, height, 0, 0);
    float *fresh[4] = {0};
    int sh[4], sw[4];
    for (int k = 0; k < 4; k++) {
        int c = s->model->gru[k].channels;
        state_size(k, h0, w0, &sh[k], &sw[k]);
        const rvm_tensor *t = r ? r[k] : NULL;
        if (t && (!t->data || t->channels != c || t->height != sh[k] || t->width != sw[k])) {
            for (int i = 0; i < k; i++)
                free(fresh[i]);
            if (!t->data)
                return fail(s, "r%d has no data", k + 1, 0, 0, 0);
            snprintf(s->err, sizeof s->err,
                     "r%d has shape %dx%dx%d; frames of %dx%d at this ratio need %dx%dx%d", k + 1,
                     t->channels, t->height, t->width, width, height, c, sh[k], sw[k]);
            return RVM_EINVAL;
        }
        size_t n = (size_t)sh[k] * sw[k] * c;
        fresh[k] = t ? malloc(n * sizeof(float)) : calloc(n, sizeof(float));
        if (!fresh[k]) {
            for (int i = 0; i < k; i++)
                free(fresh[i]);
            snprintf(s->err, sizeof s->err, "out of memory");
            return RVM_ENOMEM;
        }
        if (!t)
            continue;
        if (t->column_stride == c && t->channel_stride == 1 &&
            t->row_stride == (ptrdiff_t)sw[k] * c) {
            memcpy(fresh[k], t->data, n * sizeof(float));
            continue;
        }
        for (int y = 0; y < sh[k]; y++)
            for (int ch = 0; ch < c; ch++) {
                const float *p = t->data + y * t->row_stride + ch * t->channel_stride;
                float *d = fresh[k] + (size_t)y * sw[k] * c + ch;
                for (int x = 0; x < sw[k]; x++)
                    d[(size_t)x * c] = p[x * t->column_stride];
            }
    }
    for (int k = 0; k < 4; k++) {
        free(s->state[k]);
        s->state[k] = fresh[k];
        s->state_h[k] = sh[k], s->state_w[k] = sw[k];
    }
    s->h0 = h0, s->w0 = w0;
    return 0;
}
