#!/bin/sh
# Run by `meson install`: install the weight files that exist in the source
# tree's models/ *now* (a model trained after `meson setup` is included),
# so no reconfigure is needed.
#   install-models.sh SRC_MODELDIR MODELDIR [LV2_BUNDLEDIR]
# MODELDIR gets every trained valar-* model, and a placeholder-<kind> only
# where no valar-<kind> exists (placeholders are for tests); the LV2 bundle
# gets one streaming model, the trained one when there is one.
set -eu
src=$1
# DESTDIR as meson applies it (the install prefix with DESTDIR in front).
destdir=${MESON_INSTALL_DESTDIR_PREFIX%"$MESON_INSTALL_PREFIX"}
models=$destdir$2
mkdir -p "$models"
for f in "$src"/valar-*.safetensors; do
    [ -f "$f" ] && install -m 644 "$f" "$models/"
done
for k in offline streaming; do
    if [ ! -f "$src/valar-$k.safetensors" ] && [ -f "$src/placeholder-$k.safetensors" ]; then
        install -m 644 "$src/placeholder-$k.safetensors" "$models/"
    fi
done
if [ $# -ge 3 ]; then
    bundle=$destdir$3
    mkdir -p "$bundle"
    for k in valar placeholder; do
        if [ -f "$src/$k-streaming.safetensors" ]; then
            rm -f "$bundle"/*-streaming.safetensors
            install -m 644 "$src/$k-streaming.safetensors" "$bundle/"
            break
        fi
    done
fi
