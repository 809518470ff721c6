"""Pairs of unit vectors above a cosine threshold without O(n^2) Python, streamed in chunks into a union-find."""

from __future__ import annotations

import math
import os
from typing import Iterator

import numpy as np

EXACT_LIMIT = 10_000  # up to this many rows per parameter group: exact blocked products; above: the IVF index
BLOCK_ROWS = 2048
SMALL_ROWS = 256


def similar_pairs(vectors: np.ndarray, threshold: float, exact_limit: int = EXACT_LIMIT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs (i < j) of unit vectors with cosine >= threshold, each once (see iter_similar_pairs)."""
    chunks = list(iter_similar_pairs(vectors, threshold, exact_limit))
    if not chunks:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    rows, cols, sims = (np.concatenate(part) for part in zip(*chunks))
    order = np.lexsort((cols, rows))
    rows, cols, sims = rows[order], cols[order], sims[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])  # the index can see a pair from several leaves
    return rows[first].astype(np.int64), cols[first].astype(np.int64), sims[first]


def iter_similar_pairs(vectors: np.ndarray, threshold: float,
                       exact_limit: int = EXACT_LIMIT) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Chunks of (rows, cols, cosines), i < j, cosine >= threshold: exact blocked products for small inputs, an
    inverted-file (IVF) index with multi-probe for large ones. Chunks stream, so a caller that unions them at once
    never holds every pair (they grow quadratically within a template). The index can miss a pair (a merge not
    made, never a wrong one: every reported pair is checked exactly); it may report a pair twice."""
    if len(vectors) < 2:
        return
    if len(vectors) <= SMALL_ROWS:  # a key group of a few rows: numpy, no torch call overhead per group
        scores = vectors @ vectors.T
        rows, cols = np.nonzero(np.triu(scores >= threshold, k=1))
        yield rows.astype(np.int64), cols.astype(np.int64), scores[rows, cols]
    elif len(vectors) <= exact_limit:
        yield from _blocked_pairs(vectors, threshold)
    else:
        yield from _ivf_pairs(vectors, threshold)


def _torch():
    import torch

    return torch


def _blocked_pairs(vectors: np.ndarray, threshold: float):
    torch = _torch()
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    for start in range(0, len(x), BLOCK_ROWS):
        scores = x[start:start + BLOCK_ROWS] @ x[start:].T  # only the upper triangle and the diagonal block
        r, c = torch.nonzero(scores >= threshold, as_tuple=True)
        keep = c > r
        r, c = r[keep], c[keep]
        yield (r + start).numpy().astype(np.int64), (c + start).numpy().astype(np.int64), scores[r, c].numpy()


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
            for cell in pool.map(lambda c: _cell_pairs(x, near_coarse, c, threshold, leaf_size, probes),
                                 range(len(coarse))):
                for rows, cols, sims in cell:
                    yield rows.numpy().astype(np.int64), cols.numpy().astype(np.int64), sims.numpy()


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
    """Connected components of the similarity graph (no guard): the benchmark's unit of work on bare embeddings.
    Pairs are unioned chunk by chunk as the search finds them, never all held at once."""
    groups = UnionFind(len(vectors))
    for rows, cols, _ in iter_similar_pairs(vectors, threshold, exact_limit):
        for a, b in zip(rows.tolist(), cols.tolist()):
            groups.union(a, b)
    return np.array([groups.find(i) for i in range(len(vectors))], dtype=np.int64)
