/* rvm serve: the HTTP side (libmicrohttpd parses HTTP; this file routes, checks and answers).
 *
 * Threads: libmicrohttpd runs one thread per connection, so a server-sent event stream may
 * block waiting for its job to change; uploads go through MHD's post processor straight
 * into the job's folder, a few tens of kilobytes at a time.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include "serve/serve.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve/jobs.h"

/* Kept free beside an upload, for the outputs and everything else on the disk. */
#define FREE_SPACE_RESERVE ((int64_t)64 << 20)
#define POST_BUFFER 65536
#define MAX_SESSIONS 64
#define SESSION_COOKIE "rvm_session"

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' blob: data:; media-src 'self' blob:; "
                          "connect-src 'self'; form-action 'self'; base-uri 'none'; "
                          "frame-ancestors 'none'";

static struct {
    const char *token; /* NULL: no login (loopback only) */
    int loopback;      /* listening on a loopback address only */
    uint64_t max_upload;
    pthread_mutex_t lock;
    char sessions[MAX_SESSIONS][33];
    int next_session;
} G = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- small helpers ---------------------------------------------------------------------- */

static void fmt_size(char *buf, size_t n, double bytes)
{
    static const char *const units[] = {"bytes", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f bytes", bytes);
    else
        snprintf(buf, n, "%.1f %s", bytes, units[u]);
}

/* "4G", "500M", "1048576": bytes, or 0 when not a size. */
static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0))
        return 0;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v * mult > 9e18)
        return 0;
    return (uint64_t)(v * mult);
}

static int equal_secret(const char *a, const char *b)
{
    /* Compares every byte of the longer one, so the time does not tell how much matched. */
    size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
    unsigned diff = (unsigned)(la ^ lb);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)(i < lb ? b[i] : 0);
    return diff == 0;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ---- responses ---------------------------------------------------------------------------- */

static const char *const common_header_list[][2] = {
    {"Content-Security-Policy", CSP},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
};

