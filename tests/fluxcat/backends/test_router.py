"""The router over real protocol servers: fallback, open circuits, quotas kept in the store across runs, budget cap."""

import json
import logging
import socket

import pytest

from fluxcat.backends import get_backend
from fluxcat.backends.base import BackendConfigError, ImageRequest
from fluxcat.store import Store
from tests.conftest import write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, run_pipeline, scan_output_for, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, HuggingFaceServer, SegmindServer


@pytest.fixture
def keys(monkeypatch):
    values = {env: secret_key() for env in ("FAL_KEY", "HF_TOKEN", "SEGMIND_API_KEY")}
    for env, value in values.items():
        monkeypatch.setenv(env, value)
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    return values


def dead_url() -> str:
    """A loopback port with nothing listening: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def rows(prompts):
    return [{"id": f"r{i}", "prompt": p, "image_size": "square", "model": "schnell"} for i, p in enumerate(prompts)]


def test_router_falls_back_when_a_provider_fails_then_skips_its_open_circuit(tmp_path, keys, caplog):
    caplog.set_level(logging.DEBUG)
    catalog = write_catalog(tmp_path / "c.parquet", rows([f"a harbour scene number {i}" for i in range(6)]
                                                          + ["fault:500-always a lighthouse"]))
    with HuggingFaceServer(keys["HF_TOKEN"]) as hf:
        options = {"providers": "fal,hf", "weight_price": 0, **FAST, "fal_base_url": dead_url(), "hf_base_url": hf.url,
                   "fal_circuit_threshold": 2, "fal_circuit_reset": 600, "fal_concurrency": 1}
        _, summary, manifest = run_pipeline(catalog, str(tmp_path / "out"), "router", options, shard_size=7, threads=1)
    by_id = {r["id"]: r for r in manifest}
    fal_attempts = [json.loads(r["details"])["tried"][0] for r in manifest]
    assert all(a["provider"] == "fal" for a in fal_attempts)  # fal scores first (fastest, price ignored)
    assert sum("connection failed" in a.get("error", "") for a in fal_attempts) == 2      # two failures opened it
    assert sum("circuit" in (a.get("skipped") or a.get("error")) for a in fal_attempts) == 5  # then it was passed over
    failed = by_id.pop("r6")
    assert failed["status"] == "failed" and failed["reason"].startswith("all providers failed:")
    assert "hf: hf HTTP 500" in failed["reason"] and "fal:" in failed["reason"]
    assert all(r["status"] == "generated" and r["backend"] == "hf" for r in by_id.values())
    tried = [json.loads(r["details"])["tried"] for r in by_id.values()]
    assert all(t[-1] == {"provider": "hf", "ok": True, "score": t[-1]["score"]} for t in tried)
    for key in keys.values():
        assert key not in caplog.text and scan_output_for(tmp_path, key) == []


def test_router_quota_is_recorded_in_the_store_and_holds_across_runs(tmp_path, keys):
    output = str(tmp_path / "out")
    with FalServer(keys["FAL_KEY"]) as fal, SegmindServer(keys["SEGMIND_API_KEY"]) as segmind:
        options = {"providers": "fal,segmind", "weight_price": 0, "weight_quota": 0, **FAST,
                   "fal_base_url": fal.url, "segmind_base_url": segmind.url, "fal_monthly_limit": 2}
        first = write_catalog(tmp_path / "c1.parquet", rows(["a red kite", "a green kite", "a blue kite"]))
        _, _, manifest = run_pipeline(first, output, "router", options, shard_size=1)
        assert sorted(r["backend"] for r in manifest) == ["fal", "fal", "segmind"]
        # a new run builds its own backends: only the store remembers the quota
        second = write_catalog(tmp_path / "c2.parquet", rows(["a red boat", "a green boat"]))
        _, _, manifest = run_pipeline(second, output, "router", options, shard_size=1)
    assert [r["backend"] for r in manifest] == ["segmind", "segmind"]
    skipped = json.loads(manifest[0]["details"])["tried"][0]
    assert skipped["provider"] == "fal" and "monthly quota used up (2/2" in skipped["skipped"]
    assert len(fal.jobs) == 2
    quota_files = Store(output).list("_work/quota/fal")
    assert sum(json.loads(Store(output).read_bytes(p))["used"] for p in quota_files) == 2


def test_budget_cap_leaves_the_rest_skipped_and_a_later_run_makes_them(tmp_path, keys):
    output = str(tmp_path / "out")
    catalog = write_catalog(tmp_path / "c.parquet", rows([f"a paper lantern, style {i}" for i in range(6)]))
    with FalServer(keys["FAL_KEY"]) as fal:
        options = {"base_url": fal.url, **FAST}
        report, summary, manifest = run_pipeline(catalog, output, "fal", options, budget_usd=0.0075, shard_size=2)
        assert report.estimated_cost_usd == pytest.approx(6 * 0.012 * 512 * 512 / 1024 ** 2)  # fal bills megapixels
        statuses = sorted(r["status"] for r in manifest)
        assert statuses == ["generated"] * 2 + ["skipped"] * 4
        assert sum(r["cost_usd"] for r in manifest) <= 0.0075 and len(fal.jobs) == 2
        assert all("--budget-usd" in r["reason"] for r in manifest if r["status"] == "skipped")
        _, summary, manifest = run_pipeline(catalog, output, "fal", options, budget_usd=1.0, shard_size=2)
    assert summary.statuses == {"existing": 2, "generated": 4}
    assert len(fal.jobs) == 6  # nothing was made twice


def test_router_rejects_only_what_no_provider_can_make(tmp_path, keys, monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", secret_key())
    router = get_backend("router", {"providers": "replicate,fal", "fal_base_url": "http://127.0.0.1:9",
                                    "replicate_base_url": "http://127.0.0.1:9"})
    assert router.model_id("dev") == "router:black-forest-labs/FLUX.1-dev"
    landscape = ImageRequest("0" * 32, "a jug", "schnell", 1024, 768, 4, 0.0, 1)
    assert [b.name for _, b in router.ranked(landscape)] == ["fal"]  # replicate cannot make 1024x768
    router.close()
    with pytest.raises(BackendConfigError, match="unknown option"):
        get_backend("router", {"providers": "fal", "colour": "blue"})
    for left_out in ({"replicate_base_url": "http://127.0.0.1:9"}, {"replicate": {"base_url": "http://127.0.0.1:9"}}):
        with pytest.raises(BackendConfigError, match="is for 'replicate', which is not in providers=fal: add it"):
            get_backend("router", {"providers": "fal", **left_out})
    with pytest.raises(BackendConfigError, match="unknown option 'fixed_seed'"):  # not a hosted provider's
        get_backend("router", {"providers": "fal", "fixed_seed": 1})
    monkeypatch.delenv("SEGMIND_API_KEY")
    partial = get_backend("router", {"providers": "fal,segmind", "fal_base_url": "http://127.0.0.1:9"})
    partial.check_ready()  # keys are read when the run is about to send (planning does without them)
    assert list(partial.backends) == ["fal"] and "SEGMIND_API_KEY" in partial.unavailable["segmind"]
    partial.close()


def test_a_provider_out_of_credit_opens_its_circuit_at_once_and_the_router_moves_on(tmp_path, keys):
    from tests.fluxcat.backends.protocol_servers import SegmindServer as Segmind

    catalog = write_catalog(tmp_path / "c.parquet", rows([f"a glass marble, colour {i}" for i in range(5)]))
    with Segmind(keys["SEGMIND_API_KEY"], refuse_with=406) as segmind, HuggingFaceServer(keys["HF_TOKEN"]) as hf:
        options = {"providers": "segmind,hf", "weight_price": 0, **FAST, "segmind_base_url": segmind.url,
                   "segmind_concurrency": 1, "hf_base_url": hf.url + "/hf-inference"}
        _, _, manifest = run_pipeline(catalog, str(tmp_path / "out"), "router", options, shard_size=5, threads=1)
    assert [r["backend"] for r in manifest] == ["hf"] * 5
    first, *rest = [json.loads(r["details"])["tried"][0] for r in manifest]
    assert first["provider"] == "segmind" and "HTTP 406 (not enough credits)" in first["error"]
    # FAST sets threshold 100: the 406 alone opened the circuit, so no later row reached segmind
    assert all("circuit" in (t.get("skipped") or t.get("error")) and "open" in (t.get("skipped") or t.get("error"))
               for t in rest)
    assert segmind.creates["refused"] == 1                   # asked once, not once per row
