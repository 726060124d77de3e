#!/usr/bin/env python3
"""ONNX exports of a Hugging Face CLIP checkpoint, for benchmarking against onnxruntime.

Written to OUT_DIR (each checked against PyTorch before it is kept):
  image.onnx            vision tower + projection: pixel_values [1,3,S,S] f32 -> image_embeds [1,D]
  text77.onnx           text tower + projection: input_ids [1,77] int64 (padded) -> text_embeds [1,D]
  text_dynamic.onnx     the same with a dynamic sequence axis: input_ids [1,N]
  image_q8.onnx, text77_q8.onnx, text_dynamic_q8.onnx
                        int8 weights by onnxruntime.quantization.quantize_dynamic (QInt8)
  startup.onnx          a one-node model: creating a session on it times the runtime's start-up
  manifest.json         sizes, settings and measured agreement with PyTorch of every file
Embeddings are not L2-normalized (as CLIPModel.get_*_features returns them).
Nothing is redone when every output is newer than the checkpoint, its config and this script.

usage: export_onnx.py MODEL_DIR OUT_DIR [--opset 14] [--per-tensor] [--force]
"""
import argparse
import json
import os
import sys
import time

F32_MIN_COSINE = 0.99999
# int8 weights change the output by design; this only catches a broken quantized graph.
Q8_MIN_COSINE = 0.99
# The matrix products and the token embedding table. The patch-embedding Conv stays f32: ORT's CPU
# kernels have no ConvInteger for int8 weights, and it is 0.1 of 8.8 GFLOPs.
Q8_OPS = ["MatMul", "Gemm", "Gather"]
SOT, EOT = 49406, 49407
TEXT_LENGTHS = (2, 7, 16, 77)  # the dynamic export is checked at each of these lengths

OUTPUTS = ["image.onnx", "text77.onnx", "text_dynamic.onnx", "image_q8.onnx", "text77_q8.onnx",
           "text_dynamic_q8.onnx", "startup.onnx", "manifest.json"]


def up_to_date(model_dir, out_dir):
    inputs = [os.path.join(model_dir, "model.safetensors"), os.path.join(model_dir, "config.json"),
              os.path.abspath(__file__)]
    newest_input = max(os.path.getmtime(p) for p in inputs)
    outputs = [os.path.join(out_dir, name) for name in OUTPUTS]
    return all(os.path.exists(p) and os.path.getmtime(p) > newest_input for p in outputs)


def import_quantization():
    """onnxruntime 1.20's quantization package needs onnx >= 1.13 (it imports onnx.reference and
    the float8 types at load time); Debian's python3-onnx is 1.12. scripts/bench.sh installs a
    newer onnx into a folder of its own and puts it on PYTHONPATH."""
    import onnx
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except (ImportError, AttributeError) as error:
        raise SystemExit(f"export_onnx: onnxruntime.quantization cannot load with onnx {onnx.__version__} "
                         f"({error}); put onnx >= 1.13 on PYTHONPATH, as scripts/bench.sh does")
    return quantize_dynamic, QuantType


