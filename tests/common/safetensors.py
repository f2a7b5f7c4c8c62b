"""Minimal safetensors reader/writer for valar's Python tests (numpy only).

Import it from a test with
    sys.path.insert(0, os.path.join(os.environ["VALAR_SRC"], "tests", "common"))
    from safetensors import write_safetensors, read_safetensors

write_safetensors(path, tensors, metadata=None)
    tensors: dict name -> numpy array (converted to little-endian float32),
    metadata: dict str -> str (written sorted by key, as valar does). Writes
    the layout valar and the reference implementation use: 8-byte LE header
    length, JSON header with tensors sorted by name and contiguous
    data_offsets, header padded with spaces to a multiple of 8, then the data.
    The bytes are identical to what valar's weights_save writes for the same
    content (tests/weights/interop.py checks this).

read_safetensors(path) -> (tensors, metadata)
    Reads F32 files (what valar writes); raises ValueError on anything
    malformed. Tensors come back as float32 arrays with their shapes.

header_bytes / build_file let malformed-file generators start from a valid
layout and damage one thing.
"""

import json
import struct

import numpy as np


def build_header(tensors, metadata=None):
    """(header dict, list of data chunks) for tensors sorted by name."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    chunks = []
    off = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype="<f4")
        b = a.tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    return header, chunks


def header_bytes(header, pad=True):
    """JSON text of a header dict, space-padded to a multiple of 8."""
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if pad:
        h += b" " * (-len(h) % 8)
    return h


def build_file(header_json: bytes, data: bytes, length=None) -> bytes:
    """File bytes from raw header bytes and data; length overrides the field."""
    n = len(header_json) if length is None else length
    return struct.pack("<Q", n) + header_json + data


def write_safetensors(path, tensors, metadata=None):
    header, chunks = build_header(tensors, metadata)
    with open(path, "wb") as f:
        f.write(build_file(header_bytes(header), b"".join(chunks)))


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError(f"{path}: header length {n} exceeds file")
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not an object")
    data = buf[8 + n :]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    spans = []
    for name, e in header.items():
        if e.get("dtype") != "F32":
            raise ValueError(f"{path}: tensor {name}: dtype {e.get('dtype')} is not F32")
        shape = tuple(int(d) for d in e["shape"])
        b, end = (int(x) for x in e["data_offsets"])
        if not 0 <= b <= end <= len(data) or end - b != 4 * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {[b, end]}")
        spans.append((b, end))
        tensors[name] = np.frombuffer(data[b:end], dtype="<f4").astype(np.float32).reshape(shape)
    pos = 0
    for b, end in sorted(spans):
        if b != pos:
            raise ValueError(f"{path}: data not covered exactly at byte {pos}")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: trailing data after byte {pos}")
    return tensors, dict(metadata)
