/* libFuzzer target: bytes -> rvmi_tfjs_load_memory -> rvmi_model_build.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input layout: a 4-byte little-endian length n, then n bytes of model.json, then the bytes
 * of all its shards concatenated (what rvmi_tfjs_load_memory takes). A length past the end of
 * the input is cut to what is there, so that every input means something.
 *
 * As in fuzz_pth.c, the target aborts when the loader breaks its contract: a failure returns
 * a negative RVM_E* code with a non-empty one-line message and leaves the weights empty. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/weights.h"
#include "rvm.h"
#include "fuzz_contract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
               (size_t)data[3] << 24;
    if (n > size - 4)
        n = size - 4;
    /* Separate exact-size copies, so that ASan sees any read past either part. */
    char *json = malloc(n ? n : 1);
    size_t shard_len = size - 4 - n;
    uint8_t *shard = shard_len ? malloc(shard_len) : NULL;
    if (!json || (shard_len && !shard))
        abort();
    memcpy(json, data + 4, n);
    if (shard_len)
        memcpy(shard, data + 4 + n, shard_len);

    rvmi_weights w;
    char err[256];
    int rc = rvmi_tfjs_load_memory(json, n, shard, shard_len, &w, err, sizeof err);
    if (rc) {
        check_error(rc, err, &w, "rvmi_tfjs_load_memory");
    } else {
        struct rvm_model m;
        if (build_checked(&m, &w) == 0)
            rvmi_model_release(&m);
        rvmi_weights_free(&w);
    }
    free(json);
    free(shard);
    return 0;
}
