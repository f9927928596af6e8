/* rvm: the command-line video converter (the official inference.py, and more).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>

#include "cli/options.h"
#include "cli/pipeline.h"
#include "io/background.h"
#include "io/reader.h"
#include "io/writer.h"
#include "rvm.h"
#ifdef RVM_HAVE_SERVE
#include "serve/serve.h"
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* The signal number that asked to stop (0: none). */
static atomic_int g_stop;

static void on_signal(int sig)
{
    if (atomic_load(&g_stop)) {
        /* A second Ctrl-C: the user does not want to wait for the encoders. */
        static const char msg[] = "\nrvm: interrupted again, quitting without finishing\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)ignored;
        _exit(128 + sig);
    }
    atomic_store(&g_stop, sig);
}

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rvm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

typedef struct {
    rvmi_out_kind kind;
    const char *flag;   /* for messages */
    const char *path;   /* as given */
    char *write_path;   /* where the data goes (a temporary file beside path, or path) */
    int temp;           /* write_path is renamed to path when complete */
    char *made;         /* the topmost folder of the output that did not exist, or NULL:
                           a failed run removes what it made */
    int existed;        /* PNG sequence: held frames before (-y) */
    char *canon;        /* realpath of the parent folder + name, to compare outputs */
    rvmi_codec codec;
    const char *format; /* muxer, when the name does not tell */
    int to_stdout;      /* "-" or "pipe:1": written straight to stdout */
} out_file;

