/* rvm: the command-line video converter (the official inference.py, and more).
 * The conversion is also what the Python package's convert_video runs in its own process
 * (rvmi_convert_in_process, cli/convert.h); built with RVM_NO_MAIN this file has no main().
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libavutil/timecode.h>
#include <libswscale/swscale.h>

#include "cli/cli.h"
#include "cli/convert.h"
#include "cli/options.h"
#include "cli/pages.h"
#include "cli/pipeline.h"
#include "cli/signals.h"
#include "io/avlog.h"
#include "io/background.h"
#include "io/image.h"
#include "io/outfile.h"
#include "io/protect.h"
#include "io/reader.h"
#include "io/writer.h"
#include "rvm.h"
#ifdef RVM_HAVE_SERVE
#include "serve/serve.h"
#endif

/* Where the calling thread's conversion reports (rvmi_convert_in_process's hooks); NULL:
 * the command's stderr. */
static _Thread_local const rvmi_convert_hooks *t_hooks;

static void say(rvmi_message_kind kind, const char *fmt, va_list ap)
{
    if (t_hooks && t_hooks->message) {
        char text[1024];
        vsnprintf(text, sizeof text, fmt, ap);
        t_hooks->message(t_hooks->user, kind, text);
        return;
    }
    fputs(kind == RVMI_MESSAGE_WARNING ? "rvm: warning: " : "rvm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

#define errorf rvmi_cli_error
void rvmi_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(RVMI_MESSAGE_ERROR, fmt, ap);
    va_end(ap);
}

int rvmi_cli_write_status(const rvmi_video_writer *w)
{
    return rvmi_video_writer_reader_gone(w) ? RVMI_EXIT_FAILURE : RVMI_EXIT_TRANSIENT;
}

static void warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(RVMI_MESSAGE_WARNING, fmt, ap);
    va_end(ap);
}

static void notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notef(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(RVMI_MESSAGE_NOTICE, fmt, ap);
    va_end(ap);
}

typedef struct {
    rvmi_out_kind kind;
    const char *flag;   /* for messages */
    const char *path;   /* as given (pipe:N: /dev/fd/N) */
    const char *given;  /* as given, always (pipe:N too) */
    rvmi_outfile file;  /* where it is written, and how it replaces the final name */
    char *canon;        /* realpath of the parent folder + name, to compare outputs */
    rvmi_codec codec;
    const char *format; /* muxer, when the name does not tell */
    int to_stdout;      /* "-" or "pipe:1": written straight to stdout */
    const rvmi_image_format *image; /* a single image (photo.png), or NULL */
    const char *raw_pix_fmt; /* rawvideo's pixel format: --output-format's, or the name's */
    char fd_name[RVMI_FD_NAME_MAX]; /* path when the option named pipe:N: /dev/fd/N */
} out_file;

/* The output as the user named it, for a refusal to write over an input (its /dev/fd/N
 * name means nothing to them: -o - 1<>input.mkv, --output-alpha pipe:3 3<>input.mkv). */
static const char *shown_name(const out_file *o, char *buf, size_t len)
{
    if (o->to_stdout)
        snprintf(buf, len, "%s: stdout", o->given);
    else if (strcmp(o->given, o->path) != 0)
        snprintf(buf, len, "%s: descriptor %s", o->given, o->given + 5);
    else
        return NULL;
    return buf;
}

/* Output paths that mean stdout, as FFmpeg spells them. */
static int names_stdout(const char *path)
{
    return strcmp(path, "-") == 0 || strcmp(path, "pipe:1") == 0 || strcmp(path, "pipe:") == 0;
}

/* realpath() of the parent folder joined with the last component (of the file a link
 * names: a file output is written through its link); NULL when the parent does not exist.
 * Two outputs naming one file are caught even through "./" or links. */
static char *canonical(const char *path)
{
    char target[PATH_MAX];
    if (rvmi_outfile_link_target(path, target) > 0)
        path = target;
    char *a = strdup(path), *b = strdup(path);
    char *out = NULL;
    if (a && b) {
        char *parent = realpath(dirname(a), NULL);
        const char *base = basename(b);
        if (parent && (out = malloc(strlen(parent) + strlen(base) + 2)))
            sprintf(out, "%s/%s", parent, base);
        free(parent);
    }
    free(a);
    free(b);
    return out;
}

/* Refuses an output that would destroy a protected file, then stages it (src/io/outfile.h).
 * Returns 0 or -1 (message printed); *usage is 1 when the name was refused as given
 * (an input, an existing file without -y, a folder nothing can be written in: the flags'
 * mistake, exit 2 as rvm join's), 2 when preparing failed for the moment (a full disk). */
static int prepare_output(out_file *o, int png, int overwrite, const rvmi_protected *prot,
                          int *usage)
{
    o->file.flag = o->flag;
    o->file.path = o->path;
    o->file.folder = png;
    struct stat st;
    if (o->to_stdout && fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
        /* Stdout redirected to a file (-o - >out.mkv): written as /dev/fd/1 is, as a file
         * (seekable: Matroska's duration and index, MP4's moov) when it is empty and at its
         * start, else through the descriptor after what the file holds (>>, { echo; rvm;
         * } >f); never over an input. */
        o->file.path = "/dev/fd/1";
    } else if (o->to_stdout) { /* a pipe or device: nothing to stage, rename or remove */
        o->file.direct = 1;
        o->file.write_path = strdup("pipe:1");
        return o->file.write_path ? 0 : -1;
    }
    char err[1024], shown[64];
    if (rvmi_protect_check(prot, o->flag, o->file.path, shown_name(o, shown, sizeof shown), err,
                           sizeof err) < 0) {
        errorf("%s", err);
        *usage = 1;
        return -1;
    }
    if (rvmi_outfile_prepare(&o->file, overwrite, err, sizeof err) < 0) {
        errorf("%s", err);
        *usage = o->file.refused ? 1 : o->file.transient ? 2 : 0;
        return -1;
    }
    return 0;
}

