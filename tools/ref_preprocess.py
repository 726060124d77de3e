#!/usr/bin/env python3
"""Reference fixtures for image decoding and CLIP preprocessing.

Usage: ref_preprocess.py OUTDIR

Writes OUTDIR/preprocess/:
  images/*            test images from fixed seeds (PNG in every colour type, JPEG, BMP, GIF) and
                      the photos that ship with Debian's python3-skimage
  tensors/NAME.f32    the reference pipeline's output, float32 little-endian [3, 224, 224]:
                      Image.open(path).convert('RGB'), torchvision 0.14 Resize(224, BICUBIC),
                      CenterCrop(224), ToTensor(), Normalize(CLIP mean, CLIP std)
  resample/NAME.u8    Pillow's Image.resize((w, h), BICUBIC) of a decoded image, uint8 [h, w, 3],
                      for sizes that exercise downscaling, upscaling and one-axis-only resizes
  manifest.json       what each file is (see write_manifest)
"""
import importlib.util
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def reference_transform():
    # The same chain as OpenAI's clip._transform, minus the RGB conversion done at open time.
    return T.Compose([
        T.Resize(SIZE, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(SIZE),
        T.ToTensor(),
        T.Normalize(CLIP_MEAN, CLIP_STD),
    ])


def synthetic_rgb(width, height, seed):
    """Smooth gradients and waves, hard-edged shapes at the extremes (0 and 255, so bicubic
    overshoot is clipped) and noise: every part of the resampler is exercised."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u = x / max(width - 1, 1)
    v = y / max(height - 1, 1)
    image = np.empty((height, width, 3), np.float32)
    for c in range(3):
        fx, fy = rng.uniform(1, 12, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        image[..., c] = 128 + 80 * np.sin(2 * np.pi * (fx * u + fy * v) + phase) + 40 * (u - v)
    for _ in range(int(rng.integers(3, 9))):
        color = rng.choice([0, 255], size=3) if rng.random() < 0.5 else rng.integers(0, 256, 3)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.03, 0.3) * width + 1, rng.uniform(0.03, 0.3) * height + 1
        if rng.random() < 0.5:
            mask = (np.abs(x - cx) < rx) & (np.abs(y - cy) < ry)
        else:
            mask = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
        image[mask] = color
    image += rng.normal(0, 10, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def synthetic_alpha(width, height, seed):
    rng = np.random.default_rng(seed)
    alpha = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    alpha[: height // 3] = 0  # fully transparent band: its colour must still come through
    return alpha


def gray_of(rgb):
    return (rgb.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def write_png16(path, pixels16, color_type):
    """Pillow cannot write 16-bit RGB PNGs, so this writes one directly (filter 0 on every row)."""
    height, width = pixels16.shape[:2]
    raw = b"".join(b"\0" + pixels16[row].astype(">u2").tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) +
                png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def make_synthetic(images_dir):
    """Returns [(name, file)] for images generated from fixed seeds."""
    made = []

    def save(name, image, ext, **options):
        file = f"{name}.{ext}"
        image.save(os.path.join(images_dir, file), **options)
        made.append((name, file))

    rgb = lambda w, h, seed: Image.fromarray(synthetic_rgb(w, h, seed), "RGB")
    save("tiny_1x1_rgb", rgb(1, 1, 1), "png")
    save("thin_7x300_rgb", rgb(7, 300, 2), "png")
    save("wide_300x7_rgb", rgb(300, 7, 3), "png")
    save("exact_224x224_rgb", rgb(224, 224, 4), "png")
    save("off_by_one_225x224_rgb", rgb(225, 224, 5), "png")
    save("off_by_one_224x227_rgb", rgb(224, 227, 6), "png")
    save("small_100x50_rgb", rgb(100, 50, 7), "png")
    save("landscape_300x200_rgb", rgb(300, 200, 8), "png")
    save("odd_crop_225x229_rgb", rgb(225, 229, 9), "png")
    save("panorama_1000x333_rgb", rgb(1000, 333, 10), "png")
    save("large_3000x2000_rgb", rgb(3000, 2000, 11), "png")

    rgba = np.dstack([synthetic_rgb(640, 480, 12), synthetic_alpha(640, 480, 13)])
    save("rgba_640x480", Image.fromarray(rgba, "RGBA"), "png")
    save("gray_1000x333", Image.fromarray(gray_of(synthetic_rgb(1000, 333, 14)), "L"), "png")
    gray_alpha = np.dstack([gray_of(synthetic_rgb(333, 1000, 15)), synthetic_alpha(333, 1000, 16)])
    save("gray_alpha_333x1000", Image.fromarray(gray_alpha, "LA"), "png")
    palette = rgb(500, 375, 17).quantize(colors=200, method=Image.Quantize.MEDIANCUT, dither=0)
    save("palette_500x375", palette, "png")
    small_palette = rgb(257, 255, 18).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save("palette4bit_trns_257x255", small_palette, "png", bits=4, transparency=3)
    bilevel = Image.fromarray(gray_of(synthetic_rgb(301, 203, 19))).point(lambda p: 255 * (p > 127))
    save("bilevel_301x203", bilevel.convert("1", dither=Image.Dither.NONE), "png")

    deep = synthetic_rgb(320, 240, 20).astype(np.uint16) * 257 + np.random.default_rng(21).integers(
        0, 257, size=(240, 320, 3), dtype=np.uint16)
    write_png16(os.path.join(images_dir, "rgb16_320x240.png"), deep, color_type=2)
    made.append(("rgb16_320x240", "rgb16_320x240.png"))

    save("jpeg_q90_640x480", rgb(640, 480, 22), "jpg", quality=90)
    save("jpeg_q90_444_500x400", rgb(500, 400, 23), "jpg", quality=90, subsampling=0)
    save("jpeg_progressive_800x600", rgb(800, 600, 24), "jpg", quality=90, progressive=True)
    save("jpeg_large_2000x1500", rgb(2000, 1500, 25), "jpg", quality=90)
    save("jpeg_q75_422_333x221", rgb(333, 221, 30), "jpg", quality=75, subsampling=1)
    save("jpeg_tiny_3x5", rgb(3, 5, 31), "jpg", quality=90)  # chroma 2 wide: replicated
    save("jpeg_progressive_odd_17x9", rgb(17, 9, 32), "jpg", quality=95, progressive=True)
    save("jpeg_gray_481x321", Image.fromarray(gray_of(synthetic_rgb(481, 321, 26)), "L"), "jpg",
         quality=90)

    save("bmp_rgb_400x300", rgb(400, 300, 27), "bmp")
    save("bmp_gray_211x307", Image.fromarray(gray_of(synthetic_rgb(211, 307, 28)), "L"), "bmp")
    gif = rgb(320, 240, 29).quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=0)
    save("gif_320x240", gif, "gif")
    return made


def skimage_data_dir():
    # Located without importing skimage (slow, and not needed).
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("python3-skimage is missing: run scripts/setup.sh")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


# Real photographs and drawings from Debian's python3-skimage (files shipped in the package).
SKIMAGE_FILES = [
    "astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "camera.png",
    "coins.png", "logo.png", "horse.png", "green_palette.png", "page.png", "rocket.jpg",
    "hubble_deep_field.jpg", "retina.jpg", "no_time_for_that_tiny.gif",
]


def copy_skimage(images_dir):
    made = []
    source_dir = skimage_data_dir()
    for file in SKIMAGE_FILES:
        name = "skimage_" + os.path.splitext(file)[0]
        shutil.copy(os.path.join(source_dir, file), os.path.join(images_dir, "skimage_" + file))
        made.append((name, "skimage_" + file))
        if file.endswith(".jpg"):
            # The same photo losslessly, so the resampler is checked on it bit for bit.
            Image.open(os.path.join(source_dir, file)).convert("RGB").save(
                os.path.join(images_dir, name + "_as_png.png"))
            made.append((name + "_as_png", name + "_as_png.png"))
    return made


# (source name, output width, output height): both axes down, both up, one axis only, mixed.
RESAMPLE_CASES = [
    ("landscape_300x200_rgb", 149, 99),
    ("landscape_300x200_rgb", 301, 200),
    ("landscape_300x200_rgb", 300, 77),
    ("landscape_300x200_rgb", 613, 37),
    ("small_100x50_rgb", 333, 171),
    ("tiny_1x1_rgb", 5, 3),
    ("thin_7x300_rgb", 224, 9600),
    ("large_3000x2000_rgb", 97, 1999),
    ("skimage_astronaut", 224, 224),
    ("skimage_coffee", 1200, 17),
]


def write_manifest(out_dir, entries, resample_entries):
    manifest = {
        "size": SIZE,
        "mean": CLIP_MEAN,
        "std": CLIP_STD,
        # images: file (under images/), format (as Pillow reads it), mode (Pillow's mode before
        # convert('RGB')), width, height, tensor (under tensors/, float32 [3, size, size])
        "images": entries,
        # resample: source (an image name above), width, height, pixels (under resample/, uint8 HWC)
        "resample": resample_entries,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = os.path.join(sys.argv[1], "preprocess")
    for sub in ("images", "tensors", "resample"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    images_dir = os.path.join(out_dir, "images")

    transform = reference_transform()
    entries = []
    files = {}
    for name, file in make_synthetic(images_dir) + copy_skimage(images_dir):
        image = Image.open(os.path.join(images_dir, file))
        entry = {"name": name, "file": file, "format": image.format, "mode": image.mode,
                 "width": image.width, "height": image.height, "tensor": name + ".f32"}
        tensor = transform(image.convert("RGB"))
        assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (3, SIZE, SIZE)
        tensor.numpy().astype("<f4").tofile(os.path.join(out_dir, "tensors", entry["tensor"]))
        entries.append(entry)
        files[name] = file

    resample_entries = []
    for source, width, height in RESAMPLE_CASES:
        image = Image.open(os.path.join(images_dir, files[source])).convert("RGB")
        resized = image.resize((width, height), Image.Resampling.BICUBIC)
        pixels = f"{source}_{width}x{height}.u8"
        np.asarray(resized, np.uint8).tofile(os.path.join(out_dir, "resample", pixels))
        resample_entries.append({"source": source, "width": width, "height": height,
                                 "pixels": pixels})

    write_manifest(out_dir, entries, resample_entries)
    print(f"ref_preprocess: {len(entries)} images, {len(resample_entries)} resample cases "
          f"in {out_dir}")


if __name__ == "__main__":
    main()
