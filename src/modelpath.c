#include "modelpath.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int found(const char *dir, const char *prefix, const char *kind, char *path, size_t len)
{
    if (!dir || !*dir)
        return 0;
    snprintf(path, len, "%s/%s-%s.safetensors", dir, prefix, kind);
    return access(path, R_OK) == 0;
}

/* Is this process a program of the build tree (valar, a test)? Only then
 * does the source tree's models/ count: an installed valar must not pick up
 * whatever lies in the checkout it was built from. */
static int in_build_tree(void)
{
    char exe[PATH_MAX], *root = realpath(VALAR_BUILDDIR, NULL);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    int in = 0;
    if (root && n > 0) {
        exe[n] = '\0';
        size_t k = strlen(root);
        in = strncmp(exe, root, k) == 0 && exe[k] == '/';
    }
    free(root);
    return in;
}

/* The places to look, in order; returns how many. */
static int model_dirs(const char *dirs[2])
{
    const char *env = getenv("VALAR_MODEL_DIR");
    if (env && *env) {
        dirs[0] = env;
        return 1;
    }
    int n = 0;
    if (in_build_tree())
        dirs[n++] = VALAR_SRC_MODELDIR;
    dirs[n++] = VALAR_MODELDIR;
    return n;
}

int modelpath_default(const char *kind, char *path, size_t len)
{
    /* A trained model in any of the places beats a placeholder in any. */
    const char *dirs[2];
    const int ndirs = model_dirs(dirs);
    for (int placeholder = 0; placeholder < 2; placeholder++)
        for (int i = 0; i < ndirs; i++)
            if (found(dirs[i], placeholder ? "placeholder" : "valar", kind, path, len))
                return placeholder;
    if (len)
        path[0] = '\0';
    return -1;
}

void modelpath_searched(char *buf, size_t len)
{
    const char *dirs[2];
    const int ndirs = model_dirs(dirs);
    const char *env = getenv("VALAR_MODEL_DIR");
    snprintf(buf, len, "%s%s%s%s", env && *env ? "$VALAR_MODEL_DIR = " : "", dirs[0],
             ndirs > 1 ? " and " : "", ndirs > 1 ? dirs[1] : "");
}