/* One conversion: what main() sets up, runs and takes down. */
typedef struct {
    const rvmi_cli_options *opt;
    rvmi_segment *seg;      /* rvm render: a segment of a plan (NULL: the whole input) */
    int templates;          /* the outputs are rvm batch's templates: no name's length yet */
    int fail_status;        /* the exit code a failing step chose (0: the default) */
    int usage_error;        /* the reader failed because of an option (rvmi_reader_options) */
    rvmi_protected prot;    /* files that must never be written over */
    out_file outs[3];
    int nouts;
    int prepared;           /* outs[0 .. prepared-1] have files to discard on failure */
    int com_rgba;           /* the composition is transparent RGBA */
    char muxer[64];         /* --output-format's container ("" when not given) */
    const char *raw_pix_fmt; /* --output-format rawvideo:PIX_FMT, or NULL */
    rvmi_track_choice tracks; /* the audio and subtitle tracks carried */
    rvmi_reader *reader;
    rvmi_background *bg;
    rvm_model *model;        /* loaded here (not when given_model) */
    const rvm_model *given_model; /* the caller's (rvmi_convert_in_process), not freed here */
    /* The model loads in a thread of its own while the input and the outputs are opened
     * (~45 ms and ~15 ms at 1080p, one after the other before); load_network joins it. */
    pthread_t loader;
    int loading;             /* loader runs or has not been joined */
    char load_err[1024];     /* its message when model stays NULL */
    int load_status;         /* and its RVM_E* status */
    rvm_stream *stream;
    rvmi_pipeline pl;
    int64_t frames;
    atomic_int *stop;        /* a signal number: stop, keeping the frames done */
    int own_signals;         /* the command's handlers are installed (cli/signals.h) */
    int own_process;         /* the command's own process (rvmi_release_startup_pages) */
    const rvmi_convert_hooks *hooks; /* or NULL: the command's stderr */
} conversion;

/* Process-wide settings for a long run that holds large frames in several threads. */
static void configure_process(const rvmi_cli_options *opt)
{
    /* Transparent huge pages stay allowed: x264 asks for them (madvise) for its frames,
     * which then come in 2 MB pages instead of 512 faults each. They were disabled here
     * (PR_SET_THP_DISABLE) after an older host spent 0.3-0.5 s more system time at start
     * zeroing and compacting for them; on the 2026-12-02 host (AMD EPYC VM, THP "madvise",
     * defrag "madvise") allowing them measured, alternated with the same binary: a one-frame
     * 1080p conversion 0.98 -> 0.84 s wall and 1.13 -> 0.96 s CPU (medians of 8, faults
     * 51k -> 37k); peak RSS of the README's conversion 173 -> 182 MiB, of the 4K H.264 one
     * 454 -> 465 MiB (489 million bytes: issue 14's limit is 500 million) and of the 4K HLG
     * one 601 -> 611 MiB (641 million, tests/cli/memory.sh's limit 650 million). */
    /* Frames, network scratch and encoder pictures are megabytes each, allocated and freed
     * by several threads. glibc's default raises its mmap threshold to the largest block
     * freed (up to 32 MB), after which such blocks come from per-thread heaps that keep
     * their pages when freed: a fixed threshold returns them (measured at 1080p with two
     * H.264 outputs: peak RSS 390 -> 340 MB, same speed). */
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    /* FFmpeg's (and x264's) messages go through rvm's log: one line per error; --verbose
     * shows them. */
    rvmi_avlog_install(opt->verbose);
}

/* Records the input, background and checkpoint files, in every form they were named, which
 * no output may name or hold. Returns 0, or -1 (message printed) when the input is a
 * missing local file. */
static int protect_inputs(conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    const char *colon = strchr(opt->input, ':'), *slash = strchr(opt->input, '/');
    /* file:, pipe:, http:// ...; not take:2.mkv, which names a file (FFmpeg has no protocol
     * "take"), so that a missing one is missing rather than "Protocol not found". */
    int is_url = colon && (!slash || colon < slash) && avio_find_protocol_name(opt->input);
    struct stat st;
    if (strcmp(opt->input, "-") != 0 && !is_url && stat(opt->input, &st) < 0 &&
        errno == ENOENT) {
        errorf("%s: no such file or folder", opt->input);
        return -1;
    }
    rvmi_cli_protect_sources(opt, &c->prot);
    return 0;
}

void rvmi_cli_protect_sources(const rvmi_cli_options *opt, rvmi_protected *prot)
{
    rvmi_protect_source(prot, opt->input, "input");
    int bg_none = opt->background && strcmp(opt->background, "none") == 0;
    if (opt->background && !bg_none)
        rvmi_protect_source(prot, opt->background, "background");
    if (opt->checkpoint)
        rvmi_protect_source(prot, opt->checkpoint, "checkpoint");
}

/* The inputs as FFmpeg opened them (whatever form their names took) are protected too;
 * checked once the reader and background are open. Returns 0 or -1 (message printed). */
static int protect_opened_inputs(conversion *c)
{
    char err[1024], shown[64];
    rvmi_protect_open_files(&c->prot, "input");
    for (int i = 0; i < c->nouts; i++) {
        /* Stdout redirected to a file is that file (-o - 1<>input.mkv). */
        struct stat st;
        const char *path = !c->outs[i].to_stdout ? c->outs[i].path
                           : fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) ? "/dev/fd/1"
                                                                                  : NULL;
        if (path && rvmi_protect_check(&c->prot, c->outs[i].flag, path,
                                       shown_name(&c->outs[i], shown, sizeof shown), err,
                                       sizeof err) < 0) {
            errorf("%s", err);
            c->fail_status = RVMI_EXIT_USAGE;
            return -1;
        }
    }
    return 0;
}

/* --output-format NAME or rawvideo:PIX_FMT into c->muxer and c->raw_pix_fmt. Returns 0 or
 * -1 (message printed). */
static int parse_output_format(conversion *c)
{
    const char *f = c->opt->output_format;
    if (!f)
        return 0;
    if (c->opt->png) {
        errorf("--output-format applies to video outputs, not png_sequence");
        return -1;
    }
    const char *colon = strchr(f, ':');
    size_t n = colon ? (size_t)(colon - f) : strlen(f);
    if (n == 0 || n >= sizeof(c->muxer)) {
        errorf("--output-format %s: expected a container name (nut, matroska, mpegts, rawvideo)", f);
        return -1;
    }
    memcpy(c->muxer, f, n);
    c->muxer[n] = '\0';
    const AVOutputFormat *of = av_guess_format(c->muxer, NULL, NULL);
    if (!of) {
        errorf("--output-format %s: this FFmpeg has no such container (try nut, matroska, "
               "mpegts or rawvideo)", c->muxer);
        return -1;
    }
    if (colon) {
        c->raw_pix_fmt = colon + 1;
        if (av_get_pix_fmt(c->raw_pix_fmt) == AV_PIX_FMT_NONE) {
            errorf("--output-format %s: %s is not an FFmpeg pixel format (e.g. rgb24, "
                   "yuv420p, gray)", f, c->raw_pix_fmt);
            return -1;
        }
        /* Frames reach it through swscale: one it cannot write (pal8, bayer_*, hardware
         * formats) is a usage error, not a failed write found after set-up. */
        if (!sws_isSupportedOutput(av_get_pix_fmt(c->raw_pix_fmt))) {
            errorf("--output-format %s: FFmpeg cannot convert frames to %s", f, c->raw_pix_fmt);
            return -1;
        }
    }
    return 0;
}

/* The outputs asked for, with their codecs and containers checked (nothing is written
 * yet). Returns 0 or -1 (message printed: a usage error). */
