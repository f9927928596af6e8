/* rvm render (one segment of a plan into part files) and rvm join (the parts into the
 * outputs a whole run writes, without re-encoding).
 *
 * A part is <output>.parts/NNNNN<ext> (a folder NNNNN/ for PNG sequences) with its checksum
 * file NNNNN.json: the plan's id, the index, the frame count, the first timestamp, the
 * settings it was rendered with and the SHA-256 of its bytes. Both are written under
 * temporary names and renamed when complete, the checksum file last: a part without one
 * (a task killed halfway) is missing, not short.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/hash.h>
#include <libavutil/log.h>
#include <libavutil/timecode.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/segments.h"
#include "cli/signals.h"
#include "io/outfile.h"
#include "io/image.h"
#include "io/reader.h"
#include "io/tracks.h"
#include "io/writer.h"

static int cmp_i64_parts(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the command lines of render and join: their own flags, then a conversion's ---- */

typedef struct {
    const char *flag, *kind, *path; /* path: the output as given */
    char *parts;                    /* <path>.parts */
    const char *ext;                /* video: the name's extension with its dot */
    char fd_name[RVMI_FD_NAME_MAX]; /* path when the flag named pipe:N: /dev/fd/N */
} output;

typedef struct {
    const char *plan_path;
    long index;
    int missing, remove_parts;
    rvmi_plan *plan;
    rvmi_cli_options opt;
    char **argv; /* the conversion's command line (opt points into it) */
    output outs[3];
    int nouts;
} job;

static void job_free(job *j)
{
    rvmi_plan_free(j->plan);
    free(j->argv);
    for (int i = 0; i < j->nouts; i++)
        free(j->outs[i].parts);
}

/* <output>.parts beside the output (its first len bytes), or NAME.parts with the output's
 * hidden NAME (rvmi_outfile_stem) when a name within 6 bytes of the folder's limit (255
 * bytes) would pass it: the same on every render and join. NULL: out of memory. */
static char *parts_folder(const char *path, size_t len)
{
    char *p = rvmi_xasprintf("%.*s", (int)len, path);
    if (!p)
        return NULL;
    char *slash = strrchr(p, '/');
    const char *base = slash ? slash + 1 : p;
    if (slash == p)
        slash[0] = '\0', base = p + 1; /* /name: the root folder */
    else if (slash)
        *slash = '\0';
    const char *dir = slash ? (p[0] ? p : "/") : ".";
    char *name = rvmi_outfile_sibling(dir, "", base, ".parts");
    char *parts = !name ? NULL : slash ? rvmi_xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", name)
                                       : rvmi_xasprintf("%s", name);
    free(name);
    free(p);
    return parts;
}

