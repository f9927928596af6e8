/* Pixel math between the network's float outputs and the files written: rounding to 8/16
 * bits, RGBA packing and compositing over a background.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_COMPOSE_H
#define RVM_IO_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

/* Packed layouts shared by the writers: channels per pixel. */
typedef enum { RVM_LAYOUT_GRAY = 1, RVM_LAYOUT_RGB = 3, RVM_LAYOUT_RGBA = 4 } rvm_layout;

/* All functions take n pixels of the network's outputs (pha: one float per pixel, fgr:
 * interleaved RGB floats, values in 0..1) and write packed pixels rounded to nearest:
 * 8-bit round(v*255), 16-bit round(v*65535). Out-of-range values (and NaN) are clamped. */
void rvm_pack_gray8(const float *pha, size_t n, uint8_t *out);
void rvm_pack_gray16(const float *pha, size_t n, uint16_t *out);
void rvm_pack_rgb8(const float *fgr, size_t n, uint8_t *out);
void rvm_pack_rgb16(const float *fgr, size_t n, uint16_t *out);
/* RGBA: foreground colour and alpha, colour zeroed where the written alpha is 0 (the
 * official PNG composition). */
void rvm_pack_rgba8(const float *fgr, const float *pha, size_t n, uint8_t *out);
void rvm_pack_rgba16(const float *fgr, const float *pha, size_t n, uint16_t *out);
/* fgr*a + bg*(1-a) with bg packed 8-bit RGB (value/255). */
void rvm_compose_over8(const float *fgr, const float *pha, const uint8_t *bg, size_t n,
                       uint8_t *out);
void rvm_compose_over16(const float *fgr, const float *pha, const uint8_t *bg, size_t n,
                        uint16_t *out);

#endif
