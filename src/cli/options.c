/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cli/options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/parseutils.h>

typedef int (*handler)(rvmi_cli_options *o, char **args, char *err, size_t errlen);

typedef struct {
    const char *name;    /* long form, "--..." */
    const char *alias;   /* short form or another spelling, or NULL */
    int nargs;           /* values that follow */
    const char *metavar; /* for --help */
    handler set;
    const char *help;
} option;

static int parse_int(const char *name, const char *s, long lo, long hi, int *out, char *err,
                     size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        snprintf(err, errlen, "%s %s: expected a whole number from %ld to %ld", name, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A finite number; bounds are checked by the callers, which know what they mean. */
static int parse_num(const char *name, const char *s, double *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) {
        snprintf(err, errlen, "%s %s: expected a number", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Seconds, or [HH:]MM:SS[.frac] as FFmpeg writes them. */
static int parse_time(const char *name, const char *s, double *out, char *err, size_t errlen)
{
    int64_t us;
    if (av_parse_time(&us, s, 1) < 0 || us < 0) {
        snprintf(err, errlen, "%s %s: expected a time (seconds or [HH:]MM:SS[.frac]) >= 0",
                 name, s);
        return -1;
    }
    *out = us / 1e6;
    return 0;
}

static int set_variant(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    if (strcmp(a[0], "mobilenetv3") == 0)
        o->variant = RVM_VARIANT_MOBILENETV3;
    else if (strcmp(a[0], "resnet50") == 0)
        o->variant = RVM_VARIANT_RESNET50;
    else {
        snprintf(err, errlen, "--variant %s: expected mobilenetv3 or resnet50", a[0]);
        return -1;
    }
    return 0;
}

static int set_checkpoint(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    o->checkpoint = a[0];
    return 0;
}

static int set_device(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)o;
    if (strcmp(a[0], "cpu") != 0) {
        snprintf(err, errlen, "--device %s: only cpu is available", a[0]);
        return -1;
    }
    return 0;
}

static int set_input(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    o->input = a[0];
    return 0;
}

static int set_resize(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    if (parse_int("--input-resize", a[0], 1, RVM_MAX_SIDE, &o->resize_w, err, errlen) < 0 ||
        parse_int("--input-resize", a[1], 1, RVM_MAX_SIDE, &o->resize_h, err, errlen) < 0)
        return -1;
    return 0;
}

static int set_ratio(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    double v;
    /* strtod accepts "nan"; parse_num refuses it as not finite. */
    if (parse_num("--downsample-ratio", a[0], &v, err, errlen) < 0 || !(v > 0 && v <= 1)) {
        snprintf(err, errlen, "--downsample-ratio %s: must be in (0, 1]", a[0]);
        return -1;
    }
    o->ratio = v;
    return 0;
}

static int set_type(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    if (strcmp(a[0], "video") == 0)
        o->png = 0;
    else if (strcmp(a[0], "png_sequence") == 0)
        o->png = 1;
    else {
        snprintf(err, errlen, "--output-type %s: expected video or png_sequence", a[0]);
        return -1;
    }
    return 0;
}

static int nonempty(const char *name, const char *v, char *err, size_t errlen)
{
    if (!*v) {
        snprintf(err, errlen, "%s: the path is empty", name);
        return -1;
    }
    return 0;
}

static int set_com(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    o->out_com = a[0];
    return nonempty("--output-composition", a[0], err, errlen);
}

static int set_pha(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    o->out_pha = a[0];
    return nonempty("--output-alpha", a[0], err, errlen);
}

static int set_fgr(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    o->out_fgr = a[0];
    return nonempty("--output-foreground", a[0], err, errlen);
}

static int set_mbps(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    double v;
    if (parse_num("--output-video-mbps", a[0], &v, err, errlen) < 0 || !(v > 0 && v <= 1000)) {
        snprintf(err, errlen, "--output-video-mbps %s: expected a number in (0, 1000]", a[0]);
        return -1;
    }
    o->mbps = v;
    return 0;
}

static int set_seq_chunk(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    return parse_int("--seq-chunk", a[0], 1, INT_MAX, &o->seq_chunk, err, errlen);
}

static int set_workers(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    return parse_int("--num-workers", a[0], 0, INT_MAX, &o->num_workers, err, errlen);
}

static int set_no_progress(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)a, (void)err, (void)errlen;
    o->no_progress = 1;
    return 0;
}

static int set_threads(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    return parse_int("--threads", a[0], 0, 1024, &o->threads, err, errlen);
}

static int set_background(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    o->background = a[0];
    return nonempty("--background", a[0], err, errlen);
}

static int set_codec(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    if (rvmi_codec_from_name(a[0], &o->codec) < 0) {
        snprintf(err, errlen, "--codec %s: expected h264, hevc, prores, vp9 or ffv1", a[0]);
        return -1;
    }
    o->codec_set = 1;
    return 0;
}

static int set_crf(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    return parse_int("--crf", a[0], 0, 63, &o->crf, err, errlen);
}

static int set_preset(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    for (int i = 0; rvmi_presets[i]; i++)
        if (strcmp(a[0], rvmi_presets[i]) == 0) {
            o->preset = rvmi_presets[i];
            return 0;
        }
    char list[160] = "";
    for (int i = 0; rvmi_presets[i]; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, rvmi_presets[i], sizeof(list) - strlen(list) - 1);
    }
    snprintf(err, errlen, "--preset %s: expected one of %s", a[0], list);
    return -1;
}

static int set_depth(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    if (strcmp(a[0], "8") == 0)
        o->depth = 8;
    else if (strcmp(a[0], "16") == 0)
        o->depth = 16;
    else {
        snprintf(err, errlen, "--output-depth %s: expected 8 or 16", a[0]);
        return -1;
    }
    o->depth_set = 1;
    return 0;
}

static int set_fps(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    double v;
    if (parse_num("--input-fps", a[0], &v, err, errlen) < 0 || !(v > 0 && v <= 1000)) {
        snprintf(err, errlen, "--input-fps %s: expected a number in (0, 1000]", a[0]);
        return -1;
    }
    o->input_fps = v;
    o->input_fps_set = 1;
    return 0;
}

static int set_start(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    return parse_time("--start", a[0], &o->start, err, errlen);
}

static int set_duration(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    if (parse_time("--duration", a[0], &o->duration, err, errlen) < 0)
        return -1;
    if (o->duration <= 0) {
        snprintf(err, errlen, "--duration %s: must be more than 0", a[0]);
        return -1;
    }
    return 0;
}

static int set_no_audio(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)a, (void)err, (void)errlen;
    o->no_audio = 1;
    return 0;
}

