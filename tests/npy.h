/* Minimal reader of NumPy .npy v1/v2 files (little-endian, C order) for the golden data.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_TEST_NPY_H
#define RVM_TEST_NPY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char type;   /* 'u' (unsigned) or 'f' (float) */
    int size;    /* bytes per element */
    int ndim;
    long shape[8];
    size_t count;
    void *data;
} npy;

/* Returns 0 on success. */
static int npy_load(const char *path, npy *a)
{
    memset(a, 0, sizeof(*a));
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char pre[10];
    int ok = fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0;
    size_t hlen = 0;
    if (ok && pre[6] == 1)
        hlen = pre[8] | (size_t)pre[9] << 8;
    else if (ok) {
        unsigned char more[2];
        ok = fread(more, 1, 2, f) == 2;
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)more[0] << 16 | (size_t)more[1] << 24;
    }
    char *h = ok ? calloc(1, hlen + 1) : NULL;
    ok = h && fread(h, 1, hlen, f) == hlen;
    const char *d = ok ? strstr(h, "'descr': '") : NULL;
    const char *s = ok ? strstr(h, "'shape': (") : NULL;
    if (!d || !s || (d[10] != '<' && d[10] != '|') || strstr(h, "'fortran_order': True")) {
        free(h);
        fclose(f);
        return -1;
    }
    a->type = d[11];
    a->size = atoi(d + 12);
    a->count = 1;
    for (s += 10; *s && *s != ')';) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        a->shape[a->ndim++] = v;
        a->count *= (size_t)v;
        s = end;
        while (*s == ',' || *s == ' ')
            s++;
    }
    free(h);
    a->data = malloc(a->count * a->size + 1);
    ok = a->data && fread(a->data, a->size, a->count, f) == a->count;
    fclose(f);
    if (!ok) {
        free(a->data);
        a->data = NULL;
        return -1;
    }
    return 0;
}

static void npy_free(npy *a)
{
    free(a->data);
    a->data = NULL;
}

#endif
