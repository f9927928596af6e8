/* Output PNG sequences, the official converter's layout (pngseq.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_PNGSEQ_H
#define RVM_IO_PNGSEQ_H

#include <stddef.h>

#include "io/compose.h"

typedef struct rvmi_png_writer rvmi_png_writer;

/* Writes dir/0000.png, dir/0001.png, ... (the official layout); creates dir if needed. depth
 * 8 or 16. Each file is written under a temporary name and renamed when complete. */
rvmi_png_writer *rvmi_png_writer_open(const char *dir, rvmi_layout layout, int depth, int width,
                                    int height, char *err, size_t errlen);
/* data: packed pixels, uint8_t (depth 8) or native-endian uint16_t (depth 16). */
int rvmi_png_writer_frame(rvmi_png_writer *w, const void *data, char *err, size_t errlen);
/* The two halves of rvmi_png_writer_frame, as for videos. */
int rvmi_png_writer_take(rvmi_png_writer *w, const void *data, char *err, size_t errlen);
int rvmi_png_writer_encode(rvmi_png_writer *w, char *err, size_t errlen);
int rvmi_png_writer_count(const rvmi_png_writer *w);
void rvmi_png_writer_free(rvmi_png_writer *w);

/* Whether dir holds files named like frames of a sequence (NNNN.png). */
int rvmi_png_sequence_exists(const char *dir);
/* Creates a folder and its missing parents; 0 or -1 with a message. */
int rvmi_make_dirs(const char *dir, char *err, size_t errlen);

#endif
