/* valar.lv2: arousal and valence of the audio passing through, every 500 ms,
 * as two control outputs. Audio is copied through unchanged.
 *
 * Analysis runs inside run(), spread so that no run() carries much of it:
 * the feature work comes as the audio does (a resampler call per 256
 * frames, and PUSH_FRAMES later, in another push, the FFT frames its output
 * completes, one per 20 ms hop), and each 500 ms step is cut into slices
 * (the segment's mel bands and the network's first slice, then the rest of
 * the network in slices of bounded memory traffic), one per PUSH_FRAMES
 * input frames after the segment completes, never in the same push as a
 * resampler call or FFT frames (analyzer_spread). A result thus comes
 * analyzer_delay() frames (160 with the shipped model when resampling, 128
 * at its own 22050 Hz) after its segment's end, bit for bit what a whole
 * step gives (the figures: bench_plugin_run's output in docs/figures.md).
 * analyzer_push never allocates, locks or does I/O. Only model loading,
 * which reads a file and allocates, goes through the worker:
 *
 *   run():          patch:Set valar:model <path> -> schedule LOAD
 *   work():         load weights, build an analyzer -> respond LOADED, or log
 *                   the error (the current model stays active)
 *   work_response() swap in the new analyzer, schedule FREE of the old one
 *   work():         FREE: destroy the old analyzer (if the queue is full,
 *                   run() retries)
 *
 * The model path is saved with the state extension. Hosts without urid:map
 * (lv2apply) get the default model and no parameter.
 *
 * Restarts: the analysis starts again (features, GRU state, time, outputs
 * back to 0) where the host's transport starts rolling or jumps (a
 * time:Position on the control port; follow_transport) and on a rising edge
 * of the reset control, so that in a DAW the values are those of `valar
 * analyze --streaming` on the audio from the start position. Resetting an
 * analyzer is not real-time safe (libsoxr reallocates), so each model comes
 * as two analyzers: run() swaps in the clean spare at the exact frame and
 * the worker resets the used one, which comes back as the next spare:
 *
 *   run():          restart: swap an <-> spare, schedule RESET of the old
 *   work():         RESET: analyzer_reset -> respond RESET_DONE
 *   work_response() RESET_DONE: it becomes the spare (or is freed if the
 *                   model changed meanwhile)
 *
 * A restart that finds no spare (two within one worker round trip) happens
 * at the start of the first run() after the spare is back. A step still in
 * flight in the old analyzer is dropped with it: its result, which belongs
 * to the audio before the restart, would otherwise land after it.
 *
 * MIDI out: every result is also sent as control changes (midicc.h, the
 * same bytes `valar listen` sends on JACK MIDI), so DAWs that record MIDI
 * but cannot record plugin output ports get the curve onto the timeline.
 * The events are timed within the block: the input is pushed in PUSH_FRAMES
 * pieces and a result is stamped with the last frame of the piece in which
 * its step finished (analyzer_delay() frames after the segment completed,
 * plus at most PUSH_FRAMES - 1). */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lv2/atom/atom.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/core/lv2.h>
#include <lv2/log/log.h>
#include <lv2/log/logger.h>
#include <lv2/midi/midi.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <lv2/time/time.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#ifdef VALAR_HAVE_FFTW_THREADS
#include <fftw3.h>
#endif

#include "analyzer.h"
#include "midicc.h"
#include "mix.h"
#include "model.h"
#include "modelpath.h"
#include "rtcheck.h"
#include "weights.h"

#define VALAR_URI "urn:valar:lv2:"
#define VALAR_STEREO_URI VALAR_URI "stereo"
#define VALAR_MONO_URI VALAR_URI "mono"
#define VALAR_MODEL_URI VALAR_URI "model"

/* Frames per analyzer_push: the resolution of the MIDI event times, and the
 * input between two slices of a step (analyzer_spread), so that a run() of
 * up to PUSH_FRAMES frames carries at most one of them or of the feature
 * work (it divides the resampler's 256-frame chunk). */
#define PUSH_FRAMES 32
/* Input frames between two slices of a step. 0 puts each whole step in the
 * run() that completes its segment: only bench_plugin_run's unspread copy
 * of the plugin, built to show what spreading saves. */
#ifndef VALAR_LV2_SPREAD
#define VALAR_LV2_SPREAD PUSH_FRAMES
#endif
#define MODEL_PATH_MAX 4096

/* Port indices. The mono variant has one audio port each way, so every
 * index after the audio ports is shifted down by two. midi_out comes before
 * notify: Ardour (7.x and its master) hands a plugin's atom-sequence outputs
 * to its MIDI buffers in index order after run(), counting every sequence
 * output, but connects before run() only the MIDI ones; with notify first,
 * notify landed in the track's MIDI and midi_out nowhere (lv2:minorVersion
 * 4; hosts refer to ports by symbol, so saved sessions keep working). Ports
 * added later go last and are lv2:connectionOptional. */
