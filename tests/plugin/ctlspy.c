/* ctlspy: see the control outputs of a plugin running in an unmodified lilv
 * host that does not report them (lv2apply).
 *
 * LD_PRELOAD this into the host. It interposes lilv_plugin_instantiate and
 * wraps the instance's descriptor: connect_port remembers where the two
 * watched output ports live, run() calls the plugin's run() and then, when
 * either value differs from the last one seen, records
 * (frames processed so far, value 1, value 2). At cleanup the records go to
 * $CTLSPY_OUT as CSV "frames,arousal,valence" (%.9g).
 *
 *   CTLSPY_PORTS=4,5   port indices to watch (default 4,5: the stereo
 *                      plugin's arousal and valence)
 *
 * The plugin's own code is untouched; the wrapper only reads the two floats
 * the host connected. Not for sanitizer builds (hosts are not sanitized). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lilv/lilv.h>
#include <lv2/core/lv2.h>

#define MAX_ROWS (1 << 20)

typedef struct {
    long long frames;
    float a, v;
} row;

static const LV2_Descriptor *orig;
static LV2_Descriptor wrapped;
static unsigned watch[2] = {4, 5};
static const float *port[2];
static row *rows;
static long n_rows, dropped;
static long long frames;

static void spy_connect_port(LV2_Handle h, uint32_t index, void *data)
{
    for (int k = 0; k < 2; k++)
        if (index == watch[k])
            port[k] = data;
    orig->connect_port(h, index, data);
}

static void spy_run(LV2_Handle h, uint32_t n)
{
    orig->run(h, n);
    frames += n;
    if (!port[0] || !port[1] || !rows)
        return;
    float a = *port[0], v = *port[1];
    if (n_rows && rows[n_rows - 1].a == a && rows[n_rows - 1].v == v)
        return;
    if (n_rows < MAX_ROWS)
        rows[n_rows++] = (row){frames, a, v};
    else
        dropped++;
}

static void spy_cleanup(LV2_Handle h)
{
    orig->cleanup(h);
    const char *path = getenv("CTLSPY_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f) {
        fprintf(stderr, "ctlspy: cannot write %s\n", path ? path : "(CTLSPY_OUT not set)");
        return;
    }
    fprintf(f, "frames,arousal,valence\n");
    for (long i = 0; i < n_rows; i++)
        fprintf(f, "%lld,%.9g,%.9g\n", rows[i].frames, rows[i].a, rows[i].v);
    if (dropped)
        fprintf(stderr, "ctlspy: %ld changes not recorded\n", dropped);
    fclose(f);
}

LilvInstance *lilv_plugin_instantiate(const LilvPlugin *plugin, double rate,
                                      const LV2_Feature *const *features)
{
    LilvInstance *(*real)(const LilvPlugin *, double, const LV2_Feature *const *) =
        (LilvInstance * (*)(const LilvPlugin *, double, const LV2_Feature *const *))
            dlsym(RTLD_NEXT, "lilv_plugin_instantiate");
    if (!real) {
        fprintf(stderr, "ctlspy: lilv_plugin_instantiate not found\n");
        return NULL;
    }
    LilvInstance *inst = real(plugin, rate, features);
    if (!inst || orig) /* one instance only */
        return inst;
    const char *ports = getenv("CTLSPY_PORTS");
    if (ports && sscanf(ports, "%u,%u", &watch[0], &watch[1]) != 2) {
        fprintf(stderr, "ctlspy: CTLSPY_PORTS must be two indices, e.g. 4,5\n");
        exit(2);
    }
    rows = malloc(MAX_ROWS * sizeof *rows);
    orig = inst->lv2_descriptor;
    wrapped = *orig;
    wrapped.connect_port = spy_connect_port;
    wrapped.run = spy_run;
    wrapped.cleanup = spy_cleanup;
    inst->lv2_descriptor = &wrapped;
    return inst;
}