static void common_headers(struct MHD_Response *r)
{
    for (size_t i = 0; i < sizeof common_header_list / sizeof common_header_list[0]; i++)
        MHD_add_response_header(r, common_header_list[i][0], common_header_list[i][1]);
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    common_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return MHD_NO;
    size_t n = strlen(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return queue(c, status, r);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    return send_json(c, status, o);
}

/* An error answered in the middle of a request's body, and the connection closed after it:
 * libmicrohttpd (0.9.75) queues a response only once the whole body is read (its
 * MHD_queue_response refuses one before), so the answer is written to the socket here, and
 * the caller returns MHD_NO, which closes the connection without reading the rest. */
static enum MHD_Result answer_and_close(struct MHD_Connection *c, unsigned status,
                                        const char *msg)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *head = NULL;
    size_t head_len = 0;
    FILE *m = body && ci ? open_memstream(&head, &head_len) : NULL;
    if (m) {
        fprintf(m, "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n",
                status, MHD_get_reason_phrase_for(status));
        for (size_t i = 0; i < sizeof common_header_list / sizeof common_header_list[0]; i++)
            fprintf(m, "%s: %s\r\n", common_header_list[i][0], common_header_list[i][1]);
        fprintf(m, "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
        if (fclose(m) == 0) {
            for (size_t off = 0; off < head_len;) {
                ssize_t w = send(ci->connect_fd, head + off, head_len - off, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
            shutdown(ci->connect_fd, SHUT_WR); /* the answer, then the end, before the close */
        }
    }
    free(head);
    free(body);
    return MHD_NO;
}

static const rvmi_web_asset *asset(const char *name)
{
    for (size_t i = 0; i < rvmi_web_asset_count; i++)
        if (!strcmp(rvmi_web_assets[i].name, name))
            return &rvmi_web_assets[i];
    return NULL;
}

static enum MHD_Result send_asset(struct MHD_Connection *c, unsigned status, const char *name)
{
    const rvmi_web_asset *a = asset(name);
    if (!a)
        return send_error(c, 404, "rvm: no such page");
    const char *dot = strrchr(name, '.');
    const char *type = !strcmp(dot, ".html") ? "text/html; charset=utf-8"
                       : !strcmp(dot, ".js") ? "text/javascript; charset=utf-8"
                       : !strcmp(dot, ".css") ? "text/css; charset=utf-8"
                       : !strcmp(dot, ".svg") ? "image/svg+xml"
                                              : "application/octet-stream";
    struct MHD_Response *r = MHD_create_response_from_buffer(a->size, (void *)a->data,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    return queue(c, status, r);
}

/* ---- who may ask ---------------------------------------------------------------------------- */

static int has_session(const char *s)
{
    if (!s || strlen(s) != 32)
        return 0;
    int ok = 0;
    pthread_mutex_lock(&G.lock);
    for (int i = 0; i < MAX_SESSIONS; i++)
        ok |= G.sessions[i][0] && equal_secret(G.sessions[i], s);
    pthread_mutex_unlock(&G.lock);
    return ok;
}

static int new_session(char *out)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -1;
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", r[i]);
    pthread_mutex_lock(&G.lock);
    memcpy(G.sessions[G.next_session], out, 33);
    G.next_session = (G.next_session + 1) % MAX_SESSIONS;
    pthread_mutex_unlock(&G.lock);
    return 0;
}

static int authorized(struct MHD_Connection *c)
{
    if (!G.token)
        return 1;
    const char *auth = header(c, "Authorization");
    if (auth && !strncasecmp(auth, "Bearer ", 7) && equal_secret(auth + 7, G.token))
        return 1;
    return has_session(MHD_lookup_connection_value(c, MHD_COOKIE_KIND, SESSION_COOKIE));
}

/* Without a token the server answers only to its loopback names, so a web page elsewhere
 * cannot reach it through a DNS name rebound to 127.0.0.1. */
static int host_allowed(struct MHD_Connection *c)
{
    if (G.token || !G.loopback)
        return 1;
    const char *host = header(c, "Host");
    if (!host)
        return 0;
    char name[256];
    snprintf(name, sizeof name, "%s", host);
    char *colon = name[0] == '[' ? strchr(name, ']') : name;
    colon = colon ? strchr(colon, ':') : NULL;
    if (colon)
        *colon = '\0';
    struct in_addr v4; /* a numeric 127.x.y.z, not a name that starts with "127." */
    return !strcmp(name, "localhost") || !strcmp(name, "[::1]") ||
           (inet_pton(AF_INET, name, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
}

/* A request that changes something must come from this server's own page (or from a
 * program, which sends no Origin). */
static int origin_allowed(struct MHD_Connection *c, const char *method)
{
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
        return 1;
    const char *site = header(c, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") && strcmp(site, "none"))
        return 0;
    const char *origin = header(c, "Origin"), *host = header(c, "Host");
    if (!origin)
        return 1;
    char own[300];
    snprintf(own, sizeof own, "http://%s", host ? host : "");
    return host && !strcmp(origin, own);
}

/* ---- uploads ---------------------------------------------------------------------------- */

enum { REQ_PLAIN, REQ_UPLOAD, REQ_LOGIN };
/* Every field a form may send, each once: the text fields (kept in request.fields), then
 * the two files. */
enum { F_BACKGROUND, F_OUTPUTS, F_FORMAT, F_RATIO, F_TOKEN, F_COUNT };
enum { P_VIDEO = F_COUNT, P_BACKGROUND_IMAGE, P_COUNT };
static const char *const field_names[P_COUNT] = {"background", "outputs", "format", "ratio",
                                                 "token",      "video",   "background_image"};

typedef struct {
    int kind;
    struct MHD_PostProcessor *pp;
    char id[RVMI_JOB_ID_LEN + 1], dir[PATH_MAX];
    int dir_made, queued;
    int video_fd, bg_fd, have_video, have_bg;
    char client_name[256];
    char fields[F_COUNT][520]; /* small values; a token may be long */
    unsigned parts_seen;       /* bit p: the field p (F_*, P_*) came */
    int last_part;             /* the field of the piece before (-1: none or another) */
    uint64_t last_part_end;    /* where that piece ended in its value */
    uint64_t received, limit, next_space_check;
    unsigned status; /* non-zero: the answer is this error */
    char error[320];
} request;

static void fail(request *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(request *r, unsigned status, const char *fmt, ...)
{
    if (r->status)
        return; /* the first error is the one to tell */
    r->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

static void disk_full(request *r)
{
    char free_s[32];
    fmt_size(free_s, sizeof free_s, (double)rvmi_jobs_free_space());
    fail(r, 507, "rvm: the disk is full (%s free in the data folder)", free_s);
}

static int write_all(int fd, const char *data, size_t n)
{
    while (n) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A file name as a form sends it: browsers (the HTML standard's multipart/form-data
 * encoding) and curl write '"', CR and LF in it as %22, %0D and %0A, and leave every other
 * character as it is (a '%' too: "100%.mp4" arrives as it is). Fitted to dst by rvmi_fit_name. */
static void form_file_name(char *dst, size_t n, const char *src)
{
    char *name = malloc(strlen(src) + 1); /* decoding never makes a name longer */
    if (!name) {
        dst[0] = '\0';
        return;
    }
    size_t k = 0;
    while (*src) {
        if (src[0] == '%' && src[1] && src[2]) {
            char hex[3] = {src[1], src[2], '\0'};
            if (!strcasecmp(hex, "22") || !strcasecmp(hex, "0D") || !strcasecmp(hex, "0A")) {
                name[k++] = (char)strtol(hex, NULL, 16);
                src += 3;
                continue;
            }
        }
        name[k++] = *src++;
    }
    name[k] = '\0';
    rvmi_fit_name(dst, n, name);
    free(name);
}

/* Refuses a field that came twice; 0 when this piece of the field p is fine. libmicrohttpd
 * hands each value over in pieces (off counts on within it) and does not say where a part
 * begins: a piece at 0 starts a new part unless it follows an empty first piece of the same
 * field, which it gives when a part's data has not arrived yet (so an empty part followed by
 * the same field passes as one part: nothing of the empty one is kept). Without this a second
 * video was appended to the first and a second text field replaced the first. */
static int repeated_part(request *r, int p, uint64_t off, size_t size)
{
    int continues = off != 0 || (r->last_part == p && r->last_part_end == 0);
    r->last_part = p;
    r->last_part_end = off + size;
    if (continues)
        return 0;
    if (r->parts_seen & (1u << p)) {
        fail(r, 400, "rvm: the form field %s came twice (send each field once)",
             field_names[p]);
        return -1;
    }
    r->parts_seen |= 1u << p;
    return 0;
}

static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind, (void)content_type, (void)transfer_encoding;
    request *r = cls;
    if (r->status || !key)
        return MHD_YES; /* already failed: the rest is read and dropped */
    int is_video = !strcmp(key, "video"), is_bg = !strcmp(key, "background_image");
    if (r->kind == REQ_UPLOAD && (is_video || is_bg) && filename) {
        if (repeated_part(r, is_video ? P_VIDEO : P_BACKGROUND_IMAGE, off, size) < 0)
            return MHD_YES;
        int *fd = is_video ? &r->video_fd : &r->bg_fd;
        int *have = is_video ? &r->have_video : &r->have_bg;
        if (off == 0 && *fd < 0 && !*have) {
            char path[PATH_MAX + 16];
            snprintf(path, sizeof path, "%s/%s", r->dir, is_video ? "source" : "background");
            *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (*fd < 0) {
                fail(r, 500, "rvm: cannot store the upload: %s", strerror(errno));
                return MHD_YES;
            }
            *have = 1;
            if (is_video)
                form_file_name(r->client_name, sizeof r->client_name, filename);
        }
        if (*fd >= 0 && size && write_all(*fd, data, size) < 0) {
            if (errno == ENOSPC || errno == EDQUOT)
                disk_full(r);
            else
                fail(r, 500, "rvm: cannot store the upload: %s", strerror(errno));
        }
        return MHD_YES;
    }
    for (int f = 0; f < F_COUNT; f++)
        if (!strcmp(key, field_names[f])) {
            if (repeated_part(r, f, off, size) < 0)
                return MHD_YES;
            char *v = r->fields[f];
            if (off + size >= sizeof r->fields[f]) {
                fail(r, 400, "rvm: the form field %s is too long", key);
                return MHD_YES;
            }
            memcpy(v + off, data, size);
            v[off + size] = '\0';
            return MHD_YES;
        }
    r->last_part = -1; /* a field this server does not take: what follows is a new part */
    return MHD_YES;
}

static void close_upload_files(request *r)
{
    if (r->video_fd >= 0)
        close(r->video_fd);
    if (r->bg_fd >= 0)
        close(r->bg_fd);
    r->video_fd = r->bg_fd = -1;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    request *r = *con_cls;
    if (!r)
        return;
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    close_upload_files(r);
    if (r->dir_made && !r->queued)
        rvmi_jobs_remove_dir(r->dir); /* an upload cut off or refused */
    free(r);
    *con_cls = NULL;
}

/* The first call for POST /api/jobs: refuse what cannot fit before reading the body. */
static enum MHD_Result upload_start(struct MHD_Connection *c, request *r)
{
    const char *len_s = header(c, "Content-Length");
    uint64_t len = len_s ? strtoull(len_s, NULL, 10) : 0;
    char a[32], b[32];
    if (len_s && len > G.max_upload) {
        fmt_size(a, sizeof a, (double)len);
        fmt_size(b, sizeof b, (double)G.max_upload);
        char msg[160];
        snprintf(msg, sizeof msg, "rvm: the upload (%s) is larger than this server's limit of %s",
                 a, b);
        return send_error(c, 413, msg);
    }
    int64_t free_bytes = rvmi_jobs_free_space();
    if (free_bytes >= 0 && (uint64_t)free_bytes < len + FREE_SPACE_RESERVE) {
        fmt_size(a, sizeof a, (double)free_bytes);
        fmt_size(b, sizeof b, (double)(len + FREE_SPACE_RESERVE));
        char msg[200];
        snprintf(msg, sizeof msg, "rvm: not enough free disk space for this upload (%s free, "
                                  "%s needed)", a, b);
        return send_error(c, 507, msg);
    }
    char err[256];
    if (rvmi_jobs_new_upload_dir(r->id, r->dir, sizeof r->dir, err, sizeof err) < 0)
        return send_error(c, 500, err);
    r->dir_made = 1;
    r->pp = MHD_create_post_processor(c, POST_BUFFER, post_field, r);
    if (!r->pp) {
        rvmi_jobs_remove_dir(r->dir);
        r->dir_made = 0;
        return send_error(c, 400, "rvm: send the video as multipart/form-data (field video)");
    }
    r->limit = G.max_upload;
    r->next_space_check = 64 << 20;
    return MHD_YES;
}

static enum MHD_Result upload_finish(struct MHD_Connection *c, request *r)
{
    close_upload_files(r);
    if (!r->status && !r->have_video)
        fail(r, 400, "rvm: no video was sent (the form field is video)");
    rvmi_job_options o = {0};
    const char *bg = r->fields[F_BACKGROUND][0] ? r->fields[F_BACKGROUND] : "green";
    if (snprintf(o.background, sizeof o.background, "%s", bg) >= (int)sizeof o.background)
        fail(r, 400, "rvm: background %s: %s", bg, SERVE_BACKGROUNDS);
    const char *outs = r->fields[F_OUTPUTS][0] ? r->fields[F_OUTPUTS] : "composition,alpha";
    char list[sizeof r->fields[F_OUTPUTS]];
    snprintf(list, sizeof list, "%s", outs);
    char *save = NULL;
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (!strcmp(t, "composition"))
            o.composition = 1;
        else if (!strcmp(t, "alpha"))
            o.alpha = 1;
        else if (!strcmp(t, "foreground"))
            o.foreground = 1;
        else
            fail(r, 400, "rvm: output %s: expected composition, alpha or foreground", t);
    }
    const char *format = r->fields[F_FORMAT][0] ? r->fields[F_FORMAT] : "mp4";
    if (snprintf(o.format, sizeof o.format, "%s", format) >= (int)sizeof o.format)
        fail(r, 400, "rvm: format %s: expected mp4, webm or mov", format);
    const char *ratio = r->fields[F_RATIO];
    if (ratio[0] && strcmp(ratio, "auto") != 0) {
        char *end;
        o.ratio = strtod(ratio, &end);
        if (*end || !(o.ratio > 0 && o.ratio <= 1))
            fail(r, 400, "rvm: the downsample ratio %s: expected auto or a number in (0, 1]", ratio);
    }
    char err[320];
    if (!r->status && rvmi_job_options_check(&o, r->have_bg, err, sizeof err) < 0)
        fail(r, 400, "%s", err);
    if (r->status) {
        rvmi_jobs_remove_dir(r->dir); /* before answering: a refused upload leaves nothing */
        r->dir_made = 0;
        return send_error(c, r->status, r->error);
    }
    rvmi_job *j = rvmi_jobs_add(r->id, r->client_name, &o, r->have_bg, err, sizeof err);
    if (!j)
        return send_error(c, 503, err);
    r->queued = 1;
    cJSON *json = rvmi_job_json(j);
    rvmi_job_put(j);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text,
                                                                MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    char loc[80];
    snprintf(loc, sizeof loc, "/api/jobs/%s", r->id);
    MHD_add_response_header(resp, "Location", loc);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return queue(c, 201, resp);
}

/* ---- login ------------------------------------------------------------------------------ */

static enum MHD_Result login_finish(struct MHD_Connection *c, request *r)
{
    if (r->status || !G.token || !equal_secret(r->fields[F_TOKEN], G.token)) {
        sleep(1); /* slows down guessing */
        const rvmi_web_asset *a = asset("login.html");
        if (!a)
            return MHD_NO;
        /* The login page with its message shown: the page marks the spot with a comment. */
        static const char mark[] = "<!--error-->";
        static const char msg[] = "<p class=\"error\" role=\"alert\">rvm: wrong token</p>";
        const char *at = memmem(a->data, a->size, mark, sizeof mark - 1);
        size_t head = at ? (size_t)(at - (const char *)a->data) : a->size;
        size_t n = a->size + sizeof msg;
        char *page = malloc(n);
        if (!page)
            return MHD_NO;
        memcpy(page, a->data, head);
        memcpy(page + head, msg, sizeof msg - 1);
        memcpy(page + head + sizeof msg - 1, a->data + head, a->size - head);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            a->size + sizeof msg - 1, page, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(page);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
        return queue(c, 401, resp);
    }
    char session[33], cookie[160];
    if (new_session(session) < 0)
        return send_error(c, 500, "rvm: no random numbers for a session");
    snprintf(cookie, sizeof cookie, "%s=%s; HttpOnly; SameSite=Strict; Path=/", SESSION_COOKIE,
             session);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Set-Cookie", cookie);
    MHD_add_response_header(resp, "Location", "/");
    return queue(c, 303, resp);
}

/* ---- files, with ranges ---------------------------------------------------------------------- */

/* One "bytes=" range (first-last, first-, -suffix). 1: a range in [*from, *to]; 0: none
 * or one this server answers whole (several ranges); -1: not satisfiable. */
static int parse_range(const char *h, int64_t size, int64_t *from, int64_t *to)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6, *dash = strchr(p, '-');
    if (!dash)
        return 0;
    char *end;
    if (dash == p) { /* the last N bytes */
        if (!(dash[1] >= '0' && dash[1] <= '9'))
            return 0;
        long long n = strtoll(dash + 1, &end, 10);
        if (*end)
            return 0;
        if (n <= 0 || size == 0)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    if (!(p[0] >= '0' && p[0] <= '9'))
        return 0;
    long long a = strtoll(p, &end, 10);
    if (end != dash)
        return 0;
    long long b = size - 1;
    if (dash[1]) {
        if (!(dash[1] >= '0' && dash[1] <= '9'))
            return 0;
        b = strtoll(dash + 1, &end, 10);
        if (*end || b < a)
            return 0;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

static enum MHD_Result send_file(struct MHD_Connection *c, rvmi_job *j, const char *name)
{
    int64_t size = 0;
    const char *type = NULL;
    char dl[200];
    int fd = rvmi_job_open_file(j, name, &size, &type, dl, sizeof dl);
    if (fd < 0)
        return send_error(c, 404, "rvm: no such file");
    int64_t from = 0, to = size - 1;
    int range = parse_range(header(c, "Range"), size, &from, &to);
    struct MHD_Response *r;
    unsigned status = 200;
    char cr[96];
    if (range < 0) {
        close(fd);
        r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
        if (r)
            MHD_add_response_header(r, "Content-Range", cr);
        return queue(c, 416, r);
    }
    if (range > 0) {
        status = 206;
        r = MHD_create_response_from_fd_at_offset64((uint64_t)(to - from + 1), fd,
                                                    (uint64_t)from);
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)from, (long long)to,
                 (long long)size);
        if (r)
            MHD_add_response_header(r, "Content-Range", cr);
    } else {
        r = MHD_create_response_from_fd64((uint64_t)size, fd);
    }
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Accept-Ranges", "bytes");
    MHD_add_response_header(r, "Cache-Control", "private, no-cache");
    const char *want = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "download");
    /* The name as it is in filename* (RFC 6266, RFC 5987: UTF-8, percent-encoded), which
     * browsers read first, and for any other client a plain ASCII filename with every
     * character that is not printable ASCII, or is '"' or '\\' (quoted-string escapes
     * clients get wrong) or '%' (browsers percent-decode a plain filename), as '_'. */
    char ascii[200], encoded[600], disp[900];
    size_t k = 0, e = 0;
    int plain = 1;
    for (const unsigned char *p = (const unsigned char *)dl; *p; p++) {
        int safe = *p >= 0x20 && *p < 0x7f && !strchr("\"\\%", *p);
        if ((*p & 0xc0) != 0x80) /* one '_' per character, not per byte */
            ascii[k++] = safe ? (char)*p : '_';
        plain &= safe;
        if (isalnum(*p) || strchr("-._~", *p))
            encoded[e++] = (char)*p;
        else
            e += (size_t)sprintf(encoded + e, "%%%02X", *p);
    }
    ascii[k] = encoded[e] = '\0';
    if (plain)
        snprintf(disp, sizeof disp, "%s; filename=\"%s\"", want ? "attachment" : "inline", ascii);
    else
        snprintf(disp, sizeof disp, "%s; filename=\"%s\"; filename*=UTF-8''%s",
                 want ? "attachment" : "inline", ascii, encoded);
    MHD_add_response_header(r, "Content-Disposition", disp);
    return queue(c, status, r);
}

/* ---- server-sent events ---------------------------------------------------------------------- */

typedef struct {
    rvmi_job *job;
    unsigned version;
    int first, finished;
    char *text;
    size_t len, off;
} event_stream;

static ssize_t events_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    event_stream *s = cls;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->text + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        free(s->text);
        s->text = NULL;
        s->len = s->off = 0;
        if (s->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        int changed = 1;
        if (!s->first)
            changed = rvmi_job_wait(s->job, &s->version, 15000);
        s->first = 0;
        if (changed < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (changed == 0) { /* a comment keeps proxies and the connection timeout away */
            s->text = strdup(": keep-alive\n\n");
        } else {
            s->finished = rvmi_job_ended(s->job);
            cJSON *o = rvmi_job_json(s->job);
            char *json = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (json && asprintf(&s->text, "event: job\ndata: %s\n\n", json) < 0)
                s->text = NULL;
            free(json);
        }
        if (!s->text)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        s->len = strlen(s->text);
    }
}

static void events_free(void *cls)
{
    event_stream *s = cls;
    rvmi_job_put(s->job);
    free(s->text);
    free(s);
}

static enum MHD_Result send_events(struct MHD_Connection *c, rvmi_job *j)
{
    event_stream *s = calloc(1, sizeof *s);
    if (!s) {
        rvmi_job_put(j);
        return MHD_NO;
    }
    s->job = j;
    s->first = 1;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, events_read, s, events_free);
    if (!r) {
        events_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return queue(c, 200, r);
}

/* ---- routes -------------------------------------------------------------------------------- */

/* Splits "/api/jobs/ID/files/NAME" into at most 6 segments (the URL comes decoded from
 * MHD); "" and "." or ".." segments make the path unknown. */
static int split(const char *url, char seg[6][96])
{
    int n = 0;
    const char *p = url;
    if (*p != '/')
        return -1;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == 6 || len >= 96)
            return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        if (!strcmp(seg[n], ".") || !strcmp(seg[n], ".."))
            return -1;
        n++;
        p += len;
    }
    return n;
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url, const char *method)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (!get)
            return send_error(c, 405, "rvm: method not allowed");
        return send_asset(c, 200, authorized(c) ? "index.html" : "login.html");
    }
    if (!strcmp(url, "/app.js") || !strcmp(url, "/style.css") || !strcmp(url, "/icon.svg")) {
        if (!get)
            return send_error(c, 405, "rvm: method not allowed");
        return send_asset(c, 200, url + 1); /* the same for everyone: no secret in them */
    }
    if (strncmp(url, "/api/", 5) != 0)
        return send_error(c, 404, "rvm: no such page");
    if (!authorized(c))
        return send_error(c, 401, "rvm: log in first (a bearer token or the login form)");
    char seg[6][96];
    int n = split(url, seg);
    if (n < 2 || strcmp(seg[1], "jobs") != 0)
        return send_error(c, 404, "rvm: no such API path");
    if (n == 2) {
        if (!get)
            return send_error(c, 405, "rvm: method not allowed");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "jobs", rvmi_jobs_json());
        cJSON_AddNumberToObject(o, "max_upload", (double)G.max_upload);
        cJSON_AddNumberToObject(o, "free_bytes", (double)rvmi_jobs_free_space());
        return send_json(c, 200, o);
    }
    rvmi_job *j = rvmi_job_get(seg[2]);
    if (!j)
        return send_error(c, 404, "rvm: no such job");
    enum MHD_Result ret;
    if (n == 3 && get) {
        ret = send_json(c, 200, rvmi_job_json(j));
    } else if (n == 3 && !strcmp(method, "DELETE")) {
        rvmi_job_delete(j);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        ret = queue(c, 204, r);
    } else if (n == 4 && !strcmp(seg[3], "cancel") && !strcmp(method, "POST")) {
        if (rvmi_job_cancel(j) < 0)
            ret = send_error(c, 409, "rvm: the job has already ended");
        else
            ret = send_json(c, 200, rvmi_job_json(j));
    } else if (n == 4 && !strcmp(seg[3], "events") && get) {
        return send_events(c, j); /* the stream keeps the reference */
    } else if (n == 5 && !strcmp(seg[3], "files") && get) {
        ret = send_file(c, j, seg[4]);
    } else if (n == 3 || (n == 4 && (!strcmp(seg[3], "cancel") || !strcmp(seg[3], "events"))) ||
               (n == 5 && !strcmp(seg[3], "files"))) {
        ret = send_error(c, 405, "rvm: method not allowed");
    } else {
        ret = send_error(c, 404, "rvm: no such API path");
    }
    rvmi_job_put(j);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls, (void)version;
    request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->video_fd = r->bg_fd = -1;
        r->last_part = -1;
        *con_cls = r;
        if (!host_allowed(c))
            return send_error(c, 403, "rvm: this server answers only to localhost addresses");
        if (!origin_allowed(c, method))
            return send_error(c, 403, "rvm: requests from other sites are refused");
        if (!strcmp(method, "POST") && !strcmp(url, "/api/login")) {
            if (!G.token)
                return send_error(c, 404, "rvm: this server has no login (no --token)");
            r->limit = 4096;
            r->pp = MHD_create_post_processor(c, 4096, post_field, r);
            if (!r->pp)
                return send_error(c, 400, "rvm: send the token as a form field");
            r->kind = REQ_LOGIN;
            return MHD_YES;
        }
        if (!strcmp(method, "POST") && !strcmp(url, "/api/jobs")) {
            if (!authorized(c))
                return send_error(c, 401, "rvm: log in first (a bearer token or the login form)");
            r->kind = REQ_UPLOAD;
            enum MHD_Result ret = upload_start(c, r);
            if (!r->pp)
                r->kind = REQ_PLAIN; /* answered already (413, 507, ...): the body is dropped */
            return ret;
        }
        return route(c, url, method);
    }
    if (r->kind == REQ_PLAIN) { /* a body nobody asked for */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->received += n;
        if (r->received > r->limit && r->kind == REQ_UPLOAD) {
            /* A body without a length (chunked) that grew past --max-upload: the 413 a
             * Content-Length over it gets, at once, and the connection closed after it (MHD
             * drops the rest of the body). It came only after the whole body was read and
             * dropped (gigabytes, for a stream that never ends). What was stored goes now. */
            char b[32];
            fmt_size(b, sizeof b, (double)G.max_upload);
            fail(r, 413, "rvm: the upload (more than %s) is larger than this server's "
                         "limit of %s", b, b);
            close_upload_files(r);
            rvmi_jobs_remove_dir(r->dir);
            r->dir_made = 0;
            r->kind = REQ_PLAIN;
            return answer_and_close(c, r->status, r->error);
        }
        if (r->received > r->limit)
            return MHD_NO; /* a login form without a length that grew too large: cut off */
        if (r->kind == REQ_UPLOAD && r->received >= r->next_space_check) {
            r->next_space_check = r->received + (64 << 20);
            int64_t free_bytes = rvmi_jobs_free_space();
            if (free_bytes >= 0 && free_bytes < FREE_SPACE_RESERVE / 2)
                disk_full(r);
        }
        if (!r->status && MHD_post_process(r->pp, upload_data, n) != MHD_YES)
            fail(r, 400, "rvm: the upload is not valid multipart/form-data");
        return MHD_YES;
    }
    return r->kind == REQ_LOGIN ? login_finish(c, r) : upload_finish(c, r);
}