enum {
    P_IN_L,
    P_IN_R,
    P_OUT_L,
    P_OUT_R,
    P_AROUSAL,
    P_VALENCE,
    P_CONTROL,
    P_MIDI_OUT,
    P_NOTIFY,
    P_MIDI_CHANNEL,
    P_CC_AROUSAL,
    P_CC_VALENCE,
    P_CC_14BIT,
    P_FOLLOW,
    P_RESET,
    P_COUNT
};

/* A time:Position whose frame is further than this from where the timeline
 * should be is a jump (hosts round varispeed positions to whole frames). */
#define JUMP_FRAMES 2.0

/* One MIDI event in a sequence: header, 3 bytes padded to 8. */
#define MIDI_EVENT_BYTES (sizeof(LV2_Atom_Event) + 8)

enum { MSG_LOAD = 1, MSG_FREE, MSG_LOADED, MSG_RESET, MSG_RESET_DONE };

typedef struct {
    uint32_t type;
    uint32_t len; /* path bytes that follow, including the NUL */
} msg_load;

/* FREE, RESET and RESET_DONE of one analyzer. */
typedef struct {
    uint32_t type;
    uint32_t gen; /* the model generation it belongs to */
    analyzer *an;
} msg_an;

typedef struct {
    uint32_t type;
    uint32_t len; /* path bytes that follow, including the NUL */
    analyzer *an, *spare;
} msg_loaded;

/* The host's transport as told by time:Position: the timeline frame at the
 * current input frame and the speed. */
typedef struct {
    bool known;
    double speed; /* 0: stopped */
    double frame; /* NAN: unknown */
} transport;

typedef struct {
    LV2_URID atom_Path;
    LV2_URID atom_URID;
    LV2_URID atom_Object;
    LV2_URID atom_Blank;
    LV2_URID patch_Get;
    LV2_URID patch_Set;
    LV2_URID patch_property;
    LV2_URID patch_value;
    LV2_URID valar_model;
    LV2_URID midi_MidiEvent;
    LV2_URID time_Position;
    LV2_URID time_frame;
    LV2_URID time_speed;
    LV2_URID atom_Int, atom_Long, atom_Float, atom_Double;
} uris;

typedef struct {
    int channels;
    const float *in[2];
    float *out[2];
    float *arousal_port;
    float *valence_port;
    const LV2_Atom_Sequence *control;
    LV2_Atom_Sequence *notify;
    LV2_Atom_Sequence *midi_out;
    const float *midi_channel_port, *cc_arousal_port, *cc_valence_port, *cc_14bit_port;
    const float *follow_port, *reset_port;

    LV2_URID_Map *map; /* NULL: no parameter, no state */
    LV2_Worker_Schedule *schedule;
    LV2_Log_Logger logger;
    LV2_Atom_Forge forge;
    LV2_Atom_Forge midi_forge; /* open on midi_out during analyze() */
    LV2_Atom_Forge_Frame midi_seq;
    bool midi_open;
    midicc_config cc; /* this block's settings */
    bool cc_valid;
    uint32_t push_last; /* last frame of the piece being pushed */
    uris u;

    double rate;
    analyzer *an;         /* the running analysis */
    analyzer *spare;      /* same model, clean: swapped in by a restart; NULL
                           * while the worker resets the last one */
    uint32_t gen;         /* model generation, so a late spare of an old model
                           * is freed rather than used */
    bool restart_pending; /* a restart found no spare yet */
    transport tr;
    bool reset_prev; /* the reset control in the last run() */
    /* FREE/RESET jobs the worker queue had no room for; run() retries. */
    msg_an backlog[4];
    float mix[PUSH_FRAMES];
    float arousal, valence;
    bool notify_model; /* send patch:Set of the model on the next run() */

    char default_path[MODEL_PATH_MAX];
    /* The active model's file. Double-buffered because state save() may run
     * concurrently with run()/work_response(), which switch the index. */
    char path[2][MODEL_PATH_MAX];
    atomic_int path_idx;

    /* Scratch for one LOAD message built in run() (the host copies it). */
    union {
        msg_load hdr;
        char bytes[sizeof(msg_load) + MODEL_PATH_MAX];
    } msg;
} valar_plugin;

/* Also called from work_response (audio thread): a bounded copy, no stdio. */
static void set_path(valar_plugin *p, const char *path)
{
    int next = !atomic_load(&p->path_idx);
    size_t n = strnlen(path, MODEL_PATH_MAX - 1);
    memcpy(p->path[next], path, n);
    p->path[next][n] = '\0';
    atomic_store(&p->path_idx, next);
}

/* The audio thread (write_notify) or the host's save() thread. */
static const char *cur_path(valar_plugin *p)
{
    return p->path[atomic_load(&p->path_idx)];
}

