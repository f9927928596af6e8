/* SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include "cli/signals.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/outfile.h"

atomic_int rvmi_stop_signal;
static atomic_int converting;
static atomic_llong first_signal_ms;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(const char *msg)
{
    ssize_t ignored = write(STDERR_FILENO, msg, strlen(msg));
    (void)ignored;
}

static void quit_now(int sig)
{
    rvmi_cleanup_now();
    _exit(128 + sig);
}

static void on_signal(int sig)
{
    int saved_errno = errno;
    if (!atomic_load(&converting)) {
        /* Nothing done yet that is worth keeping; one line says why the run ended (it ended
         * without a word). */
        say(sig == SIGXFSZ ? "rvm: stopped at the file size limit (ulimit -f): the unfinished "
                             "outputs were removed\n"
                           : "rvm: interrupted: the unfinished outputs were removed\n");
        quit_now(sig);
    }
    int expected = 0;
    if (atomic_compare_exchange_strong(&rvmi_stop_signal, &expected, sig)) {
        atomic_store(&first_signal_ms, now_ms());
    } else if (now_ms() - atomic_load(&first_signal_ms) >= RVM_SIGNAL_BURST_MS) {
        /* A deliberate second Ctrl-C: the user does not want to wait for the encoders. */
        say("\nrvm: interrupted again, quitting without finishing (unfinished outputs "
            "removed)\n");
        quit_now(atomic_load(&rvmi_stop_signal));
    }
    errno = saved_errno;
}

static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGXFSZ};

void rvmi_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        sigaddset(&sa.sa_mask, handled[i]);
    /* No SA_RESTART: a blocked read or open returns, and the code sees the stop. */
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        struct sigaction was;
        /* Under nohup SIGHUP is ignored on purpose and stays so. (SIGINT is handled even
         * when a non-interactive shell started rvm in the background with it ignored.) */
        if (handled[i] == SIGHUP && sigaction(SIGHUP, NULL, &was) == 0 &&
            was.sa_handler == SIG_IGN)
            continue;
        sigaction(handled[i], &sa, NULL);
    }
    /* A closed pipe is reported as a write error, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        sigaddset(&set, handled[i]);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

void rvmi_signals_converting(void)
{
    atomic_store(&converting, 1);
}

void rvmi_signals_worker_set(sigset_t *set)
{
    sigemptyset(set);
    /* SIGXFSZ is sent to the thread that wrote; it only sets the flag there. */
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}
