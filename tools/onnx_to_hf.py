"""Recovers OpenAI CLIP (ViT) parameters from an ONNX export by tracing its graph, and renames them
to Hugging Face's CLIPModel layout.

Exporters rename and fold parameters: a Linear's weight becomes a transposed `onnx::MatMul_123`,
`positional_embedding.to(dtype)` becomes `onnx::Add_45`, the class embedding is folded with the
zeros it is added to, and every block's 768x768 matrices look alike. Names are therefore never
trusted. Each tensor is identified by the node it feeds, in data-flow order: the nodes of a tower
are ordered by their longest distance from the graph input, which puts the blocks in sequence
(each block consumes the previous block's output), and a parser walks that order expecting
OpenAI's architecture (conv1, class embedding, positions, ln_pre, blocks of ln_1 / in_proj /
out_proj / ln_2 / c_fc / c_proj, ln_post, proj). Biases are found as the Add fed by their MatMul,
layer-norm biases as the Add fed by the layer-norm Mul. Anything unexpected stops the conversion
with the node's name.

Library use: `trace_onnx(model) -> Trace`, `openai_to_hf(state_dict) -> dict`.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper


class TraceError(Exception):
    pass


@dataclass
class Use:
    """A constant tensor entering a node that depends on a graph input."""

    node_index: int
    input_index: int
    value: str  # name of the node input


@dataclass
class Tower:
    params: dict = field(default_factory=dict)  # OpenAI name -> float32 array
    sources: dict = field(default_factory=dict)  # OpenAI name -> where it came from in the graph
    layers: int = 0
    width: int = 0
    ln_eps: list = field(default_factory=list)
    input_name: str = ""
    output_value: str = ""  # the projected embedding, before any normalisation


@dataclass
class Trace:
    vision: Tower | None
    text: Tower | None
    logit_scale: float | None  # log of the multiplier, when the graph has the logits head
    logit_scale_source: str = ""

    def state_dict(self) -> dict:
        out = {}
        for tower in (self.vision, self.text):
            if tower:
                out.update(tower.params)
        if self.logit_scale is not None:
            out["logit_scale"] = np.array(self.logit_scale, dtype=np.float32)
        return out


# ---- graph index --------------------------------------------------------------------------------

# Ops evaluated here when all their inputs are constant, so that a weight reaching its consumer
# through them (an export without constant folding: Cast, Transpose, `param + zeros`) is still
# recognised as a constant. Anything else stays a computed value.
_FOLDABLE = {"Identity", "Cast", "Transpose", "Add", "Sub", "Mul", "Div", "Unsqueeze", "Squeeze",
             "Reshape", "Expand", "ConstantOfShape", "Concat"}


def _np_dtype(onnx_type: int):
    if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):  # onnx >= 1.13
        return onnx.helper.tensor_dtype_to_np_dtype(onnx_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[onnx_type]  # Debian 12's onnx 1.12


def _evaluate(op: str, args: list, attrs: dict):
    a = args[0] if args else None
    if op == "Identity":
        return a
    if op == "Cast":
        return a.astype(_np_dtype(attrs["to"]))
    if op == "Transpose":
        return np.transpose(a, attrs.get("perm"))
    if op in ("Add", "Sub", "Mul", "Div") and len(args) == 2:
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        return f(args[0], args[1]).astype(np.result_type(args[0], args[1]))
    if op in ("Unsqueeze", "Squeeze"):
        axes = attrs.get("axes", args[1].tolist() if len(args) > 1 else None)
        if op == "Squeeze":
            return np.squeeze(a, axis=tuple(axes) if axes is not None else None)
        out = a
        for axis in sorted(x % (a.ndim + len(axes)) for x in axes):
            out = np.expand_dims(out, axis)
        return out
    if op == "Reshape":
        shape = [d if d != 0 else a.shape[k] for k, d in enumerate(args[1].tolist())]
        return a.reshape(shape)
    if op == "Expand":
        return a * np.ones(args[1].tolist(), dtype=a.dtype)
    if op == "ConstantOfShape":
        fill = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
        return np.full(a.tolist(), fill.reshape(-1)[0], dtype=fill.dtype)
    if op == "Concat":
        return np.concatenate(args, axis=attrs["axis"])
    return None


class _Graph:
    def __init__(self, model: onnx.ModelProto):
        graph = model.graph
        self.nodes = list(graph.node)
        self.consts: dict[str, np.ndarray] = {}
        self.origin: dict[str, str] = {}  # constant value -> initializer / Constant node (+ folding)
        for init in graph.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
            self.origin[init.name] = init.name
        self.inputs = [i for i in graph.input if i.name not in self.consts]
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for index, node in enumerate(self.nodes):
            for name in node.output:
                self.producer[name] = index
            for name in node.input:
                if name:
                    self.consumers[name].append(index)
        self._fold_constants()
        self._mark_dynamic()

    def _fold_constants(self):
        for node in self.nodes:  # ONNX requires topological order
            if node.op_type == "Constant":
                attr = {a.name: a for a in node.attribute}
                if "value" in attr:
                    self.consts[node.output[0]] = numpy_helper.to_array(attr["value"].t)
                    self.origin[node.output[0]] = f"Constant {node.name or node.output[0]}"
                continue
            names = [n for n in node.input if n]
            if node.op_type not in _FOLDABLE or not names or not all(n in self.consts for n in names):
                continue
            value = _evaluate(node.op_type, [self.consts[n] for n in node.input if n], self.attrs(node))
            if value is None:
                continue
            self.consts[node.output[0]] = value
            # Name the tensor after its largest float input: the parameter, not the zeros or shapes.
            floats = [n for n in names if self.consts[n].dtype.kind == "f"] or names
            main = max(floats, key=lambda n: self.consts[n].size)
            self.origin[node.output[0]] = f"{self.origin.get(main, main)} via {node.op_type}"

    def _mark_dynamic(self):
        """For each node: which graph inputs it depends on (bit mask) and its longest distance from them."""
        self.input_bits = {inp.name: 1 << k for k, inp in enumerate(self.inputs)}
        bits = dict(self.input_bits)
        depth = {name: 0 for name in self.input_bits}
        self.node_bits = []
        self.node_depth = []
        for node in self.nodes:
            b, d = 0, -1
            for name in node.input:
                if name in bits:
                    b |= bits[name]
                    d = max(d, depth[name])
            self.node_bits.append(b)
            self.node_depth.append(d + 1)
            if b:
                for name in node.output:
                    bits[name] = b
                    depth[name] = d + 1

    def attrs(self, node) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def describe(self, index: int) -> str:
        node = self.nodes[index]
        return f"{node.op_type} node '{node.name or node.output[0]}'"

    def is_const(self, name: str) -> bool:
        return name in self.consts

    def uses_of(self, bit: int) -> list[Use]:
        """Constant inputs of the nodes that depend on exactly this graph input, in data-flow order."""
        uses = []
        order = sorted(
            (i for i, b in enumerate(self.node_bits) if b == bit), key=lambda i: (self.node_depth[i], i)
        )
        for index in order:
            node = self.nodes[index]
            if node.output and node.output[0] in self.consts:  # folded above
                continue
            for k, name in enumerate(node.input):
                if name and name in self.consts:
                    uses.append(Use(index, k, name))
        return uses


# ---- the parser ---------------------------------------------------------------------------------


class _Cursor:
    """Walks the constant uses of one tower in data-flow order, skipping incidental constants."""

    def __init__(self, graph: _Graph, uses: list[Use], tower: str, context_length: int | None):
        self.g = graph
        self.uses = uses
        self.tower = tower
        self.context_length = context_length
        self.pos = 0
        self.consumed: set[tuple[int, int]] = set()

    def incidental(self, use: Use) -> bool:
        """Scalars (eps, 1.702, sqrt(d)), integer shapes and indices, and the text causal mask."""
        value = self.g.consts[use.value]
        if value.size <= 1 or value.dtype.kind != "f":
            return True
        L = self.context_length
        if L and value.ndim >= 2 and value.shape[-2:] == (L, L) and value.size == L * L:
            return bool(np.all((value == 0) | (value <= -1e4)))  # 0 where allowed, -inf (or -big) above
        return False

    def peek(self) -> Use | None:
        while self.pos < len(self.uses):
            use = self.uses[self.pos]
            if (use.node_index, use.input_index) in self.consumed or self.incidental(use):
                self.pos += 1
                continue
            return use
        return None

    def take(self, what: str) -> Use:
        use = self.peek()
        if use is None:
            raise TraceError(f"{self.tower}: the graph ends where {what} was expected")
        self.pos += 1
        self.consumed.add((use.node_index, use.input_index))
        return use

    def fail(self, use: Use, what: str, why: str):
        value = self.g.consts[use.value]
        raise TraceError(
            f"{self.tower}: expected {what}, found {self.g.origin[use.value]} {list(value.shape)} "
            f"entering {self.g.describe(use.node_index)} (input {use.input_index}): {why}"
        )

    def value(self, use: Use) -> np.ndarray:
        return np.asarray(self.g.consts[use.value], dtype=np.float32)

    def source(self, use: Use, note: str = "") -> str:
        text = f"{self.g.origin[use.value]} -> {self.g.describe(use.node_index)}"
        return f"{text} ({note})" if note else text

    def const_consumer(self, index: int, op_type: str, shape: tuple) -> Use | None:
        """The constant input of the `op_type` node that consumes node `index`'s output, if any."""
        for out in self.g.nodes[index].output:
            for c in self.g.consumers.get(out, []):
                node = self.g.nodes[c]
                if node.op_type != op_type:
                    continue
                for k, name in enumerate(node.input):
                    if name in self.g.consts and tuple(self.g.consts[name].shape) == shape:
                        return Use(c, k, name)
        return None

    # -- building blocks --

    def linear_weight(self, use: Use) -> tuple[np.ndarray, str] | None:
        """The [in, out] matrix that a MatMul or Gemm applies as x @ W, or None if `use` is no linear map."""
        node = self.g.nodes[use.node_index]
        value = self.value(use)
        if value.ndim != 2:
            return None
        if node.op_type == "MatMul" and use.input_index == 1:
            return value, "MatMul x @ W: weight is W^T"
        if node.op_type == "Gemm" and use.input_index == 1:
            a = self.g.attrs(node)
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                return None
            if a.get("transB", 0):
                return value.T, "Gemm transB=1: weight as stored"
            return value, "Gemm transB=0: weight is B^T"
        return None

    def linear(self, what: str, in_dim: int, out_dim: int | None = None):
        """A Linear layer: returns (weight [out, in], bias [out], weight source, bias source)."""
        use = self.take(what)
        found = self.linear_weight(use)
        if found is None:
            self.fail(use, what, "not the weight operand of a MatMul / Gemm")
        w_in_out, note = found
        if w_in_out.shape[0] != in_dim or (out_dim is not None and w_in_out.shape[1] != out_dim):
            self.fail(use, what, f"expected an [{in_dim}, {out_dim or 'any'}] map")
        out = w_in_out.shape[1]
        node = self.g.nodes[use.node_index]
        if node.op_type == "Gemm":
            if len(node.input) < 3 or node.input[2] not in self.g.consts:
                self.fail(use, what, "Gemm without a constant bias")
            bias_use = Use(use.node_index, 2, node.input[2])
        else:
            bias_use = self.const_consumer(use.node_index, "Add", (out,))
            if bias_use is None:
                self.fail(use, what, "its output does not go into an Add with a bias")
        self.consumed.add((bias_use.node_index, bias_use.input_index))
        bias = self.value(bias_use).reshape(out)
        return (
            np.ascontiguousarray(w_in_out.T),
            bias,
            self.source(use, note),
            self.source(bias_use),
        )

    def layer_norm(self, what: str, width: int):
        """Returns (weight, bias, eps, weight source, bias source)."""
        use = self.take(what)
        node = self.g.nodes[use.node_index]
        if node.op_type == "LayerNormalization" and use.input_index == 1:
            if len(node.input) < 3 or node.input[2] not in self.g.consts:
                self.fail(use, what, "LayerNormalization without a constant bias")
            bias_use = Use(use.node_index, 2, node.input[2])
            eps = float(self.g.attrs(node).get("epsilon", 1e-5))
        elif node.op_type == "Mul":
            eps = self._decomposed_norm_eps(use)
            if eps is None:
                self.fail(use, what, "a Mul that does not scale a normalised value (Div by Sqrt of variance + eps)")
            bias_use = self.const_consumer(use.node_index, "Add", (width,))
            if bias_use is None:
                self.fail(use, what, "its output does not go into an Add with a bias")
        else:
            self.fail(use, what, "not a layer norm's scale")
        if self.value(use).size != width:
            self.fail(use, what, f"expected {width} values")
        self.consumed.add((bias_use.node_index, bias_use.input_index))
        return (
            self.value(use).reshape(width),
            self.value(bias_use).reshape(width),
            eps,
            self.source(use),
            self.source(bias_use),
        )

    def _decomposed_norm_eps(self, use: Use) -> float | None:
        """torch < opset 17 writes layer norm as (x - mean) / sqrt(var + eps) * w + b; find that eps."""
        node = self.g.nodes[use.node_index]
        div = self._producer_of(node.input[1 - use.input_index])
        if div is None or div.op_type != "Div":
            return None
        sqrt = self._producer_of(div.input[1])
        if sqrt is None or sqrt.op_type != "Sqrt":
            return None
        add = self._producer_of(sqrt.input[0])
        if add is None or add.op_type != "Add":
            return None
        for name in add.input:
            if name in self.g.consts and self.g.consts[name].size == 1:
                return float(self.g.consts[name].reshape(()))
        return None

    def _producer_of(self, name: str):
        index = self.g.producer.get(name)
        return None if index is None else self.g.nodes[index]

    def next_is_in_proj(self, width: int) -> bool:
        use = self.peek()
        if use is None:
            return False
        found = self.linear_weight(use)
        return found is not None and found[0].shape == (width, 3 * width)

    def finish(self):
        use = self.peek()
        if use is not None:
            self.fail(use, "nothing more", "an unrecognised parameter after the projection")