static int starts_flag(const char *a, const char *flag)
{
    size_t n = strlen(flag);
    return strncmp(a, flag, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

/* Returns 0, or an exit code with the message printed. */
static int job_parse(job *j, const char *cmd, int argc, char **argv)
{
    char err[1024];
    memset(j, 0, sizeof(*j));
    j->index = -1;
    if (!(j->argv = calloc((size_t)argc + 4, sizeof(char *)))) {
        rvmi_cli_error("out of memory");
        return RVMI_EXIT_TRANSIENT;
    }
    int n = 0, render = strcmp(cmd, "render") == 0;
    j->argv[n++] = render ? "rvm render" : "rvm join"; /* the help the parse names */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--plan") == 0 || (render && strcmp(a, "--index") == 0)) {
            if (i + 1 >= argc) {
                rvmi_cli_error("%s: %s needs a value", cmd, a);
                return RVMI_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (a[2] == 'p') {
                j->plan_path = v;
            } else {
                char *end;
                errno = 0;
                j->index = strtol(v, &end, 10);
                if (errno || end == v || *end || j->index < 0) {
                    rvmi_cli_error("render: --index %s: expected a whole number >= 0", v);
                    return RVMI_EXIT_USAGE;
                }
            }
        } else if (!render && strcmp(a, "--missing") == 0) {
            j->missing = 1;
        } else if (!render && strcmp(a, "--remove-parts") == 0) {
            j->remove_parts = 1;
        } else if (starts_flag(a, "--input-source") || strcmp(a, "-i") == 0 ||
                   starts_flag(a, "--start") || strcmp(a, "-ss") == 0 ||
                   starts_flag(a, "--duration") || strcmp(a, "-t") == 0) {
            rvmi_cli_error("%s: %s does not apply: the plan names the input and its frames", cmd,
                        a);
            return RVMI_EXIT_USAGE;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("Usage: rvm %s --plan PLAN %s\n"
                   "       --output-composition|--output-alpha|--output-foreground PATH ...\n"
                   "       [flags of a normal run: rvm --help]\n", cmd,
                   render ? "--index I" : "[--missing] [--remove-parts] [-y]");
            fputs(render ? "Renders segment I of PLAN into <output>.parts/ (run it for every "
                           "index, in any order, anywhere the files are shared).\n"
                         : "Checks every part and joins them into the outputs without "
                           "re-encoding, with the input's audio;\n--missing only prints the "
                           "indices to render again (sbatch --array syntax).\n",
                  stdout);
            return -1;
        } else {
            j->argv[n++] = argv[i];
        }
    }
    if (!j->plan_path || (render && j->index < 0)) {
        rvmi_cli_error("%s: %s is required (see rvm %s --help)", cmd,
                    !j->plan_path ? "--plan PLAN" : "--index I", cmd);
        return RVMI_EXIT_USAGE;
    }
    av_log_set_level(AV_LOG_QUIET);
    if (!(j->plan = rvmi_plan_load(j->plan_path, err, sizeof err))) {
        rvmi_cli_error("%s: %s", cmd, err);
        return RVMI_EXIT_BAD_INPUT;
    }
    if (render && j->index >= j->plan->nsegments) {
        rvmi_cli_error("render: --index %ld is out of range: %s has segments 0 to %d", j->index,
                    j->plan_path, j->plan->nsegments - 1);
        return RVMI_EXIT_USAGE;
    }
    j->argv[n++] = "-i";
    j->argv[n++] = j->plan->input;
    if (rvmi_cli_parse(n, j->argv, &j->opt, err, sizeof err) < 0) {
        rvmi_cli_error("%s: %s", cmd, err);
        return RVMI_EXIT_USAGE;
    }
    /* An image folder's frame rate is the plan's unless one is given (30, the option's
     * default, too: it was taken for "not given", the plan's rate used instead). */
    if (j->plan->images && !j->opt.input_fps_given)
        j->opt.input_fps = j->plan->image_fps;
    /* The outputs as a conversion checks them (codec and container, -f and its pixel
     * format, transparency), named as given: a render's conversion would name its hidden
     * part (and join would call every part missing). */
    if (rvmi_cli_check_outputs(&j->opt, 0, err, sizeof err) < 0) {
        rvmi_cli_error("%s: %s", cmd, err);
        return RVMI_EXIT_USAGE;
    }
    struct {
        const char *flag, *kind, *path;
    } want[3] = {{"--output-composition", "composition", j->opt.out_com},
                 {"--output-alpha", "alpha", j->opt.out_pha},
                 {"--output-foreground", "foreground", j->opt.out_fgr}};
    for (int i = 0; i < 3; i++) {
        if (!want[i].path)
            continue;
        /* Parts are files in NAME.parts beside the output: stdout, a pipe or a device has no
         * folder beside it (render made '-.parts' and exited 0; join then failed, exit 75).
         * Join may write into a FIFO named as the parts' output (it streams the file). */
        const char *w = want[i].path;
        struct stat ws;
        int into_pipe = strcmp(w, "-") == 0 || strncmp(w, "pipe:", 5) == 0 ||
                        strncmp(w, "/dev/", 5) == 0 ||
                        (stat(w, &ws) == 0 && !S_ISREG(ws.st_mode) && !S_ISDIR(ws.st_mode));
        if (strcmp(cmd, "render") == 0 && into_pipe) {
            rvmi_cli_error("%s: %s %s: segments are rendered into files: name a file (join "
                           "may then write into a pipe)", cmd, want[i].flag, w);
            return RVMI_EXIT_USAGE;
        }
        /* Render makes its parts folder beside it, join the output (under a hidden name):
         * a folder nothing can be made in is the argument's mistake, named as given, before
         * any work (the conversion named its hidden part, without "render:"; join called
         * every part missing, exit 4, or checked them all before it said so). join --missing
         * only reads. */
        if (!into_pipe && !j->missing && rvmi_outfile_folder_refuses(w, 1, err, sizeof err) < 0) {
            rvmi_cli_error("%s: %s %s: %s", cmd, want[i].flag, w, err);
            return RVMI_EXIT_USAGE;
        }
        /* One picture is not cut into segments. */
        if (!j->opt.png && !j->opt.output_format && rvmi_image_format_of(want[i].path)) {
            rvmi_cli_error("%s: %s %s is a single image; segments are for videos and PNG "
                           "sequences (convert one picture with a normal run)",
                           cmd, want[i].flag, want[i].path);
            return RVMI_EXIT_USAGE;
        }
        /* Y4M and bare frames have no timestamps: a part after the first cannot say where it
         * starts, and join called it broken after every render (exit 4; a .yuv part was not
         * even read back: exit 75). The container is the one -f names (its name before
         * ":PIX_FMT"), else the output's name's. */
        if (!j->opt.png) {
            const char *f = j->opt.output_format;
            size_t n = f ? strcspn(f, ":") : 0;
            char muxer[64] = "";
            if (f && n < sizeof muxer) {
                memcpy(muxer, f, n);
                muxer[n] = '\0';
            }
            const AVOutputFormat *of = f ? av_guess_format(muxer, NULL, NULL)
                                         : av_guess_format(NULL, want[i].path, NULL);
            if (f && !of) {
                rvmi_cli_error("%s: --output-format %s: this FFmpeg has no such container "
                               "(try nut or matroska)", cmd, f);
                return RVMI_EXIT_USAGE;
            }
            int y4m = of && strcmp(of->name, "yuv4mpegpipe") == 0;
            if (y4m || (of && strcmp(of->name, "rawvideo") == 0)) {
                rvmi_cli_error("%s: %s %s: segments cannot be rendered into %s, which has no "
                               "timestamps to join them by: use .nut or .mkv with --codec "
                               "rawvideo, or a normal run",
                               cmd, want[i].flag, want[i].path,
                               y4m ? (f ? "Y4M (-f yuv4mpegpipe)" : ".y4m")
                                   : "bare frames (rawvideo)");
                return RVMI_EXIT_USAGE;
            }
            /* AVI keeps no start time: a part after the first read back from frame 0, and
             * render refused it as not at its planned time (exit 3). */
            if (of && strcmp(of->name, "avi") == 0) {
                rvmi_cli_error("%s: %s %s: segments cannot be rendered into AVI, which keeps no "
                               "start time for a part: use .mkv, .mp4, .mov, .webm or .nut",
                               cmd, want[i].flag, want[i].path);
                return RVMI_EXIT_USAGE;
            }
        }
        output *o = &j->outs[j->nouts++];
        o->flag = want[i].flag;
        o->kind = want[i].kind;
        o->path = rvmi_cli_output_path(want[i].path, o->fd_name);
        const char *slash = strrchr(o->path, '/'), *dot = strrchr(o->path, '.');
        o->ext = dot && (!slash || dot > slash) ? dot : "";
        /* A folder's trailing slash does not go into the parts' name. */
        size_t len = strlen(o->path);
        while (len > 1 && o->path[len - 1] == '/')
            len--;
        if (!(o->parts = parts_folder(o->path, len))) {
            rvmi_cli_error("out of memory");
            return RVMI_EXIT_TRANSIENT;
        }
        /* Never the input, the background or the checkpoint, nor a folder holding one: the
         * output and the parts' folder, refused before anything is rendered or joined (render
         * made every part of an output that was the input; join then called the parts missing
         * before it refused the output). */
        rvmi_protected prot = {0};
        rvmi_cli_protect_sources(&j->opt, &prot);
        int refused = rvmi_protect_check(&prot, o->flag, o->path, want[i].path, err,
                                         sizeof err) < 0 ||
                      rvmi_protect_check(&prot, o->flag, o->parts, NULL, err, sizeof err) < 0;
        rvmi_protect_free(&prot);
        if (refused) {
            rvmi_cli_error("%s: %s", cmd, err);
            return RVMI_EXIT_USAGE;
        }
    }
    if (rvmi_plan_check_input(j->plan, err, sizeof err) < 0) {
        rvmi_cli_error("%s: %s", cmd, err);
        return RVMI_EXIT_BAD_INPUT;
    }
    return 0;
}

/* What a part must have been rendered with to join with the others: the flags that change
 * its pixels or its encoding (not threads, progress or -y), as "key=value" pairs in this
 * order (settings_differ names the first that differs). --output-format is recorded only
 * when given (format=...), so that parts rendered without it by an earlier rvm still join. */
static const struct {
    const char *key, *flag;
} setting_keys[] = {
    {"kind", "the output"},     {"ext", "the output's extension"},
    {"type", "--output-type"},  {"codec", "--codec"},
    {"crf", "--crf"},           {"mbps", "--output-video-mbps"},
    {"preset", "--preset"},     {"depth", "--output-depth"},
    {"background", "--background"}, {"variant", "--variant"},
    {"checkpoint", "--checkpoint"}, {"ratio", "--downsample-ratio"},
    {"resize", "--input-resize"}, {"fps", "--input-fps"},
    {"format", "--output-format"},
};

static char *settings_of(const job *j, const output *o)
{
    const rvmi_cli_options *p = &j->opt;
    char *s = rvmi_xasprintf("kind=%s ext=%s type=%s codec=%s crf=%d mbps=%g preset=%s depth=%d "
                             "background=%s variant=%d checkpoint=%s ratio=%g resize=%dx%d fps=%g",
                             o->kind, o->ext, p->png ? "png" : "video", rvmi_codec_name(p->codec),
                             p->crf, p->mbps, p->preset ? p->preset : "-", p->depth,
                             p->background ? p->background : "-", (int)p->variant,
                             p->checkpoint ? p->checkpoint : "-", p->ratio, p->resize_w,
                             p->resize_h, p->input_fps);
    if (s && p->output_format) {
        char *f = rvmi_xasprintf("%s format=%s", s, p->output_format);
        free(s);
        s = f;
    }
    return s;
}

/* The value of key in a settings string (up to the next known key, as values may hold
 * spaces: a checkpoint's path), as *v and its length; "-" when it is not there. */
static void setting_value(const char *set, size_t k, const char **v, int *len)
{
    char pat[32];
    snprintf(pat, sizeof pat, "%s%s=", k ? " " : "", setting_keys[k].key);
    const char *at = strstr(set, pat);
    if (!at) {
        *v = "-";
        *len = 1;
        return;
    }
    at += strlen(pat);
    const char *end = at + strlen(at);
    for (size_t m = k + 1; m < sizeof setting_keys / sizeof setting_keys[0]; m++) {
        snprintf(pat, sizeof pat, " %s=", setting_keys[m].key);
        const char *next = strstr(at, pat);
        if (next && next < end)
            end = next;
    }
    *v = at;
    *len = (int)(end - at);
}

/* Whether a setting's value is the one settings_of records for a flag not given. */
static int not_given(const char *key, const char *v, int len)
{
    const char *none = strcmp(key, "crf") == 0      ? "-1"
                       : strcmp(key, "mbps") == 0   ? "0"
                       : strcmp(key, "ratio") == 0  ? "0"
                       : strcmp(key, "resize") == 0 ? "0x0"
                                                    : "-";
    return (size_t)len == strlen(none) && strncmp(v, none, (size_t)len) == 0;
}

/* Why a part's settings are not the join's, naming the flag and both values ("rendered
 * with --output-format nut; this run has matroska"), into why. */
static void settings_differ(const char *part, const char *mine, char *why, size_t len)
{
    for (size_t k = 0; k < sizeof setting_keys / sizeof setting_keys[0]; k++) {
        const char *a, *b;
        int la, lb;
        setting_value(part, k, &a, &la);
        setting_value(mine, k, &b, &lb);
        if (la != lb || strncmp(a, b, (size_t)la) != 0) {
            const int none_a = not_given(setting_keys[k].key, a, la),
                      none_b = not_given(setting_keys[k].key, b, lb);
            snprintf(why, len, "rendered with %s %.*s, this run has %.*s", setting_keys[k].flag,
                     none_a ? 11 : la, none_a ? "(not given)" : a, none_b ? 11 : lb,
                     none_b ? "(not given)" : b);
            return;
        }
    }
    snprintf(why, len, "rendered with other flags");
}

static char *part_path(const job *j, const output *o, long index)
{
    return j->opt.png ? rvmi_xasprintf("%s/%05ld", o->parts, index)
                      : rvmi_xasprintf("%s/%05ld%s", o->parts, index, o->ext);
}

static char *sidecar_path(const output *o, long index)
{
    return rvmi_xasprintf("%s/%05ld.json", o->parts, index);
}

/* Removes a file, or a folder of files (a PNG part). */
static void remove_entry(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *f = rvmi_xasprintf("%s/%s", path, e->d_name);
        if (f)
            unlink(f);
        free(f);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

/* The names of a PNG part's frames, in order (NNNN.png). */
static int is_frame_name(const char *name)
{
    size_t n = strspn(name, "0123456789");
    return n >= 4 && strcmp(name + n, ".png") == 0;
}

static int cmp_frame_names(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    return lx != ly ? (lx > ly) - (lx < ly) : strcmp(x, y);
}

static int list_frames(const char *dir, rvmi_name_list *frames)
{
    return rvmi_list_names(dir, is_frame_name, cmp_frame_names, frames);
}

/* SHA-256 of a part: the file's bytes, or a PNG part's frames in order. 0, or -1 with errno
 * set. */
static int part_sha256(const char *path, int png, char hex[65])
{
    struct AVHashContext *ctx = rvmi_sha256_new();
    if (!ctx) {
        errno = ENOMEM;
        return -1;
    }
    rvmi_name_list frames = {0};
    int ok = 1;
    if (png && list_frames(path, &frames) < 0)
        ok = 0;
    for (int i = 0; ok && i < (png ? frames.count : 1); i++) {
        char *f = png ? rvmi_xasprintf("%s/%s", path, frames.names[i]) : strdup(path);
        int fd = f ? open(f, O_RDONLY | O_CLOEXEC) : -1;
        free(f);
        if (fd < 0) {
            ok = 0;
            break;
        }
        if (png) /* the name is part of what is checked */
            av_hash_update(ctx, (const uint8_t *)frames.names[i], strlen(frames.names[i]) + 1);
        ok = rvmi_sha256_add_fd(ctx, fd, 0, -1) == 0;
        close(fd);
    }
    int saved = errno;
    rvmi_name_list_free(&frames);
    rvmi_sha256_end(ctx, hex);
    errno = saved;
    return ok ? 0 : -1;
}

/* A part opened for reading; its path may hold a colon before any slash (an output named
 * take:2.mp4 has its parts in take:2.mp4.parts/), which FFmpeg would take for a protocol. */
static int open_local(AVFormatContext **fmt, const char *path)
{
    char *url = rvmi_file_url(path);
    int ret = avformat_open_input(fmt, url ? url : path, NULL, NULL);
    free(url);
    return ret;
}

/* A part's frames: count, and their timestamps (video: in *tb) into *pts (malloc'd). */
static int part_frames(const char *path, int png, int64_t *count, int64_t **pts, AVRational *tb)
{
    *count = 0;
    *pts = NULL;
    if (png) {
        rvmi_name_list frames;
        if (list_frames(path, &frames) < 0)
            return -1;
        *count = frames.count;
        rvmi_name_list_free(&frames);
        return 0;
    }
    AVFormatContext *fmt = NULL;
    if (open_local(&fmt, path) < 0)
        return -1;
    int vidx = -1;
    if (avformat_find_stream_info(fmt, NULL) >= 0)
        vidx = rvmi_video_stream(fmt, NULL);
    AVPacket *pkt = av_packet_alloc();
    int64_t cap = 256;
    int64_t *list = malloc((size_t)cap * sizeof(*list));
    int ok = vidx >= 0 && pkt && list;
    if (ok)
        *tb = fmt->streams[vidx]->time_base;
    while (ok && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == vidx) {
            if (*count == cap) {
                int64_t *n = realloc(list, (size_t)(cap *= 2) * sizeof(*n));
                if (!n)
                    ok = 0;
                else
                    list = n;
            }
            if (ok)
                list[(*count)++] = pkt->pts;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    if (!ok) {
        free(list);
        return -1;
    }
    qsort(list, (size_t)*count, sizeof(*list), cmp_i64_parts);
    *pts = list;
    return 0;
}

/* ---- checksum files ---- */

typedef struct {
    char plan[33];
    long index;
    int64_t frames;
    int64_t damaged;     /* the segment's frames the decoder could not decode: the part, as a
                            whole run, lacks them (frames + damaged is the plan's count) */
    int64_t first_frame; /* the plan's index of the part's first frame (past the damaged
                            ones at the segment's start) */
    int64_t first_pts; /* video: the first frame's timestamp in tb */
    AVRational tb;
    char *settings;
    char sha256[65];
} sidecar;

static int write_sidecar(const char *path, const sidecar *s, char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "rvm_part", 1);
    cJSON_AddStringToObject(root, "plan", s->plan);
    cJSON_AddNumberToObject(root, "index", (double)s->index);
    cJSON_AddNumberToObject(root, "frames", (double)s->frames);
    cJSON_AddNumberToObject(root, "damaged", (double)s->damaged);
    cJSON_AddNumberToObject(root, "first_frame", (double)s->first_frame);
    cJSON_AddNumberToObject(root, "first_pts", (double)s->first_pts);
    cJSON_AddNumberToObject(root, "tb_num", s->tb.num);
    cJSON_AddNumberToObject(root, "tb_den", s->tb.den);
    cJSON_AddStringToObject(root, "settings", s->settings);
    cJSON_AddStringToObject(root, "sha256", s->sha256);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Its temporary name starts with .NNNNN. too: remove_stale takes what a killed render
     * left. */
    int ret = rvmi_write_text(path, text, err, errlen);
    free(text);
    return ret;
}

static int read_sidecar(const char *path, sidecar *s)
{
    memset(s, 0, sizeof(*s));
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *root = cJSON_Parse(buf);
    const cJSON *v;
    int ok = root != NULL;
#define GETNUM(name, dst)                                                                      \
    ok = ok && cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(root, name)) &&              \
         fabs(v->valuedouble) < 9007199254740992.0;                                             \
    if (ok)                                                                                     \
    dst = v->valuedouble
    GETNUM("index", s->index);
    GETNUM("frames", s->frames);
    GETNUM("first_pts", s->first_pts);
    GETNUM("tb_num", s->tb.num);
    GETNUM("tb_den", s->tb.den);
    /* Parts rendered before damaged frames were recorded hold none. */
    s->first_frame = -1;
    if (ok && cJSON_GetObjectItemCaseSensitive(root, "damaged")) {
        GETNUM("damaged", s->damaged);
        GETNUM("first_frame", s->first_frame);
    }
#undef GETNUM
    const char *plan = root ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "plan")) : NULL;
    const char *set = root ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "settings")) : NULL;
    const char *sha = root ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "sha256")) : NULL;
    ok = ok && plan && strlen(plan) == 32 && set && sha && strlen(sha) == 64 &&
         s->tb.num > 0 && s->tb.den > 0;
    if (ok) {
        memcpy(s->plan, plan, 33);
        memcpy(s->sha256, sha, 65);
        ok = (s->settings = strdup(set)) != NULL;
    }
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

