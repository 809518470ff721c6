"""Labelled prompt pairs (rewordings.tsv must merge, variants.tsv must never merge), shared by tests and benchmarks.

Each line is `category<TAB>first prompt<TAB>second prompt`. Every fourth pair of each file (lines 4, 8, ...) is held
out: the guard's word lists were tuned on the others only, and the benchmark reports both halves.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def load(name: str, split: str = "all") -> list[tuple[str, str, str]]:
    """(category, first, second) triples of `rewordings` or `variants`; split is all, tune or holdout."""
    lines = [line.split("\t") for line in (HERE / f"{name}.tsv").read_text().splitlines() if line.strip()]
    pairs = [(c, a, b) for c, a, b in lines]
    if split == "all":
        return pairs
    holdout = split == "holdout"
    return [pair for i, pair in enumerate(pairs) if (i % 4 == 3) == holdout]


REWORDINGS = load("rewordings")
VARIANTS = load("variants")