static int plan_outputs(conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    const struct {
        const char *path, *flag;
        rvmi_out_kind kind;
    } want[3] = {{opt->out_com, "--output-composition", RVM_OUT_COMPOSITION},
                 {opt->out_pha, "--output-alpha", RVM_OUT_ALPHA},
                 {opt->out_fgr, "--output-foreground", RVM_OUT_FOREGROUND}};
    if (parse_output_format(c) < 0)
        return -1;
    /* A name in an image format (photo.png, photo.jpg) is a single image, unless a container
     * is named (--output-format) or frames are asked for (--output-type png_sequence). */
    const rvmi_image_format *com_image = NULL;
    if (opt->out_com && !opt->png && !c->muxer[0] && !names_stdout(opt->out_com))
        com_image = rvmi_image_format_of(opt->out_com);
    /* A transparent composition: asked with --background none; PNG compositions (and those
     * in image formats with transparency) are transparent RGBA unless a background is
     * given (the official layout). */
    int bg_none = opt->background && strcmp(opt->background, "none") == 0;
    c->com_rgba = bg_none || (!opt->background && (opt->png || (com_image && com_image->alpha)));
    const char *on_stdout = NULL;
    for (int i = 0; i < 3; i++) {
        if (!want[i].path)
            continue;
        out_file *o = &c->outs[c->nouts++];
        o->kind = want[i].kind;
        o->flag = want[i].flag;
        o->given = want[i].path;
        o->path = rvmi_cli_output_path(want[i].path, o->fd_name);
        o->codec = opt->codec;
        if (names_stdout(o->path)) {
            if (opt->png) {
                errorf("%s %s: a PNG sequence cannot go to stdout", o->flag, o->path);
                return -1;
            }
            if (on_stdout) {
                errorf("only one output can go to stdout (%s and %s both name it)", on_stdout,
                       o->flag);
                return -1;
            }
            if (isatty(STDOUT_FILENO)) {
                errorf("%s %s: stdout is a terminal (pipe it into a program, e.g. | ffplay -)",
                       o->flag, o->path);
                return -1;
            }
            on_stdout = o->flag;
            o->to_stdout = 1;
        }
        size_t name_len;
        long name_limit = o->to_stdout || c->templates ? 0
                                                       : rvmi_outfile_name_too_long(o->path, &name_len);
        if (name_limit) {
            errorf("%s %s: a name of %zu bytes is longer than its folder takes (%ld)", o->flag,
                   o->path, name_len, name_limit);
            return -1;
        }
        if (opt->png) {
            /* No --crf, but not one no codec takes (as for an image, below). */
            char err[256];
            if (rvmi_cli_check_crf(opt->crf, RVM_CODEC_AUTO, err, sizeof err) < 0) {
                errorf("%s", err);
                return -1;
            }
            continue;
        }
        if (!o->to_stdout && !c->muxer[0] && (o->image = rvmi_image_format_of(o->path))) {
            if (!o->image->colour && o->kind != RVM_OUT_ALPHA) {
                errorf("%s %s: a .%s image is grey only (the matte); use .png or .jpg for colour",
                       o->flag, o->path, o->image->ext);
                return -1;
            }
            if (o->kind == RVM_OUT_COMPOSITION && c->com_rgba && !o->image->alpha) {
                errorf("%s %s: a .%s image cannot be transparent: use .png (or .webp, .tif), "
                       "or a --background",
                       o->flag, o->path, o->image->ext);
                return -1;
            }
            char err[256];
            if (rvmi_cli_check_crf(opt->crf, RVM_CODEC_AUTO, err, sizeof err) < 0) {
                errorf("%s", err);
                return -1;
            }
            continue;
        }
        if (c->muxer[0])
            o->format = c->muxer;
        else if (o->to_stdout)
            o->format = "nut";
        int alpha = o->kind == RVM_OUT_COMPOSITION && c->com_rgba;
        /* A device or pipe whose name says no container (/dev/stdout, a FIFO) gets
         * Matroska, which needs no seeking. */
        struct stat st;
        if (!o->format && stat(o->path, &st) == 0 &&
            ((!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) ||
             rvmi_outfile_names_descriptor(o->path)) &&
            !av_guess_format(NULL, o->path, NULL))
            o->format = "matroska";
        char err[1024];
        if (rvmi_video_writer_check(o->path, o->format, &o->codec, alpha, err, sizeof(err)) < 0) {
            errorf("%s", err);
            return -1;
        }
        if (rvmi_cli_check_crf(opt->crf, o->codec, err, sizeof err) < 0) {
            errorf("%s", err);
            return -1;
        }
        if (c->raw_pix_fmt && o->codec != RVM_CODEC_RAWVIDEO) {
            errorf("--output-format %s: a pixel format applies to --codec rawvideo, not %s",
                   opt->output_format, rvmi_codec_name(o->codec));
            return -1;
        }
        o->raw_pix_fmt = c->raw_pix_fmt;
        /* Bare frames named .yuv or .rgb are in the format the name says, as players and
         * tools read such files (ffplay -f rawvideo, YUV viewers: planar 4:2:0, I420; packed
         * RGB): the matte too, as luma with neutral chroma or grey RGB; with alpha when the
         * composition is transparent. */
        const char *dot = strrchr(o->path, '.');
        if (!o->raw_pix_fmt && !o->format && o->codec == RVM_CODEC_RAWVIDEO && dot) {
            if (av_strcasecmp(dot, ".yuv") == 0)
                o->raw_pix_fmt = alpha ? "yuva420p" : "yuv420p";
            else if (av_strcasecmp(dot, ".rgb") == 0)
                o->raw_pix_fmt = alpha ? "rgba" : "rgb24";
        }
        /* As a codec without alpha is refused for it: a format without alpha would drop the
         * transparency and leave the foreground's colours over black. */
        const AVPixFmtDescriptor *pd =
            c->raw_pix_fmt ? av_pix_fmt_desc_get(av_get_pix_fmt(c->raw_pix_fmt)) : NULL;
        if (alpha && pd && !(pd->flags & AV_PIX_FMT_FLAG_ALPHA)) {
            errorf("--output-format %s: a transparent composition (--background none) needs a "
                   "pixel format with alpha (rgba, bgra, yuva420p, ...)", opt->output_format);
            return -1;
        }
        rvmi_layout layout = o->kind == RVM_OUT_ALPHA ? RVM_LAYOUT_GRAY
                             : alpha                  ? RVM_LAYOUT_RGBA
                                                      : RVM_LAYOUT_RGB;
        if (rvmi_video_writer_check_frames(o->path, o->format, o->codec, layout, o->raw_pix_fmt,
                                           err, sizeof err) < 0) {
            errorf("%s", err);
            return -1;
        }
    }
    return 0;
}