/* Instantiation or activate(). */
static void transport_init(transport *t)
{
    t->known = false;
    t->speed = 0.0;
    t->frame = NAN;
}

/* Audio thread: n input frames have passed. */
static void transport_advance(transport *t, uint32_t n)
{
    t->frame += t->speed * n; /* NAN stays NAN */
}

/* Audio thread: a time:Position at the current input frame (speed, frame:
 * NAN when the host left them out). True if the analysis should restart
 * here: the transport started rolling, or jumped (locate, loop) while
 * rolling. Positions that continue the timeline (tempo changes, a new
 * speed) and stops do not restart. */
static bool transport_update(transport *t, double speed, double frame)
{
    bool was_rolling = t->known && t->speed != 0.0;
    double expected = t->frame;
    t->known = true;
    if (!isnan(speed))
        t->speed = speed;
    if (!isnan(frame))
        t->frame = frame;
    if (t->speed == 0.0)
        return false;
    return !was_rolling || fabs(frame - expected) > JUMP_FRAMES; /* false if either is NAN */
}

/* melspec serialises our own FFTW planning (hosts run one worker thread per
 * instance); with libfftw3f_threads the planner is also made safe against
 * other FFTW users in the host process. */
static pthread_once_t fftw_once = PTHREAD_ONCE_INIT;

static void fftw_init(void)
{
#ifdef VALAR_HAVE_FFTW_THREADS
    fftwf_make_planner_thread_safe();
#endif
}

/* Worker thread, or instantiate()/restore() (not real-time: reads a file
 * and allocates). The running analyzer and its spare for restarts; false
 * (logged) if the model cannot be used. */
static bool load_model(valar_plugin *p, const char *path, analyzer **an, analyzer **spare)
{
    char msg[1024];
    weights *w;
    *an = *spare = NULL;
    int err = model_load(path, 1, &w, msg, sizeof msg);
    if (err) {
        lv2_log_error(&p->logger, "valar: cannot use model: %s\n", msg);
        return false;
    }
    err = analyzer_create(w, p->rate, an, msg, sizeof msg);
    if (!err)
        err = analyzer_create(w, p->rate, spare, msg, sizeof msg);
    weights_destroy(w);
    if (err) {
        lv2_log_error(&p->logger, "valar: cannot use model %s: %s\n", path, msg);
        analyzer_destroy(*an);
        *an = NULL;
        return false;
    }
    /* cannot fail: fresh analyzers, a spacing >= 0 */
    (void)analyzer_spread(*an, VALAR_LV2_SPREAD);
    (void)analyzer_spread(*spare, VALAR_LV2_SPREAD);
    return true;
}

/* The bundle's weights (a trained model wins over the placeholder), else
 * the library's search path. */
static bool find_default_model(const char *bundle, char *path, size_t len)
{
    static const char *const names[] = {"valar-streaming.safetensors",
                                        "placeholder-streaming.safetensors"};
    for (size_t i = 0; bundle && i < sizeof names / sizeof names[0]; i++) {
        size_t bl = strlen(bundle);
        const char *sep = bl && bundle[bl - 1] == '/' ? "" : "/";
        snprintf(path, len, "%s%s%s", bundle, sep, names[i]);
        if (access(path, R_OK) == 0)
            return true;
    }
    return modelpath_default("streaming", path, len) >= 0;
}

static const void *feature(const LV2_Feature *const *features, const char *uri)
{
    for (int i = 0; features && features[i]; i++)
        if (!strcmp(features[i]->URI, uri))
            return features[i]->data;
    return NULL;
}

static void map_uris(valar_plugin *p)
{
    LV2_URID_Map *m = p->map;
    p->u.atom_Path = m->map(m->handle, LV2_ATOM__Path);
    p->u.atom_URID = m->map(m->handle, LV2_ATOM__URID);
    p->u.atom_Object = m->map(m->handle, LV2_ATOM__Object);
    p->u.atom_Blank = m->map(m->handle, LV2_ATOM__Blank);
    p->u.patch_Get = m->map(m->handle, LV2_PATCH__Get);
    p->u.patch_Set = m->map(m->handle, LV2_PATCH__Set);
    p->u.patch_property = m->map(m->handle, LV2_PATCH__property);
    p->u.patch_value = m->map(m->handle, LV2_PATCH__value);
    p->u.valar_model = m->map(m->handle, VALAR_MODEL_URI);
    p->u.midi_MidiEvent = m->map(m->handle, LV2_MIDI__MidiEvent);
    p->u.time_Position = m->map(m->handle, LV2_TIME__Position);
    p->u.time_frame = m->map(m->handle, LV2_TIME__frame);
    p->u.time_speed = m->map(m->handle, LV2_TIME__speed);
    p->u.atom_Int = m->map(m->handle, LV2_ATOM__Int);
    p->u.atom_Long = m->map(m->handle, LV2_ATOM__Long);
    p->u.atom_Float = m->map(m->handle, LV2_ATOM__Float);
    p->u.atom_Double = m->map(m->handle, LV2_ATOM__Double);
    lv2_atom_forge_init(&p->forge, m);
    lv2_atom_forge_init(&p->midi_forge, m);
}

