/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "io/tracks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *type_name(enum AVMediaType type)
{
    return type == AVMEDIA_TYPE_AUDIO ? "audio" : "subtitle";
}

static const char *type_flag(enum AVMediaType type)
{
    return type == AVMEDIA_TYPE_AUDIO ? "--audio-tracks" : "--subtitle-tracks";
}

/* Whether the whole list is one of the words that are not lists. */
static int is_word(const char *list, const char *word)
{
    return list && strcmp(list, word) == 0;
}

/* One item of a list: a track number (digits) or a language (letters, as tags spell them:
 * eng, fra, pt-BR). Returns 1 for a number (*number set), 2 for a language, 0 otherwise. */
static int parse_item(const char *item, size_t len, int *number)
{
    if (len == 0 || len > 16)
        return 0;
    int digits = 1, letters = isalpha((unsigned char)item[0]) != 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)item[i];
        digits &= isdigit(c) != 0;
        letters &= isalpha(c) || c == '-' || c == '_';
    }
    if (digits) {
        if (len > 4)
            return 0;
        *number = atoi(item); /* at most 9999: no overflow */
        return 1;
    }
    return letters ? 2 : 0;
}

int rvmi_track_choice_none(const rvmi_track_choice *choice)
{
    return is_word(choice->audio, "none") && is_word(choice->subtitles, "none");
}

