/* Segment rendering: `rvm plan` cuts an input into ranges of frames, `rvm render` renders
 * one range (after warming the recurrent state up on the frames before it) into part files,
 * `rvm join` checks the parts and joins them without re-encoding into the outputs a whole
 * run would write. The scheduling, retries and placement are the cluster's (scripts/slurm,
 * scripts/kubernetes).
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

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/hash.h>
#include <libavutil/log.h>
#include <libavutil/random_seed.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/segments.h"
#include "io/outfile.h"
#include "io/protect.h"
#include "io/reader.h"
#include "io/writer.h"

#define MIB (1024 * 1024)

/* ---- small helpers ---- */

char *rvmi_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* One static buffer: the command hashes on its main thread only. */
int rvmi_sha256_add_fd(struct AVHashContext *ctx, int fd, off_t off, int64_t len)
{
    static uint8_t buf[1 << 16];
    if (lseek(fd, off, SEEK_SET) < 0)
        return -1;
    while (len != 0) {
        size_t want = len < 0 || len > (int64_t)sizeof buf ? sizeof buf : (size_t)len;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        av_hash_update(ctx, buf, (size_t)n);
        if (len > 0)
            len -= n;
    }
    return 0;
}

struct AVHashContext *rvmi_sha256_new(void)
{
    struct AVHashContext *ctx = NULL;
    if (av_hash_alloc(&ctx, "SHA256") < 0)
        return NULL;
    av_hash_init(ctx);
    return ctx;
}

void rvmi_sha256_end(struct AVHashContext *ctx, char hex[65])
{
    av_hash_final_hex(ctx, (uint8_t *)hex, 65);
    av_hash_freep(&ctx);
}

int rvmi_sha256_file(const char *path, off_t off, int64_t len, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct AVHashContext *ctx = rvmi_sha256_new();
    if (!ctx) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    int ret = rvmi_sha256_add_fd(ctx, fd, off, len);
    int saved = errno;
    close(fd);
    rvmi_sha256_end(ctx, hex);
    errno = saved;
    return ret;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rvmi_name_list_free(rvmi_name_list *l)
{
    for (int i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->count = 0;
}

int rvmi_list_names(const char *dir, int (*keep)(const char *),
                    int (*cmp)(const void *, const void *), rvmi_name_list *out)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (keep && !keep(e->d_name))
            continue;
        if (out->count == cap) {
            cap = cap ? 2 * cap : 64;
            char **n = realloc(out->names, (size_t)cap * sizeof(*n));
            if (!n)
                goto oom;
            out->names = n;
        }
        if (!(out->names[out->count] = strdup(e->d_name)))
            goto oom;
        out->count++;
    }
    closedir(d);
    qsort(out->names, (size_t)out->count, sizeof(*out->names), cmp ? cmp : cmp_str);
    return 0;
oom:
    closedir(d);
    rvmi_name_list_free(out);
    errno = ENOMEM;
    return -1;
}

/* ---- the plan ---- */

void rvmi_plan_free(rvmi_plan *p)
{
    if (!p)
        return;
    free(p->input);
    free(p->pts);
    free(p->key_pts);
    free(p->key_pos);
    free(p->segments);
    free(p);
}

/* Identity of the input as it is now: size, modification time, and the hashes of its first
 * and last MiB (an image folder: of its first and last image, and a hash of every image's
 * name, size and time in place of the size). */