def _put(tower: Tower, name: str, value: np.ndarray, source: str):
    tower.params[name] = np.ascontiguousarray(value, dtype=np.float32)
    tower.sources[name] = source


def _blocks(cur: _Cursor, tower: Tower, prefix: str, width: int):
    """Residual blocks, then the final layer norm; returns that final norm (weight, bias, eps, sources)."""
    layer = 0
    while True:
        ln = cur.layer_norm(f"{prefix}{layer}.ln_1 or the final layer norm", width)
        tower.ln_eps.append(ln[2])
        if not cur.next_is_in_proj(width):
            tower.layers = layer
            return ln
        p = f"{prefix}{layer}."
        _put(tower, p + "ln_1.weight", ln[0], ln[3])
        _put(tower, p + "ln_1.bias", ln[1], ln[4])
        w, b, ws, bs = cur.linear(p + "attn.in_proj", width, 3 * width)
        # OpenAI keeps q, k, v stacked in one [3W, W] matrix, rows in that order (the export's
        # chunk(3) after the MatMul keeps them fused; Hugging Face's split happens in openai_to_hf).
        _put(tower, p + "attn.in_proj_weight", w, ws)
        _put(tower, p + "attn.in_proj_bias", b, bs)
        w, b, ws, bs = cur.linear(p + "attn.out_proj", width, width)
        _put(tower, p + "attn.out_proj.weight", w, ws)
        _put(tower, p + "attn.out_proj.bias", b, bs)
        ln = cur.layer_norm(p + "ln_2", width)
        tower.ln_eps.append(ln[2])
        _put(tower, p + "ln_2.weight", ln[0], ln[3])
        _put(tower, p + "ln_2.bias", ln[1], ln[4])
        w, b, ws, bs = cur.linear(p + "mlp.c_fc", width)
        mlp = w.shape[0]
        _put(tower, p + "mlp.c_fc.weight", w, ws)
        _put(tower, p + "mlp.c_fc.bias", b, bs)
        w, b, ws, bs = cur.linear(p + "mlp.c_proj", mlp, width)
        _put(tower, p + "mlp.c_proj.weight", w, ws)
        _put(tower, p + "mlp.c_proj.bias", b, bs)
        layer += 1


