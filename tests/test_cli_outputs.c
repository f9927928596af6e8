/* Two conversions in one process (Python's convert_video in two threads, rvm render's
 * conversion after its own parse) each write where their own options say. Outputs named
 * pipe:N are descriptor N; their /dev/fd/N names sat in one static buffer per output flag,
 * so options parsed second re-pointed the first ones: the first conversion wrote into the
 * second's descriptor and left its own file empty.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"

static long size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_size : -1;
}

int main(void)
{
    char dir[] = "/tmp/rvm-test-cli-outputs.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* High numbers: descriptors the test runner may hold stay untouched. */
    enum { FD_A = 53, FD_B = 54 };
    char pa[64], pb[64];
    snprintf(pa, sizeof pa, "%s/a.nut", dir);
    snprintf(pb, sizeof pb, "%s/b.nut", dir);
    int a = open(pa, O_WRONLY | O_CREAT | O_TRUNC, 0644), b = open(pb, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (a < 0 || b < 0 || dup2(a, FD_A) < 0 || dup2(b, FD_B) < 0) {
        perror("open");
        return 1;
    }
    close(a);
    close(b);
    char *argv_a[] = {"rvm", "-i", RVM_SOURCE_DIR "/samples/asl_gestures_again.mkv",
                      "--duration", "0.2", "--threads", "1", "--downsample-ratio", "0.25",
                      "--disable-progress", "--output-alpha", "pipe:53", "-f", "nut", NULL};
    char *argv_b[] = {"rvm", "-i", RVM_SOURCE_DIR "/samples/asl_gestures_again.mkv",
                      "--duration", "0.1", "--threads", "1", "--downsample-ratio", "0.25",
                      "--disable-progress", "--output-alpha", "pipe:54", "-f", "nut", NULL};
    rvmi_cli_options oa, ob;
    char err[1024];
    /* Both parsed before either runs, as two threads of one process may. */
    if (rvmi_cli_parse(14, argv_a, &oa, err, sizeof err) < 0 ||
        rvmi_cli_parse(14, argv_b, &ob, err, sizeof err) < 0) {
        fprintf(stderr, "FAIL: parse: %s\n", err);
        return 1;
    }
    int fails = 0;
    int rc = rvmi_convert(&oa, NULL);
    long sa = size_of(FD_A), sb = size_of(FD_B);
    if (rc != 0 || sa <= 0 || sb != 0) {
        fprintf(stderr, "FAIL: the first conversion (pipe:53): exit %d, %ld bytes in its file, "
                        "%ld in the second's\n", rc, sa, sb);
        fails++;
    }
    rc = rvmi_convert(&ob, NULL);
    long sb2 = size_of(FD_B);
    if (rc != 0 || sb2 <= 0 || sb2 >= sa || size_of(FD_A) != sa) {
        fprintf(stderr, "FAIL: the second conversion (pipe:54): exit %d, %ld bytes in its file "
                        "(the first's: %ld, now %ld)\n", rc, sb2, sa, size_of(FD_A));
        fails++;
    }
    unlink(pa);
    unlink(pb);
    rmdir(dir);
    if (!fails)
        printf("ok: two option sets with pipe:53 and pipe:54, run one after the other in one "
               "process, wrote %ld and %ld bytes into their own files\n", sa, sb2);
    return fails != 0;
}