/* The error a check printed, kept instead (rvmi_cli_check_outputs). */
typedef struct {
    char *err;
    size_t errlen;
} kept_error;

static void keep_error(void *user, rvmi_message_kind kind, const char *text)
{
    kept_error *k = user;
    if (kind == RVMI_MESSAGE_ERROR)
        snprintf(k->err, k->errlen, "%s", text);
}

int rvmi_cli_check_outputs(const rvmi_cli_options *opt, int templates, char *err,
                           size_t errlen)
{
    kept_error k = {err, errlen};
    const rvmi_convert_hooks hooks = {.message = keep_error, .user = &k};
    const rvmi_convert_hooks *outer = t_hooks;
    conversion c = {.opt = opt, .templates = templates};
    snprintf(err, errlen, "the outputs were refused");
    t_hooks = &hooks;
    int ret = plan_outputs(&c);
    t_hooks = outer;
    return ret;
}

/* A downsample ratio that leaves the network no pixels (the library's internal size,
 * floor(side * ratio), is 0: a long thin --input-resize such as 8000 8 at the automatic
 * ratio) is a usage error, said before anything is written, with a ratio and a size that
 * work. Returns 0 or -1 (message printed). */
static int refuse_ratio(conversion *c)
{
    int w = rvmi_reader_width(c->reader), h = rvmi_reader_height(c->reader);
    double r = c->opt->ratio > 0 ? c->opt->ratio : rvm_auto_downsample_ratio(w, h);
    int small = w < h ? w : h, large = w < h ? h : w;
    if (w < 1 || h < 1 || r >= 1.0 || (int)floor(small * r) >= 1)
        return 0;
    /* The smallest ratio in thousandths that keeps a pixel (the library's, as rvmmatte's),
     * and the smallest side that does at this ratio. */
    double need = rvm_least_downsample_ratio(small, small);
    /* No side rvm takes keeps a pixel below 1 / RVM_MAX_SIDE (and counting up to one, past
     * INT_MAX at 1e-10, never ended): only a ratio that works is named then. */
    int side = r * RVM_MAX_SIDE < 1.0 ? RVM_MAX_SIDE + 1 : (int)ceil(1.0 / r);
    while (side <= RVM_MAX_SIDE && (int)floor(side * r) < 1)
        side++;
    int sw = w, sh = h;
    if (c->opt->ratio <= 0) {
        /* The automatic ratio keeps 512 pixels of the long side: only the short one grows. */
        while (side < large && (int)floor(side * rvm_auto_downsample_ratio(large, side)) < 1)
            side++;
        if (w < h)
            sw = side;
        else
            sh = side;
    } else {
        /* A ratio given can leave no pixels of both sides (3x3 at 0.3, 64x48 at 0.001): each
         * such side grows, or the size named still fails. */
        if ((int)floor(w * r) < 1)
            sw = side;
        if ((int)floor(h * r) < 1)
            sh = side;
    }
    if (sw > RVM_MAX_SIDE || sh > RVM_MAX_SIDE)
        errorf("frames of %dx%d: downsample ratio %g leaves no pixels of their %d-pixel side "
               "(use --downsample-ratio %g or more)",
               w, h, r, small, need);
    else
        errorf("frames of %dx%d: downsample ratio %g leaves no pixels of their %d-pixel side "
               "(use --downsample-ratio %g or more, or --input-resize %d %d)",
               w, h, r, small, need, sw, sh);
    return -1;
}

/* What an output writes into in place, when it does (stdout, a descriptor's name, a device
 * or pipe): its device and inode in *st. Returns 0, or -1 for an output that is staged and
 * renamed into place (or does not exist yet). */
static int written_in_place(const out_file *o, struct stat *st)
{
    if (o->to_stdout)
        return fstat(STDOUT_FILENO, st);
    if (stat(o->path, st) < 0 || S_ISDIR(st->st_mode))
        return -1;
    return !S_ISREG(st->st_mode) || rvmi_outfile_names_descriptor(o->path) ? 0 : -1;
}

/* Refuses two outputs naming one file, and readies each output's file or folder. Returns 0
 * or -1 (message printed). */
static int prepare_outputs(conversion *c)
{
    out_file *outs = c->outs;
    for (; c->prepared < c->nouts; c->prepared++) {
        out_file *o = &outs[c->prepared];
        o->canon = canonical(o->path);
        struct stat a, b;
        for (int k = 0; k < c->prepared; k++) {
            if (outs[k].canon && o->canon && strcmp(outs[k].canon, o->canon) == 0) {
                errorf("%s and %s name the same path", outs[k].flag, o->flag);
                c->fail_status = RVMI_EXIT_USAGE;
                return -1;
            }
            /* Two names of one open file or pipe ('-' and /dev/stdout, /dev/fd/1, a link to
             * it): two muxers would write into it at once, and interleave two files. A
             * device (/dev/null) takes both. */
            if (written_in_place(&outs[k], &a) == 0 && written_in_place(o, &b) == 0 &&
                a.st_dev == b.st_dev && a.st_ino == b.st_ino && !S_ISCHR(a.st_mode)) {
                errorf("%s %s and %s %s are the same file (one output each)", outs[k].flag,
                       outs[k].path, o->flag, o->path);
                c->fail_status = RVMI_EXIT_USAGE; /* as two outputs to stdout are */
                return -1;
            }
        }
        int usage = 0;
        if (prepare_output(o, c->opt->png, c->opt->overwrite, &c->prot, &usage) < 0) {
            if (usage)
                c->fail_status = usage == 1 ? RVMI_EXIT_USAGE : RVMI_EXIT_TRANSIENT;
            return -1;
        }
    }
    return 0;
}

/* A line from the reader's or a writer's thread, where t_hooks is not set: to the
 * conversion's hooks, or on its own line (over the progress bar on a terminal). */
static void tell(const conversion *c, rvmi_message_kind kind, const char *msg)
{
    if (c->hooks && c->hooks->message)
        c->hooks->message(c->hooks->user, kind, msg);
    else
        fprintf(stderr, "%srvm: %s%s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "",
                kind == RVMI_MESSAGE_WARNING ? "warning: " : "", msg);
}

/* A note about the input or an output's tracks. Called by the reader, from the thread that
 * decodes, and by the writers. */
static void notice(void *user, const char *msg)
{
    tell(user, RVMI_MESSAGE_NOTICE, msg);
}

/* The reader's warnings (what the outputs lose), from its thread. */
static void reader_warning(void *user, const char *msg)
{
    tell(user, RVMI_MESSAGE_WARNING, msg);
}

/* Opens the input and, when the composition needs one, the background at the input's
 * size. Returns 0 or -1 (message printed). */