def _projection(cur: _Cursor, tower: Tower, name: str, width: int):
    use = cur.take(name)
    node = cur.g.nodes[use.node_index]
    value = cur.value(use)
    if node.op_type != "MatMul" or use.input_index != 1 or value.ndim != 2 or value.shape[0] != width:
        cur.fail(use, name, f"expected x @ P with P of [{width}, embed]")
    _put(tower, name, value, cur.source(use, "MatMul x @ P: stored as P"))  # OpenAI keeps [width, embed]
    tower.output_value = node.output[0]


def _trace_vision(g: _Graph, bit: int, input_name: str) -> Tower:
    cur = _Cursor(g, g.uses_of(bit), "image tower", None)
    t = Tower(input_name=input_name)
    use = cur.take("visual.conv1")
    node = g.nodes[use.node_index]
    w = cur.value(use)
    if node.op_type != "Conv" or use.input_index != 1 or w.ndim != 4 or w.shape[1] != 3:
        cur.fail(use, "visual.conv1", "expected the weight of a Conv over 3 colour channels")
    if len(node.input) > 2 and node.input[2]:
        cur.fail(use, "visual.conv1", "OpenAI's patch embedding has no bias")
    width = t.width = w.shape[0]
    _put(t, "visual.conv1.weight", w, cur.source(use))

    use = cur.take("visual.class_embedding")
    node = g.nodes[use.node_index]
    into_concat = node.op_type == "Concat" or _feeds(g, use.node_index, "Concat", hops=2)
    if cur.value(use).size != width or not into_concat:
        cur.fail(use, "visual.class_embedding", "expected a [width] vector concatenated before the patches")
    _put(t, "visual.class_embedding", cur.value(use).reshape(width), cur.source(use))

    use = cur.take("visual.positional_embedding")
    pos = cur.value(use)
    tokens = pos.size // width if pos.size % width == 0 else 0
    if g.nodes[use.node_index].op_type != "Add" or tokens < 2 or math.isqrt(tokens - 1) ** 2 != tokens - 1:
        cur.fail(use, "visual.positional_embedding", "expected an Add of [grid*grid + 1, width]")
    _put(t, "visual.positional_embedding", pos.reshape(tokens, width), cur.source(use))

    ln = cur.layer_norm("visual.ln_pre", width)
    t.ln_eps.append(ln[2])
    _put(t, "visual.ln_pre.weight", ln[0], ln[3])
    _put(t, "visual.ln_pre.bias", ln[1], ln[4])
    ln = _blocks(cur, t, "visual.transformer.resblocks.", width)
    _put(t, "visual.ln_post.weight", ln[0], ln[3])
    _put(t, "visual.ln_post.bias", ln[1], ln[4])
    _projection(cur, t, "visual.proj", width)
    cur.finish()
    return t


