/* unload: a host that loads valar.lv2, frees it (lilv unloads the library
 * with the last instance) and then uses FFTW itself must not crash.
 *
 * valar.lv2 makes FFTW's planner thread-safe (fftwf_make_planner_thread_safe,
 * from libfftw3f_threads), which installs hooks into the process's FFTW.
 * Were the plugin's libraries unmapped on unload, those hooks would dangle
 * and the host's next FFTW plan would jump into freed code; the plugin is
 * linked -z nodelete so that it stays. Usage: unload PLUGIN_URI; prints
 * "ok" and exits 0. */
#include <fftw3.h>
#include <lilv/lilv.h>
#include <lv2/urid/urid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *uris[256];
static int n_uris;

static LV2_URID map(LV2_URID_Map_Handle h, const char *uri)
{
    (void)h;
    for (int i = 0; i < n_uris; i++)
        if (!strcmp(uris[i], uri))
            return (LV2_URID)i + 1;
    if (n_uris == 256)
        return 0;
    uris[n_uris] = strdup(uri);
    return (LV2_URID)++n_uris;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: unload PLUGIN_URI\n");
        return 2;
    }
    LilvWorld *world = lilv_world_new();
    lilv_world_load_all(world);
    LilvNode *uri = lilv_new_uri(world, argv[1]);
    const LilvPlugin *p = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(world), uri);
    LV2_URID_Map m = {NULL, map};
    LV2_Feature fmap = {LV2_URID__map, &m};
    const LV2_Feature *features[] = {&fmap, NULL};
    LilvInstance *inst = p ? lilv_plugin_instantiate(p, 48000, features) : NULL;
    if (!inst) {
        fprintf(stderr, "unload: cannot instantiate <%s> (LV2_PATH=%s)\n", argv[1],
                getenv("LV2_PATH"));
        return 1;
    }
    lilv_instance_free(inst); /* the library goes with its last instance */
    lilv_node_free(uri);
    lilv_world_free(world);

    float *in = fftwf_malloc(sizeof(float) * 1024);
    fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * 513);
    for (int i = 0; i < 1024; i++)
        in[i] = (float)(i % 7);
    fftwf_plan plan = fftwf_plan_dft_r2c_1d(1024, in, out, FFTW_ESTIMATE);
    fftwf_execute(plan);
    fftwf_destroy_plan(plan);
    fftwf_free(in);
    fftwf_free(out);
    for (int i = 0; i < n_uris; i++)
        free(uris[i]);
    printf("ok\n");
    return 0;
}