/* Whether a part's checksum file accounts for every frame of its segment: those it holds
 * and those its render skipped as damaged, its first frame past damaged ones only. */
static int counts_segment(sidecar *sc, const rvmi_plan_segment *seg)
{
    if (sc->first_frame < 0 && sc->damaged == 0)
        sc->first_frame = seg->begin; /* rendered before damaged frames were recorded */
    return sc->frames > 0 && sc->damaged >= 0 &&
           sc->frames + sc->damaged == seg->end - seg->begin && sc->first_frame >= seg->begin &&
           sc->first_frame <= seg->begin + sc->damaged;
}

/* Whether output o's part `index` is complete and belongs with the others: NULL, or why not
 * (a static string, or buf). *sc gets its checksum file. A part may be short by the frames
 * its render's decoder skipped as damaged (a whole run lacks them too), by no others. */
static const char *check_part(const job *j, const output *o, long index, const char *settings,
                              sidecar *sc, char *buf, size_t buflen)
{
    char *part = part_path(j, o, index), *side = sidecar_path(o, index);
    const char *why = NULL;
    struct stat st;
    char hex[65];
    const rvmi_plan_segment *seg = &j->plan->segments[index];
    memset(sc, 0, sizeof(*sc));
    if (!part || !side)
        why = "out of memory";
    else if (stat(part, &st) < 0 || read_sidecar(side, sc) < 0)
        why = "missing";
    else if (strcmp(sc->plan, j->plan->id) != 0)
        why = "from another plan";
    else if (sc->index != index)
        why = "another index's part";
    else if (strcmp(sc->settings, settings) != 0) {
        settings_differ(sc->settings, settings, buf, buflen);
        why = buf;
    }
    else if (!counts_segment(sc, seg))
        why = "wrong frame count";
    else if (part_sha256(part, j->opt.png, hex) < 0 || strcmp(hex, sc->sha256) != 0)
        why = "checksum mismatch";
    free(part);
    free(side);
    return why;
}