def _trace_text(g: _Graph, bit: int, input_name: str) -> Tower:
    # The causal mask is recognised by its [context, context] shape, known once the positional
    # embedding is found (the mask is only used inside the blocks, after it).
    cur = _Cursor(g, g.uses_of(bit), "text tower", None)
    t = Tower(input_name=input_name)
    use = cur.take("token_embedding")
    node = g.nodes[use.node_index]
    emb = cur.value(use)
    if node.op_type != "Gather" or use.input_index != 0 or emb.ndim != 2:
        cur.fail(use, "token_embedding", "expected the table of a Gather by token id")
    width = t.width = emb.shape[1]
    _put(t, "token_embedding.weight", emb, cur.source(use))

    use = cur.take("positional_embedding")
    pos = cur.value(use)
    if g.nodes[use.node_index].op_type != "Add" or pos.size % width:
        cur.fail(use, "positional_embedding", "expected an Add of [context, width]")
    context = pos.size // width
    cur.context_length = context
    _put(t, "positional_embedding", pos.reshape(context, width), cur.source(use))

    ln = _blocks(cur, t, "transformer.resblocks.", width)
    _put(t, "ln_final.weight", ln[0], ln[3])
    _put(t, "ln_final.bias", ln[1], ln[4])
    _projection(cur, t, "text_projection", width)
    cur.finish()
    return t


