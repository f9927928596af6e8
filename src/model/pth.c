/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Placeholder until the loader lands; see weights.h for the contract. */
#include <stdio.h>
#include "rvm.h"
#include "model/weights.h"
int rvm_pth_load(const char *path, rvm_weights *out, char *err, size_t errlen)
{ (void)path; (void)out; snprintf(err, errlen, "pth loader not written yet"); return RVM_EUNSUPPORTED; }
int rvm_pth_load_memory(const uint8_t *d, size_t n, rvm_weights *out, char *err, size_t errlen)
{ (void)d; (void)n; (void)out; snprintf(err, errlen, "pth loader not written yet"); return RVM_EUNSUPPORTED; }
