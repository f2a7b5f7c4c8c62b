/* listen: `valar listen`, the live client (JACK or PortAudio in, OSC and
 * JACK MIDI out). Built when src/live/meson.build adds -DVALAR_HAVE_LISTEN. */
#ifndef VALAR_LISTEN_H
#define VALAR_LISTEN_H

/* argv[0] is "listen". Returns the process exit code. */
int listen_main(int argc, char **argv);

#endif
