/* SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The frame loops are the kernel set's (rvmi_frame_loops in kernels/kernels.h), chosen once
 * per process by RVM_ISA or the CPU; a colour background is a block of pixels repeated. */
#include "io/compose.h"

#include "kernels/kernels.h"

static const rvmi_frame_loops *frames(void) { return rvmi_kernels_default()->frames; }

void rvmi_u16_to_u8(const uint16_t *in, size_t n, uint8_t *out)
{
    frames()->u16_to_u8(in, n, out);
}

void rvmi_pack_rgba(const uint16_t *fgr, const uint16_t *pha, size_t n, int depth, void *out)
{
    if (depth == 16)
        frames()->pack_rgba16(fgr, pha, n, out);
    else
        frames()->pack_rgba8(fgr, pha, n, out);
}

void rvmi_pack_rgba8_from8(const uint8_t *fgr, const uint8_t *pha, size_t n, uint8_t *out)
{
    frames()->pack_rgba8_from8(fgr, pha, n, out);
}

void rvmi_compose_over(const uint16_t *fgr, const uint16_t *pha, const uint8_t *bg, size_t n,
                       int depth, void *out)
{
    if (depth == 16)
        frames()->over16(fgr, pha, bg, n, out);
    else
        frames()->over8(fgr, pha, bg, n, out);
}

#define BLOCK 512

void rvmi_compose_colour(const uint16_t *fgr, const uint16_t *pha, const uint8_t rgb[3],
                         size_t n, int depth, void *out)
{
    uint8_t block[3 * BLOCK]; /* the colour as one block of pixels */
    for (int i = 0; i < BLOCK; i++) {
        block[3 * i] = rgb[0];
        block[3 * i + 1] = rgb[1];
        block[3 * i + 2] = rgb[2];
    }
    const size_t sample_bytes = depth == 16 ? 2 : 1;
    for (size_t p0 = 0; p0 < n; p0 += BLOCK)
        rvmi_compose_over(fgr + 3 * p0, pha + p0, block, n - p0 < BLOCK ? n - p0 : BLOCK, depth,
                          (uint8_t *)out + 3 * p0 * sample_bytes);
}
