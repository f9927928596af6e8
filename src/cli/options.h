/* The command line: the official inference.py flags plus rvm's additions.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_OPTIONS_H
#define RVM_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "io/tracks.h"
#include "io/writer.h"
#include "rvm.h"

typedef struct {
    rvm_variant variant;        /* AUTO unless --variant */
    const char *checkpoint;     /* NULL: the shipped model */
    const char *input;
    int resize_w, resize_h;     /* 0: keep */
    double ratio;               /* <= 0: the official auto rule */
    int png;                    /* --output-type png_sequence */
    const char *out_com, *out_pha, *out_fgr;
    double mbps;                /* <= 0: not given; else >= RVMI_MIN_MBPS */
    int seq_chunk, num_workers; /* accepted for compatibility; see --help */
    int no_progress;
    int progress_fd;            /* -1: none; else JSON progress lines go there */
    int threads;                /* 0: all cores */
    rvm_precision precision;    /* --precision; FP32 unless given */
    const char *background;     /* NULL: not given (the official green) */
    rvmi_codec codec;           /* AUTO unless --codec */
    const char *output_format;  /* --output-format as given, NULL: from the names */
    int crf;                    /* -1: not given */
    const char *preset;         /* NULL: RVM_DEFAULT_PRESET */
    int depth;                  /* 8 or 16 */
    double input_fps;           /* for image folders */
    int input_fps_given;        /* --input-fps was given (said of a video, which keeps its own) */
    double start, duration;     /* seconds; duration < 0: to the end */
    /* --audio-tracks, --subtitle-tracks as given (NULL: all), checked for syntax only */
    const char *audio_tracks, *subtitle_tracks;
    int no_audio, no_subtitles, overwrite, help, version, verbose;
    int complete_only;          /* a stop removes the outputs instead of keeping the frames
                                   done (rvm batch's conversions) */
} rvmi_cli_options;

/* The smallest --output-video-mbps: 1 kbit/s, x264's and x265's unit. */
#define RVMI_MIN_MBPS 0.001

/* The audio and subtitle tracks the options keep (--no-audio meaning --audio-tracks none). */
void rvmi_cli_track_choice(const rvmi_cli_options *o, rvmi_track_choice *choice);

/* --crf within the codec's range (x264 and x265: 0 to 51, libvpx: 0 to 63; x264 clamped 60
 * to 51 unsaid). Returns 0, or -1 with a one-line message in err (a usage error). */
int rvmi_cli_check_crf(int crf, rvmi_codec codec, char *err, size_t errlen);

/* argv[0] names the command whose --help the messages point to when it is a subcommand's
 * ("rvm render", "rvm join", "rvm batch"); anything else (the program's path) is rvm.
 * Returns 0, or -1 with a one-line message in err (a usage error). */
int rvmi_cli_parse(int argc, char **argv, rvmi_cli_options *o, char *err, size_t errlen);
void rvmi_cli_usage(FILE *f);

/* The path an output option names: pipe:N (N digits, not 1: descriptor N, as FFmpeg names
 * it) is /dev/fd/N, written into buf, which the caller owns (one per output); any other
 * name is returned as it is. */
#define RVMI_FD_NAME_MAX 32
const char *rvmi_cli_output_path(const char *path, char buf[RVMI_FD_NAME_MAX]);

#endif
