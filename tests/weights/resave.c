/* Load a weight file and save it again: lets interop.py compare our reader
 * and writer with the Python one.  usage: resave IN OUT */
#include "weights.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    char msg[512];
    weights *w;
    int err = weights_load(argv[1], &w, msg, sizeof msg);
    if (!err)
        err = weights_save(w, argv[2], msg, sizeof msg);
    if (err)
        fprintf(stderr, "resave: %s (%s)\n", msg, valar_strerror(err));
    weights_destroy(w);
    return err ? 1 : 0;
}
