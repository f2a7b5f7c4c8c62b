#include "modelpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

static int found(const char *dir, const char *prefix, const char *kind, char *path, size_t len)
{
    if (!dir || !*dir)
        return 0;
    snprintf(path, len, "%s/%s-%s.safetensors", dir, prefix, kind);
    return access(path, R_OK) == 0;
}

int modelpath_default(const char *kind, char *path, size_t len)
{
    /* $VALAR_MODEL_DIR, when set, is the only place. Otherwise a trained
     * model in either place beats a placeholder in either, so an installed
     * trained model is not shadowed by the source tree's placeholder. */
    const char *env = getenv("VALAR_MODEL_DIR");
    const char *dirs[] = {VALAR_SRC_MODELDIR, VALAR_MODELDIR};
    const size_t ndirs = env && *env ? 1 : sizeof dirs / sizeof *dirs;
    if (env && *env)
        dirs[0] = env;
    for (int placeholder = 0; placeholder < 2; placeholder++)
        for (size_t i = 0; i < ndirs; i++)
            if (found(dirs[i], placeholder ? "placeholder" : "valar", kind, path, len))
                return placeholder;
    if (len)
        path[0] = '\0';
    return -1;
}
