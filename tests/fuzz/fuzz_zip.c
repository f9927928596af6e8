/* A minimal zip reader/writer for the fuzzing tools; see fuzz_zip.h.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "fuzz_zip.h"

#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include <zlib.h>

int fz_zip_add(fz_zip *z, const char *name, const void *data, size_t len, int deflate)
{
    if (z->n == z->cap) {
        int cap = z->cap ? 2 * z->cap : 16;
        fz_entry *e = realloc(z->e, (size_t)cap * sizeof(*e));
        if (!e)
            return -1;
        z->e = e;
        z->cap = cap;
    }
    fz_entry *e = &z->e[z->n];
    e->name = strdup(name);
    e->data = malloc(len ? len : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return -1;
    }
    if (len)
        memcpy(e->data, data, len);
    e->len = len;
    e->deflate = deflate;
    z->n++;
    return 0;
}

void fz_zip_free(fz_zip *z)
{
    for (int i = 0; i < z->n; i++) {
        free(z->e[i].name);
        free(z->e[i].data);
    }
    free(z->e);
    memset(z, 0, sizeof(*z));
}

int fz_zip_read(const uint8_t *data, size_t size, size_t max_entry, fz_zip *z)
{
    memset(z, 0, sizeof(*z));
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    zip_error_fini(&ze);
    if (!za) {
        zip_source_free(src);
        return -1;
    }
    int rc = 0;
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0 || n > 4096)
        rc = -1;
    uint8_t *buf = malloc(max_entry + 1);
    if (!buf)
        rc = -1;
    for (zip_int64_t i = 0; i < n && !rc; i++) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) != 0 ||
            !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE) ||
            !(st.valid & ZIP_STAT_COMP_METHOD) || st.size > max_entry) {
            rc = -1;
            break;
        }
        zip_file_t *f = zip_fopen_index(za, (zip_uint64_t)i, 0);
        if (!f) {
            rc = -1;
            break;
        }
        /* One byte more than declared tells a lying size; libzip checks the CRC at the end. */
        zip_int64_t got = 0, r;
        while ((zip_uint64_t)got <= st.size &&
               (r = zip_fread(f, buf + got, st.size + 1 - (zip_uint64_t)got)) > 0)
            got += r;
        zip_fclose(f);
        if ((zip_uint64_t)got != st.size ||
            fz_zip_add(z, st.name, buf, (size_t)got, st.comp_method == ZIP_CM_DEFLATE)) {
            rc = -1;
            break;
        }
    }
    free(buf);
    zip_discard(za);
    if (rc)
        fz_zip_free(z);
    return rc;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} wbuf;

static void put(wbuf *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_le(wbuf *b, uint32_t v, int n)
{
    uint8_t t[4];
    for (int i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)n);
}

/* Raw deflate (no zlib header), as zip stores it. */
static uint8_t *deflate_raw(const uint8_t *d, size_t n, size_t *out_n)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&s, (uLong)n);
    uint8_t *out = malloc(cap ? cap : 1);
    if (!out) {
        deflateEnd(&s);
        return NULL;
    }
    s.next_in = (Bytef *)d;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    int rc = deflate(&s, Z_FINISH);
    *out_n = s.total_out;
    deflateEnd(&s);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

uint8_t *fz_zip_write(const fz_zip *z, size_t *size)
{
    wbuf b = {0}, cd = {0};
    for (int i = 0; i < z->n; i++) {
        const fz_entry *e = &z->e[i];
        uint32_t crc = (uint32_t)crc32(0, e->data, (uInt)e->len);
        size_t clen = e->len;
        uint8_t *comp = NULL;
        if (e->deflate && !(comp = deflate_raw(e->data, e->len, &clen))) {
            free(b.p);
            free(cd.p);
            return NULL;
        }
        size_t nl = strlen(e->name);
        uint32_t offset = (uint32_t)b.n;
        uint16_t method = e->deflate ? 8 : 0;
        /* local file header */
        put_le(&b, 0x04034b50, 4);
        put_le(&b, 20, 2);         /* version needed */
        put_le(&b, 0, 2);          /* flags */
        put_le(&b, method, 2);
        put_le(&b, 0, 2);          /* time */
        put_le(&b, 0x21, 2);       /* date: 1980-01-01 */
        put_le(&b, crc, 4);
        put_le(&b, (uint32_t)clen, 4);
        put_le(&b, (uint32_t)e->len, 4);
        put_le(&b, (uint32_t)nl, 2);
        put_le(&b, 0, 2);          /* extra */
        put(&b, e->name, nl);
        put(&b, comp ? comp : e->data, clen);
        free(comp);
        /* central directory record */
        put_le(&cd, 0x02014b50, 4);
        put_le(&cd, 20, 2);        /* made by */
        put_le(&cd, 20, 2);        /* needed */
        put_le(&cd, 0, 2);
        put_le(&cd, method, 2);
        put_le(&cd, 0, 2);
        put_le(&cd, 0x21, 2);
        put_le(&cd, crc, 4);
        put_le(&cd, (uint32_t)clen, 4);
        put_le(&cd, (uint32_t)e->len, 4);
        put_le(&cd, (uint32_t)nl, 2);
        put_le(&cd, 0, 2);         /* extra */
        put_le(&cd, 0, 2);         /* comment */
        put_le(&cd, 0, 2);         /* disk */
        put_le(&cd, 0, 2);         /* internal attributes */
        put_le(&cd, 0, 4);         /* external attributes */
        put_le(&cd, offset, 4);
        put(&cd, e->name, nl);
    }
    uint32_t cd_offset = (uint32_t)b.n;
    put(&b, cd.p, cd.n);
    put_le(&b, 0x06054b50, 4);
    put_le(&b, 0, 2);
    put_le(&b, 0, 2);
    put_le(&b, (uint32_t)z->n, 2);
    put_le(&b, (uint32_t)z->n, 2);
    put_le(&b, (uint32_t)cd.n, 4);
    put_le(&b, cd_offset, 4);
    put_le(&b, 0, 2); /* comment */
    free(cd.p);
    if (b.oom || cd.oom) {
        free(b.p);
        return NULL;
    }
    *size = b.n;
    return b.p;
}
