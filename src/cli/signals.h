/* Signals: SIGINT, SIGTERM, SIGHUP and SIGXFSZ are honoured from the first instant.
 * Before the conversion starts a signal removes what the run made and exits at once (the
 * set-up may be blocked in an open or a read that nothing else would end); during the
 * conversion the first stops it cleanly (the outputs keep the frames done), signals arriving
 * together with it count once, and a later one quits at once, removing the unfinished
 * files.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef RVM_CLI_SIGNALS_H
#define RVM_CLI_SIGNALS_H

#include <signal.h>
#include <stdatomic.h>

/* Signals that arrive within this time of the first count as one (a process manager or
 * `timeout` signals the process and then its group). */
#define RVM_SIGNAL_BURST_MS 500

/* The signal number that asked to stop (0: none). */
extern atomic_int rvmi_stop_signal;

/* Installs the handlers (set-up mode). */
void rvmi_signals_install(void);
/* From now on the first signal asks for a clean stop. */
void rvmi_signals_converting(void);
/* The signals a worker thread blocks (they go to the main thread). */
void rvmi_signals_worker_set(sigset_t *set);

#endif
