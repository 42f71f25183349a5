#!/usr/bin/env python3
"""Writes the crafted seeds of fuzz/corpus (run from anywhere: python3 fuzz/make_seeds.py).

The model-text seeds are hand-written files; the two real checkpoints were made with
  head -c $((64*3073)) data/cifar-10-batches-bin/data_batch_1.bin > D/data_batch_1.bin  (and as
  D/test_batch.bin), then
  convlab train --model fuzz/corpus/fuzz_model_text/small.txt --data D --epochs 1 --batch-size 32
  convlab train --model fuzz/corpus/fuzz_model_text/bom_crlf.txt ... --optimizer sgd --momentum 0.9
and copied as fuzz/corpus/fuzz_checkpoint/{adam_small,sgd_momentum}.bin. Everything else is here.
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
CIFAR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                     "cifar-10-batches-bin", "data_batch_1.bin")
MNIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist")


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def fnv1a(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def checkpoint(header, tensors):
    """The format of src/train/checkpoint.cpp; tensors: [(name, dims, floats)]."""
    h = json.dumps(header).encode()
    out = b"CONVLABK" + struct.pack("<IQ", 1, len(h)) + h + struct.pack("<I", len(tensors))
    for name, dims, values in tensors:
        out += struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", len(dims))
        out += struct.pack("<%dq" % len(dims), *dims) + struct.pack("<%df" % len(values), *values)
    return out + struct.pack("<Q", fnv1a(out))


def mnist_pair(images, labels, rows, cols):
    """fuzz_mnist's input: u32 split (little-endian), the idx3 image file, the idx1 label file."""
    n = len(labels)
    img = struct.pack(">IIII", 2051, n, rows, cols) + bytes(images)
    lab = struct.pack(">II", 2049, n) + bytes(labels)
    return struct.pack("<I", len(img)) + img + lab


# Checkpoints: the smallest that loads (a Linear on 2 features), one with a rank-0 and a
# one-element tensor and no model parameters in use, and one whose header lacks model_text.
# (A tensor with no elements belongs here too, once regressions/fuzz_checkpoint/
# empty_tensor_memcpy_null is fixed: today it stops every run at once.)
write("fuzz_checkpoint", "tiny_linear.bin",
      checkpoint({"model_text": "Flatten()\nLinear(2, 1)\n", "epoch": 0, "history": []},
                 [("model.1.bias", [1], [0.5]), ("model.1.weight", [1, 2], [1.0, -1.0])]))
write("fuzz_checkpoint", "scalar_tensors.bin",
      checkpoint({"model_text": "ReLU()\n"},
                 [("optimizer.step", [1], [3.0]), ("r0", [], [1.0])]))
write("fuzz_checkpoint", "no_model_text.bin", checkpoint({"epoch": 1}, []))

# CIFAR-10: one, and three real records (label byte + 3072 pixel bytes).
with open(CIFAR, "rb") as f:
    records = f.read(3 * 3073)
write("fuzz_cifar10", "one_record.bin", records[:3073])
write("fuzz_cifar10", "three_records.bin", records)
write("fuzz_cifar10", "label9_zeros.bin", bytes([9]) + bytes(3072))

# MNIST: two real 28x28 images with their labels; a 1x1 image set; an empty set.
with open(os.path.join(MNIST, "t10k-images-idx3-ubyte"), "rb") as f:
    real_images = f.read(16 + 2 * 784)[16:]
with open(os.path.join(MNIST, "t10k-labels-idx1-ubyte"), "rb") as f:
    real_labels = f.read(8 + 2)[8:]
write("fuzz_mnist", "two_28x28.bin", mnist_pair(real_images, real_labels, 28, 28))
write("fuzz_mnist", "three_1x1.bin", mnist_pair([0, 128, 255], [0, 5, 9], 1, 1))
write("fuzz_mnist", "empty_4x4.bin", mnist_pair([], [], 4, 4))


def safetensors(tensors, metadata=None):
    """The safetensors format (src/io/safetensors.cpp); tensors: [(name, dtype, shape, raw bytes)]."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(shape, start=0.0):
    n = 1
    for d in shape:
        n *= d
    return struct.pack(f"<{n}f", *[start + 0.25 * i for i in range(n)])


# safetensors: the state_dict of fuzz_safetensors.cpp's model, in F32 and with F16 weights; an
# empty file; a header with metadata only.
SMALL = [("0.weight", [4, 3, 3, 3]), ("1.weight", [4]), ("1.bias", [4]), ("1.running_mean", [4]),
         ("1.running_var", [4]), ("2.body.0.weight", [4, 4, 1, 1]), ("2.body.0.bias", [4]),
         ("4.weight", [2, 16]), ("4.bias", [2])]
count = [("1.num_batches_tracked", "I64", [], struct.pack("<q", 3))]
write("fuzz_safetensors", "small.safetensors",
      safetensors([(n, "F32", s, f32(s)) for n, s in SMALL] + count, {"format": "pt"}))
write("fuzz_safetensors", "small_f16.safetensors",
      safetensors([(n, "F16", s, struct.pack(f"<{len(f32(s)) // 4}e", *struct.unpack(f"<{len(f32(s)) // 4}f", f32(s))))
                   for n, s in SMALL] + count))
write("fuzz_safetensors", "empty.safetensors", safetensors([]))
write("fuzz_safetensors", "metadata_only.safetensors", safetensors([], {"format": "pt", "k": "v"}))
