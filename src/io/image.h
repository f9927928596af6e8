/* Image outputs: PNG sequences in the official converter's layout (a folder of 0000.png,
 * 0001.png, ...), and single images (one picture in a file whose name says the format:
 * .png, .jpg, .webp, .tif, ...), both through libavcodec's image encoders (image.c).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_IMAGE_H
#define RVM_IO_IMAGE_H

#include <stddef.h>

#include "io/compose.h"

typedef struct rvmi_image_writer rvmi_image_writer;

/* The image format of a single-image output name, by its extension (as image folders are
 * read), when this FFmpeg can encode it; NULL otherwise (a video name). */
typedef struct {
    const char *ext;  /* as written in messages ("png") */
    int codec_id;     /* enum AVCodecID */
    int colour;       /* holds colour (else grey only: the matte) */
    int alpha;        /* holds transparency that viewers show */
    int deep;         /* holds 16 bits per channel */
} rvmi_image_format;
const rvmi_image_format *rvmi_image_format_of(const char *path);

/* Writes dir/0000.png, dir/0001.png, ... (the official layout); creates dir if needed. depth
 * 8 or 16. Each file is written under a temporary name and renamed when complete. */
/* On failure *usage says whether it is the request's (1: a format or size the encoder
 * refuses, a name that cannot be a folder, no permission, a read-only file system) rather
 * than the moment's (0: a full disk, an I/O error, no memory). */
rvmi_image_writer *rvmi_image_writer_open_sequence(const char *dir, rvmi_layout layout,
                                                   int depth, int width, int height,
                                                   int *usage, char *err, size_t errlen);
/* Writes one picture to path in the given format (depth 16 only where it is deep). A second
 * frame is an error. */
rvmi_image_writer *rvmi_image_writer_open_single(const char *path,
                                                 const rvmi_image_format *format,
                                                 rvmi_layout layout, int depth, int width,
                                                 int height, int *usage, char *err,
                                                 size_t errlen);
/* Takes a frame's packed pixels (uint8_t at depth 8, native-endian uint16_t at depth 16)
 * into the writer's own picture, then encodes and writes it: the two halves, as for videos. */
int rvmi_image_writer_take(rvmi_image_writer *w, const void *data, char *err, size_t errlen);
int rvmi_image_writer_encode(rvmi_image_writer *w, char *err, size_t errlen);
/* Gives the pictures encoded from now on this ICC profile (its bytes; once: later calls do
 * nothing), for the encoders that write one (FFmpeg 5.1: PNG's iCCP); 0, or -1 out of
 * memory. */
int rvmi_image_writer_set_icc(rvmi_image_writer *w, const uint8_t *icc, size_t size);
void rvmi_image_writer_free(rvmi_image_writer *w);

/* Whether dir holds files named like frames of a sequence (NNNN.png). */
int rvmi_png_sequence_exists(const char *dir);
/* Creates a folder and its missing parents; 0 or -1 with a message. */
int rvmi_make_dirs(const char *dir, char *err, size_t errlen);

#endif
