#include "model.h"

#include <stdio.h>
#include <string.h>

#include "crnn.h"
#include "melspec.h"
#include "offline.h"

/* What valar needs of a loaded file; msg without the path. */
static int check(const weights *w, int need_streaming, char *msg, size_t msglen)
{
    melspec_config cfg;
    crnn *net = NULL;
    int seq_len;
    int err = melspec_config_read(&cfg, w, msg, msglen);
    if (!err)
        err = melspec_config_check(&cfg, msg, msglen);
    if (!err)
        err = crnn_create(w, &net, msg, msglen);
    if (!err)
        err = offline_seq_len(w, &seq_len, msg, msglen);
    if (!err && need_streaming && crnn_get_kind(net) != CRNN_STREAMING)
        err = valar_fail(msg, msglen, VALAR_ERR_KIND,
                         "an offline (bidirectional) model; this needs a streaming model "
                         "(metadata kind=streaming, e.g. valar-streaming.safetensors)");
    crnn_destroy(net);
    return err;
}

int model_load(const char *path, int need_streaming, weights **out, char *msg, size_t msglen)
{
    weights *w;
    int err = weights_load(path, &w, msg, msglen); /* its message names the file */
    *out = NULL;
    if (err)
        return err;
    char inner[480];
    if ((err = check(w, need_streaming, inner, sizeof inner))) {
        weights_destroy(w);
        return valar_fail(msg, msglen, err, "%s: %s", path, inner);
    }
    *out = w;
    return 0;
}

int model_is_placeholder(const weights *w)
{
    const char *ph = weights_meta(w, "placeholder");
    return ph && strcmp(ph, "true") == 0;
}
