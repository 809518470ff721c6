"""Dedupe fixtures: the bundled embedding model, loaded once per test session and shared by every dedupe test."""

from __future__ import annotations

import pytest

from fluxcat.dedupe.encoders import Embedder


@pytest.fixture(scope="session")
def embedder():
    """The bundled all-MiniLM-L6-v2 (load_model is cached per process: one ~9 s load for the session)."""
    model = Embedder()
    model.encode(["warm up"])
    return model
