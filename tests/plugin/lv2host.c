/* lv2host: a minimal lilv host for testing valar.lv2. lv2apply cannot report
 * control outputs, load state or run a worker, so the tests use this.
 *
 *   lv2host [options] PLUGIN_URI IN.wav OUT.wav
 *     -b N      frames per run() (default 256)
 *     -c CSV    after every run(): frames_done,arousal,valence (%.9g)
 *     -m PATH   before the audio: patch:Set valar:model PATH, run(0), worker
 *     -g        before the audio: patch:Get; print "notify model=PATH" for
 *               every patch:Set the plugin sends
 *     -S DIR    after the audio: save the plugin state to DIR
 *     -R DIR    before the audio: restore the plugin state from DIR
 *     -t        print run() timing: "run_us mean=.. max=.. budget=.."
 *     -F N      refuse the first N schedule_work calls made from
 *               work_response (a full worker queue); at the end print
 *               "worker jobs=N refused=N"
 *     -p SYM=V  set control input SYM to V (repeatable; the others keep
 *               their TTL defaults)
 *     -M CSV    capture the MIDI output: one row per event,
 *               frame,offset,status,data1,data2 (frame: from the start of
 *               the file; offset: within its run() block). Fails if an event
 *               is not a 3-byte midi:MidiEvent, lies outside its block or
 *               comes before the previous one.
 *     -C BYTES  the MIDI output's capacity as passed in its atom.size (default
 *               16376: the 16384-byte buffer less the atom header)
 *     -i MODE   in-place audio: "inplace" (each output shares the buffer of the
 *               input with its index) or "crossed" (stereo: out 1 shares in 2's
 *               buffer, out 2 in 1's)
 *     -u SYM    leave port SYM unconnected (NULL; repeatable)
 *     -z        run(0) before every block (it must send no MIDI)
 *     -P AT:FRAME:SPEED
 *               a time:Position (time:frame FRAME as a Long, time:speed
 *               SPEED as a Float; an empty field is left out) on the
 *               control port at input frame AT (repeatable, AT ascending; it
 *               lands inside the block that holds AT, at that offset)
 *     -s AT:SYM=V  set control input SYM to V from input frame AT on
 *               (repeatable, AT ascending; the block before ends at AT)
 *     -D        run with the x86 MXCSR flush-to-zero and denormals-are-zero
 *               flags set, as Ardour's process threads do
 *
 * Output buffers that share no input are filled with NaN before every run(),
 * as stale data, so an output the plugin does not write shows in OUT.wav.
 *
 * The worker runs in the host thread between run() calls (outside run(),
 * like a worker thread would), so results are deterministic. A mono file
 * feeds every input port. Log messages go to stderr as "log <type>: msg".
 * Exit status: 0, or 1 with a message. */
#include <lilv/lilv.h>
#include <lv2/atom/atom.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/core/lv2.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>
#include <sndfile.h>

#include <dlfcn.h>
#include <errno.h>
#include <lv2/time/time.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MODEL_URI "urn:valar:lv2:model"
#define MAX_SETS 16
#define SEQ_BYTES 16384
#define QUEUE_LEN 16
#define MSG_MAX 8192

/* ---- urid map: a growing table, only used outside run() ---- */
static char **uri_table;
static LV2_URID n_uris;

static LV2_URID map_uri(LV2_URID_Map_Handle h, const char *uri)
{
    (void)h;
    for (LV2_URID i = 0; i < n_uris; i++)
        if (!strcmp(uri_table[i], uri))
            return i + 1;
    uri_table = realloc(uri_table, (n_uris + 1) * sizeof *uri_table);
    uri_table[n_uris] = strdup(uri);
    return ++n_uris;
}

static const char *unmap_uri(LV2_URID_Unmap_Handle h, LV2_URID id)
{
    (void)h;
    return id >= 1 && id <= n_uris ? uri_table[id - 1] : NULL;
}

