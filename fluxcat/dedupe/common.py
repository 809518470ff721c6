"""Dedupe's defaults and result type, shared by the package and its parts: a leaf that imports nothing of dedupe/,
so `fluxcat.dedupe` can load `semantic` lazily without a circle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fluxcat.dedupe.exact import Match

DEDUPE_MODES = ("off", "exact", "semantic")
DEFAULT_THRESHOLD = 0.6  # tuned on the tuning domains: benchmarks/dedupe.py quality (the guard decides; this only nominates)
AUDIT_PAIRS = 20  # closest pairs kept apart that semantic dedupe reports
DEFAULT_BATCH_SIZE = 64
EMBEDDING_BACKENDS = ("torch", "onnx", "onnx-int8")


@dataclass
class DedupeResult:
    """Duplicate rows mapped to their canonical row, and the audit's closest pairs kept apart (semantic only)."""

    matches: dict[int, Match]
    kept_apart: list = field(default_factory=list)  # fluxcat.dedupe.audit.KeptApart