/* Instantiation class (not concurrent with anything of this instance). */
static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *bundle,
                              const LV2_Feature *const *features)
{
    pthread_once(&fftw_once, fftw_init);
    valar_plugin *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->channels = strcmp(d->URI, VALAR_MONO_URI) == 0 ? 1 : 2;
    p->rate = rate;
    p->map = (LV2_URID_Map *)feature(features, LV2_URID__map);
    p->schedule = (LV2_Worker_Schedule *)feature(features, LV2_WORKER__schedule);
    lv2_log_logger_init(&p->logger, p->map, (LV2_Log_Log *)feature(features, LV2_LOG__log));
    if (p->map)
        map_uris(p);

    if (!find_default_model(bundle, p->default_path, sizeof p->default_path)) {
        lv2_log_error(&p->logger,
                      "valar: no model found: expected %s/valar-streaming.safetensors or "
                      "placeholder-streaming.safetensors\n",
                      bundle ? bundle : "(no bundle)");
        free(p);
        return NULL;
    }
    if (!load_model(p, p->default_path, &p->an, &p->spare)) {
        free(p);
        return NULL;
    }
    set_path(p, p->default_path);
    transport_init(&p->tr);
    return p;
}

/* Audio class: the audio thread, or between runs. */
static void connect_port(LV2_Handle h, uint32_t port, void *data)
{
    valar_plugin *p = h;
    if (p->channels == 1 && port >= P_IN_R) {
        /* mono: 0 in, 1 out, 2 arousal, ...: map onto the stereo numbering */
        port = port == 1 ? P_OUT_L : port + 2;
    }
    switch (port) {
    case P_IN_L:
    case P_IN_R:
        p->in[port - P_IN_L] = data;
        break;
    case P_OUT_L:
    case P_OUT_R:
        p->out[port - P_OUT_L] = data;
        break;
    case P_AROUSAL:
        p->arousal_port = data;
        break;
    case P_VALENCE:
        p->valence_port = data;
        break;
    case P_CONTROL:
        p->control = data;
        break;
    case P_NOTIFY:
        p->notify = data;
        break;
    case P_MIDI_OUT:
        p->midi_out = data;
        break;
    case P_MIDI_CHANNEL:
        p->midi_channel_port = data;
        break;
    case P_CC_AROUSAL:
        p->cc_arousal_port = data;
        break;
    case P_CC_VALENCE:
        p->cc_valence_port = data;
        break;
    case P_CC_14BIT:
        p->cc_14bit_port = data;
        break;
    case P_FOLLOW:
        p->follow_port = data;
        break;
    case P_RESET:
        p->reset_port = data;
        break;
    default:
        break;
    }
}

/* Instantiation class, before the first run(). */
static void activate(LV2_Handle h)
{
    valar_plugin *p = h;
    analyzer_reset(p->an);
    p->arousal = p->valence = 0.0f;
    p->notify_model = true;
    p->restart_pending = false;
    transport_init(&p->tr);
}

/* Audio thread: a control input as an integer in lo..hi; unconnected or
 * NaN: def. */
static int int_port(const float *port, int lo, int hi, int def)
{
    if (!port || !(*port == *port))
        return def;
    float x = *port;
    return x <= (float)lo ? lo : x >= (float)hi ? hi : (int)(x + 0.5f);
}

/* Audio thread: the MIDI settings for this block. An invalid combination (both values
 * on one controller, or a 14-bit pair above CC 31) sends nothing rather
 * than something the user did not ask for. */
static void read_cc_config(valar_plugin *p)
{
    midicc_config d;
    midicc_config_default(&d);
    p->cc.channel = int_port(p->midi_channel_port, 1, 16, d.channel);
    p->cc.cc_arousal = int_port(p->cc_arousal_port, 0, 119, d.cc_arousal);
    p->cc.cc_valence = int_port(p->cc_valence_port, 0, 119, d.cc_valence);
    p->cc.fine14 = p->cc_14bit_port && *p->cc_14bit_port > 0.0f; /* lv2:toggled */
    p->cc_valid = midicc_config_valid(&p->cc);
}

/* Audio thread. The host passes the buffer's capacity in atom.size; we fill it with an
 * (empty) sequence that on_result appends to. */
static void open_midi(valar_plugin *p)
{
    LV2_Atom_Forge *f = &p->midi_forge;
    lv2_atom_forge_set_buffer(f, (uint8_t *)p->midi_out, p->midi_out->atom.size);
    p->midi_open = lv2_atom_forge_sequence_head(f, &p->midi_seq, 0) != 0;
}

