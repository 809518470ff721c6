"""The sample catalog planned and run through every hosted backend (against its double, or `fluxcat serve`'s app):
only its 3 bad rows are rejected, and on a backend that serves no FLUX.1 Fill or Kontext its reference rows that need
one, with that reason; every other row is generated (or shares a duplicate's image), with a correction recorded
wherever model or size had to change to what the backend serves."""

import contextlib
from pathlib import Path

import pytest

from fluxcat.backends.fixed import FixedBackend
from fluxcat.serve import ServeSettings, create_app
from fluxcat.store import Store
from tests.fluxcat.backends.hosted_helpers import FAST, run_pipeline, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, HuggingFaceServer, ReplicateServer, SegmindServer
from tests.fluxcat.backends.reference_doubles import ReferenceFalServer, ReferenceReplicateServer
from tests.serving import serve_app_in_thread

SAMPLE = str(Path(__file__).resolve().parents[3] / "datasets" / "sample_catalog.parquet")
BAD_ROWS = {"SKU-1029", "SKU-1030", "SKU-1031"}  # empty prompt, unknown image_size, num_images 9
# Reference rows a backend without FLUX.1 Fill and Kontext cannot make (SKU-1044 is white packshots: made anywhere).
NEEDS_FILL_OR_KONTEXT = {"SKU-1041": "Fill", "SKU-1042": "Fill", "SKU-1043": "Kontext"}
SERVES_REFERENCES = {"fal", "replicate", "router"}
DOUBLES = {"fal": (ReferenceFalServer, "FAL_KEY", ""), "replicate": (ReferenceReplicateServer, "REPLICATE_API_TOKEN", ""),
           "hf": (HuggingFaceServer, "HF_TOKEN", "/hf-inference"), "segmind": (SegmindServer, "SEGMIND_API_KEY", "")}


@contextlib.contextmanager
def provider_options(backend: str, monkeypatch, tmp_path):
    """Backend options pointing `backend` at its double(s), with keys in the environment."""
    if backend == "flux-api":
        key = secret_key()
        monkeypatch.setenv("FLUX_API_KEY", key)
        app = create_app(FixedBackend(), Store(str(tmp_path / "served")), ServeSettings(api_keys=(key,)))
        with serve_app_in_thread(app) as base_url:
            yield {"base_url": base_url}
        return
    names = ["fal", "replicate", "hf", "segmind"] if backend == "router" else [backend]
    with contextlib.ExitStack() as stack:
        options = {}
        for name in names:
            server_class, env, path = DOUBLES[name]
            key = secret_key()
            monkeypatch.setenv(env, key)
            server = stack.enter_context(server_class(key))
            options[f"{name}_base_url" if backend == "router" else "base_url"] = server.url + path
        yield {**options, "monthly_limit": "none"} if backend != "router" else options


@pytest.mark.parametrize("backend", ["fal", "replicate", "hf", "segmind", "flux-api", "router"])
def test_the_sample_catalog_runs_on_every_hosted_backend(backend, monkeypatch, tmp_path):
    with provider_options(backend, monkeypatch, tmp_path) as options:
        report, summary, manifest = run_pipeline(SAMPLE, str(tmp_path / "out"), backend, {**options, **FAST},
                                                 shard_size=8)
    rejected = {row["id"]: row["reason"] for row in manifest if row["status"] == "rejected"}
    serves = backend in SERVES_REFERENCES
    assert set(rejected) == BAD_ROWS | (set() if serves else set(NEEDS_FILL_OR_KONTEXT)), rejected
    for row_id, model in ({} if serves else NEEDS_FILL_OR_KONTEXT).items():
        assert f"needs FLUX.1 {model}, which {backend} does not offer" in rejected[row_id]
    others = [row for row in manifest if row["id"] not in rejected]
    assert {row["status"] for row in others} <= {"generated", "duplicate"}, [
        (row["id"], row["reason"]) for row in others if row["status"] not in ("generated", "duplicate")]
    # 37 text rows (one makes 2 images) and the reference rows: one output each, or one per channel
    assert len({row["id"] for row in others}) == (41 if serves else 38)
    assert len(others) == (44 if serves else 40)
    assert {row["model"] for row in others if row["id"] == "SKU-1044"} == {"packshot"}
    backend_changes = [c for row in others for c in (row["corrections"] or "").split("; ")
                       if "->" in c and ("does not serve" in c or "the nearest" in c)]
    if backend == "flux-api":  # dev only, six named sizes
        assert {row["model"] for row in others} == {"dev", "packshot"}  # a white packshot needs no backend
        assert any("model schnell -> dev" in c for c in backend_changes)
    if backend in ("replicate", "segmind", "flux-api"):  # sizes from a fixed set or a narrower range
        assert any(c.startswith("size ") for c in backend_changes)
