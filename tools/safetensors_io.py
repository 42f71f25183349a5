"""safetensors for PyTorch state_dicts, written directly (the `safetensors` Python package is not in
Debian; the format is small): u64 little-endian header length, a JSON header mapping each name to
{dtype, shape, data_offsets} (plus an optional __metadata__ of strings), then the tensors' bytes,
contiguous. What safetensors.torch.save_file / load_file do, for the dtypes state_dicts hold.

    from safetensors_io import save_file, load_file
    save_file(model.state_dict(), "model.safetensors", {"format": "pt"})
    model.load_state_dict(load_file("model.safetensors"), strict=True)
"""
import json
import struct

import torch

_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}
_TORCH = {v: k for k, v in _DTYPES.items()}


def _raw(t):
    """The tensor's bytes, little-endian, row-major."""
    t = t.detach().contiguous().cpu()
    # bfloat16 and float16 have no numpy twin everywhere: go through a same-size integer view.
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save_file(tensors, path, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name]
        data = _raw(t)
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    import os
    os.replace(path + ".tmp", path)


def load_file(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = _TORCH[info["dtype"]]
        buf = bytearray(data[begin:end])
        if dtype in (torch.float16, torch.bfloat16):
            t = torch.frombuffer(buf, dtype=torch.int16).view(dtype) if buf else torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out
