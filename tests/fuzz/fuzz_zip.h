/* A minimal zip reader/writer for the fuzzing tools (not part of rvm).
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The .pth fuzz target needs to change the files inside a checkpoint without breaking the
 * archive: libzip checks every entry's CRC-32, so a mutation of the raw bytes of data.pkl is
 * almost always rejected as a CRC error before the unpickler sees it. The custom mutator of
 * fuzz_pth.c therefore unpacks an input with fz_zip_read, mutates one entry, and packs it
 * again with fz_zip_write (fresh CRCs and sizes). make_seeds.c writes its archives with the
 * same writer. */
#ifndef RVM_FUZZ_ZIP_H
#define RVM_FUZZ_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;    /* NUL-terminated; zip names hold no NUL */
    uint8_t *data; /* uncompressed */
    size_t len;
    int deflate;   /* written with deflate (else stored) */
} fz_entry;

typedef struct {
    fz_entry *e;
    int n, cap;
} fz_zip;

/* Appends an entry (copies name and data). Returns 0, or -1 when out of memory. */
int fz_zip_add(fz_zip *z, const char *name, const void *data, size_t len, int deflate);
/* Unpacks an archive in memory with libzip; entries larger than max_entry bytes, more than
 * 4096 entries or any libzip error make it fail (-1), leaving z empty. */
int fz_zip_read(const uint8_t *data, size_t size, size_t max_entry, fz_zip *z);
/* Packs the entries into a new archive (malloc'd), or NULL when out of memory. */
uint8_t *fz_zip_write(const fz_zip *z, size_t *size);
void fz_zip_free(fz_zip *z);

#endif