/* Audio thread. */
static void close_midi(valar_plugin *p)
{
    if (p->midi_open)
        lv2_atom_forge_pop(&p->midi_forge, &p->midi_seq);
    p->midi_open = false;
}

/* Audio thread: all control changes of one result, or none if they do not fit: a
 * 14-bit pair must not be cut in half. */
static void send_cc(valar_plugin *p, uint32_t frame, float arousal, float valence)
{
    if (!p->midi_open || !p->cc_valid)
        return;
    unsigned char msg[4][3];
    int k = midicc_encode(&p->cc, arousal, valence, msg);
    LV2_Atom_Forge *f = &p->midi_forge;
    if (f->size - f->offset < (uint32_t)k * MIDI_EVENT_BYTES)
        return;
    for (int i = 0; i < k; i++) {
        lv2_atom_forge_frame_time(f, frame);
        lv2_atom_forge_atom(f, 3, p->u.midi_MidiEvent);
        lv2_atom_forge_write(f, msg[i], 3);
    }
}

/* Audio thread (analyzer_push in run()): one result to the outputs. */
static void on_result(void *user, const analyzer_result *r)
{
    valar_plugin *p = user;
    p->arousal = r->arousal;
    p->valence = r->valence;
    send_cc(p, p->push_last, r->arousal, r->valence);
}

/* Audio thread: a patch:Set of valar:model with an atom:Path value: hand the path to the
 * worker. Anything else is ignored (no logging here: this is run()). */
static void handle_set(valar_plugin *p, const LV2_Atom_Object *obj)
{
    const LV2_Atom *property = NULL, *value = NULL;
    lv2_atom_object_get(obj, p->u.patch_property, &property, p->u.patch_value, &value, 0);
    if (!property || property->type != p->u.atom_URID ||
        ((const LV2_Atom_URID *)property)->body != p->u.valar_model)
        return;
    if (!value || value->type != p->u.atom_Path)
        return;
    const char *path = LV2_ATOM_BODY_CONST(value);
    uint32_t len = value->size;
    if (len < 1 || len > MODEL_PATH_MAX || path[len - 1] != '\0' || !p->schedule)
        return;
    if (len == 1) { /* empty path: back to the bundle's model */
        path = p->default_path;
        len = (uint32_t)strlen(path) + 1;
    }
    p->msg.hdr.type = MSG_LOAD;
    p->msg.hdr.len = len;
    memcpy(p->msg.bytes + sizeof(msg_load), path, len);
    p->schedule->schedule_work(p->schedule->handle, (uint32_t)sizeof(msg_load) + len, &p->msg);
}

/* Audio thread: a number of any atom type hosts use for time:frame or time:speed; NAN
 * if absent or of another type. */
static double atom_number(const valar_plugin *p, const LV2_Atom *a)
{
    if (!a)
        return NAN;
    if (a->type == p->u.atom_Float)
        return ((const LV2_Atom_Float *)a)->body;
    if (a->type == p->u.atom_Double)
        return ((const LV2_Atom_Double *)a)->body;
    if (a->type == p->u.atom_Long)
        return (double)((const LV2_Atom_Long *)a)->body;
    if (a->type == p->u.atom_Int)
        return ((const LV2_Atom_Int *)a)->body;
    return NAN;
}

/* Audio thread. */
static bool follow_transport(const valar_plugin *p)
{
    return !p->follow_port || !(*p->follow_port < 0.5f); /* unconnected or NaN: on */
}

static void restart(valar_plugin *p);

/* Audio thread: one event of the control sequence, at the input frame
 * analysed so far. */
static void handle_event(valar_plugin *p, const LV2_Atom_Event *ev)
{
    const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
    if (obj->atom.type != p->u.atom_Object && obj->atom.type != p->u.atom_Blank)
        return;
    if (obj->body.otype == p->u.patch_Set) {
        handle_set(p, obj);
    } else if (obj->body.otype == p->u.patch_Get) {
        p->notify_model = true;
    } else if (obj->body.otype == p->u.time_Position) {
        const LV2_Atom *speed = NULL, *frame = NULL;
        lv2_atom_object_get(obj, p->u.time_speed, &speed, p->u.time_frame, &frame, 0);
        if (transport_update(&p->tr, atom_number(p, speed), atom_number(p, frame)) &&
            follow_transport(p))
            restart(p);
    }
}

/* Audio thread: the notify sequence (the model path, when asked for). */
static void write_notify(valar_plugin *p)
{
    LV2_Atom_Forge *f = &p->forge;
    lv2_atom_forge_set_buffer(f, (uint8_t *)p->notify, p->notify->atom.size);
    LV2_Atom_Forge_Frame seq;
    lv2_atom_forge_sequence_head(f, &seq, 0);
    if (p->notify_model) {
        const char *path = cur_path(p);
        LV2_Atom_Forge_Frame obj;
        if (lv2_atom_forge_frame_time(f, 0) && lv2_atom_forge_object(f, &obj, 0, p->u.patch_Set)) {
            lv2_atom_forge_key(f, p->u.patch_property);
            lv2_atom_forge_urid(f, p->u.valar_model);
            lv2_atom_forge_key(f, p->u.patch_value);
            lv2_atom_forge_path(f, path, (uint32_t)strlen(path));
            lv2_atom_forge_pop(f, &obj);
        }
        p->notify_model = false;
    }
    lv2_atom_forge_pop(f, &seq);
}