def _feeds(g: _Graph, index: int, op_type: str, hops: int) -> bool:
    frontier = [index]
    for _ in range(hops):
        nxt = []
        for i in frontier:
            for out in g.nodes[i].output:
                for c in g.consumers.get(out, []):
                    if g.nodes[c].op_type == op_type:
                        return True
                    nxt.append(c)
        frontier = nxt
    return False


def _downstream(g: _Graph, values: list[str]) -> list[int]:
    seen, stack = set(), list(values)
    while stack:
        for c in g.consumers.get(stack.pop(), []):
            if c not in seen:
                seen.add(c)
                stack.extend(g.nodes[c].output)
    return sorted(seen)


def _trace_logit_scale(g: _Graph, towers: list[Tower]) -> tuple[float | None, str]:
    """After the projections: logits = exp(logit_scale) * (image / |image|) @ (text / |text|)^T.
    The multiply sits after the normalisation, with exp() either kept or folded into a constant."""
    for i in _downstream(g, [t.output_value for t in towers]):
        node = g.nodes[i]
        if node.op_type != "Mul":
            continue
        for name in node.input:
            src = g.producer.get(name)
            if name not in g.consts and src is not None and g.nodes[src].op_type == "Exp":
                exp_in = g.nodes[src].input[0]
                if exp_in in g.consts and g.consts[exp_in].size == 1:
                    raw = float(np.asarray(g.consts[exp_in]).reshape(()))
                    return raw, f"{g.origin[exp_in]} -> {g.describe(src)} -> {g.describe(i)}"
            if name in g.consts and g.consts[name].size == 1 and g.consts[name].dtype.kind == "f":
                scale = float(np.asarray(g.consts[name]).reshape(()))
                if scale > 1:
                    return math.log(scale), f"{g.origin[name]} = {scale:g} -> {g.describe(i)} (log taken)"
    return None, ""


