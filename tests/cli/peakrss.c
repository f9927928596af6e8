/* peakrss COMMAND [ARGS...]: runs the command and prints its peak resident set size (the
 * kernel's ru_maxrss of the child, in KiB) as "peak_rss_kib N" on stdout; exits with the
 * command's exit code (125 if it could not be run, 128 + N if killed by signal N).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE /* wait4 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: peakrss COMMAND [ARGS...]\n");
        return 125;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("peakrss: fork");
        return 125;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("peakrss: exec");
        _exit(125);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("peakrss: wait4");
        return 125;
    }
    printf("peak_rss_kib %ld\n", ru.ru_maxrss);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
