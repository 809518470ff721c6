"""Every dedupe option as a typed field, declared and checked once: `fluxcat.settings.Dedupe` (the flow's form, the
CLI) is this model as a settings group, and `fluxcat.dedupe.dedupe(...)` checks its keyword options with it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fluxcat.dedupe.common import AUDIT_PAIRS, DEDUPE_MODES, DEFAULT_BATCH_SIZE, DEFAULT_THRESHOLD, EMBEDDING_BACKENDS

# `fluxcat.dedupe.dedupe`'s option names -> the fields (flat in RunOptions, so they carry a prefix).
DEDUPE_OPTIONS = {"threshold": "dedupe_threshold", "model": "embedding_model", "backend": "embedding_backend",
                  "batch_size": "embedding_batch_size", "lexicon": "dedupe_lexicon", "audit": "dedupe_audit"}


class DedupeSettings(BaseModel):
    """Which prompts share one image."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True,
                              defer_build=True)

    dedupe: Literal[DEDUPE_MODES] = Field("semantic", title="Mode")
    """`semantic`: also near-identical prompts the attribute guard accepts (never product variants); `exact`:
    identical normalised prompts; `off`: none."""
    dedupe_threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=1, title="Threshold")
    """Cosine similarity at or above which `semantic` dedupe nominates two prompts; the attribute guard decides."""
    embedding_model: str = ""
    """sentence-transformers model name or local folder for `semantic` (empty: the bundled all-MiniLM-L6-v2)."""
    embedding_backend: Literal[EMBEDDING_BACKENDS] = "torch"
    """How prompts are embedded: `torch`, or `onnx` / `onnx-int8` (needs `pip install "fluxcat[onnx]"`)."""
    embedding_batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, le=4096)
    """Prompts embedded per batch."""
    dedupe_lexicon: str = Field("", title="Dedupe word file")
    """Path of a JSON word file that extends the guard's bundled lists (a brand's synonyms, its colour names, words
    it calls distinct); see docs/dedupe.md. Empty: the bundled lists only."""
    dedupe_audit: int = Field(AUDIT_PAIRS, ge=0, le=10_000, title="Near misses reported")
    """How many of the closest pairs semantic dedupe kept apart to report, each with the guard's reason (0: none)."""

    @field_validator("dedupe_lexicon")
    @classmethod
    def _word_file_loads(cls, path: str) -> str:
        if path:
            from fluxcat.dedupe.lexicon import load_lexicon

            load_lexicon(path)  # a missing or malformed file, or a list that would merge variants, fails here
        return path

    @property
    def dedupe_options(self) -> dict:
        """The keyword arguments `fluxcat.dedupe.dedupe` takes for semantic dedupe."""
        return {option: getattr(self, name) or None if name in ("embedding_model", "dedupe_lexicon") else
                getattr(self, name) for option, name in DEDUPE_OPTIONS.items()}

    @classmethod
    def from_options(cls, mode: str, options: dict):
        """The settings from `dedupe(mode, **options)`'s arguments: every option is checked here, and only here."""
        unknown = sorted(set(options) - set(DEDUPE_OPTIONS))
        if unknown:
            raise ValueError(f"unknown dedupe option(s) {', '.join(unknown)}: choose from {', '.join(DEDUPE_OPTIONS)}")
        fields = {DEDUPE_OPTIONS[k]: ("" if v is None else v) for k, v in options.items()
                  if v is not None or DEDUPE_OPTIONS[k] in ("embedding_model", "dedupe_lexicon")}
        try:
            return cls.model_validate({"dedupe": mode, **fields})
        except ValidationError as error:  # one line per bad field, as fluxcat.settings.readable words it
            raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" +
                                       (f" (got {e['input']!r})" if isinstance(e.get("input"), (int, float)) else "")
                                       for e in error.errors())) from None
