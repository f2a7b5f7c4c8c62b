#!/usr/bin/python3
"""Write one malformed safetensors file per failure case, plus a manifest.

Usage: malformed.py OUTDIR

Creates OUTDIR (if needed) and writes into it:
  - one file per case (a few cases are deliberately not regular files: a
    directory, and a name that does not exist at all);
  - OUTDIR/cases.tsv, the manifest. Lines starting with '#' are comments.
    Every other line has three tab-separated columns:
        file      name of the case inside OUTDIR (never contains a tab)
        code      the weights.h error code weights_load must return,
                  e.g. VALAR_ERR_OFFSETS
        substring text the one-line error message must contain (the message
                  also always contains the file's path)
    More columns may be added at the end later; readers must ignore them.

Every case must make weights_load fail (and `valar analyze --model FILE`
exit non-zero naming FILE and the problem). The C checker is
tests/weights/check_malformed.c; the CLI test reuses this script.

Run with /usr/bin/python3 (numpy). Depends on tests/common/safetensors.py.
"""

import copy
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from safetensors import build_file, build_header, header_bytes  # noqa: E402


def base():
    """A small valid model-like file: (header dict, data bytes)."""
    rng = np.random.default_rng(1)
    tensors = {
        "conv.weight": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
        "conv.bias": rng.standard_normal(8).astype(np.float32),
        "gain": np.float32(0.5),
    }
    header, chunks = build_header(tensors, {"format": "valar", "kind": "offline"})
    return header, b"".join(chunks)


