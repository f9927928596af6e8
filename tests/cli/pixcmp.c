/* Checks pixel data written by the rvm command, after FFmpeg's own tools decoded it to raw
 * little-endian samples. Plain C on purpose: it shares no code with what it checks.
 *
 *   pixcmp close A B            16-bit samples of A against B (B may be a .npy file: its
 *                               header is skipped): >= 99.99% within 1e-3, all within 1e-2,
 *                               mean abs error <= 1e-4 (the golden README's tolerances)
 *   pixcmp over COM FGR PHA R G B BITS
 *                               COM (RGB, BITS 8 or 16) == fgr*a + bg*(1-a) rounded once,
 *                               FGR rgb48le, PHA gray16le, bg the 8-bit colour R,G,B
 *   pixcmp overbg COM FGR PHA BG BITS
 *                               the same over a background picture BG (rgb24; frames repeat
 *                               when BG holds fewer than COM)
 *   pixcmp rgba COM FGR PHA     COM (rgba64le) holds fgr and alpha, colour 0 where alpha is 0
 *   pixcmp round8 A8 A16        8-bit samples are the 16-bit ones rounded to nearest (not
 *                               truncated): |a8 - a16*255/65535| <= 0.5 (+ the 16-bit step)
 *   pixcmp similar A B MEAN     16-bit A and B have a mean abs difference <= MEAN (for inputs
 *                               that differ only by colour conversion rounding)
 *   pixcmp gray A B [TOL]       8-bit A equals 8-bit B (within TOL steps)
 *   pixcmp near8 A B MEAN MAX   8-bit A and B differ by at most MEAN steps on average and
 *                               MAX steps anywhere (conversions that filter differently)
 *   pixcmp within8 A B TOL PCT  at least PCT percent of the 8-bit samples of A and B differ by
 *                               at most TOL steps (inputs that differ below 8-bit precision)
 * Prints one line and exits 0 on success, 1 on a mismatch, 2 on bad use.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t size;
} blob;

/* Every loaded file, freed before exit (the tests also run under LeakSanitizer). */
static uint8_t *loaded[8];
static int nloaded;

static void free_loaded(void)
{
    while (nloaded > 0)
        free(loaded[--nloaded]);
}

static blob load(const char *path)
{
    blob b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "pixcmp: cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc(n > 0 ? (size_t)n : 1);
    if (!b.data || fread(b.data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "pixcmp: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    if (nloaded < 8)
        loaded[nloaded++] = b.data;
    b.size = (size_t)n;
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".npy") == 0) {
        /* NumPy v1: magic(6) version(2) header length(2, LE) header. */
        if (b.size < 10 || memcmp(b.data, "\x93NUMPY", 6) != 0) {
            fprintf(stderr, "pixcmp: %s is not a .npy file\n", path);
            exit(2);
        }
        size_t hl = b.data[8] | (size_t)b.data[9] << 8;
        memmove(b.data, b.data + 10 + hl, b.size - 10 - hl);
        b.size -= 10 + hl;
    }
    return b;
}

/* The files at pa and pb into a and b; 0 when they have the same size and are not empty (two
 * empty files compare nothing), else a FAIL line and 1. */
static int load_pair(const char *pa, const char *pb, blob *a, blob *b)
{
    *a = load(pa), *b = load(pb);
    if (a->size == b->size && a->size > 0)
        return 0;
    printf("FAIL sizes differ or are 0: %zu vs %zu bytes\n", a->size, b->size);
    return 1;
}

static double u16(const blob *b, size_t i)
{
    return (b->data[2 * i] | b->data[2 * i + 1] << 8) / 65535.0;
}

static int close16(const char *pa, const char *pb)
{
    blob a, b;
    if (load_pair(pa, pb, &a, &b))
        return 1;
    size_t n = a.size / 2, over3 = 0;
    double maxe = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(u16(&a, i) - u16(&b, i));
        sum += e;
        if (e > maxe)
            maxe = e;
        if (e > 1e-3)
            over3++;
    }
    double mean = sum / n, frac = 1.0 - (double)over3 / n;
    int ok = frac >= 0.9999 && maxe <= 1e-2 && mean <= 1e-4;
    printf("%s %zu samples: max %.3g, mean %.3g, within 1e-3: %.5f%%\n", ok ? "OK" : "FAIL", n,
           maxe, mean, 100 * frac);
    return !ok;
}