/* Removes what an earlier, interrupted render of this index left (temporary names start
 * with ".NNNNN."; the conversion's own staging adds another dot). */
static void remove_stale(const output *o, long index)
{
    char p1[16], p2[16];
    snprintf(p1, sizeof p1, ".%05ld.", index);
    snprintf(p2, sizeof p2, "..%05ld.", index);
    DIR *d = opendir(o->parts);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, p1, strlen(p1)) == 0 || strncmp(e->d_name, p2, strlen(p2)) == 0) {
            char *f = rvmi_xasprintf("%s/%s", o->parts, e->d_name);
            if (f)
                remove_entry(f);
            free(f);
        }
    if (d)
        closedir(d);
}

/* ---- rvm render ---- */

int rvmi_render_main(int argc, char **argv)
{
    job j;
    int status = job_parse(&j, "render", argc, argv);
    if (status) {
        job_free(&j);
        return status < 0 ? 0 : status;
    }
    char err[1024];
    const long index = j.index;
    const rvmi_plan_segment *seg = &j.plan->segments[index];
    char *tmp[3] = {NULL, NULL, NULL}, *settings[3] = {NULL, NULL, NULL};
    int complete = 0;
    status = RVMI_EXIT_TRANSIENT;
    for (int i = 0; i < j.nouts; i++) {
        output *o = &j.outs[i];
        /* The parts folder is made by the conversion, which removes it again (and the
         * output's folder, when it made that) if the run fails: a refused render leaves
         * nothing. */
        if (!(settings[i] = settings_of(&j, o))) {
            rvmi_cli_error("out of memory");
            goto done;
        }
        sidecar sc;
        memset(&sc, 0, sizeof sc);
        char why[512];
        if (!j.opt.overwrite && !check_part(&j, o, index, settings[i], &sc, why, sizeof why))
            complete++;
        free(sc.settings);
        remove_stale(o, index);
        /* Hidden, and unguessable like every output's temporary name (parts folders are
         * shared between machines and users). */
        char hex[17];
        rvmi_random_hex(hex);
        tmp[i] = rvmi_xasprintf("%s/.%05ld.%s%s", o->parts, index, hex, j.opt.png ? "" : o->ext);
        if (!tmp[i]) {
            rvmi_cli_error("out of memory");
            goto done;
        }
    }
    if (complete == j.nouts) {
        printf("index %ld is already complete (-y renders it again)\n", index);
        status = 0;
        goto done;
    }

    rvmi_cli_options opt = j.opt;
    for (int i = 0; i < j.nouts; i++) {
        if (strcmp(j.outs[i].kind, "composition") == 0)
            opt.out_com = tmp[i];
        else if (strcmp(j.outs[i].kind, "alpha") == 0)
            opt.out_pha = tmp[i];
        else
            opt.out_fgr = tmp[i];
    }
    opt.overwrite = 0;
    rvmi_segment range = rvmi_plan_reader_range(j.plan, (int)index);
    double t0 = now_seconds();
    status = rvmi_convert(&opt, &range);
    if (status != 0)
        goto done;

    /* Each part holds exactly the planned frames at the planned times, or is refused; but
     * for the frames the decoder skipped as damaged, which a whole run lacks too (said once,
     * by the conversion's warning). Where the part starts is then the reader's word: its
     * first frame may follow damaged ones. */
    status = RVMI_EXIT_TRANSIENT;
    int64_t want = seg->end - seg->begin, first = seg->begin;
    if (range.damaged > 0 && range.first_written != AV_NOPTS_VALUE) {
        if (j.plan->images)
            first = range.first_written;
        else
            while (first < seg->end && j.plan->pts[first] < range.first_written)
                first++;
        /* How many frames it may follow is counts_segment's to check. */
        if (first >= seg->end || (!j.plan->images && j.plan->pts[first] != range.first_written)) {
            rvmi_cli_error("render: index %ld: its first frame is not at a planned time",
                           index);
            status = RVMI_EXIT_BAD_INPUT;
            goto done;
        }
    }
    for (int i = 0; i < j.nouts; i++) {
        output *o = &j.outs[i];
        sidecar sc;
        memset(&sc, 0, sizeof sc);
        int64_t *pts = NULL;
        if (part_frames(tmp[i], j.opt.png, &sc.frames, &pts, &sc.tb) < 0) {
            rvmi_cli_error("render: cannot read back the part %s", tmp[i]);
            goto done;
        }
        sc.damaged = range.damaged;
        sc.first_frame = first;
        if (!counts_segment(&sc, seg)) {
            free(pts);
            char skipped[64] = " (a damaged input?)";
            if (sc.damaged)
                snprintf(skipped, sizeof skipped, ", %" PRId64 " skipped as damaged", sc.damaged);
            rvmi_cli_error("render: index %ld: %" PRId64 " frame%s decoded where the plan has "
                           "%" PRId64 "%s", index, sc.frames, sc.frames == 1 ? " was" : "s were",
                           want, skipped);
            status = RVMI_EXIT_BAD_INPUT;
            goto done;
        }
        if (j.opt.png) {
            sc.tb = (AVRational){1, 1};
            sc.first_pts = first;
        } else {
            sc.first_pts = pts[0];
            /* The part's frames are planned frames from `first` on, in order, both relative
             * to the first, skipping only (and all) the damaged ones (counts_segment). */
            for (int64_t k = 0, f = first; k < sc.frames && !j.plan->images; k++, f++) {
                int64_t d = 0;
                while (f < seg->end &&
                       (d = av_rescale_q(j.plan->pts[f] - j.plan->pts[first], j.plan->time_base,
                                         sc.tb)) < pts[k] - pts[0] - 1)
                    f++;
                if (f >= seg->end || llabs(pts[k] - pts[0] - d) > 1) {
                    free(pts);
                    rvmi_cli_error("render: index %ld: frame %" PRId64 " is not at its planned time",
                                index, f < seg->end ? f : seg->end - 1);
                    status = RVMI_EXIT_BAD_INPUT;
                    goto done;
                }
            }
        }
        free(pts);
        memcpy(sc.plan, j.plan->id, sizeof sc.plan);
        sc.index = index;
        sc.settings = settings[i];
        if (part_sha256(tmp[i], j.opt.png, sc.sha256) < 0) {
            rvmi_cli_error("render: cannot read back the part %s: %s", tmp[i], strerror(errno));
            goto done;
        }
        if (!j.opt.png) {
            /* On disk before it is named complete. */
            int fd = open(tmp[i], O_RDONLY | O_CLOEXEC);
            if (fd < 0 || fsync(fd) < 0) {
                rvmi_cli_error("render: %s: %s", tmp[i], strerror(errno));
                if (fd >= 0)
                    close(fd);
                goto done;
            }
            close(fd);
        }
        char *part = part_path(&j, o, index), *side = sidecar_path(o, index);
        int ok = part && side;
        if (ok) {
            unlink(side); /* an old checksum never names the new part */
            remove_entry(part);
            ok = rename(tmp[i], part) == 0;
            if (!ok)
                snprintf(err, sizeof err, "cannot rename %s to %s: %s", tmp[i], part,
                         strerror(errno));
            else
                ok = write_sidecar(side, &sc, err, sizeof err) == 0;
        } else {
            snprintf(err, sizeof err, "out of memory");
        }
        free(part);
        free(side);
        if (!ok) {
            rvmi_cli_error("render: %s", err);
            goto done;
        }
    }
    printf("index %ld: frames %" PRId64 "-%" PRId64 " (after %" PRId64 " warm-up frame%s) in "
           "%.1f s\n", index, seg->begin, seg->end - 1, seg->begin - seg->from,
           rvmi_s(seg->begin - seg->from), now_seconds() - t0);
    status = 0;
done:
    for (int i = 0; i < j.nouts; i++) {
        if (tmp[i])
            remove_entry(tmp[i]);
        free(tmp[i]);
        free(settings[i]);
    }
    job_free(&j);
    return status;
}

