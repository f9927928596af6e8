/* rvm serve: the jobs (one uploaded video and what is made of it), kept in the data folder,
 * run one or a few at a time, each as its own rvm child process.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_SERVE_JOBS_H
#define RVM_SERVE_JOBS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#define RVMI_JOB_ID_LEN 32 /* 16 random bytes in hex */

typedef enum {
    RVMI_JOB_QUEUED,
    RVMI_JOB_RUNNING,
    RVMI_JOB_DONE,
    RVMI_JOB_FAILED,
    RVMI_JOB_CANCELLED,
    RVMI_JOB_INTERRUPTED, /* the server stopped while it ran */
} rvmi_job_state;

/* What the client asked for, checked (rvmi_job_options_check) before a job exists. */
typedef struct {
    char background[48]; /* "green" (the official green screen), a colour as --background
                            takes it (red, #rrggbb, #rgb, 0xrrggbb, r,g,b), "image" or "none" */
    int composition, alpha, foreground;
    char format[8];      /* "mp4", "webm" or "mov" */
    double ratio;        /* 0: auto */
} rvmi_job_options;

/* What a job's background may be, for the messages that refuse one. */
#define SERVE_BACKGROUNDS                                                                      \
    "expected green, a colour (a name, #RRGGBB, #RGB or R,G,B), image (with background_image) " \
    "or none (transparent: WebM or MOV)"

typedef struct rvmi_job rvmi_job;

/* Opens the store in data_dir (made if missing) and lists the jobs found there: those that
 * were running become interrupted (their partial outputs removed), those queued stay
 * queued, half-received uploads are removed. Starts the queue. Returns 0, or with a message in err
 * -1 when data_dir cannot be used (the command's exit 2) or -2 for a failure of the moment
 * (a full disk, an I/O error, no thread: exit 75). */
int rvmi_jobs_open(const char *data_dir, const char *rvm_exe, int max_running, char *err,
                   size_t errlen);
/* Stops the children (their jobs become interrupted) and the queue; frees everything. */
void rvmi_jobs_close(void);

/* Makes a folder for an upload with a new random id: dir gets its path, id the id. */
int rvmi_jobs_new_upload_dir(char *id, char *dir, size_t dirlen, char *err, size_t errlen);
/* Removes an upload folder that did not become a job. */
void rvmi_jobs_remove_dir(const char *dir);
/* Checks the options; 0, or -1 with a one-line message. */
int rvmi_job_options_check(const rvmi_job_options *o, int have_background_image, char *err,
                           size_t errlen);
/* Copies a client's file name into dst (n bytes); one too long loses the end of its stem, at
 * a UTF-8 character's boundary, and keeps its extension (up to 16 bytes): the downloads' names
 * are made from it. */
void rvmi_fit_name(char *dst, size_t n, const char *src);
/* Queues the upload in the folder of id as a job (name: the client's file name, for display
 * only). Returns the job, referenced (rvmi_job_put when done with it), or NULL (err). */
rvmi_job *rvmi_jobs_add(const char *id, const char *name, const rvmi_job_options *o,
                        int have_background_image, char *err, size_t errlen);

/* 1 when id has the form of a job id (32 lowercase hex digits). */
int rvmi_jobs_valid_id(const char *id);
/* The job with this id, referenced, or NULL. */
rvmi_job *rvmi_job_get(const char *id);
void rvmi_job_put(rvmi_job *j);
/* The job as JSON (the API's view). */
cJSON *rvmi_job_json(rvmi_job *j);
/* Every job, oldest first, as a JSON array. */
cJSON *rvmi_jobs_json(void);
/* Stops a queued or running job (partial outputs are discarded). 0, or -1 when it had
 * already ended. */
int rvmi_job_cancel(rvmi_job *j);
/* Cancels if needed and removes the job and its files. */
void rvmi_job_delete(rvmi_job *j);
/* Waits until the job changed since *version (or timeout_ms, or the store closes); updates
 * *version. Returns 1 when it changed, 0 on timeout, -1 when the store is closing. */
int rvmi_job_wait(rvmi_job *j, unsigned *version, int timeout_ms);
int rvmi_job_ended(rvmi_job *j);

/* A file of a finished job by its public name ("source", "composition.mp4", ...): an open
 * descriptor, its size, MIME type and a download name. -1 when there is no such file. */
int rvmi_job_open_file(rvmi_job *j, const char *name, int64_t *size, const char **type,
                       char *download_name, size_t dnlen);

/* The data folder, absolute. */
const char *rvmi_jobs_data_dir(void);
/* Bytes free for uploads in the data folder. */
int64_t rvmi_jobs_free_space(void);

#endif
