/* Runs malformed.py to write one bad weight file per case, then loads each
 * and checks the error code, that the message is one line naming the file,
 * and that it contains the substring the manifest (cases.tsv) asks for.
 *
 * usage: check_malformed PYTHON MALFORMED_PY WORKDIR */
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
    const char *name;
    int code;
} codes[] = {
    {"VALAR_ERR_NOMEM", VALAR_ERR_NOMEM},         {"VALAR_ERR_IO", VALAR_ERR_IO},
    {"VALAR_ERR_TRUNCATED", VALAR_ERR_TRUNCATED}, {"VALAR_ERR_HEADER", VALAR_ERR_HEADER},
    {"VALAR_ERR_OFFSETS", VALAR_ERR_OFFSETS},     {"VALAR_ERR_DTYPE", VALAR_ERR_DTYPE},
    {"VALAR_ERR_SHAPE", VALAR_ERR_SHAPE},         {"VALAR_ERR_MISSING", VALAR_ERR_MISSING},
    {"VALAR_ERR_NONFINITE", VALAR_ERR_NONFINITE}, {"VALAR_ERR_VERSION", VALAR_ERR_VERSION},
    {"VALAR_ERR_TOOBIG", VALAR_ERR_TOOBIG},
};

static int code_of(const char *name)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].name, name) == 0)
            return codes[i].code;
    return 1; /* no such code: never matches a real return value */
}

static int run_generator(const char *python, const char *script, const char *dir)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(python, python, script, dir, (char *)NULL);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PYTHON MALFORMED_PY WORKDIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[3];
    if (run_generator(argv[1], argv[2], dir) != 0) {
        fprintf(stderr, "FAIL: %s %s %s did not succeed\n", argv[1], argv[2], dir);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "FAIL: cannot open %s\n", path);
        return 1;
    }
    int n = 0, failures = 0;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *name = strtok(line, "\t");
        char *code = strtok(NULL, "\t");
        char *needle = strtok(NULL, "\t");
        if (!name || !code || !needle) {
            fprintf(stderr, "FAIL: bad manifest line %d\n", n + 1);
            failures++;
            continue;
        }
        n++;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        weights *w = (weights *)1; /* must be reset to NULL on failure */
        char msg[512] = "unset";
        int err = weights_load(path, &w, msg, sizeof msg);
        int want = code_of(code);
        int ok = err == want && w == NULL && strstr(msg, needle) && strstr(msg, path) &&
                 !strchr(msg, '\n') && strcmp(valar_strerror(err), valar_strerror(1));
        printf("%s %-40s %d (%s) %s\n", ok ? "ok  " : "FAIL", name, err, valar_strerror(err), msg);
        if (!ok) {
            printf("     expected %s (%d) with \"%s\"\n", code, want, needle);
            failures++;
        }
        if (err == 0)
            weights_destroy(w);
    }
    fclose(f);
    printf("%d cases, %d failures\n", n, failures);
    if (n < 30) {
        printf("FAIL: only %d cases\n", n);
        failures++;
    }
    return failures ? 1 : 0;
}