/* ---- rvm join ---- */

/* Indices as sbatch --array takes them: "2,5-7,9". */
static void print_indices(FILE *f, const unsigned char *bad, int n)
{
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!bad[i])
            continue;
        int k = i;
        while (k + 1 < n && bad[k + 1])
            k++;
        fprintf(f, first ? "" : ",");
        first = 0;
        if (k > i)
            fprintf(f, "%d-%d", i, k);
        else
            fprintf(f, "%d", i);
        i = k;
    }
}

static int same_params(const AVCodecParameters *a, const AVCodecParameters *b)
{
    return a->codec_id == b->codec_id && a->width == b->width && a->height == b->height &&
           a->format == b->format && a->extradata_size == b->extradata_size &&
           (a->extradata_size == 0 || memcmp(a->extradata, b->extradata, (size_t)a->extradata_size) == 0);
}

typedef struct {
    AVFormatContext *fmt;
    int vidx;
} part_reader;

static int open_part(part_reader *r, const char *path)
{
    r->fmt = NULL;
    r->vidx = -1;
    if (open_local(&r->fmt, path) < 0)
        return -1;
    if (avformat_find_stream_info(r->fmt, NULL) < 0 ||
        (r->vidx = rvmi_video_stream(r->fmt, NULL)) < 0) {
        avformat_close_input(&r->fmt);
        return -1;
    }
    return 0;
}

