/* Stand-alone driver for the fuzz targets, for compilers without libFuzzer
 * and for replaying corpora in CI. Runs every file named on the command
 * line, and every regular file inside a directory named there; with no
 * arguments it runs standard input once (so AFL++ can drive it with or
 * without @@). Arguments starting with '-' are ignored, which lets the same
 * command line carry libFuzzer flags. */
#define _POSIX_C_SOURCE 200809L

#include "fuzz_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long runs;

static int run_stream(FILE *f, const char *name)
{
    size_t cap = 4096, len = 0, n;
    uint8_t *buf = malloc(cap);
    uint8_t *exact;
    if (buf == NULL)
        return -1;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error\n", name);
        free(buf);
        return -1;
    }
    /* exact-size copy: reads past the input must hit the redzone */
    exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    (void)LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    runs++;
    return 0;
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    int rc;
    if (f == NULL) {
        perror(path);
        return -1;
    }
    rc = run_stream(f, path);
    fclose(f);
    return rc;
}

static int run_path(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path);
    d = opendir(path);
    if (d == NULL) {
        perror(path);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char *child;
        size_t n;
        if (e->d_name[0] == '.')
            continue;
        n = strlen(path) + strlen(e->d_name) + 2;
        child = malloc(n);
        if (child == NULL) {
            rc = -1;
            break;
        }
        snprintf(child, n, "%s/%s", path, e->d_name);
        if (stat(child, &st) == 0 && S_ISREG(st.st_mode) &&
            run_file(child) != 0)
            rc = -1;
        free(child);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int i, rc = 0, any = 0;
    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = 1;
        if (run_path(argv[i]) != 0)
            rc = 1;
    }
    if (!any && run_stream(stdin, "<stdin>") != 0)
        rc = 1;
    fprintf(stderr, "replayed %lu input(s)\n", runs);
    return rc;
}
