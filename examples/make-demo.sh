#!/bin/sh
# How examples/demo.ogg was made (sox): 10 s of a soft, slowly pulsing A major
# chord, then 10 s of a loud overdriven saw/square drone with noise hits.
set -eu
t=$(mktemp -d)
sox -n -r 44100 -c 2 "$t/calm.wav" synth 10 sine 220 sine 277.18 sine 329.63 tremolo 0.5 40 gain -18 fade q 1 10 1
sox -n -r 44100 -c 2 "$t/drums.wav" synth 0.12 pinknoise gain -6 fade q 0.005 0.12 0.1 pad 0 0.13 repeat 39
sox -n -r 44100 -c 2 "$t/saw.wav" synth 10 sawtooth 110 sawtooth 165 square 440 overdrive 10 gain -14
sox -m "$t/saw.wav" "$t/drums.wav" "$t/loud.wav"
sox "$t/calm.wav" "$t/loud.wav" "$(dirname "$0")/demo.ogg"
rm -r "$t"