static int set_overwrite(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)a, (void)err, (void)errlen;
    o->overwrite = 1;
    return 0;
}

static int set_help(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)a, (void)err, (void)errlen;
    o->help = 1;
    return 0;
}

static int set_version(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)a, (void)err, (void)errlen;
    o->version = 1;
    return 0;
}

static int set_verbose(rvmi_cli_options *o, char **a, char *err, size_t errlen)
{
    (void)a, (void)err, (void)errlen;
    o->verbose = 1;
    return 0;
}

static const option options[] = {
    {"--input-source", "-i", 1, "PATH", set_input,
     "video file, image folder (sorted by name), any FFmpeg input, or - for stdin"},
    {"--output-type", NULL, 1, "TYPE", set_type,
     "video (default) or png_sequence (folders of 0000.png, 0001.png, ...)"},
    {"--output-composition", NULL, 1, "PATH", set_com,
     "foreground over the background; as PNGs: RGBA (colour zeroed where alpha is 0)"},
    {"--output-alpha", NULL, 1, "PATH", set_pha, "the alpha matte (grey)"},
    {"--output-foreground", NULL, 1, "PATH", set_fgr, "the foreground colours (RGB)"},
    {"--variant", NULL, 1, "NAME", set_variant,
     "mobilenetv3 or resnet50; checked against the weights (default: what they hold)"},
    {"--checkpoint", NULL, 1, "PATH", set_checkpoint,
     "a .pth checkpoint or TF.js model folder (default: the shipped model)"},
    {"--device", NULL, 1, "NAME", set_device, "cpu (the only device)"},
    {"--downsample-ratio", NULL, 1, "R", set_ratio,
     "in (0, 1]; default min(512 / max(width, height), 1)"},
    {"--input-resize", NULL, 2, "W H", set_resize, "scale the input to W x H first"},
    {"--input-fps", NULL, 1, "FPS", set_fps, "frame rate of image folders (default 30)"},
    {"--start", "-ss", 1, "TIME", set_start, "skip this much of the input (seconds or HH:MM:SS)"},
    {"--duration", "-t", 1, "TIME", set_duration, "convert only this much"},
    {"--background", NULL, 1, "BG", set_background,
     "colour (name, #RRGGBB, R,G,B), image, video (looped), or none for transparency; "
     "default 120,255,155"},
    {"--codec", NULL, 1, "NAME", set_codec,
     "h264 (default), hevc, prores (4444, alpha, .mov), vp9 (alpha, .webm), ffv1 (lossless)"},
    {"--output-video-mbps", NULL, 1, "N", set_mbps, "video bit rate in Mbit/s (default 1)"},
    {"--crf", NULL, 1, "N", set_crf, "constant quality instead of a bit rate (h264/hevc/vp9)"},
    {"--preset", NULL, 1, "NAME", set_preset,
     "x264/x265 speed preset (h264/hevc): ultrafast, superfast, veryfast, faster, fast, "
     "medium, slow, slower, veryslow, placebo. Default: " RVM_DEFAULT_PRESET
     " with a 3-frame look-ahead and no B-frames (fast, bounded memory); a preset named here "
     "is used as the encoder defines it (slower ones compress better but can cost more time "
     "than the network, and hold more frames in memory)"},
    {"--output-depth", NULL, 1, "8|16", set_depth,
     "bits per channel of PNG sequences (16 stores round(value*65535))"},
    {"--no-audio", NULL, 0, NULL, set_no_audio,
     "do not copy the input's audio into composition/foreground videos"},
    {"--overwrite", "-y", 0, NULL, set_overwrite, "replace existing outputs"},
    {"--threads", NULL, 1, "N", set_threads, "network threads (default: all cores)"},
    {"--seq-chunk", NULL, 1, "N", set_seq_chunk,
     "accepted for compatibility (frames always run one at a time, in order)"},
    {"--num-workers", NULL, 1, "N", set_workers,
     "accepted for compatibility (decoding always runs in its own thread)"},
    {"--disable-progress", NULL, 0, NULL, set_no_progress, "no progress bar"},
    {"--verbose", "-v", 0, NULL, set_verbose, "also show FFmpeg's own messages"},
    {"--help", "-h", 0, NULL, set_help, "show this help"},
    {"--version", NULL, 0, NULL, set_version, "show the version"},
};
#define NOPTIONS (int)(sizeof(options) / sizeof(options[0]))