/* Audio thread: frames [from, to) of the block, in PUSH_FRAMES pieces, so on_result knows
 * where in the block it is (the analysis does not depend on how the input
 * is split). */
static void analyze(valar_plugin *p, uint32_t from, uint32_t to)
{
    for (uint32_t done = from; done < to;) {
        uint32_t k = to - done < PUSH_FRAMES ? to - done : PUSH_FRAMES;
        p->push_last = done + k - 1;
        if (p->channels == 1) {
            analyzer_push(p->an, p->in[0] + done, k, on_result, p);
        } else {
            /* The same mixdown as files, so results equal `valar analyze
             * --streaming` on the same audio. */
            mix_planar(p->in, 2, done, k, p->mix);
            analyzer_push(p->an, p->mix, k, on_result, p);
        }
        done += k;
    }
}

/* Audio thread. Hosts may share any input's buffer with any output (in place). An
 * unconnected input gives silence, not whatever the output held. */
static void pass_through(valar_plugin *p, uint32_t n)
{
    float *o0 = p->out[0], *o1 = p->out[1];
    if (p->channels == 2 && o0 && o1 && o0 == p->in[1] && o1 == p->in[0]) {
        for (uint32_t i = 0; i < n; i++) { /* both crossed: swap */
            float t = o0[i];
            o0[i] = o1[i];
            o1[i] = t;
        }
        return;
    }
    /* If out L is the same buffer as in R, copying L first would clobber R. */
    int first = p->channels == 2 && o0 && o0 == p->in[1] ? 1 : 0;
    for (int k = 0; k < p->channels; k++) {
        int c = k ^ first;
        if (!p->out[c] || p->out[c] == p->in[c])
            continue;
        if (p->in[c])
            memmove(p->out[c], p->in[c], n * sizeof(float));
        else
            memset(p->out[c], 0, n * sizeof(float));
    }
}

/* Audio thread: keep a job to schedule later. With all slots taken (the host's worker
 * queue refused four times in a row) the analyzer leaks rather than being
 * freed or reset here. */
static void park(valar_plugin *p, const msg_an *m)
{
    for (size_t i = 0; i < sizeof p->backlog / sizeof p->backlog[0]; i++)
        if (!p->backlog[i].an) {
            p->backlog[i] = *m;
            return;
        }
}

/* Audio thread: hand an analyzer to the worker (MSG_FREE or MSG_RESET). */
static void post(valar_plugin *p, uint32_t type, analyzer *an)
{
    msg_an m = {type, p->gen, an};
    if (p->schedule->schedule_work(p->schedule->handle, sizeof m, &m) != LV2_WORKER_SUCCESS)
        park(p, &m);
}

/* Audio thread: what park() kept. */
static void retry_backlog(valar_plugin *p)
{
    for (size_t i = 0; i < sizeof p->backlog / sizeof p->backlog[0]; i++) {
        msg_an m = p->backlog[i];
        if (m.an &&
            p->schedule->schedule_work(p->schedule->handle, sizeof m, &m) == LV2_WORKER_SUCCESS)
            p->backlog[i].an = NULL;
    }
}

/* Audio thread: the analysis starts again from here, as after activate().
 * The clean spare takes over; the worker resets the old one. A host may run
 * the worker synchronously (Ardour while exporting), so the spare can be
 * back before post() returns. Without a worker there is no restart. */
static void restart(valar_plugin *p)
{
    if (!p->schedule)
        return;
    if (!p->spare) {
        p->restart_pending = true;
        return;
    }
    analyzer *old = p->an;
    p->an = p->spare;
    p->spare = NULL;
    p->restart_pending = false;
    p->arousal = p->valence = 0.0f;
    post(p, MSG_RESET, old);
}

/* Audio thread: frames [from, to) of the block. */
static void advance(valar_plugin *p, uint32_t from, uint32_t to, bool have_input)
{
    if (have_input)
        analyze(p, from, to);
    transport_advance(&p->tr, to - from);
}