/* bg: a picture (rgb24, repeated) or, when NULL, the colour rgb. */
static int over_any(char **argv, const blob *bgpic, const int *rgb, int bits, const char *what)
{
    blob com = load(argv[0]), fgr = load(argv[1]), pha = load(argv[2]);
    size_t n = pha.size / 2;
    size_t want = n * 3 * (bits == 16 ? 2 : 1);
    if (n == 0 || fgr.size != n * 6 || com.size != want ||
        (bgpic && (bgpic->size == 0 || bgpic->size % 3))) {
        printf("FAIL sizes: com %zu, fgr %zu, pha %zu bytes\n", com.size, fgr.size, pha.size);
        return 1;
    }
    double scale = bits == 16 ? 65535.0 : 255.0;
    /* The composition is computed from the very 16-bit fgr and alpha written beside it and
     * rounded once: within the output's half step (and a hundredth of a 16-bit step for the
     * float arithmetic). Computing it from other values (unrounded floats, or 8-bit ones)
     * would move it by up to ~1.5/65535 (~0.5/255) more. */
    double tol = bits == 16 ? 0.51 / 65535 : 0.5 / 255 + 0.01 / 65535;
    double maxe = 0;
    for (size_t i = 0; i < n; i++) {
        double a = u16(&pha, i);
        for (int c = 0; c < 3; c++) {
            double f = u16(&fgr, 3 * i + c);
            double bg = bgpic ? bgpic->data[(3 * i + c) % bgpic->size] / 255.0 : rgb[c] / 255.0;
            double got = bits == 16 ? u16(&com, 3 * i + c) : com.data[3 * i + c] / scale;
            double e = fabs(got - (f * a + bg * (1 - a)));
            if (e > maxe)
                maxe = e;
        }
    }
    int ok = maxe <= tol;
    printf("%s composition over %s (%d-bit), %zu pixels: max error %.3g (allowed %.3g)\n",
           ok ? "OK" : "FAIL", what, bits, n, maxe, tol);
    return !ok;
}

static int over(char **argv)
{
    int rgb[3] = {atoi(argv[3]), atoi(argv[4]), atoi(argv[5])};
    return over_any(argv, NULL, rgb, atoi(argv[6]), "a colour");
}

static int overbg(char **argv)
{
    blob bg = load(argv[3]);
    return over_any(argv, &bg, NULL, atoi(argv[4]), argv[3]);
}

static int round8(const char *p8, const char *p16)
{
    blob a = load(p8), b = load(p16);
    if (a.size * 2 != b.size || a.size == 0) {
        printf("FAIL sizes: %zu and %zu bytes\n", a.size, b.size);
        return 1;
    }
    double maxe = 0, sum = 0;
    for (size_t i = 0; i < a.size; i++) {
        double e = a.data[i] - u16(&b, i) * 255.0;
        sum += e;
        if (fabs(e) > maxe)
            maxe = fabs(e);
    }
    /* Truncation would show as errors up to 1 and a mean near -0.5. */
    int ok = maxe <= 0.5 + 255.0 / 65535 && fabs(sum / a.size) < 0.05;
    printf("%s 8-bit vs 16-bit, %zu samples: max %.4f steps, mean %.4f\n", ok ? "OK" : "FAIL",
           a.size, maxe, sum / a.size);
    return !ok;
}

static int rgba(char **argv)
{
    blob com = load(argv[0]), fgr = load(argv[1]), pha = load(argv[2]);
    size_t n = pha.size / 2;
    if (n == 0 || fgr.size != n * 6 || com.size != n * 8) {
        printf("FAIL sizes: com %zu, fgr %zu, pha %zu bytes\n", com.size, fgr.size, pha.size);
        return 1;
    }
    size_t bad = 0, zero = 0;
    for (size_t i = 0; i < n; i++) {
        double a = u16(&pha, i);
        if (u16(&com, 4 * i + 3) != a)
            bad++;
        for (int c = 0; c < 3; c++) {
            double want = a == 0 ? 0 : u16(&fgr, 3 * i + c);
            if (u16(&com, 4 * i + c) != want)
                bad++;
        }
        zero += a == 0;
    }
    printf("%s RGBA composition, %zu pixels (%zu transparent): %zu samples differ\n",
           bad ? "FAIL" : "OK", n, zero, bad);
    return bad != 0;
}