static int input_identity(const char *path, rvmi_plan *p, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        rvmi_name_list l;
        if (rvmi_list_names(path, rvmi_is_image_name, NULL, &l) < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        if (l.count == 0) {
            rvmi_name_list_free(&l);
            snprintf(err, errlen, "no images in folder %s", path);
            return -1;
        }
        struct AVHashContext *ctx = rvmi_sha256_new();
        int64_t newest = 0, total = 0;
        for (int i = 0; ctx && i < l.count; i++) {
            char *f = rvmi_xasprintf("%s/%s", path, l.names[i]);
            struct stat fs;
            if (!f || stat(f, &fs) < 0) {
                free(f);
                continue;
            }
            free(f);
            char line[PATH_MAX + 64];
            int n = snprintf(line, sizeof line, "%s %lld %lld.%09ld\n", l.names[i],
                             (long long)fs.st_size, (long long)fs.st_mtim.tv_sec,
                             fs.st_mtim.tv_nsec);
            av_hash_update(ctx, (const uint8_t *)line, (size_t)n);
            int64_t t = (int64_t)fs.st_mtim.tv_sec * 1000000000 + fs.st_mtim.tv_nsec;
            newest = t > newest ? t : newest;
            total += fs.st_size;
        }
        if (!ctx) {
            rvmi_name_list_free(&l);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        char listing[65];
        rvmi_sha256_end(ctx, listing);
        char *first = rvmi_xasprintf("%s/%s", path, l.names[0]);
        char *last = rvmi_xasprintf("%s/%s", path, l.names[l.count - 1]);
        int ok = first && last && rvmi_sha256_file(first, 0, MIB, p->head) == 0;
        struct stat ls;
        ok = ok && stat(last, &ls) == 0 &&
             rvmi_sha256_file(last, ls.st_size > MIB ? ls.st_size - MIB : 0, -1, p->tail) == 0;
        free(first);
        free(last);
        p->images = 1;
        p->frames = l.count;
        rvmi_name_list_free(&l);
        if (!ok) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        p->size = total;
        p->mtime_ns = newest;
        memcpy(p->listing, listing, sizeof listing);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file or folder (a pipe or device cannot be "
                              "cut into segments)", path);
        return -1;
    }
    p->size = st.st_size;
    p->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (rvmi_sha256_file(path, 0, MIB, p->head) < 0 ||
        rvmi_sha256_file(path, st.st_size > MIB ? st.st_size - MIB : 0, -1, p->tail) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int rvmi_plan_check_input(const rvmi_plan *p, char *err, size_t errlen)
{
    rvmi_plan now;
    memset(&now, 0, sizeof now);
    if (input_identity(p->input, &now, err, errlen) < 0)
        return -1;
    const char *what = now.size != p->size         ? "size"
                       : now.mtime_ns != p->mtime_ns ? "modification time"
                       : strcmp(now.head, p->head) || strcmp(now.tail, p->tail)
                           ? "content"
                       : p->images && (now.frames != p->frames || strcmp(now.listing, p->listing))
                           ? "images"
                           : NULL;
    if (what) {
        snprintf(err, errlen, "%s is not the input this plan was made for (its %s changed); "
                              "make a new plan", p->input, what);
        return -1;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The timestamp of the first frame the decoder gives for stream vidx of path (a whole run's
 * first frame), AV_NOPTS_VALUE when none comes within the first 1000 packets. */
static int64_t first_decoded_pts(const char *path, int vidx)
{
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    int64_t first = AV_NOPTS_VALUE;
    if (!pkt || !frame || avformat_open_input(&fmt, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(fmt, NULL) < 0 || vidx >= (int)fmt->nb_streams)
        goto done;
    const AVCodec *codec = avcodec_find_decoder(fmt->streams[vidx]->codecpar->codec_id);
    if (!codec || !(dec = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(dec, fmt->streams[vidx]->codecpar) < 0)
        goto done;
    dec->thread_count = 1;
    dec->pkt_timebase = fmt->streams[vidx]->time_base;
    if (avcodec_open2(dec, codec, NULL) < 0)
        goto done;
    for (int n = 0; n < 1000 && first == AV_NOPTS_VALUE;) {
        int eof = av_read_frame(fmt, pkt) < 0;
        if (!eof && pkt->stream_index != vidx) {
            av_packet_unref(pkt);
            continue;
        }
        n++;
        avcodec_send_packet(dec, eof ? NULL : pkt);
        av_packet_unref(pkt);
        if (avcodec_receive_frame(dec, frame) == 0)
            first = frame->best_effort_timestamp;
        if (eof)
            break;
    }
done:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return first;
}

/* The video's frames by demuxing alone (no decoding): their timestamps, sorted. The stream
 * is the one the reader takes (rvmi_video_stream). */
static int scan_video(rvmi_plan *p, char *err, size_t errlen)
{
    AVFormatContext *fmt = NULL;
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int ret = avformat_open_input(&fmt, p->input, NULL, NULL);
    if (ret < 0) {
        av_strerror(ret, eb, sizeof eb);
        snprintf(err, errlen, "%s: %s", p->input, eb);
        return -1;
    }
    int status = -1;
    int64_t *last_us = NULL; /* per stream, for clocks that may jump */
    AVPacket *pkt = av_packet_alloc();
    if (!pkt) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (avformat_find_stream_info(fmt, NULL) < 0) {
        snprintf(err, errlen, "%s: cannot read stream information", p->input);
        goto done;
    }
    if (!fmt->pb || !(fmt->pb->seekable & AVIO_SEEKABLE_NORMAL) ||
        (fmt->iformat->flags & AVFMT_NOTIMESTAMPS)) {
        snprintf(err, errlen, "%s: cannot seek in a %s input; it cannot be cut into segments",
                 p->input, fmt->iformat->name);
        goto done;
    }
    int candidates = 0;
    int vidx = rvmi_video_stream(fmt, &candidates);
    if (vidx < 0) {
        snprintf(err, errlen, "%s: no video stream", p->input);
        goto done;
    }
    if (candidates > 1) {
        char line[200];
        rvmi_video_stream_describe(fmt, vidx, candidates, line, sizeof line);
        fprintf(stderr, "rvm: %s\n", line);
    }
    /* A format whose clocks may jump (MPEG-TS: splices, concatenations): a whole run closes
     * each jump as it reads (src/io/reader.c), which a segment starting after it cannot
     * know, so such an input is planned only when neither its video nor its audio tracks
     * (which rvm join copies) jump; subtitles are not looked at, their cues may be minutes
     * apart. Its seeks by time land on any packet, not on a keyframe, so each segment seeks
     * to the byte where a keyframe starts, found here. */
    if (fmt->iformat->flags & AVFMT_TS_DISCONT) {
        p->by_bytes = 1;
        if (!(last_us = malloc(fmt->nb_streams * sizeof(*last_us)))) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        for (unsigned i = 0; i < fmt->nb_streams; i++)
            last_us[i] = AV_NOPTS_VALUE;
    }
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        enum AVMediaType type = fmt->streams[i]->codecpar->codec_type;
        if ((int)i != vidx && !(p->by_bytes && type == AVMEDIA_TYPE_AUDIO))
            fmt->streams[i]->discard = AVDISCARD_ALL;
    }
    p->time_base = fmt->streams[vidx]->time_base;
    int64_t cap = 1024, key_cap = 0;
    p->pts = malloc((size_t)cap * sizeof(*p->pts));
    while (p->pts && (ret = av_read_frame(fmt, pkt)) >= 0) {
        if (p->by_bytes && pkt->stream_index >= 0 &&
            (unsigned)pkt->stream_index < fmt->nb_streams) {
            int video = pkt->stream_index == vidx;
            AVRational tb = fmt->streams[pkt->stream_index]->time_base;
            int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
            int64_t us = ts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE
                                              : av_rescale_q(ts, tb, AV_TIME_BASE_Q);
            /* The reader closes a step of more than 10 s either way, or back by more than
             * 0.1 s; any such step is refused here (a frame's duration apart, the same). */
            int64_t prev = last_us[pkt->stream_index];
            if (us != AV_NOPTS_VALUE && prev != AV_NOPTS_VALUE &&
                (us - prev > 10 * (int64_t)AV_TIME_BASE || prev - us > AV_TIME_BASE / 10)) {
                av_packet_unref(pkt);
                snprintf(err, errlen, "%s: the %s clock of this %s input jumps by %.3f s after "
                                      "video frame %" PRId64 ": a whole run closes such jumps "
                                      "as it reads, which a segment that starts after one "
                                      "cannot know; remux it first (ffmpeg -i IN -c copy "
                                      "OUT.mkv closes them too) to cut it into segments",
                         p->input,
                         av_get_media_type_string(
                             fmt->streams[pkt->stream_index]->codecpar->codec_type),
                         fmt->iformat->name,
                         (us - prev) / (double)AV_TIME_BASE, p->frames);
                goto done;
            }
            if (us != AV_NOPTS_VALUE)
                last_us[pkt->stream_index] = us;
            if (video && (pkt->flags & AV_PKT_FLAG_KEY) && pkt->pos >= 0 &&
                pkt->pts != AV_NOPTS_VALUE) {
                if (p->nkeys == key_cap) {
                    key_cap = key_cap ? 2 * key_cap : 64;
                    int64_t *kp = realloc(p->key_pts, (size_t)key_cap * sizeof(*kp));
                    if (kp)
                        p->key_pts = kp;
                    int64_t *ko = kp ? realloc(p->key_pos, (size_t)key_cap * sizeof(*ko)) : NULL;
                    if (ko)
                        p->key_pos = ko;
                    if (!kp || !ko) {
                        av_packet_unref(pkt);
                        snprintf(err, errlen, "out of memory");
                        goto done;
                    }
                }
                p->key_pts[p->nkeys] = pkt->pts;
                p->key_pos[p->nkeys++] = pkt->pos;
            }
        }
        if (pkt->stream_index == vidx) {
            int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            if (t == AV_NOPTS_VALUE) {
                av_packet_unref(pkt);
                snprintf(err, errlen, "%s: frames without timestamps; it cannot be cut into "
                                      "segments", p->input);
                goto done;
            }
            if (p->frames == cap) {
                cap *= 2;
                int64_t *n = realloc(p->pts, (size_t)cap * sizeof(*n));
                if (!n) {
                    av_packet_unref(pkt);
                    break;
                }
                p->pts = n;
            }
            p->pts[p->frames++] = t;
        }
        av_packet_unref(pkt);
    }
    if (!p->pts || (ret < 0 && ret != AVERROR_EOF && p->frames == 0)) {
        snprintf(err, errlen, p->pts ? "%s: cannot read it" : "out of memory", p->input);
        goto done;
    }
    if (p->frames == 0) {
        snprintf(err, errlen, "%s: no video frames", p->input);
        goto done;
    }
    qsort(p->pts, (size_t)p->frames, sizeof(*p->pts), cmp_i64);
    /* A transport stream cut anywhere (recorded or cut mid-GOP) starts with packets no
     * decoder can show (they need pictures before the cut, or the cut keyframe is partial):
     * a whole run starts at the first frame decoded, and so does the plan (counting them
     * made every segment's frames differ from the plan's). */
    if (p->by_bytes) {
        int64_t first = first_decoded_pts(p->input, vidx), k = 0;
        while (first != AV_NOPTS_VALUE && k < p->frames && p->pts[k] < first)
            k++;
        if (k > 0 && k < p->frames) {
            memmove(p->pts, p->pts + k, (size_t)(p->frames - k) * sizeof(*p->pts));
            p->frames -= k;
        }
    }
    for (int64_t i = 1; i < p->frames; i++)
        if (p->pts[i] == p->pts[i - 1]) {
            snprintf(err, errlen, "%s: two frames have the timestamp %" PRId64 "; it cannot "
                                  "be cut into segments by time", p->input, p->pts[i]);
            goto done;
        }
    status = 0;
done:
    free(last_us);
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return status;
}

/* The frame index at or after t seconds from the first frame. */
static int64_t frame_at_seconds(const rvmi_plan *p, double t)
{
    if (p->images)
        return (int64_t)ceil(t * p->image_fps - 1e-9);
    int64_t target = p->pts[0] + (int64_t)llround(t / av_q2d(p->time_base));
    int64_t lo = 0, hi = p->frames;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (p->pts[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int make_segments(rvmi_plan *p, int count, double seconds, char *err, size_t errlen)
{
    int64_t *starts = malloc((size_t)(p->frames + 1) * sizeof(*starts));
    if (!starts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = 0;
    if (seconds > 0) {
        for (int64_t k = 0;; k++) {
            int64_t s = frame_at_seconds(p, (double)k * seconds);
            if (s >= p->frames)
                break;
            if (n == 0 || s > starts[n - 1])
                starts[n++] = s;
        }
    } else {
        if (count > p->frames) {
            free(starts);
            snprintf(err, errlen, "--segments %d: the input has only %" PRId64 " frame%s", count,
                     p->frames, rvmi_s(p->frames));
            return -1;
        }
        for (int i = 0; i < count; i++)
            starts[n++] = (int64_t)((__int128)p->frames * i / count);
    }
    p->segments = calloc((size_t)n, sizeof(*p->segments));
    if (!p->segments) {
        free(starts);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->nsegments = n;
    for (int i = 0; i < n; i++) {
        rvmi_plan_segment *s = &p->segments[i];
        s->begin = starts[i];
        s->end = i + 1 < n ? starts[i + 1] : p->frames;
        s->from = s->begin > p->warmup ? s->begin - p->warmup : 0;
        s->seek_byte = -1;
        if (p->by_bytes) {
            /* The last keyframe (in decode order) shown at or before the warm-up start:
             * decoding from it gives every frame from there on (none, when the input has no
             * keyframe before it: decoding then starts at the beginning). From the first
             * frame, the beginning, as a whole run reads it: a seek by time lands on any
             * packet, and one to a stream's first keyframe, cut by a cut, drops it. */
            s->seek_byte = 0;
            for (int64_t k = 0; k < p->nkeys && s->from > 0; k++)
                if (p->key_pts[k] <= p->pts[s->from])
                    s->seek_byte = p->key_pos[k];
        }
    }
    free(starts);
    return 0;
}

int rvmi_write_text(const char *path, const char *text, char *err, size_t errlen)
{
    char *dir = strdup(path), *base = strdup(path), hex[18];
    hex[0] = '.';
    rvmi_random_hex(hex + 1);
    /* .NAME.<hex>, NAME cut short as the output's hidden names when a name near the
     * folder's limit (255 bytes) would pass it with the 18 bytes more. */
    const char *d = dir ? dirname(dir) : NULL;
    char *name = d && base ? rvmi_outfile_sibling(d, ".", basename(base), hex) : NULL;
    char *tmp = name ? rvmi_xasprintf("%s/%s", d, name) : NULL;
    free(name);
    free(dir);
    free(base);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !f)
        close(fd);
    int ok = f && fputs(text, f) >= 0 && (n && text[n - 1] == '\n' ? 1 : fputc('\n', f) != EOF);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && rename(tmp, path) < 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        if (fd >= 0)
            unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
    }
    free(tmp);
    return ok ? 0 : -1;
}

static int write_text_file(const char *path, const char *text, int overwrite, char *err,
                           size_t errlen)
{
    struct stat st;
    if (!overwrite && stat(path, &st) == 0) {
        snprintf(err, errlen, "%s exists (use -y to overwrite)", path);
        return -1;
    }
    return rvmi_write_text(path, text, err, errlen);
}

/* The largest plan file read (4 GiB less 2 bytes: far more than any plan's JSON). */
#define PLAN_MAX_BYTES ((size_t)UINT32_MAX - 1)

char *rvmi_read_text(const char *path, size_t max, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap || n > max)
            break;
        char *b = realloc(buf, cap *= 2);
        if (!b)
            free(buf);
        buf = b;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > max) {
        free(buf);
        if (buf && !bad)
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        else
            snprintf(err, errlen, "%s: cannot read it", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static char *plan_to_json(const rvmi_plan *p)
{
    cJSON *root = cJSON_CreateObject(), *in = cJSON_CreateObject(), *segs = cJSON_CreateArray();
    cJSON_AddNumberToObject(root, "rvm_plan", 1);
    cJSON_AddStringToObject(root, "id", p->id);
    cJSON_AddItemToObject(root, "input", in);
    cJSON_AddStringToObject(in, "path", p->input);
    cJSON_AddStringToObject(in, "kind", p->images ? "images" : "video");
    /* Sizes and times as strings: JSON numbers are doubles. */
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, p->size);
    cJSON_AddStringToObject(in, "size", num);
    snprintf(num, sizeof num, "%" PRId64, p->mtime_ns);
    cJSON_AddStringToObject(in, "mtime_ns", num);
    cJSON_AddStringToObject(in, "sha256_first_mib", p->head);
    cJSON_AddStringToObject(in, "sha256_last_mib", p->tail);
    if (p->images)
        cJSON_AddStringToObject(in, "sha256_listing", p->listing);
    cJSON_AddNumberToObject(root, "frames", (double)p->frames);
    if (p->images) {
        cJSON_AddNumberToObject(root, "image_fps", p->image_fps);
    } else {
        cJSON *tb = cJSON_CreateArray();
        cJSON_AddItemToArray(tb, cJSON_CreateNumber(p->time_base.num));
        cJSON_AddItemToArray(tb, cJSON_CreateNumber(p->time_base.den));
        cJSON_AddItemToObject(root, "time_base", tb);
        cJSON *pts = cJSON_CreateArray();
        for (int64_t i = 0; i < p->frames; i++)
            cJSON_AddItemToArray(pts, cJSON_CreateNumber((double)p->pts[i]));
        cJSON_AddItemToObject(root, "pts", pts);
    }
    cJSON_AddNumberToObject(root, "warmup", p->warmup);
    cJSON_AddItemToObject(root, "segments", segs);
    for (int i = 0; i < p->nsegments; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "index", i);
        cJSON_AddNumberToObject(s, "warmup_start", (double)p->segments[i].from);
        cJSON_AddNumberToObject(s, "start", (double)p->segments[i].begin);
        cJSON_AddNumberToObject(s, "end", (double)p->segments[i].end);
        if (p->segments[i].seek_byte >= 0)
            cJSON_AddNumberToObject(s, "seek_byte", (double)p->segments[i].seek_byte);
        cJSON_AddItemToArray(segs, s);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* A whole number held exactly by a JSON number (|v| < 2^53), in [lo, hi]. */
static int json_int(const cJSON *obj, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) < 9007199254740992.0) ||
        v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static const char *json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int copy_hex(const char *s, char out[65])
{
    if (!s || strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)
        return -1;
    memcpy(out, s, 65);
    return 0;
}

rvmi_plan *rvmi_plan_load(const char *path, char *err, size_t errlen)
{
    char *text = rvmi_read_text(path, PLAN_MAX_BYTES, err, errlen);
    if (!text)
        return NULL;
    cJSON *root = cJSON_Parse(text);
    free(text);
    rvmi_plan *p = calloc(1, sizeof(*p));
    const char *bad = NULL;
    int64_t v, num, den;
    const cJSON *in = root ? cJSON_GetObjectItemCaseSensitive(root, "input") : NULL;
    const char *s;
    if (!p) {
        bad = "out of memory";
        goto done;
    }
    if (!root || json_int(root, "rvm_plan", 1, 1, &v) < 0 || !cJSON_IsObject(in)) {
        bad = "not an rvm plan";
        goto done;
    }
    bad = "a damaged plan";
    if (!(s = json_str(root, "id")) || strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32)
        goto done;
    memcpy(p->id, s, 33);
    if (!(s = json_str(in, "path")) || !(p->input = strdup(s)))
        goto done;
    if (!(s = json_str(in, "kind")) || (strcmp(s, "video") && strcmp(s, "images")))
        goto done;
    p->images = strcmp(s, "images") == 0;
    char *end;
    if (!(s = json_str(in, "size")) || (p->size = strtoll(s, &end, 10), *end))
        goto done;
    if (!(s = json_str(in, "mtime_ns")) || (p->mtime_ns = strtoll(s, &end, 10), *end))
        goto done;
    if (copy_hex(json_str(in, "sha256_first_mib"), p->head) < 0 ||
        copy_hex(json_str(in, "sha256_last_mib"), p->tail) < 0 ||
        (p->images && copy_hex(json_str(in, "sha256_listing"), p->listing) < 0))
        goto done;
    if (json_int(root, "frames", 1, INT64_MAX / 2, &p->frames) < 0 ||
        json_int(root, "warmup", 0, INT32_MAX, &v) < 0)
        goto done;
    p->warmup = (int)v;
    if (p->images) {
        const cJSON *fps = cJSON_GetObjectItemCaseSensitive(root, "image_fps");
        if (!cJSON_IsNumber(fps) || !(fps->valuedouble > 0))
            goto done;
        p->image_fps = fps->valuedouble;
    } else {
        const cJSON *tb = cJSON_GetObjectItemCaseSensitive(root, "time_base");
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(root, "pts");
        if (!cJSON_IsArray(tb) || cJSON_GetArraySize(tb) != 2 || !cJSON_IsArray(pts) ||
            cJSON_GetArraySize(pts) != p->frames)
            goto done;
        num = (int64_t)cJSON_GetArrayItem(tb, 0)->valuedouble;
        den = (int64_t)cJSON_GetArrayItem(tb, 1)->valuedouble;
        if (num <= 0 || den <= 0 || num > INT32_MAX || den > INT32_MAX)
            goto done;
        p->time_base = (AVRational){(int)num, (int)den};
        if (!(p->pts = malloc((size_t)p->frames * sizeof(*p->pts)))) {
            bad = "out of memory";
            goto done;
        }
        int64_t i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, pts)
        {
            if (!cJSON_IsNumber(e) || !(fabs(e->valuedouble) < 9007199254740992.0) ||
                (i > 0 && (int64_t)e->valuedouble <= p->pts[i - 1]))
                goto done;
            p->pts[i++] = (int64_t)e->valuedouble;
        }
    }
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(root, "segments");
    if (!cJSON_IsArray(segs) || cJSON_GetArraySize(segs) < 1 ||
        cJSON_GetArraySize(segs) > p->frames)
        goto done;
    p->nsegments = cJSON_GetArraySize(segs);
    if (!(p->segments = calloc((size_t)p->nsegments, sizeof(*p->segments)))) {
        bad = "out of memory";
        goto done;
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, segs)
    {
        rvmi_plan_segment *sg = &p->segments[i];
        if (json_int(e, "index", i, i, &v) < 0 ||
            json_int(e, "warmup_start", 0, p->frames, &sg->from) < 0 ||
            json_int(e, "start", sg->from, p->frames - 1, &sg->begin) < 0 ||
            json_int(e, "end", sg->begin + 1, p->frames, &sg->end) < 0 ||
            (i == 0 ? sg->begin != 0 : sg->begin != p->segments[i - 1].end))
            goto done;
        sg->seek_byte = -1;
        if (cJSON_GetObjectItemCaseSensitive(e, "seek_byte") &&
            json_int(e, "seek_byte", 0, p->size, &sg->seek_byte) < 0)
            goto done;
        i++;
    }
    if (p->segments[p->nsegments - 1].end != p->frames)
        goto done;
    bad = NULL;
done:
    cJSON_Delete(root);
    if (bad) {
        snprintf(err, errlen, "%s: %s", path, bad);
        rvmi_plan_free(p);
        return NULL;
    }
    return p;
}

rvmi_segment rvmi_plan_reader_range(const rvmi_plan *p, int index)
{
    const rvmi_plan_segment *s = &p->segments[index];
    rvmi_segment r;
    if (p->images) {
        r.from = s->from;
        r.begin = s->begin;
        r.end = s->end;
    } else {
        r.from = p->pts[s->from];
        r.begin = p->pts[s->begin];
        r.end = s->end < p->frames ? p->pts[s->end] : INT64_MAX;
    }
    r.seek_byte = s->seek_byte;
    r.damaged = 0;
    r.first_written = AV_NOPTS_VALUE;
    return r;
}

static void plan_usage(FILE *f)
{
    fputs("Usage: rvm plan INPUT (--segments N | --segment-seconds S) [--warmup K] "
          "[--input-fps FPS] -o PLAN [-y]\n"
          "Cuts INPUT (a video file or an image folder) into ranges of frames that `rvm render` "
          "renders independently;\neach starts K frames early to warm the network's memory up "
          "(default " RVMI_STR(RVMI_DEFAULT_WARMUP) "). PLAN is never the input (refused, "
          "also with -y).\n",
          f);
}

int rvmi_plan_main(int argc, char **argv)
{
    const char *input = NULL, *out = NULL;
    int count = 0, overwrite = 0;
    double seconds = 0, fps = 30;
    long warmup = RVMI_DEFAULT_WARMUP;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            plan_usage(stdout);
            return 0;
        } else if (strcmp(a, "-y") == 0 || strcmp(a, "--overwrite") == 0) {
            overwrite = 1;
            continue;
        } else if (a[0] == '-' && a[1] && !v) {
            rvmi_cli_error("plan: %s needs a value", a);
            return RVMI_EXIT_USAGE;
        } else if (strcmp(a, "--segments") == 0) {
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 1000000) {
                rvmi_cli_error("plan: --segments %s: expected a whole number from 1 to 1000000", v);
                return RVMI_EXIT_USAGE;
            }
            count = (int)n;
        } else if (strcmp(a, "--segment-seconds") == 0) {
            seconds = strtod(v, &end);
            if (*end || !(seconds > 0) || !isfinite(seconds)) {
                rvmi_cli_error("plan: --segment-seconds %s: expected a number of seconds > 0", v);
                return RVMI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--warmup") == 0) {
            warmup = strtol(v, &end, 10);
            if (*end || warmup < 0 || warmup > 100000) {
                rvmi_cli_error("plan: --warmup %s: expected a whole number of frames from 0 to "
                            "100000", v);
                return RVMI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--input-fps") == 0) {
            /* a number or a ratio N/D, as the conversion's --input-fps takes it (24000/1001:
             * 23.976 is another rate) */
            fps = strtod(v, &end);
            if (end != v && *end == '/') {
                const char *d = end + 1;
                double den = strtod(d, &end);
                fps = end != d && den > 0 ? fps / den : NAN;
            }
            if (*end || !(fps > 0 && fps <= 1000)) {
                rvmi_cli_error("plan: --input-fps %s: expected a number in (0, 1000]", v);
                return RVMI_EXIT_USAGE;
            }
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            out = v;
        } else if (a[0] == '-' && a[1]) {
            rvmi_cli_error("plan: unknown option '%s' (see rvm plan --help)", a);
            return RVMI_EXIT_USAGE;
        } else if (!input) {
            input = a;
            continue;
        } else {
            rvmi_cli_error("plan: one input only (%s, then %s)", input, a);
            return RVMI_EXIT_USAGE;
        }
        i++;
    }
    if (!input || !out || (!count && !(seconds > 0)) || (count && seconds > 0)) {
        rvmi_cli_error(!input ? "plan: no input given (see rvm plan --help)"
                    : !out ? "plan: -o PLAN is required"
                           : "plan: give one of --segments and --segment-seconds");
        return RVMI_EXIT_USAGE;
    }
    /* Refused before the input is scanned: it could only fail at the rename. */
    size_t name_len;
    long name_limit = rvmi_outfile_name_too_long(out, &name_len);
    if (name_limit) {
        rvmi_cli_error("plan: -o %s: a name of %zu bytes is longer than its folder takes (%ld)",
                       out, name_len, name_limit);
        return RVMI_EXIT_USAGE;
    }
    /* A folder missing or taking nothing is the argument's mistake (exit 2), said before the
     * input is scanned (it was exit 75, as a failed write, after the scan). */
    char where[PATH_MAX + 64];
    if (rvmi_outfile_folder_refuses(out, 0, where, sizeof where) < 0) {
        rvmi_cli_error("plan: -o %s: %s", out, where);
        return RVMI_EXIT_USAGE;
    }
    /* Never the input (-o IN -y replaced the video with the plan), nor a folder holding it. */
    rvmi_protected prot = {0};
    rvmi_protect_source(&prot, input, "input");
    int refused = rvmi_protect_check(&prot, "-o", out, NULL, err, sizeof err) < 0;
    rvmi_protect_free(&prot);
    if (refused) {
        rvmi_cli_error("plan: %s", err);
        return RVMI_EXIT_USAGE;
    }
    if (strcmp(input, "-") == 0 || strncmp(input, "/dev/", 5) == 0 || strstr(input, "://")) {
        rvmi_cli_error("plan: %s cannot be cut into segments: only files and image folders can "
                    "be (a pipe, camera or stream cannot seek)", input);
        return RVMI_EXIT_BAD_INPUT;
    }
    av_log_set_level(AV_LOG_QUIET);
    rvmi_plan *p = calloc(1, sizeof(*p));
    if (!p) {
        rvmi_cli_error("out of memory");
        return RVMI_EXIT_TRANSIENT;
    }
    int status = RVMI_EXIT_BAD_INPUT;
    p->warmup = (int)warmup;
    p->image_fps = fps;
    p->input = realpath(input, NULL);
    if (!p->input) {
        rvmi_cli_error("plan: %s: %s", input, strerror(errno));
        goto done;
    }
    if (input_identity(p->input, p, err, sizeof err) < 0 || (!p->images && scan_video(p, err, sizeof err) < 0)) {
        rvmi_cli_error("plan: %s", err);
        goto done;
    }
    if (make_segments(p, count, seconds, err, sizeof err) < 0) {
        rvmi_cli_error("plan: %s", err);
        status = RVMI_EXIT_USAGE;
        goto done;
    }
    uint32_t r[4] = {av_get_random_seed(), av_get_random_seed(), av_get_random_seed(),
                     av_get_random_seed()};
    snprintf(p->id, sizeof p->id, "%08x%08x%08x%08x", r[0], r[1], r[2], r[3]);
    char *text = plan_to_json(p);
    if (!text) {
        rvmi_cli_error("out of memory");
        status = RVMI_EXIT_TRANSIENT;
        goto done;
    }
    if (write_text_file(out, text, overwrite, err, sizeof err) < 0) {
        rvmi_cli_error("plan: %s", err);
        status = errno == EEXIST || strstr(err, "exists") ? RVMI_EXIT_USAGE : RVMI_EXIT_TRANSIENT;
        free(text);
        goto done;
    }
    free(text);
    int64_t longest = 0;
    for (int i = 0; i < p->nsegments; i++)
        if (p->segments[i].end - p->segments[i].begin > longest)
            longest = p->segments[i].end - p->segments[i].begin;
    printf("%s: %" PRId64 " frame%s in %d segment%s (up to %" PRId64 " frame%s each, %d warm-up "
           "frame%s before each): render indices 0-%d\n",
           out, p->frames, rvmi_s(p->frames), p->nsegments, rvmi_s(p->nsegments), longest,
           rvmi_s(longest), p->warmup, rvmi_s(p->warmup), p->nsegments - 1);
    status = 0;
done:
    rvmi_plan_free(p);
    return status;
}
