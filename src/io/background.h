/* Backgrounds for the composition: a colour, an image, or a video (looped when shorter than
 * the input, cut when longer), scaled to cover the frame and centred.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_BACKGROUND_H
#define RVM_IO_BACKGROUND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rvmi_background rvmi_background;

/* The official green screen, 120,255,155. */
#define RVM_DEFAULT_BACKGROUND "#78FF9B"

/* Parses a colour: a name (green, white, ...), #RRGGBB, #RGB, 0xRRGGBB or R,G,B. Returns 0,
 * -1 when it is not one, or -2 for a colour with an alpha below opaque (#RRGGBBAA, #RGBA,
 * red@0.5). */
int rvmi_parse_colour(const char *spec, uint8_t rgb[3]);

/* -1 with the message when spec (not a file) is no usable colour (see-through, or no colour
 * and no file name: --background's mistake), else 0 (rvmi_background_open says the rest). */
int rvmi_background_check_colour(const char *spec, char *err, size_t errlen);

/* spec: an existing image or video file, else a colour. The frames are width x height.
 * *bad_colour is set when it failed because spec is a colour that cannot be used or no
 * colour, file or file name at all (the flag's mistake, not a missing or damaged file). */
rvmi_background *rvmi_background_open(const char *spec, int width, int height,
                                    const atomic_int *interrupt, int *bad_colour, char *err,
                                    size_t errlen);
/* Whether the background is one colour (then written to rgb): compositing over it needs no
 * picture, and none is held unless rvmi_background_next asks for one. */
int rvmi_background_colour(const rvmi_background *bg, uint8_t rgb[3]);
/* Whether the background file's first picture has transparency (a pixel not opaque): it is
 * put over black, the composition being opaque. */
int rvmi_background_see_through(const rvmi_background *bg);
/* The background for the next frame: packed RGB24, width*height*3 bytes, valid until the
 * next call. NULL on error. */
const uint8_t *rvmi_background_next(rvmi_background *bg, char *err, size_t errlen);
void rvmi_background_free(rvmi_background *bg);

#endif
