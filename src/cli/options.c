/* The command line as one table (in the manner of FFmpeg's AVOption): each option's name,
 * the type of its value, the field it sets, the accepted range and its help line. Parsing,
 * checking and --help are all driven by the table; adding an option is adding an entry.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "cli/options.h"

#include "io/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/parseutils.h>

typedef enum {
    OPT_FLAG,   /* no value: the int field becomes 1 */
    OPT_STRING, /* a const char * into argv; with .words, one of those words (the list's own
                   pointer is stored) */
    OPT_PATH,   /* OPT_STRING that may not be empty */
    OPT_INT,    /* a whole number in [min, max] */
    OPT_NUMBER, /* a finite number in (min, max] */
    OPT_TIME,   /* seconds or [HH:]MM:SS[.frac] (as FFmpeg writes them), a double in
                   [min, inf), or (min, inf) with .above_min */
    OPT_SIZE,   /* two whole numbers W H in [min, max], into two consecutive ints */
    OPT_CHOICE, /* one of .words: the int field takes the matching entry of .values */
    OPT_CODEC,  /* a video codec name or common spelling (rvmi_codec_from_name) */
} option_type;

#define NO_FIELD SIZE_MAX

typedef struct {
    const char *name;    /* long form, "--..." */
    const char *alias;   /* short form or another spelling, or NULL */
    option_type type;
    size_t field;        /* offsetof the field set in rvmi_cli_options, or NO_FIELD */
    double min, max;     /* OPT_INT, OPT_NUMBER, OPT_TIME, OPT_SIZE */
    int above_min;       /* OPT_TIME: min itself is refused */
    double def;          /* the value before the command line (numbers and choices) */
    const char *const *words; /* OPT_CHOICE, OPT_STRING: the accepted words (NULL-ended) */
    const int *values;   /* OPT_CHOICE: the value of each word */
    const char *metavar; /* for --help and "needs" messages */
    const char *help;
} option;

#define FIELD(f) offsetof(rvmi_cli_options, f)
#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define VALUES(...) ((const int[]){__VA_ARGS__})

