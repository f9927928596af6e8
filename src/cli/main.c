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

#include "cli/options.h"
#include "cli/pipeline.h"
#include "io/background.h"
#include "io/reader.h"
#include "io/writer.h"
#include "rvm.h"

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
} out_file;

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

int main(int argc, char **argv)
{
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
        printf("rvm %s\n", RVM_VERSION);
        return 0;
    }
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
    av_log_set_level(opt.verbose ? AV_LOG_INFO : AV_LOG_QUIET);

    /* Signals only set a flag; blocked until the conversion runs so that set-up is never
     * half done when one arrives (a pending one stops the run at once). */
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

    /* Files that must never be written over. */
    protected_file prot[3] = {{.what = "input"}, {.what = "background"}, {.what = "checkpoint"}};
    int is_stdin = strcmp(opt.input, "-") == 0;
    if (!is_stdin) {
        if (stat(opt.input, &prot[0].st) == 0)
            prot[0].valid = 1;
        else if (!strstr(opt.input, "://") && errno == ENOENT) {
            errorf("%s: no such file or folder", opt.input);
            return EXIT_RUNTIME;
        }
    }
    int bg_none = opt.background && strcmp(opt.background, "none") == 0;
    if (opt.background && !bg_none && stat(opt.background, &prot[1].st) == 0)
        prot[1].valid = 1;
    if (opt.checkpoint && stat(opt.checkpoint, &prot[2].st) == 0)
        prot[2].valid = 1;

    out_file outs[3];
    int nouts = 0;
    struct {
        const char *path, *flag;
        rvmi_out_kind kind;
    } want[3] = {{opt.out_com, "--output-composition", RVM_OUT_COMPOSITION},
                 {opt.out_pha, "--output-alpha", RVM_OUT_ALPHA},
                 {opt.out_fgr, "--output-foreground", RVM_OUT_FOREGROUND}};
    memset(outs, 0, sizeof(outs));
    /* A transparent composition: asked with --background none; PNG compositions are
     * transparent RGBA unless a background is given (the official layout). */
    int com_rgba = bg_none || (opt.png && !opt.background);
    for (int i = 0; i < 3; i++) {
        if (!want[i].path)
            continue;
        out_file *o = &outs[nouts];
        o->kind = want[i].kind;
        o->flag = want[i].flag;
        o->path = want[i].path;
        o->codec = opt.codec;
        if (!opt.png) {
            int alpha = o->kind == RVM_OUT_COMPOSITION && com_rgba;
            /* A device or pipe whose name says no container (/dev/stdout, a FIFO) gets
             * Matroska, which needs no seeking. */
            struct stat st;
            if (stat(o->path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
                !av_guess_format(NULL, o->path, NULL))
                o->format = "matroska";
            if (rvmi_video_writer_check(o->path, o->format, &o->codec, alpha, err,
                                       sizeof(err)) < 0) {
                errorf("%s", err);
                return EXIT_USAGE;
            }
        }
        nouts++;
    }
    int status = EXIT_RUNTIME;
    int64_t frames = 0;
    rvmi_reader *reader = NULL;
    rvmi_background *bg = NULL;
    rvm_model *model = NULL;
    rvm_stream *stream = NULL;
    rvmi_pipeline pl;
    memset(&pl, 0, sizeof(pl));
    int prepared = 0;
    for (; prepared < nouts; prepared++) {
        outs[prepared].canon = canonical(outs[prepared].path);
        for (int k = 0; k < prepared; k++)
            if (outs[k].canon && outs[prepared].canon &&
                strcmp(outs[k].canon, outs[prepared].canon) == 0) {
                errorf("%s and %s name the same path", outs[k].flag, outs[prepared].flag);
                goto done;
            }
        if (prepare_output(&outs[prepared], opt.png, opt.overwrite, prot, 3) < 0)
            goto done;
    }

    rvmi_reader_options ro = {0};
    ro.resize_w = opt.resize_w;
    ro.resize_h = opt.resize_h;
    ro.start = opt.start;
    ro.duration = opt.duration;
    ro.image_fps = opt.input_fps;
    ro.want_audio = !opt.no_audio && !opt.png && (opt.out_com || opt.out_fgr);
    ro.interrupt = &g_stop;
    reader = rvmi_reader_open(opt.input, &ro, err, sizeof(err));
    if (!reader) {
        errorf("%s", err);
        goto done;
    }
    int w = rvmi_reader_width(reader), h = rvmi_reader_height(reader);

    int need_bg = opt.out_com && !com_rgba;
    if (need_bg) {
        bg = rvmi_background_open(opt.background ? opt.background : RVM_DEFAULT_BACKGROUND, w, h,
                                 &g_stop, err, sizeof(err));
        if (!bg) {
            errorf("%s", err);
            goto done;
        }
    }

    for (int i = 0; i < nouts; i++) {
        out_file *o = &outs[i];
        rvmi_pipeline_output *po = &pl.outputs[pl.noutputs++];
        po->kind = o->kind;
        po->depth = opt.png ? opt.depth : 8;
        po->layout = o->kind == RVM_OUT_ALPHA        ? RVM_LAYOUT_GRAY
                     : o->kind == RVM_OUT_FOREGROUND ? RVM_LAYOUT_RGB
                     : com_rgba                      ? RVM_LAYOUT_RGBA
                                                     : RVM_LAYOUT_RGB;
        if (opt.png) {
            po->png = rvmi_png_writer_open(o->path, po->layout, po->depth, w, h, err,
                                          sizeof(err));
            if (!po->png) {
                errorf("%s %s", o->flag, err);
                goto done;
            }
            continue;
        }
        rvmi_video_writer_config vc = {0};
        vc.path = o->write_path;
        vc.name = o->path;
        vc.format = o->format;
        vc.codec = o->codec;
        vc.layout = po->layout;
        vc.width = w;
        vc.height = h;
        vc.time_base = rvmi_reader_time_base(reader);
        vc.frame_rate = rvmi_reader_frame_rate(reader);
        vc.crf = opt.crf;
        vc.preset = opt.preset;
        /* The official converter's default: 1 Mbit/s. */
        vc.mbps = opt.mbps > 0 ? opt.mbps : (opt.crf >= 0 ? 0 : 1.0);
        if (o->kind != RVM_OUT_ALPHA && rvmi_reader_audio_params(reader)) {
            vc.audio = rvmi_reader_audio_params(reader);
            vc.audio_time_base = rvmi_reader_audio_time_base(reader);
            po->audio = 1;
        }
        po->video = rvmi_video_writer_open(&vc, err, sizeof(err));
        if (!po->video) {
            errorf("%s", err);
            goto done;
        }
    }

    model = rvm_model_load(opt.checkpoint, opt.variant, RVM_REFINER_AUTO, err, sizeof(err));
    if (!model) {
        errorf("cannot load the model: %s", err);
        goto done;
    }
    stream = rvm_stream_create(model, opt.threads, err, sizeof(err));
    if (!stream) {
        errorf("%s", err);
        goto done;
    }

    pl.reader = reader;
    pl.stream = stream;
    pl.ratio = opt.ratio > 0 ? opt.ratio : rvm_auto_downsample_ratio(w, h);
    pl.background = bg;
    pl.stop = &g_stop;
    pl.progress = !opt.no_progress && isatty(STDERR_FILENO);

    sigprocmask(SIG_SETMASK, &old, NULL);
    int ret = rvmi_pipeline_run(&pl, &frames, err, sizeof(err));
    int sig = atomic_load(&g_stop);
    if (ret < 0) {
        errorf("%s", err);
        goto done;
    }
    if (frames == 0) {
        if (!sig)
            errorf("no frames were converted");
        status = sig ? 128 + sig : EXIT_RUNTIME;
        goto done;
    }
    /* Complete the files: after a stop too, so they hold the frames done. */
    for (int i = 0; i < pl.noutputs; i++)
        if (pl.outputs[i].video &&
            rvmi_video_writer_finish(pl.outputs[i].video, err, sizeof(err)) < 0) {
            errorf("%s", err);
            goto done;
        }
    for (int i = 0; i < nouts; i++) {
        if (outs[i].temp) {
            if (rename(outs[i].write_path, outs[i].path) < 0) {
                errorf("cannot rename the finished %s to %s: %s", outs[i].write_path,
                       outs[i].path, strerror(errno));
                goto done;
            }
            outs[i].temp = 0;
        }
        if (opt.png && outs[i].existed)
            rvmi_png_sequence_remove(outs[i].path, (long)frames, -1);
    }
    status = sig ? 128 + sig : 0;
    if (sig)
        errorf("interrupted: the outputs hold the %lld frames done", (long long)frames);

done:
    for (int i = 0; i < pl.noutputs; i++) {
        rvmi_video_writer_free(pl.outputs[i].video);
        rvmi_png_writer_free(pl.outputs[i].png);
    }
    if (status != 0 && status < 128)
        for (int i = 0; i < prepared; i++)
            discard_output(&outs[i], opt.png, (int)frames);
    if (status >= 128 && frames == 0)
        for (int i = 0; i < prepared; i++)
            discard_output(&outs[i], opt.png, 0);
    for (int i = 0; i < nouts; i++) {
        free(outs[i].write_path);
        free(outs[i].canon);
        free(outs[i].made);
    }
    rvm_stream_free(stream);
    rvm_model_free(model);
    rvmi_background_free(bg);
    rvmi_reader_close(reader);
    return status;
}
