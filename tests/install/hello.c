/* A program of someone else's, built against the installed rvm through pkg-config: loads the
 * default model, runs one frame and prints what it found (the install test checks it).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <rvm.h>
#include <stdio.h>
#include <stdlib.h>

#if RVM_VERSION_NUMBER < 200
#error "rvm.h is older than 0.2.0"
#endif

int main(void)
{
    enum { W = 96, H = 64 };
    char err[256];
    int status;
    rvm_model *model = rvm_model_load(NULL, RVM_VARIANT_AUTO, RVM_REFINER_AUTO, &status, err,
                                      sizeof err);
    if (!model) {
        fprintf(stderr, "hello: %s (%s)\n", err, rvm_status_string(status));
        return 1;
    }
    rvm_stream *stream = rvm_stream_create(model, 1, &status, err, sizeof err);
    if (!stream) {
        fprintf(stderr, "hello: %s\n", err);
        return 1;
    }
    static unsigned char rgb[W * H * 3], pha[W * H], fgr[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        rgb[i] = (unsigned char)(i * 7);
    rvm_output out = {.type = RVM_PIXEL_U8, .pha = pha, .pha_stride = W, .fgr = fgr,
                      .fgr_stride = 3 * W};
    if (rvm_stream_process(stream, rgb, W, H, 3 * W, 0.5, &out) != RVM_OK) {
        fprintf(stderr, "hello: %s\n", rvm_stream_error(stream));
        return 1;
    }
    long sum = 0;
    for (int i = 0; i < W * H; i++)
        sum += pha[i] + fgr[3 * i] + fgr[3 * i + 1] + fgr[3 * i + 2];
    printf("version %s model %s output-sum %ld\n", rvm_version_string(), rvm_default_model_path(),
           sum);
    rvm_stream_free(stream);
    rvm_model_free(model);
    return 0;
}