static const option options[] = {
    {"--input-source", "-i", OPT_STRING, FIELD(input), .metavar = "PATH",
     .help = "video file, image, image folder (sorted by name), any FFmpeg input, or - for "
             "stdin"},
    {"--output-type", NULL, OPT_CHOICE, FIELD(png), .words = WORDS("video", "png_sequence"),
     .values = VALUES(0, 1), .metavar = "TYPE",
     .help = "video (default) or png_sequence (folders of 0000.png, 0001.png, ...). With "
             "video, a name in an image format (.png, .jpg, .webp, .tif, .bmp, .tga, .qoi, "
             ".ppm, .pgm, .pam) writes a single image, for an input of one frame (a photo)"},
    {"--output-composition", NULL, OPT_PATH, FIELD(out_com), .metavar = "PATH",
     .help = "foreground over the background; as PNGs (and .webp, .tif, .tga, .qoi, .pam "
             "images): RGBA (colour zeroed where alpha is 0) unless --background is given"},
    {"--output-alpha", NULL, OPT_PATH, FIELD(out_pha), .metavar = "PATH",
     .help = "the alpha matte (grey)"},
    {"--output-foreground", NULL, OPT_PATH, FIELD(out_fgr), .metavar = "PATH",
     .help = "the foreground colours (RGB)"},
    {"--variant", NULL, OPT_CHOICE, FIELD(variant), .words = WORDS("mobilenetv3", "resnet50"),
     .values = VALUES(RVM_VARIANT_MOBILENETV3, RVM_VARIANT_RESNET50), .metavar = "NAME",
     .help = "mobilenetv3 or resnet50; checked against the weights (default: what they hold)"},
    {"--checkpoint", NULL, OPT_STRING, FIELD(checkpoint), .metavar = "PATH",
     .help = "a .pth checkpoint or TF.js model folder (default: the shipped model)"},
    {"--device", NULL, OPT_CHOICE, NO_FIELD, .words = WORDS("cpu"), .metavar = "NAME",
     .help = "cpu (the only device)"},
    {"--downsample-ratio", NULL, OPT_NUMBER, FIELD(ratio), .min = 0, .max = 1, .metavar = "R",
     .help = "in (0, 1]; default the official rule min(512 / max(width, height), 1)"},
    {"--input-resize", NULL, OPT_SIZE, FIELD(resize_w), .min = 1, .max = RVM_MAX_SIDE,
     .metavar = "W H", .help = "scale the input to W x H first"},
    {"--input-fps", NULL, OPT_NUMBER, FIELD(input_fps), .min = 0, .max = 1000, .def = 30,
     .metavar = "FPS", .help = "frame rate of image folders (default 30; 24000/1001 works); a video keeps "
             "its own, a single image (but a JPEG) is one frame whatever the rate (one line says "
             "so)"},
    {"--start", "-ss", OPT_TIME, FIELD(start), .min = 0, .metavar = "TIME",
     .help = "skip this much of the input (seconds or HH:MM:SS)"},
    {"--duration", "-t", OPT_TIME, FIELD(duration), .min = 0, .above_min = 1, .def = -1,
     .metavar = "TIME", .help = "convert only this much"},
    {"--background", NULL, OPT_PATH, FIELD(background), .metavar = "BG",
     .help = "colour (name, #RRGGBB, #RGB or R,G,B), image, video (looped), or none for transparency; "
             "default 120,255,155"},
    {"--codec", NULL, OPT_CODEC, FIELD(codec), .metavar = "NAME",
     .help = "h264, hevc, prores (4444, alpha, .mov), vp9 (alpha, .webm), ffv1 (lossless), "
             "rawvideo (uncompressed). Default: h264; vp9 in .webm; rawvideo in nut, "
             "rawvideo, .y4m, .yuv and .rgb; prores in .mov and ffv1 in .mkv for a transparent "
             "composition"},
    {"--output-format", "-f", OPT_STRING, FIELD(output_format), .metavar = "NAME",
     .help = "container of video outputs instead of the one the name tells: nut, matroska, "
             "mpegts, yuv4mpegpipe[:PIX_FMT] (Y4M, what x264 and ffmpeg read from a pipe: "
             "yuv420p, the matte gray, yuva444p when transparent; yuv444p, yuv444p10le, ... "
             "if named), or rawvideo[:PIX_FMT] (bare frames; gray, rgb24 or rgba unless an "
             "FFmpeg pixel format is named; a name ending .yuv gets yuv420p, .rgb rgb24). YUV frames "
             "there, in Y4M and uncompressed in NUT or AVI are limited range, untagged, in the matrix "
             "players assume: BT.709 for HD (1280 wide or more, or over 576 lines), BT.601 for SD "
             "(ffmpeg reads HD ones "
             "with -vf scale=in_color_matrix=bt709; x264: --colormatrix bt709). Needed "
             "for a pipe; - or pipe:1 as an output path writes to stdout (default nut), flushed "
             "every frame (into a regular file, empty: as a file, with its index); pipe:N "
             "writes to descriptor N, as /dev/fd/N"},
    {"--output-video-mbps", NULL, OPT_NUMBER, FIELD(mbps), .min = 0, .max = 1000,
     .metavar = "N", .help = "video bit rate in Mbit/s of h264, hevc and vp9 outputs, 0.001 (1 "
             "kbit/s) or more (default: constant quality, see --crf); other outputs ignore it, "
             "as --crf"},
    /* Each codec's range is checked once the codec is known (rvmi_cli_check_crf). */
    {"--crf", NULL, OPT_INT, FIELD(crf), .min = 0, .max = INT_MAX, .def = -1, .metavar = "N",
     .help = "constant quality instead of a bit rate (h264/hevc: 0 to 51, vp9: 0 to 63); the "
             "default is 18 for h264, 20 for hevc, 30 for vp9. One value serves every output: "
             "ffv1, prores, rawvideo, images and PNG sequences have none and ignore it (a "
             "warning when every output does)"},
    {"--preset", NULL, OPT_STRING, FIELD(preset), .words = rvmi_presets, .metavar = "NAME",
     .help = "x264/x265 speed preset (h264/hevc): ultrafast, superfast, veryfast, faster, fast, "
             "medium, slow, slower, veryslow, placebo. Default: " RVM_DEFAULT_PRESET
             " with a short look-ahead (H.264: 1 frame, none for an alpha matte; HEVC: 3), no"
             " B-frames and, for H.264 other than an alpha matte, the diamond motion search "
             "(fast, bounded memory); a preset named "
             "here is used as the encoder defines it (slower ones compress better but can cost "
             "more time than the network, and hold more frames in memory)"},
    {"--output-depth", NULL, OPT_CHOICE, FIELD(depth), .words = WORDS("8", "16"),
     .values = VALUES(8, 16), .def = 8, .metavar = "8|16",
     .help = "bits per channel of PNG sequences and of .png, .tif, .ppm, .pgm and .pam "
             "images (16 stores round(value*65535))"},
    {"--audio-tracks", NULL, OPT_STRING, FIELD(audio_tracks), .metavar = "LIST",
     .help = "the input's audio tracks that composition/foreground videos keep, with their "
             "language, title and default flag: all (default), none, or track numbers from 0 "
             "(ffmpeg's -map 0:a:N) and languages, e.g. 0,2 or eng,fra, in the order given. "
             "Copied, or re-encoded where the container or its players need it (AAC in "
             ".mp4/.mov, Opus in .webm)"},
    {"--no-audio", NULL, OPT_FLAG, FIELD(no_audio),
     .help = "no audio in composition/foreground videos (--audio-tracks none)"},
    {"--subtitle-tracks", NULL, OPT_STRING, FIELD(subtitle_tracks), .metavar = "LIST",
     .help = "the subtitle tracks kept, likewise (default all): copied, or converted when "
             "they are text (to mov_text in .mp4/.mov, WebVTT in .webm); subtitles that are "
             "pictures (DVD, Blu-ray) only .mkv keeps. A track left out is said in one line"},
    {"--no-subtitles", NULL, OPT_FLAG, FIELD(no_subtitles),
     .help = "no subtitles (--subtitle-tracks none)"},
    {"--overwrite", "-y", OPT_FLAG, FIELD(overwrite), .help = "replace existing outputs"},
    {"--complete-only", NULL, OPT_FLAG, FIELD(complete_only),
     .help = "keep the outputs only when the whole input was converted: a stop (a signal, "
             "the file size limit) removes them instead of keeping the frames done, so that "
             "an output in place is always complete (rvm batch runs each conversion so)"},
    {"--threads", NULL, OPT_INT, FIELD(threads), .min = 0, .max = RVM_MAX_THREADS, .metavar = "N",
     .help = "network threads (default: one per CPU this run can use; at most 256; more than "
             "those CPUs is slower, with a warning)"},
    {"--precision", NULL, OPT_CHOICE, FIELD(precision), .words = WORDS("fp32", "int8"),
     .values = VALUES(RVM_PRECISION_FP32, RVM_PRECISION_INT8), .metavar = "NAME",
     .help = "fp32 (default) or int8: some of the encoder's 1x1 convolutions in 8 bits (alpha "
             "within ~1e-4 of fp32 on average); needs a CPU with AVX512-VNNI or AVX-VNNI"},
    {"--seq-chunk", NULL, OPT_INT, FIELD(seq_chunk), .min = 1, .max = INT_MAX, .def = 1,
     .metavar = "N", .help = "accepted for compatibility (frames always run one at a time, in order)"},
    {"--num-workers", NULL, OPT_INT, FIELD(num_workers), .min = 0, .max = INT_MAX,
     .metavar = "N", .help = "accepted for compatibility (decoding always runs in its own thread)"},
    {"--disable-progress", NULL, OPT_FLAG, FIELD(no_progress), .help = "no progress bar"},
    {"--progress-fd", NULL, OPT_INT, FIELD(progress_fd), .min = 0, .max = INT_MAX, .def = -1,
     .metavar = "N",
     .help = "also write progress to file descriptor N, one JSON line per update: "
             "{\"frames\":N,\"total\":N,\"fps\":X,\"eta\":S,\"elapsed\":S}, with "
             "\"done\":true on the last (for programs that run rvm, like rvm serve)"},
    {"--verbose", "-v", OPT_FLAG, FIELD(verbose), .help = "also show FFmpeg's own messages"},
    {"--help", "-h", OPT_FLAG, FIELD(help), .help = "show this help"},
    {"--version", NULL, OPT_FLAG, FIELD(version), .help = "show the version"},
};
#define NOPTIONS (int)(sizeof(options) / sizeof(options[0]))