def cases():
    """Yield (file, code, substring, content). content is bytes, or the
    special values "dir" / None (create a directory / create nothing)."""
    h0, d0 = base()
    good = build_file(header_bytes(h0), d0)
    cw = h0["conv.weight"]["data_offsets"]
    cb = h0["conv.bias"]["data_offsets"]

    def edit(fn, data=d0):
        h = copy.deepcopy(h0)
        fn(h)
        return build_file(header_bytes(h), data)

    def raw(text, data=d0):
        return build_file(text.encode("utf-8") if isinstance(text, str) else text, data)

    # File-level problems.
    yield "missing.safetensors", "VALAR_ERR_IO", "cannot open", None
    yield "directory.safetensors", "VALAR_ERR_IO", "not a regular file", "dir"
    yield "empty.safetensors", "VALAR_ERR_TRUNCATED", "empty file", b""
    yield "short.safetensors", "VALAR_ERR_TRUNCATED", "too short", good[:5]
    yield "truncated-header.safetensors", "VALAR_ERR_TRUNCATED", "exceeds the", good[:40]
    yield ("header-len-too-big.safetensors", "VALAR_ERR_TRUNCATED", "exceeds the",
           struct.pack("<Q", len(good)) + good[8:])
    yield ("header-len-absurd.safetensors", "VALAR_ERR_HEADER", "absurd",
           struct.pack("<Q", 1 << 62) + good[8:])
    yield ("header-len-zero.safetensors", "VALAR_ERR_HEADER", "too short",
           struct.pack("<Q", 0) + good[8:])
    yield ("truncated-data.safetensors", "VALAR_ERR_OFFSETS", "exceed data size",
           good[:-10])
    yield ("too-large.safetensors", "VALAR_ERR_TOOBIG", "more than", ("sparse", 300 << 20))

    # Header text.
    yield "not-json.safetensors", "VALAR_ERR_HEADER", "not valid JSON", raw('{"conv.weight": {')
    yield "not-object.safetensors", "VALAR_ERR_HEADER", "not a JSON object", raw("[1, 2]  ")
    yield ("header-garbage.safetensors", "VALAR_ERR_HEADER", "data after the JSON",
           raw(header_bytes(h0) + b"xyz"))
    yield ("header-not-utf8.safetensors", "VALAR_ERR_HEADER", "not valid UTF-8",
           raw(header_bytes(h0).replace(b"conv.bias", b"conv.b\xffas")))
    yield ("deep-nesting.safetensors", "VALAR_ERR_HEADER", "not valid JSON",
           raw('{"a": ' + "[" * 5000 + "]" * 5000 + "}"))

    # Tensor entries.
    yield ("entry-not-object.safetensors", "VALAR_ERR_HEADER", "'conv.bias': entry is not",
           edit(lambda h: h.update({"conv.bias": 5})))
    for key in ("dtype", "shape", "data_offsets"):
        yield (f"missing-{key}.safetensors", "VALAR_ERR_HEADER", f'missing "{key}"',
               edit(lambda h, k=key: h["conv.weight"].pop(k)))
    yield ("duplicate-field.safetensors", "VALAR_ERR_HEADER", '"dtype" appears twice',
           raw(header_bytes(h0).replace(b'"dtype":"F32"', b'"dtype":"F32","dtype":"F32"', 1)))
    yield ("empty-name.safetensors", "VALAR_ERR_HEADER", "empty tensor name",
           edit(lambda h: h.update({"": h.pop("gain")})))
    yield ("duplicate-tensor.safetensors", "VALAR_ERR_HEADER", "'conv.bias' appears twice",
           raw(header_bytes(h0).replace(b'"gain":', b'"conv.bias":')))

    # dtype.
    yield ("dtype-f16.safetensors", "VALAR_ERR_DTYPE", "dtype F16",
           edit(lambda h: h["conv.weight"].update(dtype="F16")))
    yield ("dtype-not-string.safetensors", "VALAR_ERR_DTYPE", "dtype is not a string",
           edit(lambda h: h["conv.weight"].update(dtype=32)))

    # shape.
    yield ("shape-negative.safetensors", "VALAR_ERR_SHAPE", "shape[1] is not a non-negative",
           edit(lambda h: h["conv.weight"].update(shape=[8, -1, 3, 3])))
    yield ("shape-fraction.safetensors", "VALAR_ERR_SHAPE", "shape[0] is not a non-negative",
           edit(lambda h: h["conv.bias"].update(shape=[7.5])))
    yield ("shape-huge-number.safetensors", "VALAR_ERR_SHAPE", "shape[0] is not a non-negative",
           edit(lambda h: h["conv.bias"].update(shape=[1e300])))
    yield ("shape-not-list.safetensors", "VALAR_ERR_SHAPE", "shape is not a list",
           edit(lambda h: h["conv.bias"].update(shape="8")))
    yield ("shape-too-many-dims.safetensors", "VALAR_ERR_SHAPE", "9 dimensions",
           edit(lambda h: h["conv.bias"].update(shape=[8] + [1] * 8)))
    yield ("shape-overflow.safetensors", "VALAR_ERR_OFFSETS", "needs more than",
           edit(lambda h: h["conv.bias"].update(shape=[1 << 40, 1 << 40, 1 << 40])))

    # data_offsets.
    yield ("offsets-one-value.safetensors", "VALAR_ERR_OFFSETS", "not a list of two",
           edit(lambda h: h["conv.bias"].update(data_offsets=[cb[0]])))
    yield ("offsets-negative.safetensors", "VALAR_ERR_OFFSETS", "not a list of two",
           edit(lambda h: h["conv.bias"].update(data_offsets=[-4, cb[1]])))
    yield ("offsets-strings.safetensors", "VALAR_ERR_OFFSETS", "not a list of two",
           edit(lambda h: h["conv.bias"].update(data_offsets=[str(cb[0]), str(cb[1])])))
    yield ("offsets-begin-after-end.safetensors", "VALAR_ERR_OFFSETS", "begin after end",
           edit(lambda h: h["conv.bias"].update(data_offsets=[cb[1], cb[0]])))
    yield ("offsets-out-of-range.safetensors", "VALAR_ERR_OFFSETS",
           f"'conv.weight': data_offsets [{cw[0]}, {cw[1] + 12}] exceed data size {len(d0)}",
           edit(lambda h: h["conv.weight"].update(data_offsets=[cw[0], cw[1] + 12])))
    yield ("size-mismatch.safetensors", "VALAR_ERR_OFFSETS",
           "hold 288 bytes but F32 shape [8, 1, 3, 4] needs 384",
           edit(lambda h: h["conv.weight"].update(shape=[8, 1, 3, 4])))
    yield ("overlap.safetensors", "VALAR_ERR_OFFSETS",
           f"'conv.bias' data_offsets [{cb[0]}, {cb[1]}] and 'conv.weight' [{cw[0] - 4}, "
           f"{cw[1] - 4}] overlap",
           edit(lambda h: h["conv.weight"].update(data_offsets=[cw[0] - 4, cw[1] - 4])))
    yield ("hole.safetensors", "VALAR_ERR_OFFSETS",
           f"data bytes [{len(d0) - 4}, {len(d0)}) before tensor 'gain' belong to no tensor",
           edit(lambda h: (h["gain"].update(data_offsets=[len(d0), len(d0) + 4])),
                d0 + b"\0\0\0\0"))
    yield ("trailing-bytes.safetensors", "VALAR_ERR_OFFSETS", "after the last tensor",
           build_file(header_bytes(h0), d0 + b"\0" * 8))

    # Values.
    def poke(name, index, value):
        d = bytearray(d0)
        off = h0[name]["data_offsets"][0] + 4 * index
        d[off : off + 4] = struct.pack("<f", value)
        return build_file(header_bytes(h0), bytes(d))

    yield ("nan.safetensors", "VALAR_ERR_NONFINITE", "'conv.weight': NaN at index 17",
           poke("conv.weight", 17, float("nan")))
    yield ("inf.safetensors", "VALAR_ERR_NONFINITE", "'conv.bias': -Inf at index 3",
           poke("conv.bias", 3, float("-inf")))

    # Metadata.
    yield ("metadata-not-object.safetensors", "VALAR_ERR_HEADER",
           "__metadata__ is not an object",
           edit(lambda h: h.update({"__metadata__": ["valar"]})))
    yield ("metadata-not-string.safetensors", "VALAR_ERR_HEADER",
           "value of 'kind' is not a string",
           edit(lambda h: h["__metadata__"].update(kind=3)))
    yield ("metadata-duplicate-key.safetensors", "VALAR_ERR_HEADER", "key 'kind' appears twice",
           raw(header_bytes(h0).replace(b'"format":"valar"', b'"kind":"streaming"', 1)))
    md = json.dumps(h0["__metadata__"], separators=(",", ":")).encode()
    yield ("metadata-twice.safetensors", "VALAR_ERR_HEADER", "__metadata__ appears twice",
           raw(header_bytes(h0).replace(b"{", b'{"__metadata__":' + md + b",", 1)))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    lines = ["# file\tcode\tsubstring (see tests/weights/malformed.py)"]
    for name, code, needle, content in cases():
        assert "\t" not in name + code + needle and "\n" not in needle
        path = os.path.join(out, name)
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        elif os.path.lexists(path):
            os.remove(path)
        if content == "dir":
            os.makedirs(path, exist_ok=True)
        elif isinstance(content, tuple):  # ("sparse", size): big but takes no disk
            with open(path, "wb") as f:
                f.truncate(content[1])
        elif content is not None:
            with open(path, "wb") as f:
                f.write(content)
        lines.append(f"{name}\t{code}\t{needle}")
    with open(os.path.join(out, "cases.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
