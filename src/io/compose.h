/* Pixel math between the network's outputs and the files written: 16 -> 8-bit rounding, RGBA
 * packing and compositing over a background.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_COMPOSE_H
#define RVM_IO_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

/* Packed layouts shared by the writers: channels per pixel. */
typedef enum { RVM_LAYOUT_GRAY = 1, RVM_LAYOUT_RGB = 3, RVM_LAYOUT_RGBA = 4 } rvmi_layout;

/* The inputs are the network's 16-bit outputs (RVM_PIXEL_U16: round(v*65535) of the values
 * in 0..1): pha one sample per pixel, fgr interleaved RGB. 16-bit results round to nearest;
 * 8-bit results are the 16-bit value rounded to nearest 8-bit step (round(x*255/65535)). */

/* n samples, 16 -> 8 bits. */
void rvmi_u16_to_u8(const uint16_t *in, size_t n, uint8_t *out);
/* RGBA: foreground colour and alpha, colour zeroed where the written alpha is 0 (the
 * official PNG composition). n pixels; depth 8: out is uint8_t, 16: uint16_t. */
void rvmi_pack_rgba(const uint16_t *fgr, const uint16_t *pha, size_t n, int depth, void *out);
/* The same from the network's 8-bit outputs (RVM_PIXEL_U8). */
void rvmi_pack_rgba8_from8(const uint8_t *fgr, const uint8_t *pha, size_t n, uint8_t *out);
/* fgr*a + bg*(1-a) with bg packed 8-bit RGB (value/255), computed from the 16-bit fgr and
 * alpha and rounded once to the output's depth (8: out is uint8_t, 16: uint16_t). n pixels. */
void rvmi_compose_over(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                       int depth, void *out);
/* The same over one colour (rgb: 8-bit R, G, B). */
void rvmi_compose_colour(const uint16_t *fgr, const uint16_t *pha, const uint8_t rgb[3],
                         size_t n, int depth, void *out);

#endif
