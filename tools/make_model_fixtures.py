#!/usr/bin/env python3
"""Random-weight CLIP checkpoints and their reference embeddings, for the native parity tests.

Two independent reference implementations produce the expected outputs:
  - Hugging Face transformers' CLIPModel (Hugging Face tensor names, config.json), and
  - OpenAI's own CLIP model class from the `clip` package (OpenAI / open_clip tensor names).
Each model directory gets the weights, a config, and reference.safetensors holding the inputs
(pixel_values, input_ids padded to the context length, lengths) and the expected outputs
(image_embeds, text_embeds, L2-normalized; logit_scale, already exp()'d).

usage: make_model_fixtures.py OUTDIR [--full]
"""
import argparse
import json
import os

import numpy as np
import torch
from safetensors.numpy import save_file

SOT, EOT = 49406, 49407


def perturb(module, seed):
    """Random values for every parameter, so that no tensor is left at a trivial init (1s and 0s
    in layer norms, zero biases) and a wrongly mapped tensor changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("logit_scale"):
                p.fill_(np.log(1 / 0.07))
            elif p.dim() == 1 and ("norm" in name or "ln_" in name) and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p.shape[-1] if p.dim() > 1 else 64
                scale = min(0.02, 1.0 / np.sqrt(fan_in))
                p.copy_(scale * torch.randn(p.shape, generator=gen) * (3 if p.dim() == 1 else 1))


def token_batch(lengths, context, seed):
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), context), dtype=np.int32)
    for row, n in enumerate(lengths):
        ids[row, 0] = SOT
        ids[row, 1:n - 1] = rng.integers(1, SOT, size=n - 2)
        ids[row, n - 1] = EOT
    return ids


def pixel_batch(batch, size, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch, 3, size, size), generator=gen)


def normalized(x):
    return (x / x.norm(dim=-1, keepdim=True)).float().numpy()


def write_reference(path, pixels, ids, lengths, image_embeds, text_embeds, logit_scale):
    save_file({
        "pixel_values": pixels.numpy().astype(np.float32),
        "input_ids": ids,
        "lengths": np.array(lengths, dtype=np.int32),
        "image_embeds": image_embeds,
        "text_embeds": text_embeds,
        "logit_scale": np.array(logit_scale, dtype=np.float32),
    }, path)


def make_hf(outdir, name, vision, text, projection_dim, seed, dtype=torch.float32, lengths=(2, 7, 16, 77)):
    from transformers import CLIPConfig, CLIPModel
    config = CLIPConfig(vision_config=vision, text_config=text, projection_dim=projection_dim)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    perturb(model, seed)
    model = model.to(dtype).float()  # the reference runs on exactly the stored (rounded) values
    path = os.path.join(outdir, name)
    model.to(dtype).save_pretrained(path, safe_serialization=True)
    model.float()
    size = config.vision_config.image_size
    pixels = pixel_batch(2, size, seed + 1)
    ids = token_batch(lengths, config.text_config.max_position_embeddings, seed + 2)
    with torch.no_grad():
        image = model.get_image_features(pixel_values=pixels)
        text = model.get_text_features(input_ids=torch.from_numpy(ids).long())
    write_reference(os.path.join(path, "reference.safetensors"), pixels, ids, list(lengths),
                    normalized(image), normalized(text), float(model.logit_scale.exp()))
    print(f"fixture {name}: hugging face, {dtype}, image {size}, embed {projection_dim}")


def make_openai(outdir, name, embed_dim, image, layers, width, patch, text_width, text_heads, text_layers, seed,
                lengths=(3, 9, 77)):
    import clip.model
    torch.manual_seed(seed)
    model = clip.model.CLIP(embed_dim, image, layers, width, patch, 77, 49408, text_width, text_heads, text_layers).eval()
    perturb(model, seed)
    path = os.path.join(outdir, name)
    os.makedirs(path, exist_ok=True)
    state = {k: v.contiguous().numpy() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(path, "open_clip_model.safetensors"))
    with open(os.path.join(path, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": {"embed_dim": embed_dim, "quick_gelu": True,
                                 "vision_cfg": {"image_size": image, "layers": layers, "width": width,
                                                "patch_size": patch},
                                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": text_width,
                                              "heads": text_heads, "layers": text_layers}}}, f)
    pixels = pixel_batch(2, image, seed + 1)
    ids = token_batch(lengths, 77, seed + 2)
    with torch.no_grad():
        image_embeds = model.encode_image(pixels)
        text_embeds = model.encode_text(torch.from_numpy(ids).long())
    write_reference(os.path.join(path, "reference.safetensors"), pixels, ids, list(lengths),
                    normalized(image_embeds), normalized(text_embeds), float(model.logit_scale.exp()))
    print(f"fixture {name}: openai, image {image}, width {width}")


def make_zero_shot(outdir, name):
    """Template-ensemble label embeddings and probabilities, as the CLIP paper's notebook computes
    them (mean of normalized prompt embeddings, renormalized; softmax of logit_scale * cosine),
    with prompts tokenized by OpenAI's clip.tokenize."""
    import clip
    from safetensors.numpy import load_file
    from transformers import CLIPModel
    path = os.path.join(outdir, name)
    model = CLIPModel.from_pretrained(path).eval()
    labels = ["cat", "golden retriever", "space shuttle"]
    templates = ["a photo of a {}.", "a bad photo of the {}.", "art of the {}."]
    with torch.no_grad():
        classes = []
        for label in labels:
            ids = clip.tokenize([t.format(label) for t in templates])
            e = model.get_text_features(input_ids=ids)
            e = e / e.norm(dim=-1, keepdim=True)
            mean = e.mean(dim=0)
            classes.append(mean / mean.norm())
        classes = torch.stack(classes)
        pixels = torch.from_numpy(load_file(os.path.join(path, "reference.safetensors"))["pixel_values"])
        image = model.get_image_features(pixel_values=pixels)
        image = image / image.norm(dim=-1, keepdim=True)
        probs = (model.logit_scale.exp() * image @ classes.T).softmax(dim=-1)
    save_file({"label_embeds": classes.numpy(), "probs": probs.numpy()},
              os.path.join(path, "zero_shot.safetensors"))
    import gzip
    bpe = os.path.join(os.path.dirname(clip.__file__), "bpe_simple_vocab_16e6.txt.gz")
    with gzip.open(bpe, "rb") as src, open(os.path.join(path, "bpe_simple_vocab_16e6.txt"), "wb") as dst:
        dst.write(src.read())
    with open(os.path.join(path, "zero_shot.json"), "w") as f:
        json.dump({"labels": labels, "templates": templates}, f)


