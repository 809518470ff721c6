"""Labelled prompt pairs, shared by tests and benchmarks/dedupe.py: rewordings must merge, variants never.

Eleven sets (train / dev / test):
- own: rewordings.tsv / variants.tsv (`category<TAB>first<TAB>second`), the project's first pairs, mixed domains;
  every fourth pair of each file (lines 4, 8, ...) was held out when they were first tuned on.
- tuning: tuning/<domain>.tsv, product domains the guard is tuned on.
- dev: dev/<domain>.tsv, the first held-out set (16 domains and a newcomer's catalog), written blind by another
  engineer, scored twice, then read to find general mechanisms: a development set, no longer held out.
- dev2: dev2/<domain>.tsv, the second blind set (held-out v2: 225 same / 218 different, ten domains found in no
  other set, dev2/README.md, REVIEW.md), scored once on the frozen design of round 2 (2255d97), then read in round 3:
  a second development set.
- dev3: dev3/<domain>.tsv, the third blind set (held-out v3: 144 same / 145 different, eight new domains,
  dev3/README.md, REVIEW.md), scored once on the frozen design of round 3 (bee53bd), then read in round 4: a third
  development set.
- dev4: dev4/<domain>.tsv, the fourth blind set (held-out v4: 144 same / 145 different, eight new domains,
  dev4/README.md, REVIEW.md), scored once on the frozen design of round 4 (e5b8b79), then read in round 5: a fourth
  development set.
- dev5: dev5/<domain>.tsv, the fifth blind set (held-out v5: 152 same / 146 different, eight new domains,
  dev5/README.md, REVIEW.md), scored once on the frozen design of round 5 (4b7ba15), then read in round 6: a fifth
  development set.
- dev6: dev6/<domain>.tsv, the sixth blind set (held-out v6: 144 same / 144 different, eight new domains,
  dev6/README.md, REVIEW.md), scored once on the frozen design of round 6 (6489fb6), then read in round 7: a sixth
  development set.
- dev7: dev7/<domain>.tsv, the seventh blind set (held-out v7: 144 same / 144 different, eight new domains,
  dev7/README.md, REVIEW.md), scored once on the frozen design of round 7 (e7b88e0), then read in round 8: a seventh
  development set.
- dev8: dev8/<domain>.tsv, the eighth blind set (held-out v8: 144 same / 144 different, eight new domains,
  dev8/README.md, REVIEW.md), scored once on the frozen design of round 8 (847d872), then read in round 9: an eighth
  development set.
- heldout: heldout/<domain>.tsv, the ninth blind set (v9), written by someone who never read the code, copied in
  after round 9's design froze (27ab3c3) and scored once (report only: never read, never tuned on).
tuning/, dev/, dev2/, dev3/, dev4/, dev5/, dev6/, dev7/, dev8/ and heldout/ files have a header `label<TAB>category<TAB>a<TAB>b`, label `same` (a rewording:
same product, same shot) or `different` (a product variant, or another shot); the file name is the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
SETS = ("own", "tuning", "dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8", "heldout")
SEEN = SETS[:-1]  # sets whose pairs may be read (printed by benchmarks/dedupe.py)
PARAMS = "schnell|512x512|4|0|1"


@dataclass(frozen=True)
class Pair:
    set: str
    domain: str
    label: str  # same | different
    category: str
    a: str
    b: str


def present(name: str) -> bool:
    """Whether a named set's pairs are here (the held-out set arrives only after a design is frozen)."""
    return name == "own" or (HERE / name).is_dir() and any((HERE / name).glob("*.tsv"))


def load(name: str, split: str = "all") -> list[tuple[str, str, str]]:
    """(category, first, second) triples of `rewordings` or `variants`; split is all, tune or holdout."""
    lines = [line.split("\t") for line in (HERE / f"{name}.tsv").read_text().splitlines() if line.strip()]
    pairs = [(c, a, b) for c, a, b in lines]
    if split == "all":
        return pairs
    holdout = split == "holdout"
    return [pair for i, pair in enumerate(pairs) if (i % 4 == 3) == holdout]


def labelled(name: str) -> list[Pair]:
    """Every pair of one set (own, tuning, dev, dev2, dev3, dev4, dev5, dev6, dev7, dev8 or heldout), or of any folder of `<domain>.tsv` files (a path)."""
    if name == "own":
        return [Pair("own", "own", label, c, a, b) for file, label in (("rewordings", "same"), ("variants", "different"))
                for c, a, b in load(file)]
    folder = HERE / name if name in SETS else Path(name)
    if not folder.is_dir():
        raise ValueError(f"{name}: no such set or folder of <domain>.tsv files")
    pairs = []
    for path in sorted(folder.glob("*.tsv")):
        rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
        header, rows = rows[0], rows[1:]
        if header != ["label", "category", "a", "b"]:
            raise ValueError(f"{path}: header must be label, category, a, b (tab-separated)")
        for row in rows:
            if len(row) != 4 or row[0] not in ("same", "different"):
                raise ValueError(f"{path}: a line has {len(row)} fields or a label other than same/different")
            pairs.append(Pair(name if name in SETS else folder.name, path.stem, *row))
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
