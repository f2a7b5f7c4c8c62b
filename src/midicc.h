/* midicc: arousal/valence as MIDI control changes, shared by `valar listen`
 * (JACK MIDI) and the LV2 plugin (its MIDI output).
 *
 * value = round((x + 1) / 2 * 127) on controllers cc_arousal and cc_valence;
 * with fine14, a 14-bit pair per value as in the MIDI spec: MSB on
 * controller n, LSB on n + 32, value = round((x + 1) / 2 * 16383).
 * Pure arithmetic, no allocation: called from audio callbacks and run(). */
#ifndef VALAR_MIDICC_H
#define VALAR_MIDICC_H

#include <stddef.h>

#include "valar_error.h"

typedef struct {
    int channel;    /* 1..16 */
    int cc_arousal; /* 0..119 (0..31 with fine14) */
    int cc_valence;
    int fine14; /* send MSB + LSB pairs */
} midicc_config;

/* Channel 1, CC 20 arousal, CC 21 valence (undefined controllers), 7-bit. */
void midicc_config_default(midicc_config *c);
/* 0, or VALAR_ERR_ARG and a message naming the bad number (not for
 * real-time threads: it formats). */
int midicc_config_check(const midicc_config *c, char *msg, size_t msglen);
/* The same test without the message (no formatting): 1 valid, 0 not.
 * Real-time safe. */
int midicc_config_valid(const midicc_config *c);

/* x in -1..1 (clamped; NaN counts as 0) to 0..127 and 0..16383. These and
 * midicc_encode run on the audio thread (JACK process callback, LV2 run()). */
int midicc_value7(float x);
int midicc_value14(float x);

/* Fill msg with the control changes for one result (3 bytes each) and
 * return how many: 2, or 4 with fine14 (arousal MSB, LSB, valence MSB, LSB). */
int midicc_encode(const midicc_config *c, float arousal, float valence, unsigned char msg[4][3]);

#endif