/* Output paths that mean stdout, as FFmpeg spells them. */
static int names_stdout(const char *path)
{
    return strcmp(path, "-") == 0 || strcmp(path, "pipe:1") == 0 || strcmp(path, "pipe:") == 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* realpath() of the parent folder joined with the last component; NULL when the parent
 * does not exist. Two outputs naming one file are caught even through "./" or links. */
static char *canonical(const char *path)
{
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

typedef struct {
    struct stat st;
    int valid;
    const char *what;
} protected_file;

/* The topmost of dir and its ancestors that does not exist yet (malloc'd), or NULL. */
static char *first_missing_folder(const char *dir)
{
    char *p = strdup(dir), *missing = NULL;
    struct stat st;
    while (p && *p && stat(p, &st) < 0) {
        free(missing);
        missing = strdup(p);
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            break;
        *slash = '\0';
    }
    free(p);
    return missing;
}

/* Removes the folders from leaf up to top (its ancestor or itself) that a failed run made,
 * while they are empty. */
static void remove_made_folders(const char *leaf, const char *top)
{
    char *p = top ? strdup(leaf) : NULL;
    while (p && rmdir(p) == 0 && strcmp(p, top) != 0) {
        char *slash = strrchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    free(p);
}

/* The folder an output's files go in: the path itself for a PNG sequence. */
static char *output_folder(const out_file *o, int png)
{
    if (png)
        return strdup(o->path);
    char *a = strdup(o->path);
    char *dir = a ? strdup(dirname(a)) : NULL;
    free(a);
    return dir;
}

/* Removes the folders made for an output (when empty). */
static void remove_made(const out_file *o, int png)
{
    char *folder = o->made ? output_folder(o, png) : NULL;
    if (folder)
        remove_made_folders(folder, o->made);
    free(folder);
}

/* Validates an output path and prepares where it is written. Returns 0 or -1 (message
 * printed). */
static int prepare_output(out_file *o, int png, int overwrite, const protected_file *prot,
                          int nprot)
{
    if (o->to_stdout) { /* a stream: nothing to stage, rename or remove */
        o->write_path = strdup("pipe:1");
        return o->write_path ? 0 : -1;
    }
    struct stat st;
    int exists = stat(o->path, &st) == 0;
    char *folder = output_folder(o, png);
    o->made = folder ? first_missing_folder(folder) : NULL;
    free(folder);
    if (exists)
        for (int i = 0; i < nprot; i++)
            if (prot[i].valid && same_file(&st, &prot[i].st)) {
                errorf("%s %s is the %s; refusing to write over it", o->flag, o->path,
                       prot[i].what);
                return -1;
            }
    if (png) {
        if (exists && !S_ISDIR(st.st_mode)) {
            errorf("%s %s exists and is not a folder", o->flag, o->path);
            return -1;
        }
        if (exists && rvmi_png_sequence_exists(o->path)) {
            if (!overwrite) {
                errorf("%s %s already holds a PNG sequence (use -y to overwrite)", o->flag,
                       o->path);
                return -1;
            }
            o->existed = 1;
        }
        o->write_path = strdup(o->path);
        return o->write_path ? 0 : -1;
    }
    if (exists && S_ISDIR(st.st_mode)) {
        errorf("%s %s is a folder (a video file name is needed, or use --output-type "
               "png_sequence)",
               o->flag, o->path);
        return -1;
    }
    if (exists && !S_ISREG(st.st_mode)) {
        /* A device or pipe (/dev/null, a FIFO): written directly, nothing to protect. */
        o->write_path = strdup(o->path);
        return o->write_path ? 0 : -1;
    }
    if (exists && !overwrite) {
        errorf("%s %s exists (use -y to overwrite)", o->flag, o->path);
        return -1;
    }
    /* Written beside the final name and renamed when complete: an existing file is only
     * replaced by a finished one, and a failed run leaves nothing that looks like a
     * result. */
    char *a = strdup(o->path), *b = strdup(o->path);
    if (!a || !b) {
        free(a);
        free(b);
        errorf("out of memory");
        return -1;
    }
    const char *dir = dirname(a), *base = basename(b);
    char msg[512];
    if (rvmi_make_dirs(dir, msg, sizeof msg) < 0) { /* a missing output folder is made */
        errorf("%s: %s", o->flag, msg);
        free(a);
        free(b);
        remove_made(o, png);
        return -1;
    }
    size_t n = strlen(dir) + strlen(base) + 64;
    o->write_path = malloc(n);
    if (o->write_path)
        snprintf(o->write_path, n, "%s/.%s.%ld.rvm-part", dir, base, (long)getpid());
    free(a);
    free(b);
    if (!o->write_path) {
        errorf("out of memory");
        return -1;
    }
    int fd = open(o->write_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        errorf("%s: cannot create %s: %s", o->flag, o->path, strerror(errno));
        free(o->write_path);
        o->write_path = NULL;
        remove_made(o, png);
        return -1;
    }
    close(fd);
    o->temp = 1;
    return 0;
}

/* Removes what a failed run (or one that did no frame) wrote. */
static void discard_output(const out_file *o, int png, int frames)
{
    if (!o->write_path)
        return;
    if (png) {
        if (frames > 0)
            rvmi_png_sequence_remove(o->path, 0, frames - 1);
    } else if (o->temp) {
        unlink(o->write_path);
    }
    remove_made(o, png);
}

/* One conversion: what main() sets up, runs and takes down. */
typedef struct {
    const rvmi_cli_options *opt;
    protected_file prot[3]; /* files that must never be written over */
    out_file outs[3];
    int nouts;
    int prepared;           /* outs[0 .. prepared-1] have files to discard on failure */
    int com_rgba;           /* the composition is transparent RGBA */
    char muxer[64];         /* --output-format's container ("" when not given) */
    const char *raw_pix_fmt; /* --output-format rawvideo:PIX_FMT, or NULL */
    rvmi_reader *reader;
    rvmi_background *bg;
    rvm_model *model;
    rvm_stream *stream;
    rvmi_pipeline pl;
    int64_t frames;
} conversion;

/* Process-wide settings for a long run that holds large frames in several threads. */
static void configure_process(const rvmi_cli_options *opt)
{
#ifdef PR_SET_THP_DISABLE
    /* x264 asks for transparent huge pages for its frames: the kernel then zeroes (and
     * compacts memory for) 2 MB pages when they are first touched, which cost more system
     * time at start (0.3-0.5 s) than it saved, and rounds the memory held up to 2 MB
     * blocks (12 MB more at 1080p). */
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#endif
    /* Frames, network scratch and encoder pictures are megabytes each, allocated and freed
     * by several threads. glibc's default raises its mmap threshold to the largest block
     * freed (up to 32 MB), after which such blocks come from per-thread heaps that keep
     * their pages when freed: a fixed threshold returns them (measured at 1080p with two
     * H.264 outputs: peak RSS 390 -> 340 MB, same speed). */
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    /* FFmpeg's own messages would break the one-line error rule; --verbose shows them. */
    av_log_set_level(opt->verbose ? AV_LOG_INFO : AV_LOG_QUIET);
}

/* Signals only set a flag; they are blocked until the conversion runs so that set-up is
 * never half done when one arrives (a pending one stops the run at once). Returns the mask
 * to restore when the run starts. */
static sigset_t block_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed pipe is reported as a write error, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    return old;
}

/* Records the input, background and checkpoint files, which no output may name. Returns 0,
 * or -1 (message printed) when the input is a missing local file. */
static int protect_inputs(conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    protected_file *prot = c->prot;
    prot[0] = (protected_file){.what = "input"};
    prot[1] = (protected_file){.what = "background"};
    prot[2] = (protected_file){.what = "checkpoint"};
    if (strcmp(opt->input, "-") != 0) {
        if (stat(opt->input, &prot[0].st) == 0)
            prot[0].valid = 1;
        else if (!strstr(opt->input, "://") && errno == ENOENT) {
            errorf("%s: no such file or folder", opt->input);
            return -1;
        }
    }
    int bg_none = opt->background && strcmp(opt->background, "none") == 0;
    if (opt->background && !bg_none && stat(opt->background, &prot[1].st) == 0)
        prot[1].valid = 1;
    if (opt->checkpoint && stat(opt->checkpoint, &prot[2].st) == 0)
        prot[2].valid = 1;
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
    /* A transparent composition: asked with --background none; PNG compositions are
     * transparent RGBA unless a background is given (the official layout). */
    int bg_none = opt->background && strcmp(opt->background, "none") == 0;
    c->com_rgba = bg_none || (opt->png && !opt->background);
    if (parse_output_format(c) < 0)
        return -1;
    const char *on_stdout = NULL;
    for (int i = 0; i < 3; i++) {
        if (!want[i].path)
            continue;
        out_file *o = &c->outs[c->nouts++];
        o->kind = want[i].kind;
        o->flag = want[i].flag;
        o->path = want[i].path;
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
        if (opt->png)
            continue;
        if (c->muxer[0])
            o->format = c->muxer;
        else if (o->to_stdout)
            o->format = "nut";
        int alpha = o->kind == RVM_OUT_COMPOSITION && c->com_rgba;
        /* A device or pipe whose name says no container (/dev/stdout, a FIFO) gets
         * Matroska, which needs no seeking. */
        struct stat st;
        if (!o->format && stat(o->path, &st) == 0 && !S_ISREG(st.st_mode) &&
            !S_ISDIR(st.st_mode) && !av_guess_format(NULL, o->path, NULL))
            o->format = "matroska";
        char err[1024];
        if (rvmi_video_writer_check(o->path, o->format, &o->codec, alpha, err, sizeof(err)) < 0) {
            errorf("%s", err);
            return -1;
        }
        if (c->raw_pix_fmt && o->codec != RVM_CODEC_RAWVIDEO) {
            errorf("--output-format %s: a pixel format applies to --codec rawvideo, not %s",
                   opt->output_format, rvmi_codec_name(o->codec));
            return -1;
        }
    }
    return 0;
}

/* Refuses two outputs naming one file, and readies each output's file or folder. Returns 0
 * or -1 (message printed). */
static int prepare_outputs(conversion *c)
{
    out_file *outs = c->outs;
    for (; c->prepared < c->nouts; c->prepared++) {
        out_file *o = &outs[c->prepared];
        o->canon = canonical(o->path);
        for (int k = 0; k < c->prepared; k++)
            if (outs[k].canon && o->canon && strcmp(outs[k].canon, o->canon) == 0) {
                errorf("%s and %s name the same path", outs[k].flag, o->flag);
                return -1;
            }
        if (prepare_output(o, c->opt->png, c->opt->overwrite, c->prot, 3) < 0)
            return -1;
    }
    return 0;
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
    ro.want_audio = !opt->no_audio && !opt->png && (opt->out_com || opt->out_fgr);
    ro.interrupt = &g_stop;
    c->reader = rvmi_reader_open(opt->input, &ro, err, sizeof(err));
    if (!c->reader) {
        errorf("%s", err);
        return -1;
    }
    if (opt->out_com && !c->com_rgba) {
        c->bg = rvmi_background_open(opt->background ? opt->background : RVM_DEFAULT_BACKGROUND,
                                     rvmi_reader_width(c->reader),
                                     rvmi_reader_height(c->reader), &g_stop, err, sizeof(err));
        if (!c->bg) {
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
        po->depth = opt->png ? opt->depth : 8;
        po->layout = o->kind == RVM_OUT_ALPHA        ? RVM_LAYOUT_GRAY
                     : o->kind == RVM_OUT_FOREGROUND ? RVM_LAYOUT_RGB
                     : c->com_rgba                   ? RVM_LAYOUT_RGBA
                                                     : RVM_LAYOUT_RGB;
        if (opt->png) {
            po->png = rvmi_png_writer_open(o->path, po->layout, po->depth, w, h, err,
                                           sizeof(err));
            if (!po->png) {
                errorf("%s %s", o->flag, err);
                return -1;
            }
            continue;
        }
        rvmi_video_writer_config vc = {0};
        vc.path = o->write_path;
        vc.name = o->path;
        vc.format = o->format;
        vc.codec = o->codec;
        vc.raw_pix_fmt = c->raw_pix_fmt;
        vc.layout = po->layout;
        vc.width = w;
        vc.height = h;
        vc.time_base = rvmi_reader_time_base(c->reader);
        vc.frame_rate = rvmi_reader_frame_rate(c->reader);
        vc.crf = opt->crf;
        vc.preset = opt->preset;
        /* The official converter's default: 1 Mbit/s. */
        vc.mbps = opt->mbps > 0 ? opt->mbps : (opt->crf >= 0 ? 0 : 1.0);
        if (o->kind != RVM_OUT_ALPHA && rvmi_reader_audio_params(c->reader)) {
            vc.audio = rvmi_reader_audio_params(c->reader);
            vc.audio_time_base = rvmi_reader_audio_time_base(c->reader);
            po->audio = 1;
        }
        po->video = rvmi_video_writer_open(&vc, err, sizeof(err));
        if (!po->video) {
            errorf("%s", err);
            return -1;
        }
    }
    return 0;
}

/* Loads the model and makes the stream that carries its recurrent state. Returns 0 or -1
 * (message printed). */
static int load_network(conversion *c)
{
    const rvmi_cli_options *opt = c->opt;
    char err[1024];
    c->model = rvm_model_load(opt->checkpoint, opt->variant, RVM_REFINER_AUTO, NULL, err,
                              sizeof(err));
    if (!c->model) {
        errorf("cannot load the model: %s", err);
        return -1;
    }
    c->stream = rvm_stream_create(c->model, opt->threads, NULL, err, sizeof(err));
    if (!c->stream) {
        errorf("%s", err);
        return -1;
    }
    return 0;
}

/* Completes the files (after a stop too, so they hold the frames done): encoders flushed,
 * videos renamed to their final names, frames left from an earlier, longer PNG sequence
 * removed. Returns 0 or -1 (message printed). */
static int finish_outputs(conversion *c)
{
    char err[1024];
    for (int i = 0; i < c->pl.noutputs; i++)
        if (c->pl.outputs[i].video &&
            rvmi_video_writer_finish(c->pl.outputs[i].video, err, sizeof(err)) < 0) {
            errorf("%s", err);
            return -1;
        }
    for (int i = 0; i < c->nouts; i++) {
        out_file *o = &c->outs[i];
        if (o->temp) {
            if (rename(o->write_path, o->path) < 0) {
                errorf("cannot rename the finished %s to %s: %s", o->write_path, o->path,
                       strerror(errno));
                return -1;
            }
            o->temp = 0;
        }
        if (c->opt->png && o->existed)
            rvmi_png_sequence_remove(o->path, (long)c->frames, -1);
    }
    return 0;
}

/* Sets up, runs and completes the conversion; returns the exit status. run_mask is the
 * signal mask the run itself has (the stop signals unblocked). */
static int convert(conversion *c, const sigset_t *run_mask)
{
    if (protect_inputs(c) < 0)
        return EXIT_RUNTIME;
    if (plan_outputs(c) < 0)
        return EXIT_USAGE;
    if (prepare_outputs(c) < 0 || open_inputs(c) < 0 || open_writers(c) < 0 ||
        load_network(c) < 0)
        return EXIT_RUNTIME;
    rvmi_reader *reader = c->reader;
    c->pl.reader = reader;
    c->pl.stream = c->stream;
    c->pl.ratio = c->opt->ratio > 0 ? c->opt->ratio
                                    : rvm_auto_downsample_ratio(rvmi_reader_width(reader),
                                                                rvmi_reader_height(reader));
    c->pl.background = c->bg;
    c->pl.stop = &g_stop;
    c->pl.progress = !c->opt->no_progress && isatty(STDERR_FILENO);
    c->pl.progress_fd = c->opt->progress_fd;

    sigprocmask(SIG_SETMASK, run_mask, NULL);
    char err[1024];
    int ret = rvmi_pipeline_run(&c->pl, &c->frames, err, sizeof(err));
    int sig = atomic_load(&g_stop);
    if (ret < 0) {
        errorf("%s", err);
        return EXIT_RUNTIME;
    }
    if (c->frames == 0) {
        if (!sig)
            errorf("no frames were converted");
        return sig ? 128 + sig : EXIT_RUNTIME;
    }
    if (finish_outputs(c) < 0)
        return EXIT_RUNTIME;
    if (sig)
        errorf("interrupted: the outputs hold the %lld frames done", (long long)c->frames);
    return sig ? 128 + sig : 0;
}

/* Frees everything; after a failure (or a stop before any frame) removes what was
 * written. */
static void close_conversion(conversion *c, int status)
{
    for (int i = 0; i < c->pl.noutputs; i++) {
        rvmi_video_writer_free(c->pl.outputs[i].video);
        rvmi_png_writer_free(c->pl.outputs[i].png);
    }
    if (status != 0 && status < 128)
        for (int i = 0; i < c->prepared; i++)
            discard_output(&c->outs[i], c->opt->png, (int)c->frames);
    if (status >= 128 && c->frames == 0)
        for (int i = 0; i < c->prepared; i++)
            discard_output(&c->outs[i], c->opt->png, 0);
    for (int i = 0; i < c->nouts; i++) {
        free(c->outs[i].write_path);
        free(c->outs[i].canon);
        free(c->outs[i].made);
    }
    rvm_stream_free(c->stream);
    rvm_model_free(c->model);
    rvmi_background_free(c->bg);
    rvmi_reader_close(c->reader);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "serve") == 0) {
#ifdef RVM_HAVE_SERVE
        return rvmi_serve_main(argc - 1, argv + 1);
#else
        errorf("serve: this rvm was built without libmicrohttpd (install libmicrohttpd-dev "
               "and build again)");
        return EXIT_USAGE;
#endif
    }
    char err[1024];
    rvmi_cli_options opt;
    if (rvmi_cli_parse(argc, argv, &opt, err, sizeof(err)) < 0) {
        errorf("%s", err);
        return EXIT_USAGE;
    }
    if (opt.help) {
        rvmi_cli_usage(stdout);
        return 0;
    }
    if (opt.version) {
        printf("rvm %s\n", rvm_version_string());
        return 0;
    }
    configure_process(&opt);
    sigset_t run_mask = block_stop_signals();
    conversion c = {.opt = &opt};
    int status = convert(&c, &run_mask);
    close_conversion(&c, status);
    return status;
}
