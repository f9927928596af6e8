/* The input's tracks that video outputs carry beside the picture: its audio and subtitle
 * tracks, all of them unless --audio-tracks / --subtitle-tracks (or --no-audio,
 * --no-subtitles) pick some.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_IO_TRACKS_H
#define RVM_IO_TRACKS_H

#include <stddef.h>

#include <libavformat/avformat.h>

typedef struct {
    int stream;                   /* index among the input's streams */
    enum AVMediaType type;        /* AVMEDIA_TYPE_AUDIO or AVMEDIA_TYPE_SUBTITLE */
    int number;                   /* among the input's tracks of its type, from 0: what
                                     --audio-tracks names (ffmpeg's -map 0:a:N / 0:s:N) */
    const AVCodecParameters *par;
    AVRational time_base;
    const AVDictionary *metadata; /* language, title, ... as the input has them */
    int disposition;              /* AV_DISPOSITION_*: the input's, except that the first
                                     audio track kept becomes the default when none of
                                     those kept was */
} rvmi_track;

/* What to keep of each type: NULL or "all" every track, "none" nothing, or a comma-separated
 * list of track numbers (from 0, counted among the tracks of that type) and languages (as
 * the input tags them, e.g. eng), in the order the outputs get them. */
typedef struct {
    const char *audio, *subtitles;
} rvmi_track_choice;

/* Whether the choice keeps no track at all. */
int rvmi_track_choice_none(const rvmi_track_choice *choice);

/* The syntax of a list, before any input is open. Returns 0, or -1 with a message. */
int rvmi_track_list_check(const char *flag, const char *list, char *err, size_t errlen);

/* The tracks of fmt the choice keeps, into *tracks (malloc'ed; free() it; NULL when none).
 * Returns their count, or -1 with a message when the choice names what the input does not
 * have (a track number beyond its tracks, a language none of them has). */
int rvmi_tracks_select(const AVFormatContext *fmt, const rvmi_track_choice *choice,
                       rvmi_track **tracks, char *err, size_t errlen);

/* The input's video stream, as FFmpeg's tools pick it: cover art (attached pictures) never
 * is; of the others a stream marked default comes first (av_find_best_stream's first rule,
 * what ffplay shows), then the largest picture (ffmpeg's rule), then the first. Returns its index, or -1 when there is none; *candidates (when
 * not NULL) is how many there were to choose from. Everything that reads "the video" of an
 * input (the reader, rvm plan, rvm join's tracks) takes this one. */
int rvmi_video_stream(const AVFormatContext *fmt, int *candidates);

/* "input has 2 video streams; using stream #1 (1920x1080, the largest)": the note the command
 * prints when there was a choice (candidates > 1), with the rule that made it (the default,
 * the largest, the largest of the N default ones, the first of the largest). */
void rvmi_video_stream_describe(const AVFormatContext *fmt, int stream, int candidates,
                                char *out, size_t outlen);

/* "audio track 1 (aac, fra, "Version française")", for messages. */
void rvmi_track_describe(const rvmi_track *t, char *out, size_t outlen);

#endif
