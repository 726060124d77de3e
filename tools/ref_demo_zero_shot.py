#!/usr/bin/env python3
"""Reference zero-shot scores for the web demo's browser test: the demo's sample photos classified
by the tiny random-weight CLIP of the JavaScript fixtures (OUTDIR/js/tiny-hf), with transformers'
CLIPModel and OpenAI's preprocessing (PIL decode, torchvision bicubic resize + center crop,
normalize with the checkpoint's mean/std) and OpenAI's tokenizer. A random model's top label means
nothing about the photo, but the page must produce the same scores.

Needs the JS fixtures (tools/make_js_fixtures.py OUTDIR) and the sample photos
(tools/copy_sample_images.py). Writes OUTDIR/demo/reference.json:
  {"model", "labels", "templates": {"single": [...], "ensemble": [...]},
   "images": {name: {"file", "probs": {"single": [...], "ensemble": [...]}}}}

usage: ref_demo_zero_shot.py OUTDIR [SAMPLES_DIR]
"""
import hashlib
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_js_fixtures import normalized, preprocess, token_ids  # noqa: E402  (the same reference steps)

LABELS = ["cat", "dog", "cup of coffee", "astronaut", "rocket", "car", "bird", "flower"]
TEMPLATES = {
    "single": ["a photo of a {}."],
    # The CLIP authors' 7 ImageNet prompts.
    "ensemble": ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
                 "a {} in a video game.", "art of the {}.", "a photo of the small {}."],
}


def digest(paths):
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    root = sys.argv[1]
    samples_dir = sys.argv[2] if len(sys.argv) == 3 else os.path.join(HERE, "..", "web-demo", "samples")
    model_dir = os.path.join(root, "js", "tiny-hf")
    manifest_path = os.path.join(samples_dir, "samples.json")
    for needed in (os.path.join(model_dir, "model.safetensors"), manifest_path):
        if not os.path.exists(needed):
            sys.exit(f"ref_demo_zero_shot: {needed} is missing (run make_js_fixtures.py / copy_sample_images.py)")
    with open(manifest_path) as f:
        samples = json.load(f)
    inputs = [__file__, os.path.join(HERE, "make_js_fixtures.py"), os.path.join(model_dir, "model.safetensors"),
              manifest_path] + [os.path.join(samples_dir, s["file"]) for s in samples]
    stamp = digest(inputs)
    out_dir = os.path.join(root, "demo")
    out_path = os.path.join(out_dir, "reference.json")
    if os.path.exists(out_path):
        with open(out_path) as f:
            if json.load(f).get("stamp") == stamp:
                return

    from transformers import CLIPModel
    torch.set_num_threads(2)
    model = CLIPModel.from_pretrained(model_dir).eval()
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        pre = json.load(f)
    size = model.config.vision_config.image_size
    scale = float(model.logit_scale.exp())

    def text_embedding(text):
        return normalized(model.get_text_features(input_ids=torch.tensor([token_ids(text)])))

    out = {"stamp": stamp, "model": "tiny-hf", "labels": LABELS, "templates": TEMPLATES, "images": {}}
    with torch.no_grad():
        label_sets = {}
        for kind, templates in TEMPLATES.items():
            rows = [normalized(torch.cat([text_embedding(t.format(label)) for t in templates]).mean(0, keepdim=True))
                    for label in LABELS]
            label_sets[kind] = torch.cat(rows)
        for sample in samples:
            pixels = preprocess(os.path.join(samples_dir, sample["file"]), size, pre["image_mean"], pre["image_std"])
            image = normalized(model.get_image_features(pixel_values=pixels))
            probs = {kind: (scale * image @ labels.T).softmax(-1)[0].tolist() for kind, labels in label_sets.items()}
            out["images"][sample["name"]] = {"file": sample["file"], "probs": probs}
    os.makedirs(out_dir, exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"demo reference in {out_path}")


if __name__ == "__main__":
    main()
