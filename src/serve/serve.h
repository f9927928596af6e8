/* rvm serve: a web page and HTTP API to convert videos (libmicrohttpd).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_SERVE_SERVE_H
#define RVM_SERVE_SERVE_H

#include <stddef.h>

/* `rvm serve ARGS...`: argv[0] is "serve". Returns the exit code. */
int rvmi_serve_main(int argc, char **argv);

/* The page's files, embedded at build time (web_assets.c, generated from src/serve/web). */
typedef struct {
    const char *name; /* "index.html", ... */
    const unsigned char *data;
    size_t size;
} rvmi_web_asset;
extern const rvmi_web_asset rvmi_web_assets[];
extern const size_t rvmi_web_asset_count;

#endif