static int similar(const char *pa, const char *pb, double tol)
{
    blob a, b;
    if (load_pair(pa, pb, &a, &b))
        return 1;
    double sum = 0;
    for (size_t i = 0; i < a.size / 2; i++)
        sum += fabs(u16(&a, i) - u16(&b, i));
    double mean = sum / (a.size / 2);
    printf("%s mean abs difference %.3g (allowed %.3g)\n", mean <= tol ? "OK" : "FAIL", mean, tol);
    return mean > tol;
}

/* Byte-by-byte differences of two 8-bit pictures: mean and largest, and how many are at most
 * tol. */
typedef struct {
    double mean;
    int max;
    size_t within;
} diff8;

static diff8 diff8_of(const blob *a, const blob *b, int tol)
{
    diff8 d = {0, 0, 0};
    double sum = 0;
    for (size_t i = 0; i < a->size; i++) {
        int e = abs(a->data[i] - b->data[i]);
        sum += e;
        d.within += e <= tol;
        if (e > d.max)
            d.max = e;
    }
    d.mean = sum / a->size;
    return d;
}

static int gray(const char *pa, const char *pb, int tol)
{
    blob a, b;
    if (load_pair(pa, pb, &a, &b))
        return 1;
    size_t bad = a.size - diff8_of(&a, &b, tol).within;
    printf("%s %zu samples, %zu differ by more than %d\n", bad ? "FAIL" : "OK", a.size, bad, tol);
    return bad != 0;
}

static int near8(const char *pa, const char *pb, double mean_tol, int max_tol)
{
    blob a, b;
    if (load_pair(pa, pb, &a, &b))
        return 1;
    diff8 d = diff8_of(&a, &b, max_tol);
    int ok = d.mean <= mean_tol && d.max <= max_tol;
    printf("%s %zu samples: mean %.3f steps (allowed %.3g), max %d (allowed %d)\n",
           ok ? "OK" : "FAIL", a.size, d.mean, mean_tol, d.max, max_tol);
    return !ok;
}

static int within8(const char *pa, const char *pb, int tol, double pct)
{
    blob a, b;
    if (load_pair(pa, pb, &a, &b))
        return 1;
    diff8 d = diff8_of(&a, &b, tol);
    double got = 100.0 * d.within / a.size;
    int ok = got >= pct;
    printf("%s %zu samples: %.3f%% within %d steps (allowed %.3g%%), max %d\n", ok ? "OK" : "FAIL",
           a.size, got, tol, pct, d.max);
    return !ok;
}

int main(int argc, char **argv)
{
    atexit(free_loaded);
    if (argc == 4 && strcmp(argv[1], "close") == 0)
        return close16(argv[2], argv[3]);
    if (argc == 9 && strcmp(argv[1], "over") == 0)
        return over(argv + 2);
    if (argc == 5 && strcmp(argv[1], "similar") == 0)
        return similar(argv[2], argv[3], atof(argv[4]));
    if (argc == 7 && strcmp(argv[1], "overbg") == 0)
        return overbg(argv + 2);
    if (argc == 4 && strcmp(argv[1], "round8") == 0)
        return round8(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "rgba") == 0)
        return rgba(argv + 2);
    if (argc == 6 && strcmp(argv[1], "near8") == 0)
        return near8(argv[2], argv[3], atof(argv[4]), atoi(argv[5]));
    if (argc == 6 && strcmp(argv[1], "within8") == 0)
        return within8(argv[2], argv[3], atoi(argv[4]), atof(argv[5]));
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "gray") == 0)
        return gray(argv[2], argv[3], argc == 5 ? atoi(argv[4]) : 0);
    fprintf(stderr, "usage: pixcmp close A B | over COM FGR PHA R G B BITS | overbg COM FGR PHA "
                    "BG BITS | rgba COM FGR PHA | round8 A8 A16 | similar A B MEAN | gray A B [TOL] | "
                    "near8 A B MEAN MAX | within8 A B TOL PCT\n");
    return 2;
}