void rvmi_cli_usage(FILE *f)
{
    fputs("Usage: rvm --input-source PATH --output-composition|--output-alpha|"
          "--output-foreground PATH [options]\n"
          "Robust Video Matting: cut people out of videos.\n\n",
          f);
    for (int i = 0; i < NOPTIONS; i++) {
        char head[64];
        snprintf(head, sizeof(head), "%s%s%s%s%s", options[i].alias ? options[i].alias : "",
                 options[i].alias ? ", " : "", options[i].name, options[i].metavar ? " " : "",
                 options[i].metavar ? options[i].metavar : "");
        fprintf(f, "  %-30s %s\n", head, options[i].help);
    }
    fputs("\nExample:\n  rvm --input-source in.mp4 --output-composition com.mp4 "
          "--output-alpha pha.mp4\n"
          "Ctrl-C stops cleanly: outputs hold the frames done (exit code 130).\n",
          f);
}

int rvmi_cli_parse(int argc, char **argv, rvmi_cli_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->seq_chunk = 1;
    o->crf = -1;
    o->depth = 8;
    o->input_fps = 30;
    o->duration = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        const option *op = NULL;
        for (int k = 0; k < NOPTIONS && !op; k++)
            if ((strlen(options[k].name) == len && strncmp(arg, options[k].name, len) == 0) ||
                (options[k].alias && strlen(options[k].alias) == len &&
                 strncmp(arg, options[k].alias, len) == 0))
                op = &options[k];
        if (!op) {
            snprintf(err, errlen, "unknown option '%s' (see rvm --help)", arg);
            return -1;
        }
        char *vals[2] = {NULL, NULL};
        if (eq) {
            /* --name=value for one-value options. */
            if (op->nargs != 1) {
                snprintf(err, errlen, "%s does not take '=' (see rvm --help)", op->name);
                return -1;
            }
            vals[0] = (char *)eq + 1;
        } else {
            if (i + op->nargs >= argc) {
                snprintf(err, errlen, "%s needs %s", op->name, op->metavar);
                return -1;
            }
            for (int k = 0; k < op->nargs; k++)
                vals[k] = argv[i + 1 + k];
            i += op->nargs;
        }
        if (op->set(o, vals, err, errlen) < 0)
            return -1;
    }
    if (o->help || o->version)
        return 0;
    if (!o->input) {
        snprintf(err, errlen, "--input-source is required (see rvm --help)");
        return -1;
    }
    if (!o->out_com && !o->out_pha && !o->out_fgr) {
        snprintf(err, errlen,
                 "no output given: use --output-composition, --output-alpha or "
                 "--output-foreground");
        return -1;
    }
    if (o->mbps > 0 && o->crf >= 0) {
        snprintf(err, errlen, "--output-video-mbps and --crf exclude each other");
        return -1;
    }
    if (o->png && (o->codec_set || o->mbps > 0 || o->crf >= 0 || o->preset)) {
        snprintf(err, errlen, "--codec, --crf, --preset and --output-video-mbps apply to video "
                              "outputs, not png_sequence");
        return -1;
    }
    if (o->preset && o->codec_set && o->codec != RVM_CODEC_H264 && o->codec != RVM_CODEC_HEVC) {
        snprintf(err, errlen, "--preset applies to --codec h264 and hevc, not %s",
                 rvmi_codec_name(o->codec));
        return -1;
    }
    if (!o->png && o->depth_set && o->depth != 8) {
        snprintf(err, errlen, "--output-depth 16 applies to --output-type png_sequence");
        return -1;
    }
    if (o->crf > 51 && o->codec_set && o->codec != RVM_CODEC_VP9) {
        snprintf(err, errlen, "--crf %d: at most 51 (63 for vp9)", o->crf);
        return -1;
    }
    return 0;
}