/* OPT_SIZE writes its two numbers into consecutive ints. */
_Static_assert(offsetof(rvmi_cli_options, resize_h) ==
                   offsetof(rvmi_cli_options, resize_w) + sizeof(int),
               "resize_h must follow resize_w");
/* OPT_CHOICE and OPT_CODEC store through an int pointer. */
_Static_assert(sizeof(rvm_variant) == sizeof(int) && sizeof(rvmi_codec) == sizeof(int) &&
                   sizeof(rvm_precision) == sizeof(int),
               "enums stored as int");

static int value_count(const option *op)
{
    return op->type == OPT_FLAG ? 0 : op->type == OPT_SIZE ? 2 : 1;
}

/* "a", "a or b", "a, b or c". */
static void list_words(const char *const *words, char *out, size_t outlen)
{
    int n = 0;
    while (words[n])
        n++;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s", sep, words[i]);
    }
}

static int find_word(const char *const *words, const char *s)
{
    for (int i = 0; words[i]; i++)
        if (strcmp(words[i], s) == 0)
            return i;
    return -1;
}

static int parse_int(const option *op, const char *s, int *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < op->min || v > op->max) {
        if (op->max >= INT_MAX)
            snprintf(err, errlen, "%s %s: expected a whole number, %ld or more", op->name, s,
                     (long)op->min);
        else
            snprintf(err, errlen, "%s %s: expected a whole number from %ld to %ld", op->name, s,
                     (long)op->min, (long)op->max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_number(const option *op, const char *s, double *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* A ratio N/D as well (FFmpeg's 24000/1001: 23.976 is another rate, and its frame
     * times drift from the NTSC ones). */
    if (!errno && end != s && *end == '/') {
        const char *d = end + 1;
        double den = strtod(d, &end);
        v = end != d && den > 0 && isfinite(den) ? v / den : NAN;
    }
    /* strtod accepts "nan" and "inf"; the range test refuses both. */
    if (errno || end == s || *end != '\0' || !(v > op->min && v <= op->max)) {
        snprintf(err, errlen, "%s %s: expected a number in (%g, %g]", op->name, s, op->min,
                 op->max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_time(const option *op, const char *s, double *out, char *err, size_t errlen)
{
    int64_t us;
    if (av_parse_time(&us, s, 1) < 0 || (op->above_min ? !(us / 1e6 > op->min)
                                                          : !(us / 1e6 >= op->min))) {
        snprintf(err, errlen, "%s %s: expected a time (seconds or [HH:]MM:SS[.frac]) %s %g",
                 op->name, s, op->above_min ? ">" : ">=", op->min);
        return -1;
    }
    *out = us / 1e6;
    return 0;
}

/* Sets the option's field from its values (vals[0], and vals[1] for OPT_SIZE). */
static int set_option(const option *op, char **vals, rvmi_cli_options *o, char *err,
                      size_t errlen)
{
    void *field = op->field == NO_FIELD ? NULL : (char *)o + op->field;
    char list[256];
    int i;
    switch (op->type) {
    case OPT_FLAG:
        *(int *)field = 1;
        return 0;
    case OPT_PATH:
        if (!*vals[0]) {
            snprintf(err, errlen, "%s: the path is empty", op->name);
            return -1;
        }
        /* fall through */
    case OPT_STRING:
        if (!op->words) {
            *(const char **)field = vals[0];
            return 0;
        }
        if ((i = find_word(op->words, vals[0])) < 0)
            break;
        *(const char **)field = op->words[i];
        return 0;
    case OPT_INT:
        return parse_int(op, vals[0], field, err, errlen);
    case OPT_NUMBER:
        return parse_number(op, vals[0], field, err, errlen);
    case OPT_TIME:
        return parse_time(op, vals[0], field, err, errlen);
    case OPT_SIZE:
        if (parse_int(op, vals[0], field, err, errlen) < 0 ||
            parse_int(op, vals[1], (int *)field + 1, err, errlen) < 0)
            return -1;
        return 0;
    case OPT_CHOICE:
        if ((i = find_word(op->words, vals[0])) < 0)
            break;
        if (field)
            *(int *)field = op->values[i];
        return 0;
    case OPT_CODEC: {
        rvmi_codec codec;
        if (rvmi_codec_from_name(vals[0], &codec) == 0) {
            *(int *)field = (int)codec;
            return 0;
        }
        const char *names[RVM_CODEC_RAWVIDEO + 1] = {NULL};
        for (int c = RVM_CODEC_H264; c <= RVM_CODEC_RAWVIDEO; c++)
            names[c - RVM_CODEC_H264] = rvmi_codec_name((rvmi_codec)c);
        list_words(names, list, sizeof(list));
        snprintf(err, errlen, "%s %s: expected %s", op->name, vals[0], list);
        return -1;
    }
    }
    /* A word that is not in op->words. */
    list_words(op->words, list, sizeof(list));
    snprintf(err, errlen, "%s %s: expected %s", op->name, vals[0], list);
    return -1;
}

static void set_defaults(rvmi_cli_options *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < NOPTIONS; i++) {
        const option *op = &options[i];
        if (op->def == 0 || op->field == NO_FIELD)
            continue;
        void *field = (char *)o + op->field;
        if (op->type == OPT_INT || op->type == OPT_CHOICE)
            *(int *)field = (int)op->def;
        else if (op->type == OPT_NUMBER || op->type == OPT_TIME)
            *(double *)field = op->def;
    }
}

void rvmi_cli_usage(FILE *f)
{
    fputs("Usage: rvm --input-source PATH --output-composition|--output-alpha|"
          "--output-foreground PATH [options]\n"
          "Robust Video Matting: cut people out of videos.\n\n",
          f);
    for (int i = 0; i < NOPTIONS; i++) {
        const option *op = &options[i];
        char head[64];
        snprintf(head, sizeof(head), "%s%s%s%s%s", op->alias ? op->alias : "",
                 op->alias ? ", " : "", op->name, op->metavar ? " " : "",
                 op->metavar ? op->metavar : "");
        fprintf(f, "  %-30s %s\n", head, op->help);
    }
    fputs("\nExamples:\n  rvm --input-source in.mp4 --output-composition com.mp4 "
          "--output-alpha pha.mp4\n"
          "  rvm --input-source photo.jpg --output-composition cutout.png "
          "--output-alpha matte.png\n"
          "Ctrl-C stops cleanly: outputs hold the frames done (exit code 130).\n"
          "\n  rvm serve [--host ADDR] [--port N] ...   a web page to convert videos "
          "(rvm serve --help)\n"
          "Many files, many machines (each has --help):\n"
          "  rvm batch -i FOLDER --output-dir DIR --output-alpha {name}_pha.mp4 [--jobs N]\n"
          "  rvm plan INPUT --segments N -o PLAN      cut a long input into segments\n"
          "  rvm render --plan PLAN --index I FLAGS   render one (a cluster task per index)\n"
          "  rvm join --plan PLAN FLAGS               join the parts without re-encoding\n"
          "\nExit codes: 0 done; 1 failed (also an output pipe whose reader closed it); 2 bad\n"
          "flags or arguments, an output that cannot be written there, a combination FFmpeg\n"
          "refuses (do not retry); 3 bad input: missing, unreadable or damaged, or not the\n"
          "one a plan was made for (do not retry); 4 join: parts missing or broken (render\n"
          "them, then join again); 75 transient: writing failed (disk full, I/O error), out\n"
          "of memory, or an output being written by another rvm run (retry); 130/143\n"
          "stopped by SIGINT/SIGTERM.\n",
          f);
}

static const option *find_option(const char *arg, size_t len)
{
    for (int k = 0; k < NOPTIONS; k++) {
        const option *op = &options[k];
        if ((strlen(op->name) == len && strncmp(arg, op->name, len) == 0) ||
            (op->alias && strlen(op->alias) == len && strncmp(arg, op->alias, len) == 0))
            return op;
    }
    return NULL;
}

/* FFmpeg's pipe:N is descriptor N; written as a file name it was a file named pipe:3 in
 * the current folder (and the descriptor's file stayed empty). Outputs named pipe:N (digits
 * only) are written as /dev/fd/N (rvmi_cli_output_path), which the outputs take as any
 * descriptor's name (written in place; a file the shell opened to append to keeps its
 * data); pipe: and pipe:1 stay stdout, as "-". Other names after pipe: (pipe:3.mkv) stay
 * file names, as before. */
static int descriptor_number(const char *p)
{
    if (!p || strncmp(p, "pipe:", 5) != 0 || !p[5] || strspn(p + 5, "0123456789") != strlen(p + 5))
        return -1;
    errno = 0;
    long fd = strtol(p + 5, NULL, 10);
    return errno || fd > INT_MAX ? INT_MAX : (int)fd;
}

const char *rvmi_cli_output_path(const char *path, char buf[RVMI_FD_NAME_MAX])
{
    int fd = descriptor_number(path);
    if (fd < 0 || fd == 1)
        return path;
    snprintf(buf, RVMI_FD_NAME_MAX, "/dev/fd/%d", fd);
    return buf;
}

/* A pipe:N output must name an open descriptor; pipe:1 is stdout's name "pipe:1". The
 * options keep the name as given (no buffer of this file's: two option sets, or two
 * conversions in one process, each own theirs). */
static int name_descriptors(rvmi_cli_options *o, char *err, size_t errlen)
{
    const char **outs[3] = {&o->out_com, &o->out_pha, &o->out_fgr};
    static const char *const flags[3] = {"--output-composition", "--output-alpha",
                                         "--output-foreground"};
    for (int i = 0; i < 3; i++) {
        const char *p = *outs[i];
        int fd = descriptor_number(p);
        if (fd < 0)
            continue;
        /* A closed one would be a name to create in /dev/fd, refused in its terms. */
        if (fd == INT_MAX || fcntl(fd, F_GETFD) < 0) {
            snprintf(err, errlen, "%s %s: descriptor %s is not open (open it in the shell, "
                                  "e.g. 3>file)", flags[i], p, p + 5);
            return -1;
        }
        if (fd == 1)
            *outs[i] = "pipe:1";
    }
    return 0;
}

/* What the table cannot say: options that need or exclude each other. */
static int check_combinations(const rvmi_cli_options *o, char *err, size_t errlen)
{
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
    /* A mistyped descriptor would lose the progress silently: it must be open now. */
    if (o->progress_fd >= 0 && fcntl(o->progress_fd, F_GETFD) < 0) {
        snprintf(err, errlen, "--progress-fd %d: not an open file descriptor", o->progress_fd);
        return -1;
    }
    /* x264 and x265 take their bit rate in whole kbit/s (FFmpeg divides by 1000): below 1
     * kbit/s it is 0, which they refuse as "bitrate not specified" once the input is open. */
    if (o->mbps > 0 && o->mbps < RVMI_MIN_MBPS) {
        snprintf(err, errlen, "--output-video-mbps %g: below the smallest bit rate the encoders "
                              "take, %g (1 kbit/s)", o->mbps, RVMI_MIN_MBPS);
        return -1;
    }
    if (o->mbps > 0 && o->crf >= 0) {
        snprintf(err, errlen, "--output-video-mbps and --crf exclude each other");
        return -1;
    }
    /* --crf and --output-video-mbps are not refused: one value serves every output, and an
     * output without them ignores it (PNGs as ffv1 and images do), with a warning when every
     * output does (say_unused_quality in main.c). */
    int codec_given = o->codec != RVM_CODEC_AUTO;
    if (o->png && (codec_given || o->preset)) {
        snprintf(err, errlen, "--codec and --preset apply to video outputs, not png_sequence");
        return -1;
    }
    if (o->preset && codec_given && o->codec != RVM_CODEC_H264 && o->codec != RVM_CODEC_HEVC) {
        snprintf(err, errlen, "--preset applies to --codec h264 and hevc, not %s",
                 rvmi_codec_name(o->codec));
        return -1;
    }
    if (!o->png && o->depth != 8) {
        /* Or to single images in formats that hold 16 bits, when every output is one. */
        const char *outs[3] = {o->out_com, o->out_pha, o->out_fgr};
        for (int i = 0; i < 3; i++) {
            const rvmi_image_format *f = outs[i] ? rvmi_image_format_of(outs[i]) : NULL;
            if (outs[i] && (!f || !f->deep || o->output_format)) {
                snprintf(err, errlen, "--output-depth 16 applies to --output-type png_sequence "
                                      "and to .png, .tif, .ppm, .pgm and .pam images%s%s",
                         f ? ", not ." : "", f ? f->ext : "");
                return -1;
            }
        }
    }
    if (rvmi_track_list_check("--audio-tracks", o->audio_tracks, err, errlen) < 0 ||
        rvmi_track_list_check("--subtitle-tracks", o->subtitle_tracks, err, errlen) < 0)
        return -1;
    if (o->no_audio && o->audio_tracks && strcmp(o->audio_tracks, "none") != 0) {
        snprintf(err, errlen, "--no-audio and --audio-tracks %s exclude each other",
                 o->audio_tracks);
        return -1;
    }
    if (o->no_subtitles && o->subtitle_tracks && strcmp(o->subtitle_tracks, "none") != 0) {
        snprintf(err, errlen, "--no-subtitles and --subtitle-tracks %s exclude each other",
                 o->subtitle_tracks);
        return -1;
    }
    /* The codec of each output is checked once it is known (rvmi_cli_check_outputs). */
    if (codec_given && rvmi_cli_check_crf(o->crf, o->codec, err, errlen) < 0)
        return -1;
    return 0;
}

/* The encoders' own ranges (x264 and x265: 0 to 51, libvpx-vp9: 0 to 63). ffv1, prores and
 * rawvideo have no --crf and ignore it (one --crf serves every output), but not a value no
 * codec takes: --crf 100 was refused as "expected a whole number from 0 to 63", which is
 * not hevc's range and named no codec. */
int rvmi_cli_check_crf(int crf, rvmi_codec codec, char *err, size_t errlen)
{
    int h26x = codec == RVM_CODEC_H264 || codec == RVM_CODEC_HEVC;
    int max = h26x ? 51 : 63;
    if (crf <= max)
        return 0;
    if (h26x)
        snprintf(err, errlen, "--crf %d: %s takes 0 to 51 (vp9 0 to 63)", crf,
                 rvmi_codec_name(codec));
    else if (codec == RVM_CODEC_VP9)
        snprintf(err, errlen, "--crf %d: vp9 takes 0 to 63 (h264 and hevc 0 to 51)", crf);
    else
        snprintf(err, errlen, "--crf %d: no codec takes it: h264 and hevc take 0 to 51, vp9 0 to "
                              "63 (%s has no --crf)", crf,
                 codec == RVM_CODEC_AUTO ? "an image" : rvmi_codec_name(codec));
    return -1;
}

int rvmi_cli_parse(int argc, char **argv, rvmi_cli_options *o, char *err, size_t errlen)
{
    /* The help a message points to: the subcommand's when it parses its conversion's flags
     * here (rvm render -o x said "see rvm --help"). */
    const char *cmd = argv[0] && strncmp(argv[0], "rvm ", 4) == 0 ? argv[0] : "rvm";
    set_defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        const option *op = find_option(arg, eq ? (size_t)(eq - arg) : strlen(arg));
        /* ffmpeg's habit (and rvm plan's -o, the plan file), also written -o=x and --output=x:
         * the outputs are named by what they hold. */
        size_t flag_len = arg[0] == '-' ? strcspn(arg, "=") : 0;
        if (!op && ((flag_len == 2 && strncmp(arg, "-o", 2) == 0) ||
                    (flag_len == 8 && strncmp(arg, "--output", 8) == 0))) {
            snprintf(err, errlen, "unknown option '%.*s': name each output by what it holds, "
                                  "--output-composition, --output-alpha or --output-foreground "
                                  "(see %s --help)", (int)flag_len, arg, cmd);
            return -1;
        }
        if (!op) {
            snprintf(err, errlen, "unknown option '%s' (see %s --help)", arg, cmd);
            return -1;
        }
        int nvals = value_count(op);
        char *vals[2] = {NULL, NULL};
        if (eq) {
            /* --name=value for one-value options. */
            if (nvals != 1) {
                snprintf(err, errlen, "%s does not take '=' (see %s --help)", op->name, cmd);
                return -1;
            }
            vals[0] = (char *)eq + 1;
        } else {
            if (i + nvals >= argc) {
                snprintf(err, errlen, "%s needs %s", op->name, op->metavar);
                return -1;
            }
            for (int k = 0; k < nvals; k++)
                vals[k] = argv[i + 1 + k];
            i += nvals;
        }
        if (set_option(op, vals, o, err, errlen) < 0)
            return -1;
        if (op->field == offsetof(rvmi_cli_options, input_fps))
            o->input_fps_given = 1;
    }
    if (o->help || o->version)
        return 0;
    if (name_descriptors(o, err, errlen) < 0)
        return -1;
    return check_combinations(o, err, errlen);
}

void rvmi_cli_track_choice(const rvmi_cli_options *o, rvmi_track_choice *choice)
{
    choice->audio = o->no_audio ? "none" : o->audio_tracks;
    choice->subtitles = o->no_subtitles ? "none" : o->subtitle_tracks;
}
