#!/usr/bin/env python3
"""Writes safetensors fixtures under OUTDIR (the first argument):

  OUTDIR/safetensors/reference.safetensors  written by the safetensors package itself (torch
                                            writer: F32, F16, BF16, I8, U8, I32, zero-size, scalar)
  OUTDIR/safetensors/reference.json         what the native reader must find in it: dtype, shape,
                                            and values (floats as float32 bit patterns, as torch
                                            widens them, so NaN and -0 compare exactly)
  OUTDIR/fuzz/safetensors/*.safetensors     seed corpus for tests/fuzz/safetensors_fuzz.cpp: valid
                                            files from both package writers plus hand-made broken
                                            ones, one per check the reader makes

Everything is generated from fixed seeds, so reruns give identical bytes.
"""

import json
import os
import struct
import sys

import numpy as np
import safetensors.numpy
import safetensors.torch
import torch


def reference_tensors():
    rng = np.random.default_rng(20240601)
    f16_special = [0.0, -0.0, 2.0**-24, 2.0**-14 - 2.0**-24, 2.0**-14, 65504.0, -65504.0,
                   float("inf"), float("-inf"), float("nan"), 1.0 / 3.0, -2.0**-20]
    bf16_special = [0.0, -0.0, 1e-40, -3.0e38, float("inf"), float("-inf"), float("nan"), 1.0 / 3.0]
    f32_special = [0.0, -0.0, 1e-45, 1.17549435e-38, 3.4028235e38, float("inf"), float("-inf"),
                   float("nan"), -1.5]
    return {
        "f32.random": torch.from_numpy(rng.standard_normal((3, 5)).astype(np.float32)),
        "f32.special": torch.tensor(f32_special, dtype=torch.float32),
        "f16.random": torch.from_numpy(rng.standard_normal((4, 3)).astype(np.float16)),
        "f16.special": torch.tensor(f16_special, dtype=torch.float16),
        "bf16.random": torch.from_numpy(rng.standard_normal((2, 6)).astype(np.float32)).bfloat16(),
        "bf16.special": torch.tensor(bf16_special, dtype=torch.bfloat16),
        "i8": torch.tensor([-128, -1, 0, 1, 127], dtype=torch.int8),
        "u8": torch.tensor([[0, 1], [128, 255]], dtype=torch.uint8),
        "i32": torch.tensor([-(2**31), -1, 0, 1, 2**31 - 1], dtype=torch.int32),
        "empty": torch.zeros((0, 3), dtype=torch.float32),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
    }


DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.int8: "I8", torch.uint8: "U8", torch.int32: "I32"}


def describe(tensor):
    entry = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape)}
    if tensor.is_floating_point():
        bits = tensor.float().contiguous().view(torch.int32).flatten().tolist()
        entry["f32_bits"] = [b & 0xFFFFFFFF for b in bits]
    else:
        entry["ints"] = tensor.flatten().tolist()
    return entry


def write_reference(outdir):
    directory = os.path.join(outdir, "safetensors")
    os.makedirs(directory, exist_ok=True)
    tensors = reference_tensors()
    metadata = {"format": "pt", "note": "reference file for the native reader"}
    path = os.path.join(directory, "reference.safetensors")
    safetensors.torch.save_file(tensors, path, metadata=metadata)
    expected = {"metadata": metadata, "tensors": {k: describe(v) for k, v in tensors.items()}}
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    return path


def raw_file(header, data=b""):
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def broken_seeds():
    """One small file per rejection path of the reader, so the fuzzer starts next to each."""
    ok = raw_file({"a": entry("F32", [2], 0, 8)}, bytes(8))
    return {
        "short-length": b"\x05\x00\x00",
        "zero-length": struct.pack("<Q", 0),
        "huge-length": struct.pack("<Q", 1 << 40) + b"{}",
        "bad-json": raw_file(b'{"a": {"dtype": "F32",'),
        "not-object": raw_file(b"[1, 2, 3]"),
        "missing-field": raw_file({"a": {"dtype": "F32", "shape": [1]}}, bytes(4)),
        "unknown-dtype": raw_file({"a": entry("Q7", [1], 0, 4)}, bytes(4)),
        "unsupported-dtype": raw_file({"a": entry("F64", [1], 0, 8)}, bytes(8)),
        "negative-shape": raw_file(b'{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', b"x"),
        "float-shape": raw_file(b'{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}', b"x"),
        "size-mismatch": raw_file({"a": entry("F32", [3], 0, 8)}, bytes(8)),
        "overflow": raw_file({"a": entry("F32", [2**62, 4], 0, 16)}, bytes(16)),
        "out-of-file": raw_file({"a": entry("F32", [4], 0, 16)}, bytes(8)),
        "overlap": raw_file({"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 2, 6)}, bytes(6)),
        "gap": raw_file({"a": entry("U8", [2], 0, 2), "b": entry("U8", [2], 4, 6)}, bytes(6)),
        "duplicate": raw_file(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                              b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"),
        "metadata-number": raw_file({"__metadata__": {"k": 1}}),
        "truncated": ok[:-3],
        "trailing": ok + b"junk",
        "unknown-field": raw_file({"a": dict(entry("U8", [2], 0, 2), extra={"x": [1, [2]]})}, b"xy"),
    }


def write_seeds(outdir, reference_path):
    directory = os.path.join(outdir, "fuzz", "safetensors")
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(7)
    safetensors.numpy.save_file(
        {"w": rng.standard_normal((3, 4)).astype(np.float16),
         "b": np.arange(5, dtype=np.int32),
         "z": np.zeros((0,), dtype=np.uint8)},
        os.path.join(directory, "numpy-writer.safetensors"), metadata={"k": "v"})
    safetensors.numpy.save_file({}, os.path.join(directory, "empty.safetensors"))
    with open(reference_path, "rb") as src:
        reference = src.read()
    with open(os.path.join(directory, "torch-writer.safetensors"), "wb") as dst:
        dst.write(reference)
    for name, data in broken_seeds().items():
        with open(os.path.join(directory, name + ".safetensors"), "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fuzz_seeds.py OUTDIR")
    outdir = sys.argv[1]
    reference_path = write_reference(outdir)
    write_seeds(outdir, reference_path)


if __name__ == "__main__":
    main()