/* The input's audio and subtitle tracks as a whole run carries them: those the choice
 * keeps, each moved back by the video's first timestamp as the reader moves it (shift, in
 * the track's time base). Returns 0, or an exit code with the message printed. */
typedef struct {
    AVFormatContext *fmt;
    rvmi_track *tracks;
    int ntracks;
    int *track_of;      /* per input stream: its index in tracks, or -1 */
    unsigned nstreams;  /* streams when opened (more may appear) */
    int64_t *shift;
    int64_t vstart_us;  /* the video's first timestamp, AV_TIME_BASE units */
    char timecode[AV_TIMECODE_STR_SIZE]; /* of the first frame, as the reader gives it, or "" */
} input_tracks;

static void close_tracks(input_tracks *in)
{
    avformat_close_input(&in->fmt);
    free(in->tracks);
    free(in->track_of);
    free(in->shift);
    memset(in, 0, sizeof(*in));
}

static int open_tracks(const char *input, const rvmi_track_choice *choice, input_tracks *in)
{
    char err[1024];
    memset(in, 0, sizeof(*in));
    if (avformat_open_input(&in->fmt, input, NULL, NULL) < 0 ||
        avformat_find_stream_info(in->fmt, NULL) < 0) {
        rvmi_cli_error("join: cannot read the audio and subtitles of %s", input);
        close_tracks(in);
        return RVMI_EXIT_BAD_INPUT;
    }
    AVFormatContext *fmt = in->fmt;
    int vidx = rvmi_video_stream(fmt, NULL);
    in->ntracks = rvmi_tracks_select(fmt, choice, &in->tracks, err, sizeof err);
    if (in->ntracks < 0) {
        rvmi_cli_error("join: %s", err);
        close_tracks(in);
        return RVMI_EXIT_USAGE;
    }
    in->nstreams = fmt->nb_streams;
    in->track_of = malloc((fmt->nb_streams + 1) * sizeof(int));
    in->shift = calloc((size_t)in->ntracks + 1, sizeof(int64_t));
    if (!in->track_of || !in->shift) {
        rvmi_cli_error("out of memory");
        close_tracks(in);
        return RVMI_EXIT_TRANSIENT;
    }
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        in->track_of[i] = -1;
    /* A plan covers the whole input: its first frame's timecode is the input's. */
    const AVDictionaryEntry *tc = vidx >= 0 ? av_dict_get(fmt->streams[vidx]->metadata, "timecode", NULL, 0) : NULL;
    if (!tc)
        tc = av_dict_get(fmt->metadata, "timecode", NULL, 0);
    if (tc)
        av_strlcpy(in->timecode, tc->value, sizeof in->timecode);
    if (vidx >= 0 && fmt->streams[vidx]->start_time != AV_NOPTS_VALUE)
        in->vstart_us = av_rescale_q(fmt->streams[vidx]->start_time, fmt->streams[vidx]->time_base,
                                     AV_TIME_BASE_Q);
    for (int t = 0; t < in->ntracks; t++) {
        in->track_of[in->tracks[t].stream] = t;
        if (vidx >= 0 && fmt->streams[vidx]->start_time != AV_NOPTS_VALUE)
            in->shift[t] = av_rescale_q(fmt->streams[vidx]->start_time,
                                        fmt->streams[vidx]->time_base, in->tracks[t].time_base);
    }
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if (in->track_of[i] < 0)
            fmt->streams[i]->discard = AVDISCARD_ALL;
    return 0;
}

/* A notice about the tracks (one left out), on its own line. */
static void join_notice(void *user, const char *msg)
{
    (void)user;
    rvmi_cli_error("%s", msg);
}

/* Readies an output of the join as a whole run readies it (src/io/outfile.h): never the
 * input, the background or the checkpoint, nor a folder holding one; an existing output
 * only with -y; locked, and written under an unguessable hidden name (a folder for a PNG
 * sequence) that is put in place only when complete. Returns 0, or an exit code with the
 * message printed (and nothing left behind). */