def token_ids(length, context, seed):
    """[1, context] int64: start, random BPE ids, end, zero padding (as CLIP's tokenizer pads)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    ids = np.zeros((1, context), dtype=np.int64)
    ids[0, 0] = SOT
    ids[0, 1:length - 1] = rng.integers(1, SOT, size=length - 2)
    ids[0, length - 1] = EOT
    return ids


def cosine(a, b):
    import numpy as np
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


class Checker:
    """Runs an ONNX file in onnxruntime (CPU) on fixed inputs and compares with PyTorch."""

    def __init__(self, model):
        import numpy as np
        import torch
        self.cases = {}
        size = model.config.vision_config.image_size
        context = model.config.text_config.max_position_embeddings
        pixels = torch.randn((1, 3, size, size), generator=torch.Generator().manual_seed(11))
        with torch.no_grad():
            self.cases["image"] = [({"pixel_values": pixels.numpy()},
                                    model.get_image_features(pixel_values=pixels).numpy())]
            text77, dynamic = [], []
            for i, length in enumerate(TEXT_LENGTHS):
                padded = token_ids(length, context, seed=20 + i)
                expected = model.get_text_features(input_ids=torch.from_numpy(padded)).numpy()
                text77.append(({"input_ids": padded}, expected))
                dynamic.append(({"input_ids": np.ascontiguousarray(padded[:, :length])}, expected))
            self.cases["text77"] = text77
            self.cases["text_dynamic"] = dynamic

    def worst_cosine(self, path, kind):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return min(cosine(session.run(None, feeds)[0], expected) for feeds, expected in self.cases[kind])


class Tower:
    """Wraps one CLIPModel projection function as a module for torch.onnx.export."""

    @staticmethod
    def image(model):
        import torch

        class Image(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, pixel_values):
                return self.model.get_image_features(pixel_values=pixel_values)

        return Image()

    @staticmethod
    def text(model):
        import torch

        class Text(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, input_ids):
                return self.model.get_text_features(input_ids=input_ids)

        return Text()


def export(model, kind, path, opset):
    import torch
    size = model.config.vision_config.image_size
    context = model.config.text_config.max_position_embeddings
    if kind == "image":
        module, name_in, name_out = Tower.image(model), "pixel_values", "image_embeds"
        example, dynamic_axes = torch.zeros((1, 3, size, size)), None
    else:
        module, name_in, name_out = Tower.text(model), "input_ids", "text_embeds"
        # Traced at a length other than 77, so a length baked into the graph would fail the check.
        length = context if kind == "text77" else 9
        example = torch.from_numpy(token_ids(length, context, seed=5)[:, :length])
        dynamic_axes = {name_in: {1: "sequence"}} if kind == "text_dynamic" else None
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(module, (example,), tmp, input_names=[name_in], output_names=[name_out],
                          dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True)
    return tmp


def write_startup_model(path, opset):
    """A one-Identity-node model: session creation on it is the runtime's own start-up cost."""
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "startup",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="Hugging Face layout: config.json + model.safetensors")
    parser.add_argument("out_dir")
    parser.add_argument("--opset", type=int, default=14)
    parser.add_argument("--per-tensor", action="store_true",
                        help="one int8 scale per weight matrix instead of one per output channel")
    parser.add_argument("--force", action="store_true", help="redo everything even if up to date")
    args = parser.parse_args()
    if args.opset < 14:
        parser.error("--opset must be 14 or newer")
    if not args.force and up_to_date(args.model_dir, args.out_dir):
        print(f"export_onnx: {args.out_dir} is up to date")
        return 0

    # onnx before torch: Debian's libtorch registers its own, older onnx-ml.proto with protobuf,
    # and an onnx imported after it finds that one (ImportError: IR_VERSION_2021_7_30).
    quantize_dynamic, QuantType = import_quantization()
    import torch
    from transformers import CLIPModel
    torch.manual_seed(0)
    os.makedirs(args.out_dir, exist_ok=True)
    model = CLIPModel.from_pretrained(args.model_dir, torch_dtype=torch.float32).eval()
    checker = Checker(model)
    per_channel = not args.per_tensor
    manifest = {"source": os.path.abspath(args.model_dir), "opset": args.opset, "per_channel": per_channel,
                "f32_min_cosine": F32_MIN_COSINE, "q8_min_cosine": Q8_MIN_COSINE, "files": {}}

    def keep(tmp, path, kind, threshold, extra):
        worst = checker.worst_cosine(tmp, kind)
        if worst < threshold:
            os.remove(tmp)
            raise SystemExit(f"export_onnx: {os.path.basename(path)}: cosine to PyTorch {worst:.8f} < {threshold}")
        os.replace(tmp, path)
        manifest["files"][os.path.basename(path)] = {
            "kind": kind, "bytes": os.path.getsize(path), "min_cosine_vs_pytorch": worst, **extra}
        print(f"{os.path.basename(path)}: {os.path.getsize(path) / 1e6:.1f} MB, cosine to PyTorch >= {worst:.8f}")

    for kind in ("image", "text77", "text_dynamic"):
        path = os.path.join(args.out_dir, f"{kind}.onnx")
        start = time.time()
        tmp = export(model, kind, path, args.opset)
        keep(tmp, path, kind, F32_MIN_COSINE, {"dtype": "f32", "export_s": round(time.time() - start, 1)})

        q8_path = os.path.join(args.out_dir, f"{kind}_q8.onnx")
        start = time.time()
        quantize_dynamic(path, q8_path + ".tmp", weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=Q8_OPS)
        keep(q8_path + ".tmp", q8_path, kind, Q8_MIN_COSINE,
             {"dtype": "q8", "weight_type": "QInt8", "ops": Q8_OPS, "quantize_s": round(time.time() - start, 1)})

    write_startup_model(os.path.join(args.out_dir, "startup.onnx"), args.opset)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
