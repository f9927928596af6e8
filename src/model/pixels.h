/* Input frames of every format (rvm_frame) as the network reads them: rows of floats.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_MODEL_PIXELS_H
#define RVM_MODEL_PIXELS_H

#include <stddef.h>

#include "kernels/kernels.h"
#include "rvm.h"

/* Checks a frame's format, planes and strides (every stride at least its plane's row bytes).
 * Returns 0, or RVM_EINVAL with a one-line message in err. */
int rvmi_frame_check(const rvm_frame *f, char *err, size_t errlen);

/* Row y of the frame as three planes of floats (R, G, B; 8-bit values v become v/255, YUV is
 * converted and clamped to 0..1). rgb[] points into buf (3*width floats), or straight into
 * the frame for RVM_FORMAT_F32_PLANAR (no copy). k: the kernel set whose loops convert. */
/* The YUV -> RGB coefficients of a YUV frame's matrix and range, as rvmi_frame_row uses them. */
rvmi_yuv_coeffs rvmi_frame_coefficients(const rvm_frame *f);

void rvmi_frame_row(const rvmi_kernels *k, const rvm_frame *f, int y, float *buf,
                    const float *rgb[3]);
/* Pixels x0 .. x0 + n - 1 of row y the same way (x0 even: a 4:2:0 row's chroma sample
 * starts there), into buf's 3*n floats: the same values as those pixels of rvmi_frame_row. */
void rvmi_frame_row_part(const rvmi_kernels *k, const rvm_frame *f, int y, int x0, int n,
                         float *buf, const float *rgb[3]);

#endif