/* MHD decodes %XX in the path and arguments; a %00 would end the C string early and make
 * "source%00.mp4" read as "source". Such a URL matches nothing instead. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    if (strstr(s, "%00")) {
        s[0] = '\0';
        return 0;
    }
    return MHD_http_unescape(s);
}

/* ---- the command ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: rvm serve [--host ADDR] [--port N] [--data-dir DIR] [--max-upload SIZE]\n"
          "                 [--jobs N] [--token T]\n"
          "A web page and HTTP API to convert videos: open the address it prints.\n"
          "  --host ADDR        listen on this address (default 127.0.0.1); any address but\n"
          "                     loopback needs --token\n"
          "  --port N           port (default 8080; 0: any free port; in use: exit 75)\n"
          "  --data-dir DIR     uploads, results and the job list (default\n"
          "                     $XDG_DATA_HOME/rvm/serve or ~/.local/share/rvm/serve)\n"
          "  --max-upload SIZE  largest upload, e.g. 500M or 4G (default 4G)\n"
          "  --jobs N           conversions at a time (default 1)\n"
          "  --token T          ask for this token (a bearer header, or the login form);\n"
          "                     the RVM_SERVE_TOKEN environment variable also sets it\n",
          f);
}

static int make_parents(char *path)
{
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            int bad = mkdir(path, 0700) < 0 && errno != EEXIST;
            *p = '/';
            if (bad)
                return -1;
        }
    return 0;
}

int rvmi_serve_main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *data_dir = NULL;
    long port = 8080, jobs = 1;
    G.max_upload = (uint64_t)4 << 30;
    G.token = getenv("RVM_SERVE_TOKEN");
    if (G.token && !*G.token)
        G.token = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--host") && strcmp(a, "--port") && strcmp(a, "--data-dir") &&
            strcmp(a, "--max-upload") && strcmp(a, "--jobs") && strcmp(a, "--token")) {
            fprintf(stderr, "rvm: serve: unknown option %s (rvm serve --help lists them)\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "rvm: serve: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--host")) {
            host = v;
        } else if (!strcmp(a, "--port")) {
            port = strtol(v, &end, 10);
            if (*end || end == v || port < 0 || port > 65535) {
                fprintf(stderr, "rvm: serve: --port %s: expected 0 to 65535\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--data-dir")) {
            if (!*v) {
                fprintf(stderr, "rvm: serve: --data-dir: an empty name (give a folder)\n");
                return 2;
            }
            data_dir = v;
        } else if (!strcmp(a, "--max-upload")) {
            if (!(G.max_upload = parse_size(v))) {
                fprintf(stderr, "rvm: serve: --max-upload %s: expected a size like 500M or 4G\n",
                        v);
                return 2;
            }
        } else if (!strcmp(a, "--jobs")) {
            jobs = strtol(v, &end, 10);
            if (*end || end == v || jobs < 1 || jobs > 64) {
                fprintf(stderr, "rvm: serve: --jobs %s: expected 1 to 64\n", v);
                return 2;
            }
        } else {
            if (!*v) {
                fprintf(stderr, "rvm: serve: --token: the token is empty\n");
                return 2;
            }
            G.token = v;
        }
    }

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%ld", port);
    int gai = getaddrinfo(host, port_s, &hints, &ai);
    if (gai != 0 || !ai) {
        fprintf(stderr, "rvm: serve: --host %s: %s\n", host, gai_strerror(gai));
        return 2;
    }
    if (ai->ai_family == AF_INET)
        G.loopback = (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    else if (ai->ai_family == AF_INET6)
        G.loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    if (!G.loopback && !G.token) {
        fprintf(stderr, "rvm: serve: --host %s is reachable from other machines: give a --token "
                        "(or RVM_SERVE_TOKEN) that they must send\n", host);
        freeaddrinfo(ai);
        return 2;
    }

    char default_dir[PATH_MAX];
    if (!data_dir) {
        const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(default_dir, sizeof default_dir, "%s/rvm/serve", xdg);
        else
            snprintf(default_dir, sizeof default_dir, "%s/.local/share/rvm/serve",
                     home && *home ? home : ".");
        make_parents(default_dir);
        data_dir = default_dir;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "rvm: serve: cannot find the rvm program itself: %s\n", strerror(errno));
        freeaddrinfo(ai);
        return 1;
    }
    exe[n] = '\0';

    /* Signals are taken by sigwait below; every thread started from here on blocks them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    int opened = rvmi_jobs_open(data_dir, exe, (int)jobs, err, sizeof err);
    if (opened < 0) {
        fprintf(stderr, "rvm: serve: %s\n", err);
        freeaddrinfo(ai);
        return opened == -2 ? 75 : 2;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    int family = ai->ai_family;
    freeaddrinfo(ai);
    if (!d) {
        /* A port in use is free again once its holder ends (75, as an output another run is
         * writing); a port this user may not take (below 1024) or an address not on this
         * machine is the request's (2). */
        int e = errno;
        fprintf(stderr, "rvm: serve: cannot listen on %s port %ld: %s\n", host, port,
                e == EADDRINUSE ? "it is in use (another rvm serve? choose another --port)"
                : e             ? strerror(e)
                                : "refused");
        rvmi_jobs_close();
        return e == EADDRINUSE ? 75 : e == EACCES || e == EADDRNOTAVAIL ? 2 : 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)port;
    printf("rvm serve: http://%s%s%s:%u/ (data in %s%s; Ctrl-C stops)\n",
           family == AF_INET6 ? "[" : "", host, family == AF_INET6 ? "]" : "", bound,
           rvmi_jobs_data_dir(),
           G.token ? "; log in with the token" : "");
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "rvm: serve: stopping\n");
    rvmi_jobs_close();
    MHD_stop_daemon(d);
    return 0;
}