static int open_inputs(conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    char err[1024];
    rvmi_reader_options ro = {0};
    ro.resize_w = opt->resize_w;
    ro.resize_h = opt->resize_h;
    ro.start = opt->start;
    ro.duration = opt->duration;
    ro.image_fps = opt->input_fps;
    /* Composition and foreground videos carry the input's audio and subtitle tracks; a
     * segment's parts carry none: rvm join copies the input's once. */
    rvmi_cli_track_choice(opt, &c->tracks);
    int carries = 0;
    for (int i = 0; i < c->nouts; i++)
        carries |= c->outs[i].kind != RVM_OUT_ALPHA && !c->outs[i].image;
    if (!opt->png && carries && !c->seg && !(rvmi_track_choice_none(&c->tracks)))
        ro.tracks = &c->tracks;
    ro.usage_error = &c->usage_error;
    ro.interrupt = c->stop;
    if (c->seg) {
        ro.segment = 1;
        ro.segment_from = c->seg->from;
        ro.segment_begin = c->seg->begin;
        ro.segment_end = c->seg->end;
        ro.segment_seek_byte = c->seg->seek_byte;
    }
    ro.notice = notice;
    ro.warning = reader_warning;
    ro.notice_user = c;
    c->reader = rvmi_reader_open(opt->input, &ro, err, sizeof(err));
    if (!c->reader) {
        errorf("%s", err);
        c->fail_status = c->usage_error ? RVMI_EXIT_USAGE : RVMI_EXIT_BAD_INPUT;
        return -1;
    }
    /* Said, not refused: known only once the input is open, and a batch's one set of flags
     * may cover videos and image folders alike. */
    if (opt->input_fps_given && !rvmi_reader_is_folder(c->reader) && !c->seg)
        notice(c, rvmi_reader_is_still_image(c->reader)
                      ? "--input-fps applies to image folders only: a single image is one frame, "
                        "whatever the rate"
                      : "--input-fps applies to image folders only: this video keeps its own "
                        "timing");
    if (opt->out_com && !c->com_rgba) {
        int bad_colour;
        c->bg = rvmi_background_open(opt->background ? opt->background : RVM_DEFAULT_BACKGROUND,
                                     rvmi_reader_width(c->reader),
                                     rvmi_reader_height(c->reader), c->stop, &bad_colour,
                                     err, sizeof(err));
        if (!c->bg) {
            errorf("%s", err);
            /* A colour that is none is the flag's mistake; a background file that is missing
             * or damaged is a bad input, as the input itself. */
            c->fail_status = bad_colour ? RVMI_EXIT_USAGE : RVMI_EXIT_BAD_INPUT;
            return -1;
        }
        if (rvmi_background_see_through(c->bg))
            warnf("--background %s has transparency: its see-through parts are put over black "
                  "(the composition is opaque; --background none makes a transparent one)",
                  opt->background);
        /* A background video follows the frames by index: a segment's first written frame
         * gets the background of its index (warm-up frames take none). */
        uint8_t colour[3];
        for (int64_t i = 0; c->seg && !rvmi_background_colour(c->bg, colour) && i < c->seg->begin;
             i++)
            if (!rvmi_background_next(c->bg, err, sizeof(err))) {
                errorf("%s", err);
                return -1;
            }
    }
    return 0;
}

/* Opens a writer per output (PNG sequence or video, with the input's audio) into the
 * pipeline. Returns 0 or -1 (message printed). */
static int open_writers(conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    int w = rvmi_reader_width(c->reader), h = rvmi_reader_height(c->reader);
    char err[1024];
    for (int i = 0; i < c->nouts; i++) {
        out_file *o = &c->outs[i];
        rvmi_pipeline_output *po = &c->pl.outputs[c->pl.noutputs++];
        po->kind = o->kind;
        po->depth = opt->png || o->image ? opt->depth : 8;
        po->layout = o->kind == RVM_OUT_ALPHA        ? RVM_LAYOUT_GRAY
                     : o->kind == RVM_OUT_FOREGROUND ? RVM_LAYOUT_RGB
                     : c->com_rgba                   ? RVM_LAYOUT_RGBA
                                                     : RVM_LAYOUT_RGB;
        if (opt->png || o->image) {
            int usage = 0;
            po->image = opt->png ? rvmi_image_writer_open_sequence(o->file.write_path, po->layout,
                                                                   po->depth, w, h, &usage, err,
                                                                   sizeof(err))
                                 : rvmi_image_writer_open_single(o->file.write_path, o->image,
                                                                 po->layout, po->depth, w, h,
                                                                 &usage, err, sizeof(err));
            if (!po->image) {
                errorf("%s %s: %s", o->flag, o->path, err);
                /* 75 (try again later) only for what may pass: a full disk, an I/O error. */
                c->fail_status = usage ? RVMI_EXIT_USAGE : RVMI_EXIT_TRANSIENT;
                return -1;
            }
            continue;
        }
        rvmi_video_writer_config vc = {0};
        vc.path = o->file.write_path;
        vc.descriptor = o->file.through_fd || (o->to_stdout && !o->file.reopened_fd);
        vc.name = o->path;
        vc.format = o->format;
        vc.codec = o->codec;
        vc.raw_pix_fmt = o->raw_pix_fmt;
        vc.layout = po->layout;
        /* Stored at the input's own size and sample aspect ratio (the network's frames,
         * square pixels, are scaled back when the input is anamorphic). */
        rvmi_reader_storage(c->reader, &vc.width, &vc.height, &vc.sample_aspect);
        vc.src_width = w;
        vc.src_height = h;
        vc.time_base = rvmi_reader_time_base(c->reader);
        vc.frame_rate = rvmi_reader_frame_rate(c->reader);
        vc.primaries = rvmi_reader_primaries(c->reader);
        vc.crf = opt->crf;
        vc.preset = opt->preset;
        /* Neither given: the writer's constant-quality default. */
        vc.mbps = opt->mbps > 0 ? opt->mbps : 0;
        vc.part = c->seg != NULL;
        /* Every video output, the matte too, carries the source's timecode (a segment's
         * part none: its join does), so editors line it up with its source. */
        char timecode[AV_TIMECODE_STR_SIZE];
        if (!c->seg && rvmi_reader_timecode(c->reader, timecode) == 0)
            vc.timecode = timecode;
        /* The matte is a picture for compositing, lined up by its frames: it carries no
         * sound or subtitles. */
        if (o->kind != RVM_OUT_ALPHA) {
            vc.tracks = rvmi_reader_tracks(c->reader, &vc.ntracks);
            /* The recording's tags (title, date, ...): a segment's part has none, its join
             * copies them. */
            vc.metadata = c->seg ? NULL : rvmi_reader_metadata(c->reader);
            vc.attachments_from = c->seg ? NULL : rvmi_reader_container(c->reader);
            if (!c->seg)
                rvmi_reader_chapters(c->reader, &vc.chapters, &vc.nchapters, &vc.chapter_shift,
                                     &vc.chapter_length);
            vc.notice = notice;
            vc.notice_user = c;
            po->tracks = vc.ntracks > 0;
        }
        int refused = 0, gone = 0;
        vc.usage_error = &refused;
        vc.reader_gone = &gone;
        po->video = rvmi_video_writer_open(&vc, err, sizeof(err));
        if (!po->video) {
            errorf("%s", err);
            /* A reader that closed the pipe before the header got through is gone as it is
             * after (exit 1, rvmi_cli_write_status): no retry brings it back. */
            c->fail_status = refused ? RVMI_EXIT_USAGE : gone ? RVMI_EXIT_FAILURE
                                                               : RVMI_EXIT_TRANSIENT;
            return -1;
        }
    }
    return 0;
}