/* Audio thread. */
static void run(LV2_Handle h, uint32_t n)
{
    valar_plugin *p = h;
    rtcheck_enter();
    if (p->schedule)
        retry_backlog(p);
    if (p->restart_pending && p->spare)
        restart(p);
    bool reset = p->reset_port && *p->reset_port > 0.5f; /* lv2:toggled */
    if (reset && !p->reset_prev)
        restart(p);
    p->reset_prev = reset;
    read_cc_config(p);
    if (p->map && p->midi_out)
        open_midi(p);
    bool have_input = p->in[0] && (p->channels == 1 || p->in[1]);
    /* Events split the block: a restart happens at its event's frame. */
    uint32_t done = 0;
    if (p->map && p->control) {
        LV2_ATOM_SEQUENCE_FOREACH(p->control, ev)
        {
            int64_t at = ev->time.frames;
            uint32_t t = at < (int64_t)done ? done : at > (int64_t)n ? n : (uint32_t)at;
            advance(p, done, t, have_input);
            done = t;
            handle_event(p, ev);
        }
    }
    advance(p, done, n, have_input);
    close_midi(p);
    if (p->map && p->notify)
        write_notify(p);
    pass_through(p, n);
    if (p->arousal_port)
        *p->arousal_port = p->arousal;
    if (p->valence_port)
        *p->valence_port = p->valence;
    rtcheck_leave();
}

/* Instantiation class: nothing else of this instance runs. */
static void cleanup(LV2_Handle h)
{
    valar_plugin *p = h;
    analyzer_destroy(p->an);
    analyzer_destroy(p->spare);
    for (size_t i = 0; i < sizeof p->backlog / sizeof p->backlog[0]; i++)
        analyzer_destroy(p->backlog[i].an);
    free(p);
}

/* Worker thread: LOAD a model; never touches the active analyzer. */
static LV2_Worker_Status work_load(valar_plugin *p, LV2_Worker_Respond_Function respond,
                                   LV2_Worker_Respond_Handle rh, uint32_t size, const void *data)
{
    msg_load hdr;
    memcpy(&hdr, data, sizeof hdr);
    if (hdr.len < 1 || hdr.len > MODEL_PATH_MAX || size != sizeof hdr + hdr.len)
        return LV2_WORKER_ERR_UNKNOWN;
    union {
        msg_loaded hdr;
        char bytes[sizeof(msg_loaded) + MODEL_PATH_MAX];
    } out;
    const char *path = (const char *)data + sizeof hdr;
    memcpy(out.bytes + sizeof(msg_loaded), path, hdr.len);
    out.bytes[sizeof(msg_loaded) + hdr.len - 1] = '\0';
    analyzer *an, *spare;
    if (!load_model(p, out.bytes + sizeof(msg_loaded), &an, &spare))
        return LV2_WORKER_SUCCESS; /* logged; the current model stays */
    out.hdr.type = MSG_LOADED;
    out.hdr.len = hdr.len;
    out.hdr.an = an;
    out.hdr.spare = spare;
    if (respond(rh, (uint32_t)sizeof(msg_loaded) + hdr.len, &out) != LV2_WORKER_SUCCESS) {
        lv2_log_error(&p->logger, "valar: host refused the worker response; model not changed\n");
        analyzer_destroy(an);
        analyzer_destroy(spare);
    }
    return LV2_WORKER_SUCCESS;
}

/* Worker thread: load, free or reset; never touches the active analyzer. */
static LV2_Worker_Status work(LV2_Handle h, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle rh, uint32_t size, const void *data)
{
    valar_plugin *p = h;
    uint32_t type;
    if (size < sizeof type)
        return LV2_WORKER_ERR_UNKNOWN;
    memcpy(&type, data, sizeof type);
    if (type == MSG_LOAD && size >= sizeof(msg_load))
        return work_load(p, respond, rh, size, data);
    msg_an m;
    if ((type != MSG_FREE && type != MSG_RESET) || size != sizeof m)
        return LV2_WORKER_ERR_UNKNOWN;
    memcpy(&m, data, sizeof m);
    if (type == MSG_FREE) {
        analyzer_destroy(m.an);
        return LV2_WORKER_SUCCESS;
    }
    analyzer_reset(m.an);
    m.type = MSG_RESET_DONE;
    if (respond(rh, sizeof m, &m) != LV2_WORKER_SUCCESS) {
        lv2_log_error(&p->logger, "valar: host refused the worker response; the analysis "
                                  "cannot restart any more\n");
        analyzer_destroy(m.an);
    }
    return LV2_WORKER_SUCCESS;
}

/* Audio thread: a loaded model replaces the current one (both its
 * analyzers go to the worker to be freed), or a reset analyzer comes back. */
