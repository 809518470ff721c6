"""Helpers for hosted-provider tests: fast retry options and a Prefect-free pipeline run with shards in threads."""

from __future__ import annotations

import uuid

from fluxcat.manifest import read_manifest
from fluxcat.pipeline import RunOptions
from fluxcat.store import Store
from tests.pipeline import run_catalog

# Tiny delays: tests never sleep seconds on retries or polls.
FAST = {"backoff_base": 0.001, "backoff_max": 0.005, "poll_interval": 0.005, "timeout": 1.0, "max_attempts": 3,
        "max_retry_after": 5, "download_max_bytes": 200_000, "circuit_threshold": 100}


def secret_key() -> str:
    return f"sk-test-{uuid.uuid4().hex}"


def run_pipeline(catalog: str, output: str, backend: str, backend_options: dict, budget_usd: float | None = None,
                 shard_size: int = 4, threads: int = 4, qa: bool = False, on_run=None, dedupe: str = "exact"):
    """One run: plan -> every shard in a thread pool (as the flow's ThreadPoolTaskRunner does) -> manifest rows.
    QA is off unless asked: the doubles send flat images, which QA reseeds (the contract suite covers that).
    Exact dedupe: semantic dedupe's model costs seconds to load and is tested in tests/fluxcat/dedupe."""
    options = RunOptions(catalog=catalog, output=output, backend=backend, backend_options=backend_options,
                         shard_size=shard_size, image_format="png", budget_usd=budget_usd, run_id=uuid.uuid4().hex,
                         qa=qa, dedupe=dedupe)
    report, summary, _ = run_catalog(options, threads, on_run)
    return report, summary, read_manifest(Store(output)).to_pylist()


def scan_output_for(root, secret: str) -> list[str]:
    """Every file under an output root whose bytes contain the secret."""
    from pathlib import Path

    return [str(p) for p in Path(root).rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