static void *load_model(void *arg)
{
    conversion *c = arg;
    c->model = rvm_model_load(c->opt->checkpoint, c->opt->variant, RVM_REFINER_AUTO,
                              &c->load_status, c->load_err, sizeof(c->load_err));
    return NULL;
}

/* Starts loading the model (unless the caller gave one) beside the rest of the set-up;
 * loaded on this thread when no thread can be started. */
static void start_loading(conversion *c)
{
    if (c->given_model)
        return;
    sigset_t block, old;
    rvmi_signals_worker_set(&block); /* signals stay the main thread's */
    pthread_sigmask(SIG_BLOCK, &block, &old);
    c->loading = pthread_create(&c->loader, NULL, load_model, c) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!c->loading)
        load_model(c);
}

static void finish_loading(conversion *c)
{
    if (!c->loading)
        return;
    pthread_join(c->loader, NULL);
    c->loading = 0;
    /* The loader's thread had a malloc arena of its own: the loading's small temporaries,
     * freed there, would stay in it unused (peak RSS +1.5 MB at 1080p). */
    malloc_trim(0);
}

/* The exit status of a model that could not be loaded (rvm_model_load's or
 * rvm_model_check's status): a checkpoint that is missing, unreadable or not one fails the
 * same way on every retry (exit 3, as for the input), and --variant naming the other network
 * is a flag's mistake (2); a scheduler retries only exit 1 and 75. */
static int model_fail_status(int status)
{
    return status == RVM_EIO || status == RVM_EFORMAT ? RVMI_EXIT_BAD_INPUT
           : status == RVM_EMISMATCH                  ? RVMI_EXIT_USAGE
           : status == RVM_ENOMEM                     ? RVMI_EXIT_TRANSIENT
                                                      : RVMI_EXIT_FAILURE;
}

/* Waits for the model's loading; 0, or -1 (message printed) when it failed. */
static int take_model(conversion *c)
{
    finish_loading(c);
    if (!c->given_model && !c->model) {
        errorf("cannot load the model: %s", c->load_err);
        c->fail_status = model_fail_status(c->load_status);
        return -1;
    }
    return 0;
}

/* Whether opening the input may wait for data that comes when it comes: anything but a
 * regular file or a folder (the standard input, a FIFO, a camera, a socket, a URL). */
static int input_may_wait(const char *input)
{
    struct stat st;
    int got = strcmp(input, "-") == 0 ? fstat(STDIN_FILENO, &st) : stat(input, &st);
    return got != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
}

/* Takes the model (waits for its loading) and makes the stream that carries its recurrent
 * state. Returns 0 or -1 (message printed). */
static int load_network(conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    char err[1024];
    if (take_model(c) < 0)
        return -1;
    /* More threads than CPUs take turns on them: --threads 256 on 2 cores took ~9x the CPU
     * time of --threads 2, without a word. */
    int cpus = rvm_cpu_count();
    if (opt->threads > cpus)
        warnf("--threads %d is more than the %d CPU%s this run can use: the threads take turns "
              "on %s, slower than --threads %d",
              opt->threads, cpus, cpus == 1 ? "" : "s", cpus == 1 ? "it" : "them", cpus);
    c->stream = rvm_stream_create(c->given_model ? c->given_model : c->model, opt->threads,
                                  NULL, err, sizeof(err));
    if (!c->stream) {
        errorf("%s", err);
        return -1;
    }
    if (opt->precision != RVM_PRECISION_FP32 && rvm_stream_set_precision(c->stream, opt->precision)) {
        errorf("%s", rvm_stream_error(c->stream));
        return -1;
    }
    return 0;
}

/* Whether an earlier output already gave this warning (the composition and the foreground
 * carry the same tracks). */
static int warned_before(const rvmi_pipeline *pl, int output, const char *w)
{
    for (int k = 0; k < output; k++)
        for (int j = 0; pl->outputs[k].video; j++) {
            const char *o = rvmi_video_writer_warning(pl->outputs[k].video, j);
            if (!o)
                break;
            if (strcmp(o, w) == 0)
                return 1;
        }
    return 0;
}

/* The writers' warnings, each once. */
static void print_writer_warnings(const rvmi_pipeline *pl)
{
    for (int i = 0; i < pl->noutputs; i++)
        for (int j = 0; pl->outputs[i].video; j++) {
            const char *w = rvmi_video_writer_warning(pl->outputs[i].video, j);
            if (!w)
                break;
            if (!warned_before(pl, i, w))
                warnf("%s", w);
        }
}

/* Completes the files (after a stop too, so they hold the frames done): encoders flushed
 * (video writers that had frames were already finished by their lanes), then each file (or
 * folder of frames) synced and put in place of the final name. Returns 0 or -1 (message
 * printed). */
static int finish_outputs(conversion *c)
{
    char err[1024];
    for (int i = 0; i < c->pl.noutputs; i++)
        if (c->pl.outputs[i].video && !c->pl.outputs[i].finished &&
            rvmi_video_writer_finish(c->pl.outputs[i].video, err, sizeof(err)) < 0) {
            errorf("%s", err);
            c->fail_status = rvmi_cli_write_status(c->pl.outputs[i].video);
            return -1;
        }
    print_writer_warnings(&c->pl);
    for (int i = 0; i < c->nouts; i++) {
        int ret = rvmi_outfile_commit(&c->outs[i].file, err, sizeof(err));
        if (ret < 0) {
            errorf("%s", err);
            c->fail_status = RVMI_EXIT_TRANSIENT;
            return -1;
        }
        if (ret > 0)
            warnf("%s", err);
    }
    return 0;
}

/* The first single-image output, or NULL. */
static const out_file *first_image(const conversion *c)
{
    for (int i = 0; i < c->nouts; i++)
        if (c->outs[i].image)
            return &c->outs[i];
    return NULL;
}

/* A single image holds one frame: an input with more is refused (a usage error), before
 * anything runs when the input says how many it has (an image folder), else at its second
 * frame (a video or stream). */
