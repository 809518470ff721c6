"""Shared fixtures: an isolated tiny-model cache, Prefect's test harness, sample catalogs."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CATALOG = ROOT / "datasets" / "sample_catalog.parquet"

# Offline and quiet, before anything imports Prefect or transformers.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# A loaded CI machine stalled the test server's SQLite for over Prefect's 60 s request limit; the client then resent a
# flow's final state, the server answered with its copy, which holds no data (results are not persisted: a persisted
# one would block Retry from the UI), and a test calling the flow got MissingResult. Wait for the answer instead.
os.environ.setdefault("PREFECT_API_REQUEST_TIMEOUT", "300")
# The tiny FLUX model is built once into the repo's git-ignored cache and reused across test runs.
os.environ.setdefault("FLUXCAT_CACHE", str(ROOT / ".cache" / "fluxcat"))


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server (ephemeral mode) for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def write_catalog(path: Path | str, rows: list[dict], schema: pa.Schema | None = None) -> str:
    """Write rows as a Parquet catalog and return its path (columns: every key any row has)."""
    if schema is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        rows = [{column: row.get(column) for column in columns} for row in rows]
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, str(path))
    return str(path)


@pytest.fixture
def catalog_factory(tmp_path):
    counter = iter(range(10_000))

    def make(rows: list[dict], schema: pa.Schema | None = None) -> str:
        return write_catalog(tmp_path / f"catalog-{next(counter)}.parquet", rows, schema)

    return make


def prefect_post(path: str, body: dict) -> list[dict]:
    """POST a filter to the Prefect API this test talks to, through Prefect's own client."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def post():
        async with get_client() as client:
            response = await client._client.post(path, json=body)
            response.raise_for_status()
            return response.json()

    return asyncio.run(post())


def artifact_key(kind: str, output: str, flow: str = "generate-catalog") -> str:
    """The documented key: fluxcat-<kind>-<deployment or flow>-<output's last part>-<8 hex of the output URL>."""
    import hashlib

    return f"fluxcat-{kind}-{flow}-{output.rsplit('/', 1)[-1]}-{hashlib.sha256(output.encode()).hexdigest()[:8]}"


def latest_artifact(kind: str, output: str, flow: str = "generate-catalog") -> dict:
    """The newest Prefect artifact of this kind for this flow and output, read back through Prefect's own API."""
    found = prefect_post("/artifacts/latest/filter",
                         {"artifacts": {"key": {"any_": [artifact_key(kind, output, flow)]}}, "limit": 1})
    assert found, f"no {kind} artifact for {output}"
    return found[0]
