#!/usr/bin/env python3
"""Writes safetensors fixtures and the fuzzers' seed corpora under OUTDIR (the first argument):

  OUTDIR/safetensors/reference.safetensors  written by the safetensors package itself (torch
                                            writer: F32, F16, BF16, I8, U8, I32, zero-size, scalar)
  OUTDIR/safetensors/reference.json         what the native reader must find in it: dtype, shape,
                                            and values (floats as float32 bit patterns, as torch
                                            widens them, so NaN and -0 compare exactly)
  OUTDIR/fuzz/safetensors/*.safetensors     seed corpus for tests/fuzz/safetensors_fuzz.cpp: valid
                                            files from both package writers plus hand-made broken
                                            ones, one per check the reader makes
  OUTDIR/fuzz/tokenizer/loader-*, text-*    seeds for tests/fuzz/tokenizer_fuzz.cpp beside the
                                            cases tools/ref_tokenize.py writes there (it runs
                                            first and empties the folder): edits of the merges
                                            file (0xFE), vocab.json + merges.txt pairs (0xFF), and
                                            hostile text (invalid UTF-8, NUL, entities, marks)
  OUTDIR/fuzz/image/*                       seeds for tests/fuzz/image_fuzz.cpp: one small image
                                            (Pillow, from a fixed seed) per format, colour type,
                                            bit depth, chroma layout and coding the decoder has,
                                            headers that claim huge sizes, raw-pixel inputs, and
                                            inputs that once broke the target (regression-*)
  OUTDIR/robustness/pixels.json, pixels/*   for each image seed that is a valid file: the RGB
                                            pixels the decoder must give (NAME.rgb, [h, w, 3]),
                                            from Pillow's convert('RGB') with the two differences
                                            src/image.h documents (16-bit gray keeps its high
                                            byte; transparent GIF pixels are black), and whether
                                            they must match exactly (JPEG: within a tolerance)

Everything is generated from fixed seeds, so reruns give identical bytes.
"""

import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import safetensors.numpy
import safetensors.torch
import torch
from PIL import Image


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


def tokenizer_seeds():
    """Inputs for the tokenizer target, by its first byte: 0xFE edits the real merges file
    (4-byte big-endian offset, then replacement bytes), 0xFF is vocab.json NUL merges.txt, and
    anything else is text."""
    def edit(offset, patch):
        return b"\xfe" + struct.pack(">I", offset) + patch

    tiny_vocab = json.dumps({"a</w>": 0, "b</w>": 1, "ab</w>": 2}).encode()
    return {
        "loader-edit-version-line": edit(0, b"#version: 9\n"),
        "loader-edit-three-symbols": edit(40, b"\na b c\n"),
        "loader-edit-one-symbol": edit(1000, b"\nx\n"),
        "loader-edit-cut": edit(5000, b"\n\n\n\n"),
        "loader-edit-invalid-utf8": edit(300, b"\xc3\x28 \xff\xfe\n"),
        "loader-edit-nul": edit(700, b"\x00\x00"),
        "loader-hf-empty": b"\xff{}\x00",
        "loader-hf-tiny": b"\xff" + tiny_vocab + b"\x00#version: 0.2\na b</w>\n",
        "loader-hf-bad-json": b"\xff{\"a</w>\": \x00a b\n",
        "loader-hf-negative-id": b"\xff{\"a\": -1, \"b\": 1e9}\x00a b\n",
        "loader-hf-duplicate-id": b"\xff{\"a\": 1, \"b\": 1}\x00a b\n",
        "text-invalid-utf8": b"caf\xc3 cr\xe8me \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf \x80\x80",
        "text-nul": b"a\x00photo\x00of\x00a cat\x00",
        "text-entities": b"&amp;amp;lt; &#x1F600; &#0; &#1114112; &notanentity; &NotEqualTilde;",
        "text-marks": "e\u0301\u0301\u0301 \u200d\U0001F469\u200d\U0001F4BB \u202e abc".encode(),
        "text-mojibake": "cafÃ© â€œquotedâ€\x9d Ã¢â‚¬â„¢".encode(),
        "text-whitespace": b" \t\n\r\x0b\x0c \xe3\x80\x80 \xc2\xa0",
        "text-long-word": b"a" * 4000,
        "text-digits": b"0123456789" * 50,
        "text-apostrophes": b"it's we're I'LL 's 't 're 've 'm 'll 'd",
    }