def trace_onnx(model: onnx.ModelProto) -> Trace:
    """Identifies every parameter of an ONNX export of OpenAI's CLIP ViT (image tower, text tower,
    or both with the logits head). Returns OpenAI-named float32 arrays."""
    g = _Graph(model)
    vision = text = None
    bits = {}
    for inp in g.inputs:
        elem = inp.type.tensor_type.elem_type
        rank = len(inp.type.tensor_type.shape.dim)
        kind = "image" if elem in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16) and rank == 4 else "text"
        if kind in bits:
            raise TraceError(f"two {kind} inputs ('{inp.name}'); expected one image and/or one token input")
        bits[kind] = (g.input_bits[inp.name], inp.name)
    if "image" in bits:
        vision = _trace_vision(g, *bits["image"])
    if "text" in bits:
        text = _trace_text(g, *bits["text"])
    scale, scale_source = (None, "")
    if vision and text:
        scale, scale_source = _trace_logit_scale(g, [vision, text])
    return Trace(vision, text, scale, scale_source)


# ---- OpenAI names -> Hugging Face CLIPModel names ------------------------------------------------


def _hf_blocks(sd: dict, src: str, dst: str, out: dict):
    layer = 0
    while f"{src}{layer}.attn.in_proj_weight" in sd:
        s, d = f"{src}{layer}.", f"{dst}{layer}."
        w = sd[s + "attn.in_proj_weight"]
        b = sd[s + "attn.in_proj_bias"]
        width = w.shape[1]
        for k, name in enumerate(("q_proj", "k_proj", "v_proj")):
            out[f"{d}self_attn.{name}.weight"] = w[k * width : (k + 1) * width]
            out[f"{d}self_attn.{name}.bias"] = b[k * width : (k + 1) * width]
        pairs = {
            "attn.out_proj": "self_attn.out_proj",
            "ln_1": "layer_norm1",
            "ln_2": "layer_norm2",
            "mlp.c_fc": "mlp.fc1",
            "mlp.c_proj": "mlp.fc2",
        }
        for a, h in pairs.items():
            out[f"{d}{h}.weight"] = sd[f"{s}{a}.weight"]
            out[f"{d}{h}.bias"] = sd[f"{s}{a}.bias"]
        layer += 1
    return layer