static void refuse_frames(const conversion *c)
{
    const out_file *o = first_image(c);
    errorf("%s %s is a single image and %s has more than one frame: use --output-type "
           "png_sequence for a folder of frames, a video name, or --start T --duration 0.001 "
           "for the frame at T",
           o->flag, o->path, c->opt->input);
}

/* --crf and --output-video-mbps set the quality of h264, hevc and vp9 video, one value for
 * every output (a composition in h264 and a lossless ffv1 matte may share a command line):
 * the others ignore it. Ignored by every output, it is said in one line; it was silent
 * (--crf 20 with ffv1 or prores), while --output-type png_sequence refused it. */
static void say_unused_quality(const conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    if (opt->crf < 0 && opt->mbps <= 0)
        return;
    char kinds[3][40], list[160] = "";
    for (int i = 0; i < c->nouts; i++) {
        const out_file *o = &c->outs[i];
        if (opt->png)
            snprintf(kinds[i], sizeof kinds[i], "PNG sequence");
        else if (o->image)
            snprintf(kinds[i], sizeof kinds[i], ".%s image", o->image->ext);
        else if (o->codec == RVM_CODEC_H264 || o->codec == RVM_CODEC_HEVC ||
                 o->codec == RVM_CODEC_VP9)
            return;
        else
            snprintf(kinds[i], sizeof kinds[i], "%s", rvmi_codec_name(o->codec));
        /* Each kind once: "ffv1, prores", not "ffv1, ffv1, prores". */
        int listed = 0;
        for (int k = 0; k < i; k++)
            listed |= strcmp(kinds[k], kinds[i]) == 0;
        size_t used = strlen(list);
        if (!listed)
            snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", kinds[i]);
    }
    if (opt->crf >= 0)
        warnf("--crf %d applies to none of the outputs (%s): only h264, hevc and vp9 take it",
              opt->crf, list);
    else
        warnf("--output-video-mbps %g applies to none of the outputs (%s): only h264, hevc and "
              "vp9 take it", opt->mbps, list);
}

/* Sets up, runs and completes the conversion; returns the exit status. */
static int convert(conversion *c)
{
    if (protect_inputs(c) < 0)
        return RVMI_EXIT_BAD_INPUT;
    if (plan_outputs(c) < 0)
        return RVMI_EXIT_USAGE;
    /* What can be told of the checkpoint without reading it (missing, not a file, not a
     * checkpoint) is said before anything is opened or made. What only its loading tells is
     * said after the input is opened, as the model loads beside that, unless the input may
     * wait for its data (below). */
    if (!c->given_model) {
        char err[1024];
        int st = rvm_model_check(c->opt->checkpoint, err, sizeof err);
        if (st) {
            errorf("cannot load the model: %s", err);
            return model_fail_status(st);
        }
    }
    start_loading(c);
    /* The input is opened beside the loading, unless its opening may wait for data (a FIFO
     * with no writer yet, a slow pipe): then a checkpoint that starts well but fails to load
     * (truncated, another network) would be said only once (if ever) the data came. */
    if (input_may_wait(c->opt->input) && take_model(c) < 0)
        return c->fail_status;
    if (prepare_outputs(c) < 0 || open_inputs(c) < 0 || protect_opened_inputs(c) < 0)
        return c->fail_status ? c->fail_status : RVMI_EXIT_FAILURE;
    if (first_image(c)) {
        c->pl.max_frames = 1;
        if (rvmi_reader_is_folder(c->reader) && rvmi_reader_frame_estimate(c->reader) > 1) {
            refuse_frames(c);
            return RVMI_EXIT_USAGE;
        }
    }
    if (refuse_ratio(c) < 0)
        return RVMI_EXIT_USAGE;
    if (open_writers(c) < 0)
        return c->fail_status ? c->fail_status : RVMI_EXIT_FAILURE;
    say_unused_quality(c);
    rvmi_reader *reader = c->reader;
    c->pl.reader = reader;
    c->pl.background = c->bg;
    c->pl.stop = c->stop;
    /* The decoder starts on the first frames while the model is still loading (it waited
     * for the model before: its start-up, ~0.1 s of CPU, came after the loading's). */
    char err[1024];
    if (rvmi_pipeline_start(&c->pl, err, sizeof(err)) < 0) {
        errorf("%s", err);
        return RVMI_EXIT_FAILURE;
    }
    if (load_network(c) < 0)
        return c->fail_status ? c->fail_status : RVMI_EXIT_FAILURE;
    c->pl.stream = c->stream;
    c->pl.ratio = c->opt->ratio > 0 ? c->opt->ratio
                                    : rvm_auto_downsample_ratio(rvmi_reader_width(reader),
                                                                rvmi_reader_height(reader));
    c->pl.progress = !c->opt->no_progress && isatty(STDERR_FILENO);
    c->pl.progress_fd = c->opt->progress_fd;
    if (c->hooks) {
        c->pl.on_progress = c->hooks->progress;
        c->pl.progress_user = c->hooks->user;
    }

    if (c->own_signals)
        rvmi_signals_converting();
    /* Set up: what that left in memory and will not be read again goes (the command owns
     * its process; a program calling rvmi_convert_in_process keeps its pages). */
    if (c->own_process)
        rvmi_release_startup_pages();
    int ret = rvmi_pipeline_run(&c->pl, &c->frames, err, sizeof(err));
    int sig = atomic_load(c->stop);
    if (ret < 0 && c->pl.failed_stage == RVM_STAGE_FRAME_LIMIT) {
        refuse_frames(c);
        return RVMI_EXIT_USAGE;
    }
    if (ret < 0) {
        errorf("%s", err);
        /* A decoding failure is the input's (or an option's: --start past its last frame);
         * an encoding one is writing's (a full disk). */
        int gone = 0; /* a pipe's reader that closed it: no retry brings it back */
        for (int i = 0; i < c->pl.noutputs; i++)
            gone |= rvmi_cli_write_status(c->pl.outputs[i].video) == RVMI_EXIT_FAILURE;
        return c->pl.failed_stage == RVM_STAGE_DECODE && c->usage_error ? RVMI_EXIT_USAGE
               : c->pl.failed_stage == RVM_STAGE_DECODE ? RVMI_EXIT_BAD_INPUT
               : c->pl.failed_stage == RVM_STAGE_ENCODE && gone ? RVMI_EXIT_FAILURE
               : c->pl.failed_stage == RVM_STAGE_ENCODE ? RVMI_EXIT_TRANSIENT
                                                        : RVMI_EXIT_FAILURE;
    }
    if (c->frames == 0) {
        if (!sig)
            errorf("no frames were converted");
        return sig ? 128 + sig : RVMI_EXIT_BAD_INPUT;
    }
    if (c->seg && !c->pl.decoder_left) {
        /* What rvm render checks its part against: a segment holding a damaged frame is as
         * short as a whole run is there. */
        c->seg->damaged = rvmi_reader_damaged(c->reader);
        c->seg->first_written = rvmi_reader_first_written(c->reader);
    }
    /* A stop that came once every frame was in (while the encoders flushed their last
     * frames, before the outputs were put in place) stopped nothing: the outputs are
     * complete, and put in place as complete. Done: exit 0, with or without --complete-only
     * (with it they were removed, and the batch converted the input again; without it the
     * run said "interrupted", exit 130, of outputs holding every frame), and for rvm
     * render's segment, whose part is then checked and kept (it was removed, exit 130). */
    if (sig && c->pl.complete) {
        if (finish_outputs(c) < 0)
            return c->fail_status ? c->fail_status : RVMI_EXIT_FAILURE;
        notef("a stop came after the last frame: the outputs are complete (%lld frame%s)",
              (long long)c->frames, c->frames == 1 ? "" : "s");
        return 0;
    }
    /* Not put in place: close_conversion removes them (the run still holds their locks, so
     * what it removes is its own hidden files, never another run's output). */
    if (sig && c->opt->complete_only && !c->seg) {
        errorf("%s after %lld frame%s: the unfinished outputs were removed (--complete-only)",
               sig == SIGXFSZ ? "stopped at the file size limit (ulimit -f)" : "interrupted",
               (long long)c->frames, c->frames == 1 ? "" : "s");
        return 128 + sig;
    }
    if (finish_outputs(c) < 0)
        return c->fail_status ? c->fail_status : RVMI_EXIT_FAILURE;
    if (sig && c->seg)
        /* rvm render keeps a part only when it holds the whole segment: this one is removed. */
        errorf("%s after %lld of the segment's frames: its part is not kept (render the index "
               "again)", sig == SIGXFSZ ? "stopped at the file size limit (ulimit -f)" : "interrupted",
               (long long)c->frames);
    else if (sig == SIGXFSZ)
        errorf("stopped at the file size limit (ulimit -f): the outputs hold the %lld "
               "frame%s done",
               (long long)c->frames, c->frames == 1 ? "" : "s");
    else if (sig)
        notef("interrupted: the outputs hold the %lld frame%s done", (long long)c->frames,
              c->frames == 1 ? "" : "s");
    return sig ? 128 + sig : 0;
}