/* ---- log ---- */
static int log_vprintf(LV2_Log_Handle h, LV2_URID type, const char *fmt, va_list ap)
{
    (void)h;
    const char *t = unmap_uri(NULL, type);
    const char *hash = t ? strrchr(t, '#') : NULL;
    fprintf(stderr, "log %s: ", hash ? hash + 1 : "?");
    return vfprintf(stderr, fmt, ap);
}

static int log_printf(LV2_Log_Handle h, LV2_URID type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = log_vprintf(h, type, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- worker: two fixed queues, drained between run() calls ---- */
typedef struct {
    uint32_t size;
    char data[MSG_MAX];
} message;

typedef struct {
    message m[QUEUE_LEN];
    int n;
} queue;

static queue work_q, resp_q;
static int refuse_in_response, refused, jobs;
static bool in_response;

static LV2_Worker_Status push(queue *q, uint32_t size, const void *data)
{
    if (q->n == QUEUE_LEN || size > MSG_MAX)
        return LV2_WORKER_ERR_NO_SPACE;
    q->m[q->n].size = size;
    memcpy(q->m[q->n].data, data, size);
    q->n++;
    return LV2_WORKER_SUCCESS;
}

static LV2_Worker_Status schedule_work(LV2_Worker_Schedule_Handle h, uint32_t size,
                                       const void *data)
{
    (void)h;
    if (in_response && refuse_in_response > 0) {
        refuse_in_response--;
        refused++;
        return LV2_WORKER_ERR_NO_SPACE;
    }
    return push(&work_q, size, data);
}

static LV2_Worker_Status respond(LV2_Worker_Respond_Handle h, uint32_t size, const void *data)
{
    (void)h;
    return push(&resp_q, size, data);
}

static void drain_worker(LilvInstance *inst, const LV2_Worker_Interface *iface)
{
    static message m; /* popped copy: handlers may push while we iterate */
    while (iface && (work_q.n || resp_q.n)) {
        while (work_q.n) {
            m = work_q.m[0];
            memmove(&work_q.m[0], &work_q.m[1], (size_t)(--work_q.n) * sizeof m);
            jobs++;
            iface->work(lilv_instance_get_handle(inst), respond, NULL, m.size, m.data);
        }
        while (resp_q.n) {
            m = resp_q.m[0];
            memmove(&resp_q.m[0], &resp_q.m[1], (size_t)(--resp_q.n) * sizeof m);
            in_response = true;
            iface->work_response(lilv_instance_get_handle(inst), m.size, m.data);
            in_response = false;
        }
    }
    if (iface && iface->end_run)
        iface->end_run(lilv_instance_get_handle(inst));
}

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lv2host: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* -P and -s: things that happen at an input frame. */
typedef struct {
    long long at;
    bool has_frame, has_speed;
    long long frame;
    float speed;
} position;

typedef struct {
    long long at;
    const char *sym;
    float value;
    float *port;
} timed_set;

typedef struct {
    LV2_URID_Map map;
    LV2_Atom_Forge forge;
    LV2_URID patch_Set, patch_Get, patch_property, patch_value, atom_Path, atom_URID, model;
    LV2_Atom_Sequence *control, *notify, *midi;
    uint32_t midi_capacity; /* bytes after the atom header */
    bool print_notify;
} atoms;

static void control_clear(atoms *a)
{
    a->control->atom.type = a->map.map(a->map.handle, LV2_ATOM__Sequence);
    a->control->atom.size = sizeof(LV2_Atom_Sequence_Body);
    a->control->body.unit = 0;
    a->control->body.pad = 0;
    a->notify->atom.type = a->map.map(a->map.handle, LV2_ATOM__Chunk);
    a->notify->atom.size = SEQ_BYTES - sizeof(LV2_Atom);
    a->midi->atom.type = a->map.map(a->map.handle, LV2_ATOM__Chunk);
    a->midi->atom.size = a->midi_capacity;
}

/* Append the MIDI events of the last run() (block of n frames starting at
 * frame `start`) to csv; *last is the previous event's frame. */
static int read_midi(atoms *a, FILE *csv, long long start, uint32_t n, long long *last)
{
    if (a->midi->atom.type == a->map.map(a->map.handle, LV2_ATOM__Chunk))
        return 0; /* the plugin did not write it */
    if (a->midi->atom.type != a->map.map(a->map.handle, LV2_ATOM__Sequence) ||
        a->midi->atom.size > a->midi_capacity)
        return fail("MIDI output is not a sequence within the buffer");
    LV2_URID midi_event = a->map.map(a->map.handle, LV2_MIDI__MidiEvent);
    LV2_ATOM_SEQUENCE_FOREACH(a->midi, ev)
    {
        const uint8_t *b = LV2_ATOM_BODY_CONST(&ev->body);
        long long t = ev->time.frames;
        if (ev->body.type != midi_event || ev->body.size != 3)
            return fail("MIDI output: event of type %u, %u bytes", ev->body.type, ev->body.size);
        if (t < 0 || t >= n || start + t < *last)
            return fail("MIDI output: event at offset %lld of a %u-frame block (previous at "
                        "frame %lld)",
                        t, n, *last);
        *last = start + t;
        fprintf(csv, "%lld,%lld,%u,%u,%u\n", start + t, t, b[0], b[1], b[2]);
    }
    return 0;
}

/* The control sequence for the block [start, start + n): the positions in
 * it (from *next on), at their offsets. */
static void control_positions(atoms *a, const position *pos, int n_pos, int *next,
                              long long start, uint32_t n)
{
    if (*next >= n_pos || pos[*next].at >= start + n)
        return;
    LV2_Atom_Forge *f = &a->forge;
    LV2_URID pos_t = a->map.map(a->map.handle, LV2_TIME__Position);
    LV2_URID frame_k = a->map.map(a->map.handle, LV2_TIME__frame);
    LV2_URID speed_k = a->map.map(a->map.handle, LV2_TIME__speed);
    lv2_atom_forge_set_buffer(f, (uint8_t *)a->control, SEQ_BYTES);
    LV2_Atom_Forge_Frame seq, obj;
    lv2_atom_forge_sequence_head(f, &seq, 0);
    for (; *next < n_pos && pos[*next].at < start + n; (*next)++) {
        const position *p = &pos[*next];
        lv2_atom_forge_frame_time(f, p->at - start);
        lv2_atom_forge_object(f, &obj, 0, pos_t);
        if (p->has_frame) {
            lv2_atom_forge_key(f, frame_k);
            lv2_atom_forge_long(f, p->frame);
        }
        if (p->has_speed) {
            lv2_atom_forge_key(f, speed_k);
            lv2_atom_forge_float(f, p->speed);
        }
        lv2_atom_forge_pop(f, &obj);
    }
    lv2_atom_forge_pop(f, &seq);
}

static bool parse_position(const char *s, position *p)
{
    char *end;
    errno = 0;
    p->at = strtoll(s, &end, 10);
    if (*end != ':' || p->at < 0)
        return false;
    s = end + 1;
    p->has_frame = *s != ':';
    if (p->has_frame) {
        p->frame = strtoll(s, &end, 10);
        if (end == s)
            return false;
        s = end;
    }
    if (*s != ':')
        return false;
    s++;
    p->has_speed = *s != '\0';
    if (p->has_speed) {
        p->speed = strtof(s, &end);
        if (end == s || *end)
            return false;
    }
    return errno == 0;
}

static bool parse_timed_set(char *s, timed_set *ts)
{
    char *end, *eq;
    ts->at = strtoll(s, &end, 10);
    if (*end != ':' || ts->at < 0 || !(eq = strchr(end + 1, '=')))
        return false;
    *eq = '\0';
    ts->sym = end + 1;
    ts->value = strtof(eq + 1, &end);
    ts->port = NULL;
    return end != eq + 1 && !*end;
}

/* Fill the control sequence with a patch:Get and/or a patch:Set of the model. */
static void control_patch(atoms *a, bool get, const char *path)
{
    LV2_Atom_Forge *f = &a->forge;
    lv2_atom_forge_set_buffer(f, (uint8_t *)a->control, SEQ_BYTES);
    LV2_Atom_Forge_Frame seq, obj;
    lv2_atom_forge_sequence_head(f, &seq, 0);
    if (get) {
        lv2_atom_forge_frame_time(f, 0);
        lv2_atom_forge_object(f, &obj, 0, a->patch_Get);
        lv2_atom_forge_pop(f, &obj);
    }
    if (path) {
        lv2_atom_forge_frame_time(f, 0);
        lv2_atom_forge_object(f, &obj, 0, a->patch_Set);
        lv2_atom_forge_key(f, a->patch_property);
        lv2_atom_forge_urid(f, a->model);
        lv2_atom_forge_key(f, a->patch_value);
        lv2_atom_forge_path(f, path, (uint32_t)strlen(path));
        lv2_atom_forge_pop(f, &obj);
    }
    lv2_atom_forge_pop(f, &seq);
}

static void read_notify(atoms *a)
{
    if (!a->print_notify || a->notify->atom.type == a->map.map(a->map.handle, LV2_ATOM__Chunk))
        return;
    LV2_ATOM_SEQUENCE_FOREACH(a->notify, ev)
    {
        const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
        if (obj->body.otype != a->patch_Set)
            continue;
        const LV2_Atom *prop = NULL, *val = NULL;
        lv2_atom_object_get(obj, a->patch_property, &prop, a->patch_value, &val, 0);
        if (prop && prop->type == a->atom_URID && ((const LV2_Atom_URID *)prop)->body == a->model &&
            val && val->type == a->atom_Path)
            printf("notify model=%s\n", (const char *)LV2_ATOM_BODY_CONST(val));
    }
}

int main(int argc, char **argv)
{
    int block = 256, opt;
    const char *csv_path = NULL, *model = NULL, *save_dir = NULL, *restore_dir = NULL;
    const char *midi_path = NULL, *sets[MAX_SETS], *unconnected[MAX_SETS], *inplace = NULL;
    int n_sets = 0, n_unconnected = 0, n_pos = 0, n_tsets = 0;
    position pos[MAX_SETS];
    timed_set tsets[MAX_SETS];
    bool ftz = false;
    long midi_capacity = SEQ_BYTES - sizeof(LV2_Atom);
    bool get = false, timing = false, count_jobs = false, zero_runs = false;
    while ((opt = getopt(argc, argv, "b:c:m:gS:R:tF:p:M:C:i:u:zP:s:D")) != -1) {
        switch (opt) {
        case 'b':
            block = atoi(optarg);
            break;
        case 'c':
            csv_path = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'g':
            get = true;
            break;
        case 'S':
            save_dir = optarg;
            break;
        case 'R':
            restore_dir = optarg;
            break;
        case 't':
            timing = true;
            break;
        case 'F':
            refuse_in_response = atoi(optarg);
            count_jobs = true;
            break;
        case 'p':
            if (n_sets == MAX_SETS || !strchr(optarg, '='))
                return fail("-p SYMBOL=VALUE, at most %d times", MAX_SETS);
            sets[n_sets++] = optarg;
            break;
        case 'M':
            midi_path = optarg;
            break;
        case 'C':
            midi_capacity = atol(optarg);
            if (midi_capacity < (long)sizeof(LV2_Atom_Sequence_Body) ||
                midi_capacity > SEQ_BYTES - (long)sizeof(LV2_Atom))
                return fail("-C: capacity %s out of range", optarg);
            break;
        case 'i':
            if (strcmp(optarg, "inplace") && strcmp(optarg, "crossed"))
                return fail("-i inplace or -i crossed");
            inplace = optarg;
            break;
        case 'u':
            if (n_unconnected == MAX_SETS)
                return fail("-u SYMBOL, at most %d times", MAX_SETS);
            unconnected[n_unconnected++] = optarg;
            break;
        case 'z':
            zero_runs = true;
            break;
        case 'P':
            if (n_pos == MAX_SETS || !parse_position(optarg, &pos[n_pos]) ||
                (n_pos && pos[n_pos].at < pos[n_pos - 1].at))
                return fail("-P AT:FRAME:SPEED, AT ascending, at most %d times", MAX_SETS);
            n_pos++;
            break;
        case 's':
            if (n_tsets == MAX_SETS || !parse_timed_set(optarg, &tsets[n_tsets]) ||
                (n_tsets && tsets[n_tsets].at < tsets[n_tsets - 1].at))
                return fail("-s AT:SYMBOL=VALUE, AT ascending, at most %d times", MAX_SETS);
            n_tsets++;
            break;
        case 'D':
#if defined(__SSE__)
            ftz = true;
            break;
#else
            return fail("-D: no MXCSR on this machine");
#endif
        default:
            return fail("bad option (see the comment at the top of lv2host.c)");
        }
    }
    if (argc - optind != 3 || block < 1)
        return fail("usage: lv2host [-b N] [-c CSV] [-m PATH] [-g] [-S DIR] [-R DIR] [-t] [-F N] "
                    "[-p SYM=V]... [-M CSV] [-C BYTES] [-i MODE] [-u SYM]... [-z] [-P AT:FRAME:SPEED]... "
                    "[-s AT:SYM=V]... [-D] URI IN.wav OUT.wav");
    const char *uri = argv[optind], *in_path = argv[optind + 1], *out_path = argv[optind + 2];

    LilvWorld *world = lilv_world_new();
    lilv_world_load_all(world);
    LilvNode *uri_node = lilv_new_uri(world, uri);
    const LilvPlugin *plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(world), uri_node);
    lilv_node_free(uri_node);
    if (!plugin)
        return fail("plugin <%s> not found (LV2_PATH=%s)", uri, getenv("LV2_PATH"));

    /* Keep the plugin binary (and the libraries it pulled in, e.g. FFTW with
     * its planner caches) mapped after lilv's dlclose, as a long-running host
     * would: LeakSanitizer then sees their globals as reachable. The plugin's
     * own leaks are still reported. */
    char *lib = lilv_file_uri_parse(lilv_node_as_uri(lilv_plugin_get_library_uri(plugin)), NULL);
    void *keep = lib ? dlopen(lib, RTLD_NOW | RTLD_NODELETE) : NULL;
    if (!keep)
        return fail("cannot load %s: %s", lib ? lib : "(no library)", dlerror());
    lilv_free(lib);

    SF_INFO in_info = {0};
    SNDFILE *in = sf_open(in_path, SFM_READ, &in_info);
    if (!in)
        return fail("%s: %s", in_path, sf_strerror(NULL));

    /* Features. */
    atoms a = {0};
    a.map.map = map_uri;
    LV2_URID_Unmap unmap = {NULL, unmap_uri};
    LV2_Log_Log log = {NULL, log_printf, log_vprintf};
    LV2_Worker_Schedule sched = {NULL, schedule_work};
    LV2_Feature f_map = {LV2_URID__map, &a.map}, f_unmap = {LV2_URID__unmap, &unmap},
                f_log = {LV2_LOG__log, &log}, f_sched = {LV2_WORKER__schedule, &sched};
    const LV2_Feature *features[] = {&f_map, &f_unmap, &f_log, &f_sched, NULL};
    lv2_atom_forge_init(&a.forge, &a.map);
    a.patch_Set = map_uri(NULL, LV2_PATCH__Set);
    a.patch_Get = map_uri(NULL, LV2_PATCH__Get);
    a.patch_property = map_uri(NULL, LV2_PATCH__property);
    a.patch_value = map_uri(NULL, LV2_PATCH__value);
    a.atom_Path = map_uri(NULL, LV2_ATOM__Path);
    a.atom_URID = map_uri(NULL, LV2_ATOM__URID);
    a.model = map_uri(NULL, MODEL_URI);
    a.control = aligned_alloc(8, SEQ_BYTES);
    a.notify = aligned_alloc(8, SEQ_BYTES);
    a.midi = aligned_alloc(8, SEQ_BYTES);
    a.midi_capacity = (uint32_t)midi_capacity;
    a.print_notify = get;

    LilvInstance *inst = lilv_plugin_instantiate(plugin, in_info.samplerate, features);
    if (!inst)
        return fail("cannot instantiate <%s>", uri);
    const LV2_Worker_Interface *worker =
        lilv_instance_get_extension_data(inst, LV2_WORKER__interface);

    /* Ports. */
    LilvNode *audio = lilv_new_uri(world, LV2_CORE__AudioPort);
    LilvNode *control = lilv_new_uri(world, LV2_CORE__ControlPort);
    LilvNode *atom = lilv_new_uri(world, LV2_ATOM__AtomPort);
    LilvNode *input = lilv_new_uri(world, LV2_CORE__InputPort);
    LilvNode *midi_event = lilv_new_uri(world, LV2_MIDI__MidiEvent);
    uint32_t n_ports = lilv_plugin_get_num_ports(plugin);
    int n_in = 0, n_out = 0, used_sets = 0, used_unconnected = 0;
    bool have_midi = false;
    float *in_buf[8], *out_buf[8];
    uint32_t in_port[8], out_port[8];
    bool in_null[8], out_null[8];
    float ctl[64] = {0}, defaults[64], arousal = 0.0f, valence = 0.0f;
    if (n_ports > 64)
        return fail("<%s> has %u ports, lv2host handles 64", uri, n_ports);
    /* Control inputs start at their defaults, as in any host. */
    lilv_plugin_get_port_ranges_float(plugin, NULL, NULL, defaults);
    for (uint32_t i = 0; i < n_ports; i++) {
        const LilvPort *port = lilv_plugin_get_port_by_index(plugin, i);
        bool is_in = lilv_port_is_a(plugin, port, input);
        const char *sym = lilv_node_as_string(lilv_port_get_symbol(plugin, port));
        bool null = false;
        for (int k = 0; k < n_unconnected; k++)
            if (!strcmp(unconnected[k], sym)) {
                null = true;
                used_unconnected++;
            }
        if (lilv_port_is_a(plugin, port, audio)) {
            /* Connected below, once every audio port is known (-i). */
            float *buf = calloc((size_t)block, sizeof *buf);
            if (is_in && n_in < 8) {
                in_port[n_in] = i;
                in_null[n_in] = null;
                in_buf[n_in++] = buf;
            } else if (!is_in && n_out < 8) {
                out_port[n_out] = i;
                out_null[n_out] = null;
                out_buf[n_out++] = buf;
            }
        } else if (null) {
            lilv_instance_connect_port(inst, i, NULL);
        } else if (lilv_port_is_a(plugin, port, control)) {
            float *p = !strcmp(sym, "arousal")   ? &arousal
                       : !strcmp(sym, "valence") ? &valence
                                                 : &ctl[i];
            if (is_in) {
                for (int k = 0; k < n_tsets; k++)
                    if (!strcmp(tsets[k].sym, sym))
                        tsets[k].port = &ctl[i];
                ctl[i] = defaults[i] == defaults[i] ? defaults[i] : 0.0f;
                size_t len = strlen(sym);
                for (int k = 0; k < n_sets; k++)
                    if (!strncmp(sets[k], sym, len) && sets[k][len] == '=') {
                        ctl[i] = strtof(sets[k] + len + 1, NULL);
                        used_sets++;
                    }
            }
            lilv_instance_connect_port(inst, i, p);
        } else if (lilv_port_is_a(plugin, port, atom)) {
            bool is_midi = !is_in && lilv_port_supports_event(plugin, port, midi_event);
            have_midi = have_midi || is_midi;
            lilv_instance_connect_port(inst, i, is_in ? a.control : is_midi ? a.midi : a.notify);
        } else {
            lilv_instance_connect_port(inst, i, NULL);
        }
    }
    lilv_node_free(audio);
    lilv_node_free(control);
    lilv_node_free(atom);
    lilv_node_free(input);
    lilv_node_free(midi_event);
    if (used_sets != n_sets)
        return fail("-p: %d of %d settings name no control input of <%s>", n_sets - used_sets,
                    n_sets, uri);
    for (int k = 0; k < n_tsets; k++)
        if (!tsets[k].port)
            return fail("-s: %s names no connected control input of <%s>", tsets[k].sym, uri);
    if (used_unconnected != n_unconnected)
        return fail("-u: %d of %d symbols name no port of <%s>", n_unconnected - used_unconnected,
                    n_unconnected, uri);
    if (inplace && (n_in != n_out || (inplace[0] == 'c' && n_in != 2)))
        return fail("-i %s: <%s> has %d audio inputs and %d outputs", inplace, uri, n_in, n_out);
    /* out_at[c]: the buffer output c is connected to (NULL: none), which
     * may be an input's. */
    float *out_at[8];
    for (int c = 0; c < n_in; c++)
        lilv_instance_connect_port(inst, in_port[c], in_null[c] ? NULL : in_buf[c]);
    for (int c = 0; c < n_out; c++) {
        out_at[c] = !inplace ? out_buf[c] : inplace[0] == 'i' ? in_buf[c] : in_buf[n_in - 1 - c];
        if (out_null[c])
            out_at[c] = NULL;
        lilv_instance_connect_port(inst, out_port[c], out_at[c]);
    }
    if (midi_path && !have_midi)
        return fail("-M: <%s> has no MIDI output", uri);
    if (n_in < 1 || (in_info.channels != n_in && in_info.channels != 1))
        return fail("%s has %d channels, the plugin %d inputs", in_path, in_info.channels, n_in);

    if (restore_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/state.ttl", restore_dir);
        LilvState *st = lilv_state_new_from_file(world, &a.map, NULL, path);
        if (!st)
            return fail("cannot read state %s", path);
        lilv_state_restore(st, inst, NULL, NULL, 0, features);
        lilv_state_free(st);
    }

    SF_INFO out_info = in_info;
    out_info.channels = n_out;
    out_info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *out = sf_open(out_path, SFM_WRITE, &out_info);
    if (!out)
        return fail("%s: %s", out_path, sf_strerror(NULL));
    FILE *csv = csv_path ? fopen(csv_path, "w") : NULL;
    if (csv_path && !csv)
        return fail("cannot write %s", csv_path);
    if (csv)
        fprintf(csv, "frames,arousal,valence\n");
    FILE *midi_csv = midi_path ? fopen(midi_path, "w") : NULL;
    if (midi_path && !midi_csv)
        return fail("cannot write %s", midi_path);
    if (midi_csv)
        fprintf(midi_csv, "frame,offset,status,data1,data2\n");
    long long last_event = 0;

    lilv_instance_activate(inst);
    if (model || get) {
        control_clear(&a);
        control_patch(&a, get, model);
        lilv_instance_run(inst, 0);
        read_notify(&a);
        drain_worker(inst, worker);
        /* One more empty cycle so a model change is reported on notify. */
        control_clear(&a);
        lilv_instance_run(inst, 0);
        read_notify(&a);
    }

    float *frames = malloc((size_t)block * (size_t)in_info.channels * sizeof *frames);
    float *inter = malloc((size_t)block * (size_t)n_out * sizeof *inter);
    long long done = 0;
    double t_sum = 0.0, t_max = 0.0;
    long n_runs = 0;
    long cap_runs = in_info.frames / block + 2;
    double *t_all = malloc((size_t)cap_runs * sizeof *t_all);
    int next_pos = 0, next_tset = 0;
#if defined(__SSE__)
    if (ftz)
        _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
#else
    (void)ftz;
#endif
    sf_count_t got;
    for (;;) {
        /* A timed control change starts a block of its own. */
        for (; next_tset < n_tsets && tsets[next_tset].at <= done; next_tset++)
            *tsets[next_tset].port = tsets[next_tset].value;
        long long want = block;
        if (next_tset < n_tsets && tsets[next_tset].at - done < want)
            want = tsets[next_tset].at - done;
        if ((got = sf_readf_float(in, frames, want)) <= 0)
            break;
        if (zero_runs) {
            control_clear(&a);
            lilv_instance_run(inst, 0);
            read_notify(&a);
            if (midi_csv && read_midi(&a, midi_csv, done, 0, &last_event))
                return 1;
            drain_worker(inst, worker);
        }
        for (sf_count_t j = 0; j < got; j++)
            for (int c = 0; c < n_in; c++)
                in_buf[c][j] = frames[j * in_info.channels + (in_info.channels == 1 ? 0 : c)];
        for (int c = 0; c < n_out; c++) {
            bool shared = false;
            for (int k = 0; k < n_in; k++)
                shared = shared || out_at[c] == in_buf[k];
            for (sf_count_t j = 0; !shared && j < got; j++)
                out_buf[c][j] = NAN; /* stale data */
        }
        control_clear(&a);
        control_positions(&a, pos, n_pos, &next_pos, done, (uint32_t)got);
        double t0 = now_us();
        lilv_instance_run(inst, (uint32_t)got);
        double dt = now_us() - t0;
        t_sum += dt;
        t_max = dt > t_max ? dt : t_max;
        if (n_runs < cap_runs)
            t_all[n_runs] = dt;
        n_runs++;
        read_notify(&a);
        if (midi_csv && read_midi(&a, midi_csv, done, (uint32_t)got, &last_event))
            return 1;
        drain_worker(inst, worker);
        for (sf_count_t j = 0; j < got; j++)
            for (int c = 0; c < n_out; c++)
                inter[j * n_out + c] = (out_at[c] ? out_at[c] : out_buf[c])[j];
        if (sf_writef_float(out, inter, got) != got)
            return fail("%s: write failed", out_path);
        done += got;
        if (csv)
            fprintf(csv, "%lld,%.9g,%.9g\n", done, arousal, valence);
    }
    lilv_instance_deactivate(inst);
    drain_worker(inst, worker); /* what the last run() scheduled */
    if (count_jobs)
        printf("worker jobs=%d refused=%d\n", jobs, refused);
    if (timing && n_runs) {
        long n = n_runs < cap_runs ? n_runs : cap_runs;
        qsort(t_all, (size_t)n, sizeof *t_all, cmp_double);
        printf("run_us mean=%.3f p50=%.3f p99=%.3f p99.9=%.3f max=%.3f budget=%.3f block=%d "
               "rate=%d runs=%ld\n",
               t_sum / n_runs, t_all[n / 2], t_all[n * 99 / 100], t_all[n * 999 / 1000], t_max,
               block * 1e6 / in_info.samplerate, block, in_info.samplerate, n_runs);
    }
    free(t_all);

    if (save_dir) {
        /* As jalv does: copy, link and save dir are the same. (With no link
         * dir, lilv 0.24 removes a file referenced outside the save dir.) */
        LilvState *st = lilv_state_new_from_instance(plugin, inst, &a.map, NULL, save_dir, save_dir,
                                                     save_dir, NULL, NULL, 0, features);
        if (!st || lilv_state_save(world, &a.map, &unmap, st, NULL, save_dir, "state.ttl"))
            return fail("cannot save state to %s", save_dir);
        lilv_state_free(st);
    }

    if (csv && fclose(csv))
        return fail("cannot write %s", csv_path);
    if (midi_csv && fclose(midi_csv))
        return fail("cannot write %s", midi_path);
    sf_close(out);
    sf_close(in);
    lilv_instance_free(inst);
    lilv_world_free(world);
    dlclose(keep);
    for (int c = 0; c < n_in; c++)
        free(in_buf[c]);
    for (int c = 0; c < n_out; c++)
        free(out_buf[c]);
    free(frames);
    free(inter);
    free(a.control);
    free(a.notify);
    free(a.midi);
    for (LV2_URID i = 0; i < n_uris; i++)
        free(uri_table[i]);
    free(uri_table);
    return 0;
}