static int prepare_join_output(const job *j, const output *o, rvmi_outfile *file)
{
    char err[1024];
    memset(file, 0, sizeof *file);
    file->flag = o->flag;
    file->path = o->path;
    file->folder = j->opt.png;
    /* Never the input (nor the background, the checkpoint, a folder holding one): refused
     * with the flags, before the parts were looked at (job_parse). */
    struct stat st;
    if (j->opt.png && stat(o->path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        rvmi_cli_error("join: %s %s exists and is not a folder", o->flag, o->path);
        return RVMI_EXIT_USAGE;
    }
    if (!j->opt.overwrite && stat(o->path, &st) == 0 &&
        (j->opt.png ? rvmi_png_sequence_exists(o->path) : S_ISREG(st.st_mode))) {
        rvmi_cli_error("join: %s %s %s (use -y to overwrite)", o->flag, o->path,
                       j->opt.png ? "already holds a PNG sequence" : "exists");
        return RVMI_EXIT_USAGE;
    }
    if (rvmi_outfile_prepare(file, j->opt.overwrite, err, sizeof err) < 0) {
        rvmi_cli_error("join: %s", err);
        int refused = file->refused;
        rvmi_outfile_release(file);
        return refused ? RVMI_EXIT_USAGE : RVMI_EXIT_TRANSIENT;
    }
    return 0;
}

/* Joins a video output; returns an exit code (message printed). */
static int join_video(const job *j, const output *o, int64_t *frames)
{
    char err[1024];
    const rvmi_plan *p = j->plan;
    rvmi_outfile file;
    int status = prepare_join_output(j, o, &file);
    if (status != 0)
        return status;
    status = RVMI_EXIT_TRANSIENT;
    part_reader pr = {NULL, -1};
    input_tracks ain = {0};
    rvmi_video_writer *w = NULL;
    AVPacket *vp = av_packet_alloc(), *ap = av_packet_alloc();
    AVCodecParameters *first = avcodec_parameters_alloc();
    char *path = part_path(j, o, 0);
    if (!vp || !ap || !first || !path) {
        rvmi_cli_error("out of memory");
        goto done;
    }
    if (open_part(&pr, path) < 0) {
        rvmi_cli_error("join: cannot read the part %s", path);
        status = RVMI_EXIT_PARTS;
        goto done;
    }
    avcodec_parameters_copy(first, pr.fmt->streams[pr.vidx]->codecpar);
    /* The input's audio and subtitles, once, as a whole run carries them (the matte
     * carries none). */
    rvmi_track_choice choice;
    rvmi_cli_track_choice(&j->opt, &choice);
    /* Opened also without tracks (and for the matte, which carries none): its container
     * tags, chapters and timecode go on as a whole run's do. */
    rvmi_track_choice no_tracks = {"none", "none"};
    int alpha = strcmp(o->kind, "alpha") == 0;
    if (!p->images && (status = open_tracks(p->input, alpha ? &no_tracks : &choice, &ain)) != 0)
        goto done;
    status = RVMI_EXIT_TRANSIENT;
    rvmi_video_writer_config vc;
    memset(&vc, 0, sizeof vc);
    vc.path = file.write_path;
    vc.name = o->path;
    vc.copy = first;
    vc.copy_tags = pr.fmt->streams[pr.vidx]->metadata;
    vc.width = first->width;
    vc.height = first->height;
    /* The time base a whole run gives its encoder: the input's. */
    vc.time_base = p->images ? av_inv_q(av_d2q(j->opt.input_fps, 1001000)) : p->time_base;
    vc.frame_rate = pr.fmt->streams[pr.vidx]->avg_frame_rate;
    vc.tracks = ain.tracks;
    vc.ntracks = ain.ntracks;
    vc.metadata = ain.fmt && !alpha ? ain.fmt->metadata : NULL;
    vc.attachments_from = alpha ? NULL : ain.fmt;
    vc.timecode = ain.timecode[0] ? ain.timecode : NULL;
    /* Chapters as a whole run moves them: back by the video's first timestamp. */
    vc.chapter_length = INT64_MAX;
    if (ain.fmt && !alpha) {
        vc.chapters = ain.fmt->chapters;
        vc.nchapters = ain.fmt->nb_chapters;
        vc.chapter_shift = ain.vstart_us;
    }
    vc.notice = join_notice;
    vc.descriptor = file.through_fd;
    int refused = 0, gone = 0;
    vc.usage_error = &refused;
    vc.reader_gone = &gone;
    if (!(w = rvmi_video_writer_open(&vc, err, sizeof err))) {
        rvmi_cli_error("join: %s", err);
        if (refused)
            status = RVMI_EXIT_USAGE;
        else if (gone)
            status = RVMI_EXIT_FAILURE; /* the pipe's reader closed it, as after the header */
        goto done;
    }
    /* Video from the parts in order and the tracks from the input, by time. */
    int part = 0, have_v = 0, have_a = 0, audio_eof = ain.ntracks == 0, atrack = -1;
    AVRational vtb = pr.fmt->streams[pr.vidx]->time_base;
    *frames = 0;
    for (;;) {
        while (!have_v && pr.fmt) {
            if (av_read_frame(pr.fmt, vp) >= 0) {
                if (vp->stream_index == pr.vidx)
                    have_v = 1;
                else
                    av_packet_unref(vp);
                continue;
            }
            avformat_close_input(&pr.fmt);
            if (++part >= p->nsegments)
                break;
            free(path);
            if (!(path = part_path(j, o, part)) || open_part(&pr, path) < 0) {
                rvmi_cli_error("join: cannot read the part %s", path ? path : "");
                status = RVMI_EXIT_PARTS;
                goto done;
            }
            if (!same_params(first, pr.fmt->streams[pr.vidx]->codecpar)) {
                rvmi_cli_error("join: part %d of %s was encoded differently from part 0 (size, "
                            "pixel format or codec headers); render it again with the same "
                            "flags", part, o->path);
                status = RVMI_EXIT_PARTS;
                goto done;
            }
            vtb = pr.fmt->streams[pr.vidx]->time_base;
        }
        while (!have_a && !audio_eof) {
            if (av_read_frame(ain.fmt, ap) < 0) {
                audio_eof = 1;
            } else if (ap->stream_index >= 0 && (unsigned)ap->stream_index < ain.nstreams &&
                       (atrack = ain.track_of[ap->stream_index]) >= 0) {
                have_a = 1;
                if (ap->pts != AV_NOPTS_VALUE)
                    ap->pts -= ain.shift[atrack];
                if (ap->dts != AV_NOPTS_VALUE)
                    ap->dts -= ain.shift[atrack];
            } else {
                av_packet_unref(ap);
            }
        }
        if (!have_v && !have_a)
            break;
        int64_t vt = have_v ? (vp->dts != AV_NOPTS_VALUE ? vp->dts : vp->pts) : 0;
        int64_t at = have_a ? (ap->dts != AV_NOPTS_VALUE ? ap->dts : ap->pts) : 0;
        int video_first = have_v && (!have_a || at == AV_NOPTS_VALUE ||
                                     av_compare_ts(vt, vtb, at, ain.tracks[atrack].time_base) <= 0);
        int ret;
        if (video_first) {
            ret = rvmi_video_writer_packet(w, vp, vtb, err, sizeof err);
            av_packet_unref(vp);
            have_v = 0;
            (*frames)++;
        } else {
            ret = rvmi_video_writer_track(w, atrack, ap, err, sizeof err);
            av_packet_unref(ap);
            have_a = 0;
        }
        if (ret < 0) {
            rvmi_cli_error("join: %s", err);
            status = rvmi_cli_write_status(w);
            goto done;
        }
    }
    if (rvmi_video_writer_finish(w, err, sizeof err) < 0) {
        rvmi_cli_error("join: %s", err);
        status = rvmi_cli_write_status(w);
        goto done;
    }
    for (int i = 0; rvmi_video_writer_warning(w, i); i++)
        rvmi_cli_error("warning: %s", rvmi_video_writer_warning(w, i));
    int committed = rvmi_outfile_commit(&file, err, sizeof err);
    if (committed < 0) {
        rvmi_cli_error("join: %s", err);
        goto done;
    }
    if (committed > 0)
        rvmi_cli_error("join: warning: %s", err);
    status = 0;
done:
    rvmi_video_writer_free(w);
    if (status != 0)
        rvmi_outfile_discard(&file);
    rvmi_outfile_release(&file);
    avformat_close_input(&pr.fmt);
    close_tracks(&ain);
    av_packet_free(&vp);
    av_packet_free(&ap);
    avcodec_parameters_free(&first);
    free(path);
    return status;
}

/* Copies a file (when a link across file systems is not possible). */
static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    char buf[1 << 16];
    ssize_t n = 0;
    int ok = out >= 0;
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(out, buf, (size_t)n) == n;
    ok = ok && n == 0;
    if (out >= 0 && close(out) != 0)
        ok = 0;
    int saved = errno; /* what went wrong, for the message */
    if (in >= 0)
        close(in);
    if (!ok && out >= 0)
        unlink(to);
    errno = saved;
    return ok ? 0 : -1;
}