static LV2_Worker_Status work_response(LV2_Handle h, uint32_t size, const void *data)
{
    valar_plugin *p = h;
    uint32_t type;
    if (size < sizeof type)
        return LV2_WORKER_ERR_UNKNOWN;
    memcpy(&type, data, sizeof type);
    rtcheck_enter();
    LV2_Worker_Status st = LV2_WORKER_SUCCESS;
    if (type == MSG_RESET_DONE && size == sizeof(msg_an)) {
        msg_an m;
        memcpy(&m, data, sizeof m);
        if (m.gen == p->gen && !p->spare)
            p->spare = m.an;
        else
            post(p, MSG_FREE, m.an); /* from a model that has gone since */
    } else if (type == MSG_LOADED && size >= sizeof(msg_loaded)) {
        msg_loaded m;
        memcpy(&m, data, sizeof m);
        if (size != sizeof m + m.len) {
            st = LV2_WORKER_ERR_UNKNOWN;
        } else {
            analyzer *old = p->an, *old_spare = p->spare;
            p->an = m.an;
            p->spare = m.spare;
            p->gen++;
            p->restart_pending = false;
            p->arousal = p->valence = 0.0f;
            set_path(p, (const char *)data + sizeof m);
            p->notify_model = true;
            /* Queue full: parked; run() retries, cleanup() frees what is left. */
            post(p, MSG_FREE, old);
            if (old_spare)
                post(p, MSG_FREE, old_spare);
        }
    } else {
        st = LV2_WORKER_ERR_UNKNOWN;
    }
    rtcheck_leave();
    return st;
}

/* The host's thread for state, possibly while run() or work_response()
 * switch the model on the audio thread (hence the double-buffered path). */
static LV2_State_Status save(LV2_Handle h, LV2_State_Store_Function store, LV2_State_Handle sh,
                             uint32_t flags, const LV2_Feature *const *features)
{
    (void)flags;
    valar_plugin *p = h;
    if (!p->map)
        return LV2_STATE_ERR_NO_FEATURE;
    char path[MODEL_PATH_MAX];
    snprintf(path, sizeof path, "%s", cur_path(p));
    if (strcmp(path, p->default_path) == 0)
        return LV2_STATE_SUCCESS; /* nothing to save: restore falls back to the default */
    const LV2_State_Map_Path *mp = feature(features, LV2_STATE__mapPath);
    const LV2_State_Free_Path *fp = feature(features, LV2_STATE__freePath);
    char *apath = mp ? mp->abstract_path(mp->handle, path) : path;
    if (!apath)
        return LV2_STATE_ERR_UNKNOWN;
    LV2_State_Status st = store(sh, p->u.valar_model, apath, strlen(apath) + 1, p->u.atom_Path,
                                LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    if (apath != path) {
        if (fp)
            fp->free_path(fp->handle, apath);
        else
            free(apath);
    }
    return st;
}

/* Not concurrent with run() (instantiation class): load and swap here. */
static LV2_State_Status restore(LV2_Handle h, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle sh, uint32_t flags,
                                const LV2_Feature *const *features)
{
    (void)flags;
    valar_plugin *p = h;
    if (!p->map)
        return LV2_STATE_ERR_NO_FEATURE;
    size_t size;
    uint32_t type, vflags;
    const char *value = retrieve(sh, p->u.valar_model, &size, &type, &vflags);
    char path[MODEL_PATH_MAX];
    if (!value) {
        snprintf(path, sizeof path, "%s", p->default_path);
    } else if (type != p->u.atom_Path || size < 2 || value[size - 1] != '\0') {
        lv2_log_error(&p->logger, "valar: saved model is not a path; keeping %s\n", cur_path(p));
        return LV2_STATE_ERR_BAD_TYPE;
    } else {
        const LV2_State_Map_Path *mp = feature(features, LV2_STATE__mapPath);
        const LV2_State_Free_Path *fp = feature(features, LV2_STATE__freePath);
        char *abs = mp ? mp->absolute_path(mp->handle, value) : NULL;
        snprintf(path, sizeof path, "%s", abs ? abs : value);
        if (abs) {
            if (fp)
                fp->free_path(fp->handle, abs);
            else
                free(abs);
        }
    }
    if (strcmp(path, cur_path(p)) == 0)
        return LV2_STATE_SUCCESS;
    analyzer *an, *spare;
    if (!load_model(p, path, &an, &spare))
        return LV2_STATE_ERR_UNKNOWN; /* logged; the current model stays */
    analyzer_destroy(p->an);
    analyzer_destroy(p->spare); /* one in the worker comes back of an old gen */
    p->an = an;
    p->spare = spare;
    p->gen++;
    p->restart_pending = false;
    p->arousal = p->valence = 0.0f;
    set_path(p, path);
    p->notify_model = true;
    return LV2_STATE_SUCCESS;
}

static const void *extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {work, work_response, NULL};
    static const LV2_State_Interface state = {save, restore};
    if (!strcmp(uri, LV2_WORKER__interface))
        return &worker;
    if (!strcmp(uri, LV2_STATE__interface))
        return &state;
    return NULL;
}

static const LV2_Descriptor descriptors[] = {
    {VALAR_STEREO_URI, instantiate, connect_port, activate, run, NULL, cleanup, extension_data},
    {VALAR_MONO_URI, instantiate, connect_port, activate, run, NULL, cleanup, extension_data},
};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
    return index < sizeof descriptors / sizeof descriptors[0] ? &descriptors[index] : NULL;
}
