"""Labelled prompt pairs, shared by tests and benchmarks/dedupe.py: rewordings must merge, variants never.

Three sets:
- own: rewordings.tsv / variants.tsv (`category<TAB>first<TAB>second`), the project's first pairs, mixed domains;
  every fourth pair of each file (lines 4, 8, ...) was held out when they were first tuned on.
- tuning: tuning/<domain>.tsv, product domains the guard is tuned on.
- heldout: heldout/<domain>.tsv, written by someone else without reading the guard or the tuning pairs, in domains
  that appear in no other set; never tuned on (report only).
tuning/ and heldout/ files have a header `label<TAB>category<TAB>a<TAB>b`, label `same` (a rewording: same product,
same shot) or `different` (a product variant, or another shot); the file name is the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
SETS = ("own", "tuning", "heldout")
PARAMS = "schnell|512x512|4|0|1"


@dataclass(frozen=True)
class Pair:
    set: str
    domain: str
    label: str  # same | different
    category: str
    a: str
    b: str


def load(name: str, split: str = "all") -> list[tuple[str, str, str]]:
    """(category, first, second) triples of `rewordings` or `variants`; split is all, tune or holdout."""
    lines = [line.split("\t") for line in (HERE / f"{name}.tsv").read_text().splitlines() if line.strip()]
    pairs = [(c, a, b) for c, a, b in lines]
    if split == "all":
        return pairs
    holdout = split == "holdout"
    return [pair for i, pair in enumerate(pairs) if (i % 4 == 3) == holdout]


def labelled(name: str) -> list[Pair]:
    """Every pair of one set (own, tuning or heldout)."""
    if name == "own":
        return [Pair("own", "own", label, c, a, b) for file, label in (("rewordings", "same"), ("variants", "different"))
                for c, a, b in load(file)]
    pairs = []
    for path in sorted((HERE / name).glob("*.tsv")):
        rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
        header, rows = rows[0], rows[1:]
        if header != ["label", "category", "a", "b"]:
            raise ValueError(f"{path}: header must be label, category, a, b (tab-separated)")
        for row in rows:
            if len(row) != 4 or row[0] not in ("same", "different"):
                raise ValueError(f"{path}: a line has {len(row)} fields or a label other than same/different")
            pairs.append(Pair(name, path.stem, *row))
    return pairs


def merged(pairs: list[Pair], **options) -> list[bool]:
    """Whether fluxcat's semantic dedupe merges each pair: one dedupe call over all of them, each pair under its own
    generation parameters, so pairs are only ever compared within themselves (the real code path, batched)."""
    from fluxcat.dedupe import DedupeEntry, dedupe

    entries = [DedupeEntry(2 * i + side, prompt, f"{PARAMS}|{i}") for i, pair in enumerate(pairs)
               for side, prompt in enumerate((pair.a, pair.b))]
    matches = dedupe(entries, "semantic", audit=0, **options).matches
    return [2 * i + 1 in matches for i in range(len(pairs))]


REWORDINGS = load("rewordings")
VARIANTS = load("variants")
