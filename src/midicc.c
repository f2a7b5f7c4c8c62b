#include <stddef.h>

#include "midicc.h"

void midicc_config_default(midicc_config *c)
{
    c->channel = 1;
    c->cc_arousal = 20;
    c->cc_valence = 21;
    c->fine14 = 0;
}

/* 120..127 are channel mode messages; 14-bit pairs need n + 32 <= 63. */
static int max_cc(const midicc_config *c)
{
    return c->fine14 ? 31 : 119;
}

enum { OK, BAD_CHANNEL, BAD_AROUSAL, BAD_VALENCE, SAME_CC };

static int problem(const midicc_config *c)
{
    if (c->channel < 1 || c->channel > 16)
        return BAD_CHANNEL;
    if (c->cc_arousal < 0 || c->cc_arousal > max_cc(c))
        return BAD_AROUSAL;
    if (c->cc_valence < 0 || c->cc_valence > max_cc(c))
        return BAD_VALENCE;
    if (c->cc_arousal == c->cc_valence)
        return SAME_CC;
    return OK;
}

int midicc_config_valid(const midicc_config *c)
{
    return problem(c) == OK;
}

int midicc_config_check(const midicc_config *c, char *msg, size_t msglen)
{
    const int p = problem(c);
    switch (p) {
    case OK:
        return 0;
    case BAD_CHANNEL:
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "MIDI channel %d out of range (1..16)",
                          c->channel);
    case BAD_AROUSAL:
    case BAD_VALENCE:
        return valar_fail(msg, msglen, VALAR_ERR_ARG, "%s controller %d out of range (0..%d%s)",
                          p == BAD_VALENCE ? "valence" : "arousal",
                          p == BAD_VALENCE ? c->cc_valence : c->cc_arousal, max_cc(c),
                          c->fine14 ? " with 14-bit pairs: LSB is controller + 32" : "");
    default:
        return valar_fail(msg, msglen, VALAR_ERR_ARG,
                          "arousal and valence use the same controller %d", c->cc_arousal);
    }
}

static int scale(float x, int top)
{
    double u = x == x ? ((double)x + 1.0) / 2.0 : 0.5;
    u = u < 0.0 ? 0.0 : u > 1.0 ? 1.0 : u;
    return (int)(u * top + 0.5); /* round half up; u >= 0 */
}

int midicc_value7(float x)
{
    return scale(x, 127);
}

int midicc_value14(float x)
{
    return scale(x, 16383);
}

static void cc(unsigned char m[3], int channel, int controller, int value)
{
    m[0] = (unsigned char)(0xB0 | (channel - 1));
    m[1] = (unsigned char)controller;
    m[2] = (unsigned char)value;
}

int midicc_encode(const midicc_config *c, float arousal, float valence, unsigned char msg[4][3])
{
    if (!c->fine14) {
        cc(msg[0], c->channel, c->cc_arousal, midicc_value7(arousal));
        cc(msg[1], c->channel, c->cc_valence, midicc_value7(valence));
        return 2;
    }
    const int a = midicc_value14(arousal), v = midicc_value14(valence);
    cc(msg[0], c->channel, c->cc_arousal, a >> 7);
    cc(msg[1], c->channel, c->cc_arousal + 32, a & 127);
    cc(msg[2], c->channel, c->cc_valence, v >> 7);
    cc(msg[3], c->channel, c->cc_valence + 32, v & 127);
    return 4;
}
