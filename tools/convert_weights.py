#!/usr/bin/env python3
"""Writes smaller copies of a CLIP checkpoint that the runtime loads directly.

  f16: every tensor as float16 (half the download; the runtime computes in f32).
  q8:  the transformer blocks' linear weights and the token embedding as int8 with one float32
       scale per row ("<name>.scales"; symmetric, scale = max|row| / 127, round half to even,
       exactly what the runtime does when it quantizes at load); the small rest (norms, biases,
       position and patch embeddings, projections) unchanged, so the file gives the very model
       that quantizing at load gives.

Works on Hugging Face (model.safetensors) and OpenAI / open_clip (open_clip_model.safetensors)
checkpoints, in any float dtype. usage: convert_weights.py MODEL_DIR --dtype f16|q8 [--out FILE]
"""
import argparse
import json
import os
import re
import struct
import sys

import numpy as np
import torch
from safetensors.torch import load_file

#Matrices the runtime keeps in int8 in its q8 form(src / model - loader.cpp).
QUANTIZED = re.compile(
    r"(\.encoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])\.weight"
    r"|resblocks\.\d+\.(attn\.in_proj_weight|attn\.out_proj\.weight|mlp\.c_fc\.weight|mlp\.c_proj\.weight)"
    r"|^text_model\.embeddings\.token_embedding\.weight|^token_embedding\.weight)$")

SUFFIX = {"f16": "fp16", "q8": "q8"}


def quantize_rows(weight):
    """int8 values and float32 per-row scales."""
    w = weight.float().numpy()
    max_abs = np.abs(w).max(axis=1)
    scales = np.where(max_abs > 0, max_abs / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scales[:, None]), -127, 127).astype(np.int8)
    return torch.from_numpy(q), torch.from_numpy(scales)


def convert(tensors, dtype):
    out = {}
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            continue  # buffers such as position_ids: not weights
        if dtype == "f16":
            out[name] = tensor.to(torch.float16).contiguous()
        elif tensor.dim() == 2 and QUANTIZED.search(name):
            out[name], out[name + ".scales"] = quantize_rows(tensor)
        else:
            out[name] = tensor.contiguous()
    return out


DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int8: "I8"}


def is_image_tower(name):
    return name.startswith(("vision_model.", "visual"))


def save_image_tower_first(tensors, path, metadata):
    """A safetensors file whose data puts the image tower first, so a streaming load can answer
    image queries while the text tower is still arriving. (safetensors' own writer orders tensors
    by dtype and name, which puts the text tower first in both naming schemes.)"""
    names = sorted(tensors, key=lambda n: (not is_image_tower(n), n))
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in names:
        data = tensors[name].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("--dtype", choices=sorted(SUFFIX), required=True)
    parser.add_argument("--out", help="output file (default: beside the input, model.<fp16|q8>.safetensors)")
    args = parser.parse_args()
    for stem in ("model", "open_clip_model"):
        source = os.path.join(args.model_dir, stem + ".safetensors")
        if os.path.exists(source):
            break
    else:
        sys.exit(f"convert_weights: no model.safetensors or open_clip_model.safetensors in {args.model_dir}")
    out = args.out or os.path.join(args.model_dir, f"{stem}.{SUFFIX[args.dtype]}.safetensors")
    converted = convert(load_file(source), args.dtype)
    save_image_tower_first(converted, out, {"format": "pt", "clip_wasm_dtype": args.dtype})
    quantized = sum(1 for k in converted if k.endswith(".scales"))
    print(f"{out}: {os.path.getsize(out) / 1e6:.1f} MB ({args.dtype}, {quantized} int8 matrices), "
          f"from {os.path.getsize(source) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
