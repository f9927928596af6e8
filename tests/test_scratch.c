/* The stream's scratch memory (src/model/scratch.c): the first frame of a stream runs in the
 * scratch's one block like every later frame, so it touches about the frame's peak of memory,
 * not the several times that much that blocks of its own (each given back to the system when
 * released) made it fault in, and the second frame faults in no new block. Checked on the
 * real shape (1920x1080 at ratio 0.25, two threads): the scratch's peak fits in its block
 * after the first frame (nothing spilled), and the process's page faults during each frame
 * (getrusage: the pool's threads count too), the caller's frames touched beforehand.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fixture.h"
#include "model/network.h"

static long faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt + ru.ru_majflt;
}

int main(void)
{
    rvm_model *model = test_shipped_model();
    if (!model)
        return check_report();
    char err[256];
    rvm_stream *s = rvm_stream_create(model, 2, NULL, err, sizeof err);
    CHECK(s != NULL, "stream: %s", err);
    const int w = 1920, h = 1080;
    const size_t n = (size_t)w * h;
    uint8_t *rgb = malloc(3 * n), *pha = malloc(n), *fgr = malloc(3 * n);
    if (!s || !rgb || !pha || !fgr) {
        CHECK(0, "out of memory");
        return check_report();
    }
    for (size_t i = 0; i < 3 * n; i++)
        rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
    memset(pha, 0, n);
    memset(fgr, 0, 3 * n);
    rvm_output out = {.type = RVM_PIXEL_U8, .pha = pha, .pha_stride = w, .fgr = fgr,
                      .fgr_stride = 3 * (ptrdiff_t)w};
    const long page = sysconf(_SC_PAGESIZE);
    long f[3];
    f[0] = faults();
    for (int t = 0; t < 2; t++) {
        int st = rvm_stream_process(s, rgb, w, h, 3 * (ptrdiff_t)w, 0.25, &out);
        CHECK(st == 0, "frame %d: %s", t, rvm_stream_error(s));
        f[t + 1] = faults();
        if (t == 0)
            CHECK(s->scratch.base && s->scratch.peak <= s->scratch.size && !s->scratch.spills,
                  "the first frame spilled out of the scratch block (peak %zu bytes, block %zu)",
                  s->scratch.peak, s->scratch.size);
    }
    /* the peak's pages, and room for what else a first frame allocates (the recurrent
     * state, the threads' stacks, the allocator's own pages): before, ~5x the peak */
    const long peak_pages = (long)(s->scratch.peak / (size_t)page);
    CHECK(f[1] - f[0] < peak_pages * 3 / 2 + 2048,
          "first frame: %ld page faults for a scratch peak of %ld pages", f[1] - f[0],
          peak_pages);
    /* before, the second frame faulted in a new block of the peak's size */
    CHECK(f[2] - f[1] < peak_pages / 8,
          "second frame: %ld page faults for a scratch peak of %ld pages", f[2] - f[1],
          peak_pages);
    printf("scratch peak %ld pages; page faults: first frame %ld, second %ld\n", peak_pages,
           f[1] - f[0], f[2] - f[1]);
    free(rgb);
    free(pha);
    free(fgr);
    rvm_stream_free(s);
    rvm_model_free(model);
    return check_report();
}
