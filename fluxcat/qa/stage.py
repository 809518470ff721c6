"""Judging images, purely: (image, expectation) -> verdict; and a row's QA columns from its attempts. Nothing here
makes an image: generation (fluxcat/generate.py) asks for the next seed when a verdict says a new one can help."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fluxcat.qa import QaSettings
from fluxcat.qa.channels import channel_checks
from fluxcat.qa.checks import RETRIABLE, Check, ReadText, blank_check, colour_check, text_check
from fluxcat.qa.expect import Expectation
from fluxcat.qa.fidelity import FidelitySettings, edit_similarity, product_delta_e

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass
class Verdict:
    """The checks one image went through; a blank image is not read for text or colour."""

    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def retriable(self) -> bool:
        """A failed check that a new seed can fix (blank, text)."""
        return any(check.name in RETRIABLE and not check.passed for check in self.checks)

    @property
    def score(self) -> float:
        return min((check.score for check in self.checks), default=1.0)

    def reason(self) -> str:
        """Why the image fails, in words, for a flagged row: each failed check, a channel's by the rule it broke."""
        return "; ".join(_why(check) for check in self.checks if not check.passed)


def _why(check: Check) -> str:
    d = check.detail
    if check.name == "blank":
        return f"image is {d.get('problem')}"
    if check.name == "text":
        return f"text reads {d['found']!r}, expected {d['expected']!r}"
    if check.name == "colour":
        return f"colour {d['found']} is ΔE {d['delta_e']} from {d['expected']} ({d['from']})"
    if check.name == "fidelity" and "mean_delta_e" in d:
        return (f"product differs from the reference: mean ΔE {d['mean_delta_e']} (bound {d['bound']}), at its edge "
                f"{d['edge_delta_e']} (bound {d['edge_bound']})")
    if check.name == "fidelity":
        return f"product unlike the reference in {', '.join(d['failed'])} (" + ", ".join(
            f"{part} {d[part]}" for part in ("colour", "structure", "text") if part in d) + ")"
    rule = check.name.removeprefix("channel:")
    measured = ", ".join(f"{name} {value}" for name, value in d.items())
    return f"channel rule {rule} failed: {measured}"


def judge(image: "Image", expects: Expectation, settings: QaSettings, read_text: ReadText,
          fidelity: FidelitySettings = FidelitySettings()) -> Verdict:
    """Every check the row asks for, on one image (as delivered: at the channel's size, the product composited). A
    white packshot is composed, not generated: the blank check does not apply to it."""
    verdict = Verdict([] if expects.mode == "white" else [blank_check(image, settings)])
    if not verdict.passed:
        return verdict
    if expects.text:
        verdict.checks.append(text_check(image, expects.text, settings, read_text))
    if expects.colour:
        verdict.checks.append(colour_check(image, expects.colour, expects.colour_source, settings))
    product = expects.product
    if product is not None:
        verdict.checks.append(edit_similarity(image, product, expects.label_text, read_text, fidelity)
                              if expects.mode == "edit" else product_delta_e(image, product, fidelity))
    if expects.channel is not None:  # the product where it was placed; a text-only output's as its border shows
        verdict.checks += channel_checks(image, expects.channel, product=product.mask if product else None)
    return verdict


@dataclass
class Attempt:
    """One image made for a row: its seed, and the verdict on it (or the backend's error: no image)."""

    seed: int
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    @property
    def rank(self) -> tuple:
        """Better attempts rank higher: made at all, checks passed, lowest score; ties keep the earlier one."""
        if self.verdict is None:
            return (False, 0, 0.0)
        checks = self.verdict.checks
        return (True, sum(check.passed for check in checks), self.verdict.score)

    def record(self, number: int) -> dict:
        out = {"attempt": number, "seed": self.seed, "passed": self.passed}
        if self.verdict is None:
            return out | {"error": self.error}
        return out | {"checks": {check.name: check.record() for check in self.verdict.checks}}


def qa_columns(attempts: list[Attempt], kept: int, expects: Expectation, stopped: str | None = None) -> dict:
    """The manifest's QA columns for a row whose attempt number `kept` (1-based) is stored; `stopped` says why no
    further attempt was made although the kept one failed (budget, a group's shared seed)."""
    best = attempts[kept - 1]
    status = ("passed" if kept == 1 else "retried") if best.passed else "flagged"
    details: dict = {"kept": kept, "checks": best.record(kept).get("checks", {}),
                     "attempts": [attempt.record(n) for n, attempt in enumerate(attempts, 1)]}
    if not best.passed:
        details["reason"] = best.verdict.reason() + (f"; {stopped}" if stopped else "")
    if expects.notes:
        details["notes"] = list(expects.notes)
    return {"qa_status": status, "qa_score": best.verdict.score, "qa_attempts": len(attempts),
            "qa_details": json.dumps(details, sort_keys=True, ensure_ascii=False)}
