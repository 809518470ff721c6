"""Judging images, purely: (image, expectation) -> verdict; and a row's QA columns from its attempts. Nothing here
makes an image: generation (fluxcat/generate.py) asks for the next seed when a verdict says a new one can help."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fluxcat.qa import QaSettings
from fluxcat.qa.checks import RETRIABLE, Check, ReadText, blank_check, colour_check, text_check
from fluxcat.qa.expect import Expectation

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
        """Why the image fails, in words, for a flagged row."""
        reasons = {"blank": lambda c: f"image is {c.detail.get('problem')}",
                   "text": lambda c: f"text reads {c.detail['found']!r}, expected {c.detail['expected']!r}",
                   "colour": lambda c: f"colour {c.detail['found']} is ΔE {c.detail['delta_e']} from "
                                       f"{c.detail['expected']} ({c.detail['from']})"}
        return "; ".join(reasons[c.name](c) for c in self.checks if not c.passed)


def judge(image: "Image", expects: Expectation, settings: QaSettings, read_text: ReadText) -> Verdict:
    """Every check the row asks for, on one image."""
    verdict = Verdict([blank_check(image, settings)])
    if not verdict.passed:
        return verdict
    if expects.text:
        verdict.checks.append(text_check(image, expects.text, settings, read_text))
    if expects.colour:
        verdict.checks.append(colour_check(image, expects.colour, expects.colour_source, settings))
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
