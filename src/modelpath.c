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
    const char *dirs[] = {getenv("VALAR_MODEL_DIR"), VALAR_SRC_MODELDIR, VALAR_MODELDIR};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        if (found(dirs[i], "valar", kind, path, len))
            return 0;
        if (found(dirs[i], "placeholder", kind, path, len))
            return 1;
    }
    if (len)
        path[0] = '\0';
    return -1;
}
