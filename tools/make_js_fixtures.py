#!/usr/bin/env python3
"""Fixtures for the JavaScript package tests (tests/js): tiny random-weight CLIP models in the
layouts load() accepts, test images in several formats, and reference outputs.

Written to OUTDIR/js:
  tiny-hf/        model.safetensors, config.json, preprocessor_config.json (non-default mean/std),
                  vocab.json, merges.txt                       (transformers' CLIPModel, seed 11)
  tiny-openclip/  open_clip_model.safetensors, open_clip_config.json, bpe_simple_vocab_16e6.txt.gz
                  (OpenAI / open_clip names, OpenAI's CLIP class, seed 12)
  tiny-missing/   tiny-hf with text_projection.weight left out (a load must fail naming it)
  images/         photo.png (RGB), rgba.png, gray.png, photo.jpg, photo.bmp, photo.gif,
                  photo.rgba (raw RGBA bytes of photo.png), broken.png (cut short), notes.txt
  reference.json  per model: token ids, text embeddings, image embeddings (from each file and
                  from raw pixels), the preprocessed tensor's embedding, zero-shot probabilities

Reference pipeline: PIL decode + convert('RGB'), torchvision Resize(size, BICUBIC) + CenterCrop +
ToTensor + Normalize (OpenAI's preprocessing); OpenAI's clip.tokenize; the model's own forward.

usage: make_js_fixtures.py OUTDIR
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
BPE = os.path.join(HERE, "..", ".cache", "bpe_simple_vocab_16e6.txt.gz")

MEAN = [0.5, 0.45, 0.4]
STD = [0.25, 0.3, 0.28]
TEXTS = [
    "a photo of a cat",
    "A DOG!!  running\tfast, 3 times...",
    "café crème brûlée",
    "日本語のテキスト",
    "emoji \U0001F600 and &amp; html",
    " ".join(["long"] * 100),
]
LABELS = ["cat", "dog", "space shuttle"]
TEMPLATES = ["a photo of a {}.", "art of the {}."]


def perturb(model, seed):
    """Random values for every parameter (no layer norm left at 1/0), so that a wrongly mapped
    tensor changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("logit_scale"):
                p.fill_(float(np.log(1 / 0.07)))
            elif p.dim() == 1 and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character table, as OpenAI's tokenizer builds it."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_hf_tokenizer(path):
    """vocab.json and merges.txt in Hugging Face's layout, built from OpenAI's merges exactly as
    OpenAI's SimpleTokenizer builds its vocabulary."""
    with gzip.open(BPE, "rt", encoding="utf-8") as f:
        merges = f.read().split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(path, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(path, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")


def make_images(path):
    """Seeded images: smooth gradients plus noise, non-square, in every format the decoder takes."""
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(7)

    def picture(width, height, channels):
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
        base = base[..., :channels] if channels < 3 else base
        if channels == 4:
            base = np.concatenate([base, 255 * (x[..., None] % 2)], -1)
        noise = rng.integers(-40, 40, size=base.shape)
        return np.clip(base + noise, 0, 255).astype(np.uint8)

    photo = Image.fromarray(picture(80, 53, 3), "RGB")
    photo.save(os.path.join(path, "photo.png"))
    photo.save(os.path.join(path, "photo.jpg"), quality=92)
    photo.save(os.path.join(path, "photo.bmp"))
    photo.convert("P", palette=Image.ADAPTIVE, colors=200).save(os.path.join(path, "photo.gif"))
    Image.fromarray(picture(40, 64, 4), "RGBA").save(os.path.join(path, "rgba.png"))
    Image.fromarray(picture(50, 50, 1)[..., 0], "L").save(os.path.join(path, "gray.png"))
    with open(os.path.join(path, "photo.rgba"), "wb") as f:
        f.write(np.asarray(photo.convert("RGBA")).tobytes())
    png = open(os.path.join(path, "photo.png"), "rb").read()
    with open(os.path.join(path, "broken.png"), "wb") as f:
        f.write(png[:len(png) // 2])
    with open(os.path.join(path, "notes.txt"), "w") as f:
        f.write("this is not an image\n")
    return ["photo.png", "photo.jpg", "photo.bmp", "photo.gif", "rgba.png", "gray.png"]


def preprocess(image_path, size, mean, std):
    from torchvision import transforms
    t = transforms.Compose([
        transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])
    return t(Image.open(image_path).convert("RGB")).unsqueeze(0)


def normalized(x):
    return (x / x.norm(dim=-1, keepdim=True))


def token_ids(text):
    import clip
    ids = clip.tokenize([text], truncate=True)[0]
    return ids[ids != 0].tolist()


def reference(encode_image, encode_text, logit_scale, image_size, mean, std, images_dir, images):
    """Everything the tests compare against, for one model."""
    out = {"imageSize": image_size, "logitScale": logit_scale, "tokens": {}, "texts": {},
           "images": {}}
    with torch.no_grad():
        for text in TEXTS:
            ids = token_ids(text)
            out["tokens"][text] = ids
            out["texts"][text] = normalized(encode_text(ids))[0].tolist()
        for name in images:
            pixels = preprocess(os.path.join(images_dir, name), image_size, mean, std)
            out["images"][name] = normalized(encode_image(pixels))[0].tolist()
            if name == "photo.png":
                pixels.numpy().astype("<f4").tofile(os.path.join(images_dir, f"photo-{image_size}.f32"))
        label_rows = []
        for label in LABELS:
            e = torch.cat([normalized(encode_text(token_ids(t.format(label)))) for t in TEMPLATES])
            label_rows.append(normalized(e.mean(0, keepdim=True)))
        labels = torch.cat(label_rows)
        image = torch.tensor([out["images"]["photo.png"]])
        probs = (logit_scale * image @ labels.T).softmax(-1)[0]
    out["zeroShot"] = {"image": "photo.png", "labels": LABELS, "templates": TEMPLATES,
                       "probs": probs.tolist()}
    return out


def make_hf(root, images_dir, images):
    from transformers import CLIPConfig, CLIPModel
    config = CLIPConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
        projection_dim=16)
    torch.manual_seed(11)
    model = CLIPModel(config).eval()
    perturb(model, 11)
    path = os.path.join(root, "tiny-hf")
    model.save_pretrained(path, safe_serialization=True)
    with open(os.path.join(path, "preprocessor_config.json"), "w") as f:
        json.dump({"crop_size": {"height": 32, "width": 32}, "do_center_crop": True, "do_normalize": True,
                   "do_resize": True, "image_mean": MEAN, "image_std": STD, "resample": 3,
                   "size": {"shortest_edge": 32}, "image_processor_type": "CLIPImageProcessor"}, f)
    write_hf_tokenizer(path)

    # Same checkpoint less one tensor.
    missing = os.path.join(root, "tiny-missing")
    os.makedirs(missing, exist_ok=True)
    state = load_file(os.path.join(path, "model.safetensors"))
    del state["text_projection.weight"]
    save_file({k: v.numpy() for k, v in state.items()}, os.path.join(missing, "model.safetensors"))
    for name in ["config.json", "vocab.json", "merges.txt"]:
        shutil.copy(os.path.join(path, name), os.path.join(missing, name))

    # The converter's f16 and int8 files only (no f32 file), for dtype 'f16' and pre-quantized 'q8'.
    converted = os.path.join(root, "tiny-hf-converted")
    os.makedirs(converted, exist_ok=True)
    for name in ["config.json", "preprocessor_config.json", "vocab.json", "merges.txt"]:
        shutil.copy(os.path.join(path, name), os.path.join(converted, name))
    for dtype, suffix in [("f16", "fp16"), ("q8", "q8")]:
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "convert_weights.py"), path,
                        "--dtype", dtype, "--out", os.path.join(converted, f"model.{suffix}.safetensors")],
                       check=True, stdout=subprocess.DEVNULL)

    return reference(
        lambda pixels: model.get_image_features(pixel_values=pixels),
        lambda ids: model.get_text_features(input_ids=torch.tensor([ids])),
        float(model.logit_scale.exp()), 32, MEAN, STD, images_dir, images)