def make_variants(outdir, name):
    """f16 and q8 copies written by the project's converter (tools/convert_weights.py)."""
    import subprocess
    import sys
    for dtype in ("f16", "q8"):
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "convert_weights.py"),
                        os.path.join(outdir, name), "--dtype", dtype], check=True, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--full", action="store_true", help="also the ViT-B/32-shaped models (600 MB each)")
    args = parser.parse_args()
    out = os.path.join(args.outdir, "models")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)

    tiny_text = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2)
    make_hf(out, "tiny-hf", dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                                 num_attention_heads=4, image_size=32, patch_size=8), tiny_text, 32, seed=1)
    make_zero_shot(out, "tiny-hf")
    make_hf(out, "tiny-hf-gelu-f16", dict(hidden_size=96, intermediate_size=192, num_hidden_layers=3,
                                          num_attention_heads=3, image_size=48, patch_size=16, hidden_act="gelu"),
            dict(tiny_text, hidden_act="gelu"), 24, seed=2, dtype=torch.float16)
    make_hf(out, "tiny-hf-bf16", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                      num_attention_heads=2, image_size=28, patch_size=14), tiny_text, 16,
            seed=3, dtype=torch.bfloat16)
    make_openai(out, "tiny-openai", embed_dim=32, image=32, layers=2, width=128, patch=8,
                text_width=64, text_heads=2, text_layers=2, seed=4)
    make_variants(out, "tiny-hf")
    make_variants(out, "tiny-openai")
    if args.full:
        make_hf(out, "vit-b-32-hf", {}, {}, 512, seed=5)
        make_variants(out, "vit-b-32-hf")
        make_openai(out, "vit-b-32-openai", embed_dim=512, image=224, layers=12, width=768, patch=32,
                    text_width=512, text_heads=8, text_layers=12, seed=6)


if __name__ == "__main__":
    main()
