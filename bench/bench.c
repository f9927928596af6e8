/* Times one RVM step per frame, as a video converter runs it (recurrent state fed back), and
 * prints one JSON line. The frame is fixed pseudo-random data: speed does not depend on it.
 *
 * usage: rvm_bench [--checkpoint PATH] [--width 1920] [--height 1080] [--ratio 0.25]
 *                  [--frames 20] [--threads 2] [--isa NAME] [--precision fp32|int8]
 *                  [--int8-isa NAME] [--pixels u8|f32]
 * --precision int8 is the library's int8 mode (CPUs with VNNI); --int8-isa runs it with the
 * named int8 kernel set (reference, avx2, avxvnni, avx512vnni) on any CPU that has it, for
 * measurements where rvm_stream_set_precision refuses (see src/kernels/int8.h).
 * --pixels f32: the frame as planar float32 RGB in 0..1 and the outputs as planar float32, what
 * the Python model(src) passes (bench/python_overhead.py); u8 (default): packed 8-bit RGB, as the
 * converter.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model/network.h"
#include "rvm.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *ckpt = NULL, *isa = NULL, *precision = "fp32", *int8_isa = NULL, *pixels = "u8";
    int width = 1920, height = 1080, frames = 20, threads = 2;
    double ratio = 0.25;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--checkpoint"))
            ckpt = argv[i + 1];
        else if (!strcmp(argv[i], "--width"))
            width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--height"))
            height = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ratio"))
            ratio = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--frames"))
            frames = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--isa"))
            isa = argv[i + 1];
        else if (!strcmp(argv[i], "--precision"))
            precision = argv[i + 1];
        else if (!strcmp(argv[i], "--int8-isa"))
            int8_isa = argv[i + 1], precision = "int8";
        else if (!strcmp(argv[i], "--pixels"))
            pixels = argv[i + 1];
        else {
            fprintf(stderr, "rvm_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (width < 1 || height < 1 || width > RVM_MAX_SIDE || height > RVM_MAX_SIDE || frames < 1) {
        fprintf(stderr, "rvm_bench: bad size or frame count\n");
        return 2;
    }
    char err[512];
    rvm_model *model = rvm_model_load(ckpt, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, NULL, err, sizeof err);
    if (!model) {
        fprintf(stderr, "rvm_bench: %s\n", err);
        return 1;
    }
    rvm_stream *s = rvm_stream_create(model, threads, NULL, err, sizeof err);
    if (strcmp(precision, "fp32") && strcmp(precision, "int8")) {
        fprintf(stderr, "rvm_bench: --precision is fp32 or int8\n");
        return 2;
    }
    const int f32 = !strcmp(pixels, "f32");
    if (!f32 && strcmp(pixels, "u8")) {
        fprintf(stderr, "rvm_bench: --pixels is u8 or f32\n");
        return 2;
    }
    if (!s || (isa && rvmi_stream_set_kernels(s, isa)) ||
        (int8_isa && rvmi_stream_set_int8(s, int8_isa)) ||
        (!int8_isa && !strcmp(precision, "int8") &&
         rvm_stream_set_precision(s, RVM_PRECISION_INT8))) {
        fprintf(stderr, "rvm_bench: %s\n", s ? rvm_stream_error(s) : err);
        return 1;
    }
    size_t n = (size_t)width * height, sample = f32 ? sizeof(float) : 1;
    uint8_t *rgb = malloc(3 * n * sample);
    uint8_t *pha = malloc(n * sample), *fgr = malloc(3 * n * sample);
    if (!rgb || !pha || !fgr) {
        fprintf(stderr, "rvm_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < 3 * n; i++) {
        uint8_t v = (uint8_t)((i * 2654435761u) >> 24);
        if (f32)
            ((float *)rgb)[i] = v / 255.0f; /* planes: the same values, in another order */
        else
            rgb[i] = v;
    }
    rvm_output out = {.type = RVM_PIXEL_U8, .pha = pha, .pha_stride = width, .fgr = fgr,
                      .fgr_stride = 3 * (ptrdiff_t)width};
    const ptrdiff_t plane = (ptrdiff_t)(n * sizeof(float)), row = width * (ptrdiff_t)sizeof(float);
    rvm_frame frame = {.format = RVM_FORMAT_F32_PLANAR, .width = width, .height = height,
                       .planes = {rgb, rgb + plane, rgb + 2 * plane}, .strides = {row, row, row}};
    if (f32)
        out = (rvm_output){.type = RVM_PIXEL_F32, .pha = pha, .pha_stride = row, .fgr = fgr,
                           .fgr_stride = row, .fgr_layout = RVM_FGR_PLANAR,
                           .fgr_plane_stride = plane};
    double *ms = malloc(sizeof(double) * frames);
    double cpu0 = 0;
    for (int t = 0; t < frames + 2; t++) { /* two warm-up frames, as the peer does */
        if (t == 2)
            cpu0 = cpu_ms();
        double t0 = now_ms();
        if (f32 ? rvm_stream_process_frame(s, &frame, ratio, &out)
                : rvm_stream_process(s, rgb, width, height, 3 * (ptrdiff_t)width, ratio, &out)) {
            fprintf(stderr, "rvm_bench: %s\n", rvm_stream_error(s));
            return 1;
        }
        if (t >= 2)
            ms[t - 2] = now_ms() - t0;
    }
    /* CPU time of all threads per frame: steadier than wall time on a shared machine */
    double cpu_per_frame = (cpu_ms() - cpu0) / frames;
    qsort(ms, frames, sizeof(double), cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"rvm\", \"variant\": \"%s\", \"refiner\": \"%s\", \"kernels\": \"%s\", "
           "\"width\": %d, \"height\": %d, \"ratio\": %g, \"threads\": %d, \"precision\": \"%s\", "
           "\"pixels\": \"%s\", "
           "\"frames\": %d, \"ms_per_frame_median\": %.1f, \"ms_per_frame_min\": %.1f, "
           "\"fps\": %.2f, \"cpu_ms_per_frame\": %.1f, \"peak_rss_mb\": %.1f}\n",
           rvm_model_variant(model) == RVM_VARIANT_RESNET50 ? "resnet50" : "mobilenetv3",
           rvm_model_refiner(model) == RVM_REFINER_DEEP_GUIDED_FILTER ? "deep_guided_filter"
                                                                      : "fast_guided_filter",
           s->q8 ? rvmi_q8_kernels_name(s->q8) : s->kernels->name, width, height, ratio, threads,
           s->q8 ? "int8" : "fp32", pixels, frames, ms[frames / 2], ms[0],
           1000.0 / ms[frames / 2], cpu_per_frame, ru.ru_maxrss / 1024.0);
    free(ms);
    free(rgb);
    free(pha);
    free(fgr);
    rvm_stream_free(s);
    rvm_model_free(model);
    return 0;
}