int rvmi_track_list_check(const char *flag, const char *list, char *err, size_t errlen)
{
    if (!list || is_word(list, "all") || is_word(list, "none"))
        return 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int number;
        if (!parse_item(p, len, &number)) {
            snprintf(err, errlen,
                     "%s %s: expected all, none, or track numbers from 0 and languages "
                     "separated by commas (e.g. 0,2 or eng,fra)",
                     flag, list);
            return -1;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static const char *language_of(const AVStream *st)
{
    const AVDictionaryEntry *e = av_dict_get(st->metadata, "language", NULL, 0);
    return e && e->value[0] ? e->value : NULL;
}

/* "0 eng "English mix", 1 fra" (or "none"): what the input has, for messages. */
static void list_tracks(const AVFormatContext *fmt, const int *streams, int n, char *out,
                        size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < outlen; i++) {
        const AVStream *st = fmt->streams[streams[i]];
        const char *lang = language_of(st);
        const AVDictionaryEntry *title = av_dict_get(st->metadata, "title", NULL, 0);
        int k = snprintf(out + used, outlen - used, "%s%d%s%s%s%s%s", i ? ", " : "", i,
                         lang ? " " : "", lang ? lang : "", title ? " \"" : "",
                         title ? title->value : "", title ? "\"" : "");
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (n == 0)
        snprintf(out, outlen, "none");
}

static int already(const rvmi_track *tracks, int n, int stream)
{
    for (int i = 0; i < n; i++)
        if (tracks[i].stream == stream)
            return 1;
    return 0;
}

static void add_track(const AVFormatContext *fmt, rvmi_track *tracks, int *n, int stream,
                      int number)
{
    const AVStream *st = fmt->streams[stream];
    rvmi_track *t = &tracks[(*n)++];
    t->stream = stream;
    t->type = st->codecpar->codec_type;
    t->number = number;
    t->par = st->codecpar;
    t->time_base = st->time_base;
    t->metadata = st->metadata;
    t->disposition = st->disposition;
}

/* Appends the tracks of one type that list keeps. Returns 0 or -1 with a message. */
static int select_type(const AVFormatContext *fmt, enum AVMediaType type, const char *list,
                       rvmi_track *tracks, int *n, char *err, size_t errlen)
{
    int *streams = malloc((fmt->nb_streams + 1) * sizeof(int));
    int count = 0, ret = 0;
    if (!streams) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if (fmt->streams[i]->codecpar->codec_type == type)
            streams[count++] = (int)i;
    if (!list || is_word(list, "all")) {
        /* A track whose codec FFmpeg does not know cannot be written anywhere. */
        for (int i = 0; i < count; i++)
            if (fmt->streams[streams[i]]->codecpar->codec_id != AV_CODEC_ID_NONE)
                add_track(fmt, tracks, n, streams[i], i);
        goto done;
    }
    if (is_word(list, "none"))
        goto done;
    char have[512];
    for (const char *p = list;; ) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int number = -1, kind = parse_item(p, len, &number);
        if (kind == 1) {
            if (number >= count) {
                list_tracks(fmt, streams, count, have, sizeof have);
                snprintf(err, errlen, "%s %.*s: the input has %d %s track%s (%s)",
                         type_flag(type), (int)len, p, count, type_name(type),
                         count == 1 ? "" : "s", have);
                ret = -1;
                goto done;
            }
            if (fmt->streams[streams[number]]->codecpar->codec_id == AV_CODEC_ID_NONE) {
                snprintf(err, errlen, "%s %d: that %s track's codec is unknown to FFmpeg",
                         type_flag(type), number, type_name(type));
                ret = -1;
                goto done;
            }
            if (!already(tracks, *n, streams[number]))
                add_track(fmt, tracks, n, streams[number], number);
        } else if (kind == 2) {
            int found = 0;
            for (int i = 0; i < count; i++) {
                const AVStream *st = fmt->streams[streams[i]];
                const char *lang = language_of(st);
                if (lang && strlen(lang) == len && strncasecmp(lang, p, len) == 0 &&
                    st->codecpar->codec_id != AV_CODEC_ID_NONE) {
                    found = 1;
                    if (!already(tracks, *n, streams[i]))
                        add_track(fmt, tracks, n, streams[i], i);
                }
            }
            if (!found) {
                list_tracks(fmt, streams, count, have, sizeof have);
                snprintf(err, errlen, "%s %.*s: no %s track of the input is in that language "
                                      "(its %s tracks: %s)",
                         type_flag(type), (int)len, p, type_name(type), type_name(type), have);
                ret = -1;
                goto done;
            }
        } else {
            snprintf(err, errlen, "%s %s: expected all, none, or track numbers and languages",
                     type_flag(type), list);
            ret = -1;
            goto done;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
done:
    free(streams);
    return ret;
}

int rvmi_tracks_select(const AVFormatContext *fmt, const rvmi_track_choice *choice,
                       rvmi_track **tracks, char *err, size_t errlen)
{
    *tracks = NULL;
    if (fmt->nb_streams == 0)
        return 0;
    rvmi_track *t = calloc(fmt->nb_streams, sizeof(*t));
    int n = 0;
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (select_type(fmt, AVMEDIA_TYPE_AUDIO, choice->audio, t, &n, err, errlen) < 0 ||
        select_type(fmt, AVMEDIA_TYPE_SUBTITLE, choice->subtitles, t, &n, err, errlen) < 0) {
        free(t);
        return -1;
    }
    /* Players start the default audio track: with none of the input's default tracks kept
     * (say --audio-tracks 1 on a file whose track 0 is the default) the first one kept
     * becomes it. Subtitles keep their own flags: a default subtitle is
     * shown without being asked for. */
    int first_audio = -1, default_audio = 0;
    for (int i = 0; i < n; i++)
        if (t[i].type == AVMEDIA_TYPE_AUDIO) {
            if (first_audio < 0)
                first_audio = i;
            default_audio |= (t[i].disposition & AV_DISPOSITION_DEFAULT) != 0;
        }
    if (first_audio >= 0 && !default_audio)
        t[first_audio].disposition |= AV_DISPOSITION_DEFAULT;
    if (n == 0) {
        free(t);
        t = NULL;
    }
    *tracks = t;
    return n;
}

void rvmi_track_describe(const rvmi_track *t, char *out, size_t outlen)
{
    const AVDictionaryEntry *lang = av_dict_get(t->metadata, "language", NULL, 0);
    const AVDictionaryEntry *title = av_dict_get(t->metadata, "title", NULL, 0);
    snprintf(out, outlen, "%s track %d (%s%s%s%s%s%s)", type_name(t->type), t->number,
             avcodec_get_name(t->par->codec_id), lang ? ", " : "", lang ? lang->value : "",
             title ? ", \"" : "", title ? title->value : "", title ? "\"" : "");
}

/* A stream rvmi_video_stream may take: a video, not cover art. */
static int video_candidate(const AVStream *st)
{
    return st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
           !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
}

static int is_default(const AVStream *st)
{
    return (st->disposition & AV_DISPOSITION_DEFAULT) != 0;
}

static int64_t picture_area(const AVStream *st)
{
    return (int64_t)st->codecpar->width * st->codecpar->height;
}

int rvmi_video_stream(const AVFormatContext *fmt, int *candidates)
{
    int best = -1, n = 0;
    int64_t best_score = -1;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (!video_candidate(st))
            continue;
        n++;
        /* The default flag outranks any size (ffmpeg's own score only adds 5,000,000 to
         * the area for it): a file's author marks the stream meant to be seen. */
        int64_t score = picture_area(st) + (is_default(st) ? INT64_C(1) << 40 : 0);
        if (score > best_score) {
            best_score = score;
            best = (int)i;
        }
    }
    if (candidates)
        *candidates = n;
    return best;
}

void rvmi_video_stream_describe(const AVFormatContext *fmt, int stream, int candidates,
                                char *out, size_t outlen)
{
    /* The reason is rvmi_video_stream's rule as it went: among the streams it weighed (the
     * default ones when there are any) the only one, else the largest picture, else the
     * first of the largest. It said "the default" when several were. */
    const AVStream *chosen = fmt->streams[stream];
    int chosen_default = is_default(chosen);
    int weighed = 0, as_large = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (!video_candidate(st) || is_default(st) != chosen_default)
            continue;
        weighed++;
        as_large += picture_area(st) == picture_area(chosen);
    }
    char why[64];
    if (chosen_default && weighed == 1)
        snprintf(why, sizeof why, ", the default");
    else if (as_large > 1)
        snprintf(why, sizeof why, ", the first of the largest%s",
                 chosen_default ? " default ones" : "");
    else if (chosen_default)
        snprintf(why, sizeof why, ", the largest of the %d default ones", weighed);
    else
        snprintf(why, sizeof why, ", the largest");
    snprintf(out, outlen, "input has %d video streams; using stream #%d (%dx%d%s)", candidates,
             stream, chosen->codecpar->width, chosen->codecpar->height, why);
}