def make_openclip(root, images_dir, images):
    import clip.model
    torch.manual_seed(12)
    # embed 24, image 48, vision layers 2, width 64 (one 64-wide head), patch 16; text width 32,
    # 2 heads, 1 layer.
    model = clip.model.CLIP(24, 48, 2, 64, 16, 77, 49408, 32, 2, 1).eval()
    perturb(model, 12)
    path = os.path.join(root, "tiny-openclip")
    os.makedirs(path, exist_ok=True)
    save_file({k: v.contiguous().numpy() for k, v in model.state_dict().items()},
              os.path.join(path, "open_clip_model.safetensors"))
    with open(os.path.join(path, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": {"embed_dim": 24, "quick_gelu": True,
                                 "vision_cfg": {"image_size": 48, "layers": 2, "width": 64, "patch_size": 16},
                                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32,
                                              "heads": 2, "layers": 1}},
                   "preprocess_cfg": {"mean": MEAN, "std": STD}}, f)
    shutil.copy(BPE, os.path.join(path, "bpe_simple_vocab_16e6.txt.gz"))

    def encode_text(ids):
        padded = torch.zeros((1, 77), dtype=torch.long)
        padded[0, :len(ids)] = torch.tensor(ids)
        return model.encode_text(padded)

    return reference(model.encode_image, encode_text, float(model.logit_scale.exp()), 48, MEAN, STD,
                     images_dir, images)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.join(sys.argv[1], "js")
    # The converter writes some of these fixtures: a change to either makes them again.
    sources = [__file__, os.path.join(os.path.dirname(__file__), "convert_weights.py")]
    stamp = hashlib.sha256(b"".join(open(f, "rb").read() for f in sources)).hexdigest()[:16]
    stamp_file = os.path.join(out, ".stamp")
    if os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        return
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    torch.set_num_threads(2)
    images_dir = os.path.join(out, "images")
    images = make_images(images_dir)
    ref = {"texts": TEXTS, "images": images,
           "models": {"tiny-hf": make_hf(out, images_dir, images),
                      "tiny-openclip": make_openclip(out, images_dir, images)}}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f)
    with open(stamp_file, "w") as f:
        f.write(stamp)
    print(f"js fixtures in {out}")


if __name__ == "__main__":
    main()
