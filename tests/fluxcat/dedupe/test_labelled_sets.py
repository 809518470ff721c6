"""Every labelled set through the real semantic dedupe (bundled MiniLM, the guard, default settings): no product
variant is ever merged, and rewordings merge at the rates benchmarks/RESULTS.md reports (issue 19)."""

from __future__ import annotations

import pytest

from tests.fluxcat.dedupe.pairs import SETS, labelled, merged, present

# Rewordings merged as last measured (benchmarks/dedupe.py quality, benchmarks/RESULTS.md, issue 19). A held-out
# figure is a report, never a target tuned to: a drop below it (less a margin of two pairs) is a regression.
# Held-out v3 (now dev3/), scored once on round 3's frozen design (bee53bd): 118/144 rewordings, 0/145 variants.
# Held-out v4 (now dev4/), scored once on round 4's frozen design (e5b8b79, e710a79 after the rebase onto main):
# 116/144 rewordings, 0/145 variants. Round 5's rules (dev rates after them): dev 332/376, dev2 207/225, dev3
# 130/144, dev4 119/144. Held-out v5 (now dev5/), scored once on round 5's frozen design (4b7ba15): 99/152
# rewordings, 0/146 variants. Round 6's rules (dev rates after them): dev2 208/225, dev3 132/144, dev4 120/144, dev5
# 108/152. Held-out v6 (now dev6/), scored once on round 6's frozen design (6489fb6): 113/144 rewordings, 0/144
# variants. Round 7's rules (dev rates after them): dev 334/376, dev4 123/144, dev6 125/144. Held-out v7 (now
# dev7/), scored once on round 7's frozen design (e7b88e0): 122/144 rewordings, 0/144 variants. Round 8's rules
# (dev rates after them): dev6 127/144, dev7 126/144; the others unchanged. Held-out v8 (now dev8/), scored once on
# round 8's frozen design (847d872): 115/144 rewordings, 0/144 variants. Round 9's rules (dev rates after them):
# dev6 129/144, dev8 120/144. Held-out v9 (heldout/), scored once on round 9's frozen design (27ab3c3): 110/144
# rewordings, 0/144 variants.
MEASURED_REWORDINGS = {"own": 113 / 114, "tuning": 186 / 189, "dev": 334 / 376, "dev2": 208 / 225,
                       "dev3": 132 / 144, "dev4": 123 / 144, "dev5": 108 / 152, "dev6": 129 / 144,
                       "dev7": 126 / 144, "dev8": 120 / 144, "heldout": 110 / 144}
# A held-out set's variants merged when it was scored once on a frozen design: issue 19 requires 0, so such a case
# fails until fixed, and flags it (strict) the day it passes. None now: held-out v9 merged 0 of its 144 variants.
VARIANTS_MERGED_KNOWN: dict[str, int] = {}
KNOWN = "held-out variants merged by the frozen design (issue 19 not done)"
MARGIN_PAIRS = 2
MISSING = "held-out v9 (tests/fluxcat/dedupe/heldout/) is copied in only after the design is frozen"


def _case(name: str, known: dict | None = None):
    """A set as a test case: skipped, with its reason, only while its folder is not there yet; a strict xfail where
    `known` records merged variants."""
    if not present(name):
        return pytest.param(name, marks=pytest.mark.skip(reason=MISSING))
    if known and name in known:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN))
    return name


class Decisions(dict):
    """(pairs, merged?) per set, each set run once, in one dedupe call, when a test first asks for it."""

    def __init__(self, embedder):
        super().__init__()
        self.embedder = embedder

    def __missing__(self, name):
        pairs = labelled(name)
        self[name] = (pairs, merged(pairs, embedder=self.embedder))
        return self[name]


@pytest.fixture(scope="module")
def decisions(embedder):
    return Decisions(embedder)


@pytest.mark.parametrize("name", [_case(name, VARIANTS_MERGED_KNOWN) for name in SETS])
def test_no_variant_is_ever_merged(decisions, name):
    pairs, merges = decisions[name]
    variants = [p for p in pairs if p.label == "different"]
    assert len(variants) >= 100, f"the {name} set lost its variants"
    wrong = [f"{p.domain}/{p.category}" for p, m in zip(pairs, merges) if m and p.label == "different"]
    assert wrong == [], f"{len(wrong)} {name} variants merged (categories: {sorted(set(wrong))})"


@pytest.mark.parametrize("name", [_case(name) for name in SETS if name in MEASURED_REWORDINGS or not present(name)])
def test_rewordings_merge_at_the_measured_rate(decisions, name):
    pairs, merges = decisions[name]
    same = [m for p, m in zip(pairs, merges) if p.label == "same"]
    assert len(same) >= 100
    measured = MEASURED_REWORDINGS[name]
    floor = measured * len(same) - MARGIN_PAIRS
    assert sum(same) >= floor, f"{name}: {sum(same)}/{len(same)} rewordings merged, below {floor:.0f}"