/* Frees everything; after a failure (or a stop before any frame) removes what was
 * written. */
static void close_conversion(conversion *c, int status)
{
    finish_loading(c); /* set-up failed while the model loaded */
    rvmi_pipeline_cancel(&c->pl); /* ... or after the decoder started */
    for (int i = 0; i < c->pl.noutputs; i++) {
        rvmi_video_writer_free(c->pl.outputs[i].video);
        rvmi_image_writer_free(c->pl.outputs[i].image);
    }
    /* A failed run, or one stopped before its first frame (or at all, --complete-only),
     * leaves nothing. Newest first, as the signal handler does: the first output owns the
     * folders made for all of them, and removes them only once the later outputs' files
     * there are gone. */
    if (status != 0 && (status < 128 || c->frames == 0 || (c->opt->complete_only && !c->seg)))
        for (int i = c->prepared - 1; i >= 0; i--)
            rvmi_outfile_discard(&c->outs[i].file);
    for (int i = 0; i < c->nouts; i++) {
        rvmi_outfile_release(&c->outs[i].file);
        free(c->outs[i].canon);
    }
    rvmi_protect_free(&c->prot);
    rvm_stream_free(c->stream);
    rvm_model_free(c->model);
    rvmi_background_free(c->bg);
    if (!c->pl.decoder_left) /* else its decoder thread still reads it */
        rvmi_reader_close(c->reader);
}

int rvmi_convert(const rvmi_cli_options *opt, rvmi_segment *seg)
{
    configure_process(opt);
    /* Signals are honoured from here on: before the conversion they remove what the run
     * made and exit at once (src/cli/signals.h). */
    rvmi_signals_install();
    conversion c = {.opt = opt, .seg = seg, .stop = &rvmi_stop_signal, .own_signals = 1,
                    .own_process = 1};
    int status = convert(&c);
    close_conversion(&c, status);
    return status;
}

int rvmi_convert_in_process(const rvmi_cli_options *opt, const rvm_model *model,
                            atomic_int *stop, const rvmi_convert_hooks *hooks)
{
    /* FFmpeg's messages through rvm's log (one line per error), as in the command. */
    rvmi_avlog_install(opt->verbose);
    const rvmi_convert_hooks *outer = t_hooks;
    t_hooks = hooks;
    conversion c = {.opt = opt, .given_model = model, .stop = stop, .hooks = hooks};
    int status = convert(&c);
    close_conversion(&c, status);
    t_hooks = outer;
    return status;
}

#ifndef RVM_NO_MAIN
/* What the command printed on stdout through stdio (--help, --version, a subcommand's help or
 * list) must have reached it, as coreutils' close_stdout checks: else one line, and the exit
 * code of a failed write (75; 1 for a reader gone, EPIPE, when SIGPIPE is ignored) unless
 * the run failed with its own. rvm --help >/dev/full exited 0 without a word. */
static int stdout_status(int status)
{
    int failed = ferror(stdout);
    errno = 0;
    if (fflush(stdout) != 0 || failed || (fclose(stdout) != 0 && errno != EBADF)) {
        int e = errno;
        if (e)
            errorf("stdout: writing: %s", strerror(e));
        else
            errorf("stdout: writing failed");
        if (status == 0)
            status = e == EPIPE ? RVMI_EXIT_FAILURE : RVMI_EXIT_TRANSIENT;
    }
    return status;
}

static int run(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "serve") == 0) {
#ifdef RVM_HAVE_SERVE
        return rvmi_serve_main(argc - 1, argv + 1);
#else
        errorf("serve: this rvm was built without libmicrohttpd (install libmicrohttpd-dev "
               "and build again)");
        return RVMI_EXIT_USAGE;
#endif
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subcommands[] = {{"plan", rvmi_plan_main},
                       {"render", rvmi_render_main},
                       {"join", rvmi_join_main},
                       {"batch", rvmi_batch_main}};
    for (size_t i = 0; argc > 1 && i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    char err[1024];
    rvmi_cli_options opt;
    if (rvmi_cli_parse(argc, argv, &opt, err, sizeof(err)) < 0) {
        errorf("%s", err);
        return RVMI_EXIT_USAGE;
    }
    if (opt.help) {
        rvmi_cli_usage(stdout);
        return 0;
    }
    if (opt.version) {
        printf("rvm %s\n", rvm_version_string());
        return 0;
    }
    return rvmi_convert(&opt, NULL);
}

int main(int argc, char **argv)
{
    return stdout_status(run(argc, argv));
}
#endif