def synthetic_image(width, height, seed):
    """Gradients, a hard-edged block and noise, as uint8 RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 128 + 100 * np.sin(x / 3 + y / 5)
    rgb = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    rgb[height // 3:height // 2, width // 4:width // 2] = (255, 0, 40)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width, height, depth, colour, rows, interlace=0):
    """A PNG from already filtered scanline bytes: Pillow cannot write 16-bit RGB or Adam7."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def adam7_rows(pixels):
    """Scanlines of the seven Adam7 passes (filter 0) of an [h, w, c] uint8 array."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    out = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            out += b"".join(b"\x00" + row.tobytes() for row in sub)
    return out


def pil_bytes(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def regression_seeds(outdir):
    """Inputs that once broke a target, rebuilt from the fixture the fuzzer mutated (written by
    tools/ref_preprocess.py, which runs first); none when that fixture is absent."""
    source = os.path.join(outdir, "preprocess", "images", "jpeg_q75_422_333x221.jpg")
    if not os.path.exists(source):
        return {}
    with open(source, "rb") as f:
        jpeg = f.read()
    # 112 zero bytes, then 38 fill bytes before a marker, inside the entropy-coded data: stb
    # 2.27's bit refill then shifted by 32 or more bits (see src/image.cpp).
    return {"regression-stb-refill-shift.jpg":
            jpeg[:3725] + bytes(112) + jpeg[3725:3754] + b"\xff" * 38 + jpeg[3754:]}


def gray_16(rgb):
    """A 16-bit gray image ("I;16") whose low bytes differ from its high bytes."""
    return (rgb[..., 0].astype(np.uint16) * 256 + rgb[..., 1]).astype(np.uint16)


def image_seeds():
    """One small file per decoder path, so the fuzzer starts next to each."""
    rgb = synthetic_image(24, 16, 31)
    photo = Image.fromarray(rgb)
    gray = photo.convert("L")
    alpha = Image.fromarray(np.concatenate(
        [rgb, (np.arange(24 * 16) % 256).astype(np.uint8).reshape(16, 24, 1)], axis=-1))
    palette = photo.quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    odd = Image.fromarray(synthetic_image(13, 7, 32))
    rows16 = b"".join(b"\x00" + (row.astype(">u2") * 257).tobytes() for row in rgb)

    seeds = {
        "rgb.png": pil_bytes(photo, "PNG"),
        "rgba.png": pil_bytes(alpha, "PNG"),
        "gray.png": pil_bytes(gray, "PNG"),
        "gray-alpha.png": pil_bytes(alpha.convert("LA"), "PNG"),
        "bilevel.png": pil_bytes(gray.convert("1"), "PNG"),
        "palette.png": pil_bytes(palette, "PNG"),
        "palette-trns.png": pil_bytes(palette, "PNG", transparency=3),
        "palette-4bit.png": pil_bytes(palette, "PNG", bits=4),
        "gray16.png": pil_bytes(Image.fromarray(gray_16(rgb)), "PNG"),
        "rgb16.png": raw_png(24, 16, 16, 2, rows16),
        "interlaced.png": raw_png(24, 16, 8, 2, adam7_rows(rgb), interlace=1),
        "baseline-420.jpg": pil_bytes(photo, "JPEG", quality=80, subsampling=2),
        "baseline-422.jpg": pil_bytes(photo, "JPEG", quality=80, subsampling=1),
        "baseline-444.jpg": pil_bytes(photo, "JPEG", quality=95, subsampling=0),
        "progressive.jpg": pil_bytes(photo, "JPEG", quality=80, progressive=True),
        "progressive-odd.jpg": pil_bytes(odd, "JPEG", quality=70, progressive=True),
        "optimized.jpg": pil_bytes(odd, "JPEG", quality=60, optimize=True),
        "gray.jpg": pil_bytes(gray, "JPEG", quality=80),
        "cmyk.jpg": pil_bytes(photo.convert("CMYK"), "JPEG", quality=80),
        "rgb.gif": pil_bytes(photo, "GIF"),
        "transparent.gif": pil_bytes(palette, "GIF", transparency=2),
        "animated.gif": pil_bytes(palette, "GIF", save_all=True, append_images=[odd.convert("P")],
                                  duration=10, loop=0),
        "rgb.bmp": pil_bytes(odd, "BMP"),
        "palette.bmp": pil_bytes(palette, "BMP"),
        "bilevel.bmp": pil_bytes(gray.convert("1"), "BMP"),
        "rgba.bmp": pil_bytes(alpha, "BMP"),
    }
    # Headers that claim far more pixels than follow (decompression bombs).
    seeds["bomb.png"] = raw_png(60000, 60000, 8, 2, b"\x00" * 64)
    seeds["bomb.gif"] = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00;"
    seeds["cut.jpg"] = seeds["baseline-420.jpg"][: len(seeds["baseline-420.jpg"]) // 2]
    # Raw pixels for the target's second path: channels % 5, width % 64, height % 64, pixels.
    seeds["raw-rgb"] = bytes([3, 24, 16]) + rgb.tobytes()
    seeds["raw-rgba"] = bytes([4, 24, 16]) + np.asarray(alpha).tobytes()
    seeds["raw-gray"] = bytes([1, 24, 16]) + np.asarray(gray).tobytes()
    return seeds


def expected_pixels(name, data):
    """What decode_image must return for a valid file, or None for a file that must fail."""
    if name.startswith(("raw-", "bomb", "cut", "regression-")):
        return None
    image = Image.open(io.BytesIO(data))
    if image.mode in ("I", "I;16"):  # 16-bit gray: the high byte, not Pillow's clip to 255
        gray = (np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    rgb = np.array(image.convert("RGB"))
    if image.format == "GIF" and "transparency" in image.info:
        rgb[np.asarray(image) == image.info["transparency"]] = 0
    return rgb


def write_expected_pixels(outdir, seeds):
    directory = os.path.join(outdir, "robustness", "pixels")
    os.makedirs(directory, exist_ok=True)
    manifest = {}
    for name, data in seeds.items():
        pixels = expected_pixels(name, data)
        if pixels is None:
            continue
        with open(os.path.join(directory, name + ".rgb"), "wb") as f:
            f.write(pixels.tobytes())
        manifest[name] = {"width": pixels.shape[1], "height": pixels.shape[0],
                          "exact": not name.endswith(".jpg")}
    with open(os.path.join(outdir, "robustness", "pixels.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def write_other_seeds(outdir):
    images = image_seeds()
    images.update(regression_seeds(outdir))
    for target, seeds in (("tokenizer", tokenizer_seeds()), ("image", images)):
        directory = os.path.join(outdir, "fuzz", target)
        os.makedirs(directory, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
    write_expected_pixels(outdir, images)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fuzz_seeds.py OUTDIR")
    outdir = sys.argv[1]
    reference_path = write_reference(outdir)
    write_seeds(outdir, reference_path)
    write_other_seeds(outdir)
    # What wrote these files, so tests that generate them on demand can tell they are current.
    with open(__file__, "rb") as f:
        stamp = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(outdir, "robustness", ".stamp"), "w") as f:
        f.write(stamp)


if __name__ == "__main__":
    main()
