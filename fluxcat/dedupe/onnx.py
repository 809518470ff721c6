"""ONNX Runtime encoder for mean-pooling sentence-transformers models (fp32 or dynamic int8), exported once and cached.

sentence-transformers' own `backend="onnx"` needs optimum, whose current release pins an older transformers than
the one fluxcat runs with; this exports the same graph with torch.onnx and runs it with onnxruntime alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np


def _cache_root() -> Path:
    return Path(os.environ.get("FLUXCAT_CACHE") or Path.home() / ".cache" / "fluxcat") / "onnx"


class OnnxEncoder:
    """`encode(texts, batch_size, normalize_embeddings=True)` like SentenceTransformer.encode, on onnxruntime."""

    def __init__(self, model, quantize: bool = False):
        try:
            import onnxruntime
        except ImportError:
            raise ValueError("embedding backend onnx needs onnxruntime and onnx: pip install 'fluxcat[onnx]'") from None
        pooling = model[1].get_config_dict() if len(model) > 1 else {}
        if pooling.get("pooling_mode") != "mean" and not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError("the onnx embedding backend supports mean-pooling sentence-transformers models only; "
                             "use backend torch for this model")
        self.tokenizer = model.tokenizer
        self.max_length = model.max_seq_length
        self.normalise = any(type(m).__name__ == "Normalize" for m in model)
        path = _export(model, quantize)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts, batch_size: int = 64, normalize_embeddings: bool = True, **_ignored) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        out = np.zeros((len(texts), 0), dtype=np.float32)
        chunks: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            batch = [texts[i] for i in order[start:start + batch_size]]
            tokens = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
            feed = {k: v.astype(np.int64) for k, v in tokens.items() if k in self.inputs}
            hidden = self.session.run(None, feed)[0]
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            chunks.append((hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None))
        if chunks:
            out = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
            out[order] = np.concatenate(chunks)
        if normalize_embeddings or self.normalise:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out


def _export(model, quantize: bool) -> Path:
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs):
            names = ("input_ids", "attention_mask", "token_type_ids")[: len(inputs)]
            return self.transformer(**dict(zip(names, inputs))).last_hidden_state

    transformer = model[0].auto_model
    with torch.no_grad():
        first = next(transformer.parameters()).flatten()[:4096]
        identity = hashlib.sha256(f"{type(transformer).__name__}|{sum(p.numel() for p in transformer.parameters())}|"
                                  f"{first.numpy().tobytes().hex()}".encode()).hexdigest()[:16]
    folder = _cache_root() / identity
    fp32, int8 = folder / "model.onnx", folder / "model_int8.onnx"
    if not fp32.exists():
        folder.mkdir(parents=True, exist_ok=True)
        sample = model.tokenizer(["an example prompt"], return_tensors="pt")
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
        axes = {n: {0: "batch", 1: "tokens"} for n in names}
        temp = folder / f"model.onnx.tmp-{os.getpid()}"
        with torch.no_grad():
            torch.onnx.export(LastHidden(transformer), tuple(sample[n] for n in names), str(temp), input_names=names,
                              output_names=["last_hidden_state"], dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "tokens"}},
                              opset_version=17, dynamo=False)
        os.replace(temp, fp32)
    if quantize and not int8.exists():
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        temp = folder / f"model_int8.onnx.tmp-{os.getpid()}"
        # Per-channel int8 weights on the MatMuls, except each layer's feed-forward output projection: per-tensor
        # int8 everywhere fell to 0.946 cosine vs fp32 on the labelled pairs, this keeps >= 0.99 (benchmarks/dedupe.py).
        keep_fp32 = [node.name for node in onnx.load(str(fp32)).graph.node
                     if node.op_type == "MatMul" and "/output/dense/" in node.name and "attention" not in node.name]
        quantize_dynamic(str(fp32), str(temp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=keep_fp32)
        os.replace(temp, int8)
    return int8 if quantize else fp32