/* Joins a PNG-sequence output: the parts' frames get their numbers in the whole sequence
 * (hard links: nothing is copied or re-encoded), in the output's staging folder, which takes
 * the output's place only when every frame is in it (a join stopped or failed halfway leaves
 * the old sequence, or nothing). */
static int join_png(const job *j, const output *o, int64_t *frames)
{
    char err[1024];
    rvmi_outfile file;
    int status = prepare_join_output(j, o, &file);
    if (status != 0)
        return status;
    *frames = 0;
    for (int k = 0; status == 0 && k < j->plan->nsegments; k++) {
        char *dir = part_path(j, o, k);
        rvmi_name_list part = {0};
        if (!dir || list_frames(dir, &part) < 0) {
            rvmi_cli_error("join: cannot read the part %s", dir ? dir : "");
            status = RVMI_EXIT_PARTS;
        }
        for (int m = 0; status == 0 && m < part.count; m++) {
            /* Numbered as a whole run numbers them: on from the frames before (damaged
             * frames skipped have none). */
            int64_t number = *frames + m;
            char *from = rvmi_xasprintf("%s/%s", dir, part.names[m]);
            char *to = rvmi_xasprintf("%s/%04" PRId64 ".png", file.write_path, number);
            if (!from || !to) {
                rvmi_cli_error("out of memory");
                status = RVMI_EXIT_TRANSIENT;
            } else if (link(from, to) < 0 && copy_file(from, to) < 0) {
                rvmi_cli_error("join: %s %s: cannot create frame %04" PRId64 ".png: %s",
                               o->flag, o->path, number, strerror(errno));
                status = RVMI_EXIT_TRANSIENT;
            }
            free(from);
            free(to);
        }
        *frames += part.count;
        rvmi_name_list_free(&part);
        free(dir);
    }
    if (status == 0) {
        int committed = rvmi_outfile_commit(&file, err, sizeof err);
        if (committed < 0) {
            rvmi_cli_error("join: %s", err);
            status = RVMI_EXIT_TRANSIENT;
        } else if (committed > 0) {
            rvmi_cli_error("join: warning: %s", err);
        }
    }
    if (status != 0)
        rvmi_outfile_discard(&file);
    rvmi_outfile_release(&file);
    return status;
}

static void remove_parts(const job *j, const output *o)
{
    for (int k = 0; k < j->plan->nsegments; k++) {
        char *part = part_path(j, o, k), *side = sidecar_path(o, k);
        if (side)
            unlink(side);
        if (part)
            remove_entry(part);
        free(part);
        free(side);
        remove_stale(o, k);
    }
    rmdir(o->parts);
}

int rvmi_join_main(int argc, char **argv)
{
    /* A signal removes the unfinished outputs (registered by rvmi_outfile_prepare). */
    rvmi_signals_install();
    job j;
    int status = job_parse(&j, "join", argc, argv);
    if (status) {
        job_free(&j);
        return status < 0 ? 0 : status;
    }
    const rvmi_plan *p = j.plan;
    unsigned char *bad = calloc((size_t)p->nsegments, 1);
    char first_why[1024] = "";
    int nbad = 0;
    status = RVMI_EXIT_TRANSIENT;
    if (!bad) {
        rvmi_cli_error("out of memory");
        goto done;
    }
    for (int i = 0; i < j.nouts; i++) {
        output *o = &j.outs[i];
        char *settings = settings_of(&j, o);
        double origin = 0;
        for (int k = 0; settings && k < p->nsegments; k++) {
            sidecar sc;
            char buf[512];
            const char *why = check_part(&j, o, k, settings, &sc, buf, sizeof buf);
            if (!why && !j.opt.png) {
                /* Each part starts where the plan puts its first frame (past damaged ones),
                 * counted from the input's first frame, placed by the first part's start
                 * (whatever origin the reader gives timestamps). */
                double at = sc.first_pts * av_q2d(sc.tb);
                double want = p->images ? sc.first_frame / j.opt.input_fps
                                        : (p->pts[sc.first_frame] - p->pts[0]) *
                                              av_q2d(p->time_base);
                if (k == 0)
                    origin = at - want;
                if (fabs(at - origin - want) > av_q2d(sc.tb) + 1e-9)
                    why = "starts at the wrong time";
            }
            free(sc.settings);
            if (why) {
                if (!bad[k])
                    nbad++;
                bad[k] = 1;
                if (!*first_why)
                    snprintf(first_why, sizeof first_why, "%s/%05d: %s", o->parts, k, why);
            }
        }
        free(settings);
    }
    if (j.missing) {
        print_indices(stdout, bad, p->nsegments);
        if (nbad)
            putchar('\n');
        status = 0;
        goto done;
    }
    if (nbad) {
        fprintf(stderr, "rvm: join: %d of %d parts missing or broken, indices ", nbad,
                p->nsegments);
        print_indices(stderr, bad, p->nsegments);
        fprintf(stderr, " (first: %s); render them again, then join\n", first_why);
        status = RVMI_EXIT_PARTS;
        goto done;
    }
    for (int i = 0; i < j.nouts; i++) {
        double t0 = now_seconds();
        int64_t frames = 0;
        status = j.opt.png ? join_png(&j, &j.outs[i], &frames)
                           : join_video(&j, &j.outs[i], &frames);
        if (status != 0)
            goto done;
        printf("%s: %" PRId64 " frame%s from %d part%s in %.2f s\n", j.outs[i].path, frames,
               rvmi_s(frames), p->nsegments, rvmi_s(p->nsegments), now_seconds() - t0);
    }
    if (j.remove_parts)
        for (int i = 0; i < j.nouts; i++)
            remove_parts(&j, &j.outs[i]);
    status = 0;
done:
    free(bad);
    job_free(&j);
    return status;
}