def openai_to_hf(sd: dict) -> dict:
    """OpenAI CLIP ViT state dict (numpy or torch tensors) -> Hugging Face CLIPModel state dict (float32 numpy)."""
    def as_numpy(v):
        return v.detach().cpu().float().numpy() if hasattr(v, "detach") else np.asarray(v, dtype=np.float32)

    sd = {k: as_numpy(v) for k, v in sd.items()}
    out = {}
    if "visual.conv1.weight" in sd:
        v = "vision_model."
        out[v + "embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
        out[v + "embeddings.class_embedding"] = sd["visual.class_embedding"]
        out[v + "embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
        out[v + "pre_layrnorm.weight"] = sd["visual.ln_pre.weight"]  # sic: Hugging Face's spelling
        out[v + "pre_layrnorm.bias"] = sd["visual.ln_pre.bias"]
        _hf_blocks(sd, "visual.transformer.resblocks.", v + "encoder.layers.", out)
        out[v + "post_layernorm.weight"] = sd["visual.ln_post.weight"]
        out[v + "post_layernorm.bias"] = sd["visual.ln_post.bias"]
        out["visual_projection.weight"] = sd["visual.proj"].T  # [width, embed] -> nn.Linear's [embed, width]
    if "token_embedding.weight" in sd:
        t = "text_model."
        out[t + "embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
        out[t + "embeddings.position_embedding.weight"] = sd["positional_embedding"]
        _hf_blocks(sd, "transformer.resblocks.", t + "encoder.layers.", out)
        out[t + "final_layer_norm.weight"] = sd["ln_final.weight"]
        out[t + "final_layer_norm.bias"] = sd["ln_final.bias"]
        out["text_projection.weight"] = sd["text_projection"].T
    if "logit_scale" in sd:
        out["logit_scale"] = sd["logit_scale"].reshape(())
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


# Which OpenAI tensor each Hugging Face tensor comes from, and how (for the mapping table).
HF_FROM_OPENAI = [
    ("vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight", "as is"),
    ("vision_model.embeddings.class_embedding", "visual.class_embedding", "as is"),
    ("vision_model.embeddings.position_embedding.weight", "visual.positional_embedding", "as is"),
    ("vision_model.pre_layrnorm.{weight,bias}", "visual.ln_pre.{weight,bias}", "as is"),
    ("*.encoder.layers.N.self_attn.{q,k,v}_proj.weight", "*.resblocks.N.attn.in_proj_weight",
     "rows [0:W], [W:2W], [2W:3W]"),
    ("*.encoder.layers.N.self_attn.{q,k,v}_proj.bias", "*.resblocks.N.attn.in_proj_bias", "same split"),
    ("*.encoder.layers.N.self_attn.out_proj.*", "*.resblocks.N.attn.out_proj.*", "as is"),
    ("*.encoder.layers.N.layer_norm{1,2}.*", "*.resblocks.N.ln_{1,2}.*", "as is"),
    ("*.encoder.layers.N.mlp.fc{1,2}.*", "*.resblocks.N.mlp.c_{fc,proj}.*", "as is"),
    ("vision_model.post_layernorm.*", "visual.ln_post.*", "as is"),
    ("visual_projection.weight", "visual.proj", "transposed"),
    ("text_model.embeddings.token_embedding.weight", "token_embedding.weight", "as is"),
    ("text_model.embeddings.position_embedding.weight", "positional_embedding", "as is"),
    ("text_model.final_layer_norm.*", "ln_final.*", "as is"),
    ("text_projection.weight", "text_projection", "transposed"),
    ("logit_scale", "logit_scale", "as is (log of the logits multiplier)"),
]
