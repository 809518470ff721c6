"""The `flux-api` provider against real /api/v1/flux/dev servers: `fluxcat serve --backend tiny`, and the same app
over the instant `fixed` backend with faults (500s, slow replies, 429s, a wrong key)."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest
from PIL import Image

from fluxcat.backends.base import ImageRequest
from fluxcat.backends.fixed import FixedBackend
from fluxcat.backends.flux_api import FluxApiBackend
from fluxcat.manifest import MANIFEST
from fluxcat.pipeline import RunOptions
from fluxcat.serve import ServeSettings, create_app
from fluxcat.store import Store
from tests.pipeline import run_catalog
from tests.serving import serve_app_in_thread

ROWS = [
    {"id": "fox", "prompt": "a red fox in snow", "model": "dev", "image_size": "square", "num_inference_steps": 2},
    {"id": "owl", "prompt": "an owl at night", "model": "dev", "image_size": "square", "num_inference_steps": 2,
     "num_images": 2, "seed": 11},
    {"id": "wide", "prompt": "a wide valley", "model": "dev", "image_size": "landscape_16_9", "num_inference_steps": 1,
     "guidance_scale": 6.0},
    {"id": "fast", "prompt": "a quick sketch", "model": "schnell", "image_size": "square"},
    {"id": "odd", "prompt": "an odd size", "model": "dev", "width": 640, "height": 640, "num_inference_steps": 2},
    {"id": "fox-again", "prompt": "A red fox in snow", "model": "dev", "image_size": "square", "num_inference_steps": 2},
]


def test_a_catalog_through_fluxcat_serve_end_to_end(tiny_server, catalog_factory, tmp_path, monkeypatch, caplog):
    key = tiny_server.keys[0]
    monkeypatch.setenv("FLUX_API_KEY", key)
    monkeypatch.setenv("FLUX_API_BASE_URL", tiny_server.base_url)
    caplog.set_level(logging.DEBUG)
    options = RunOptions(catalog=catalog_factory(ROWS), output=str(tmp_path / "out"), backend="flux-api",
                         backend_options={"concurrency": 2}, shard_size=2)
    report, summary, _ = run_catalog(options)

    rows = {(r["id"], r["image_index"]): r for r in Store(options.output).read_table(MANIFEST).to_pylist()}
    statuses = {k: r["status"] for k, r in rows.items()}
    assert statuses == {("fox", 0): "generated", ("owl", 0): "generated", ("owl", 1): "generated",
                        ("wide", 0): "generated", ("fast", 0): "generated", ("odd", 0): "generated",
                        ("fox-again", 0): "duplicate"}
    # planning fitted the rows to what the endpoint serves (FLUX.1-dev, six named sizes) and said so
    assert rows[("fast", 0)]["model"] == "dev" and "model schnell -> dev" in rows[("fast", 0)]["corrections"]
    assert (rows[("odd", 0)]["width"], rows[("odd", 0)]["height"]) == (512, 512)
    assert "size 640x640 -> 512x512" in rows[("odd", 0)]["corrections"]
    store = Store(options.output)
    for (row_id, _), row in rows.items():
        if row["status"] != "generated":
            continue
        assert row["backend"] == "flux-api"
        details = json.loads(row["details"])
        assert details["has_nsfw_concepts"] is False and details["provider_inference_s"] > 0
        data = store.read_bytes(row["image_uri"].removeprefix(store.root + "/"))
        assert Image.open(io.BytesIO(data)).size == (row["width"], row["height"])
    assert (rows[("wide", 0)]["width"], rows[("wide", 0)]["height"]) == (1024, 576)
    assert rows[("owl", 0)]["sha256"] != rows[("owl", 1)]["sha256"]  # seeds 11 and 12
    assert summary.statuses["generated"] == 6
    # The server saw exactly one request per image and never more than the provider's cap at once.
    stats = tiny_server.stats()
    assert stats["max_in_flight"] <= 2

    # No key anywhere: the run's files, the logs of both sides.
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert key not in caplog.text and key not in tiny_server.log_text()


@pytest.fixture
def fault_server(tmp_path):
    """`create_app` over the `fixed` backend (prompts with EXPLODE fail), in a thread, settings per test."""
    @contextlib.contextmanager
    def start(**settings):
        app = create_app(FixedBackend(fail_prompts_containing="EXPLODE"), Store(str(tmp_path / "served")),
                         ServeSettings(api_keys=("fault-key-123",), **settings))
        with serve_app_in_thread(app) as base_url:
            yield base_url, app.state.stats

    return start


def request(key: str, prompt: str, seed: int = 1) -> ImageRequest:
    return ImageRequest(key=key, prompt=prompt, model="dev", width=512, height=512, steps=2, guidance=3.5, seed=seed)


def provider(base_url: str, monkeypatch, **options) -> FluxApiBackend:
    monkeypatch.setenv("FLUX_API_KEY", options.pop("key", "fault-key-123"))
    defaults = {"max_attempts": 2, "backoff_base": 0.05, "backoff_max": 0.1, "circuit_threshold": 50}
    return FluxApiBackend(base_url=base_url, **{**defaults, **options})


def test_500s_are_retried_then_fail_the_row_alone(fault_server, monkeypatch):
    with fault_server() as (base_url, stats):
        backend = provider(base_url, monkeypatch)
        results = {r.key: r for r in backend.generate([request("a" * 32, "EXPLODE please"), request("b" * 32, "calm")])}
        backend.close()
    assert results["b" * 32].ok and results["b" * 32].image.size == (512, 512)
    failed = results["a" * 32]
    assert not failed.ok and "HTTP 500" in failed.error and "gave up after 2 attempts" in failed.error
    assert stats.by_status[500] == 2  # retried once


def test_a_reply_slower_than_the_timeout_fails_with_the_reason(fault_server, monkeypatch):
    with fault_server(inject_latency_s=1.5) as (base_url, stats):
        backend = provider(base_url, monkeypatch, timeout=0.3)
        [result] = backend.generate([request("c" * 32, "slow")])
        backend.close()
    assert not result.ok and "0.3s" in result.error and "gave up after 2 attempts" in result.error


def test_429s_are_waited_out_via_retry_after(fault_server, monkeypatch):
    with fault_server(rate_limit=2, rate_window_s=1) as (base_url, stats):
        backend = provider(base_url, monkeypatch, max_attempts=5, concurrency=3)
        keys = [f"{i:032x}" for i in range(4)]
        results = list(backend.generate([request(k, f"prompt {k}", seed=i) for i, k in enumerate(keys)]))
        backend.close()
    assert all(r.ok for r in results), [r.error for r in results]
    assert stats.by_status[429] >= 1 and stats.images == 4


def test_a_wrong_key_fails_at_once_and_is_never_echoed(fault_server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-key-7f3a9c"
    with fault_server() as (base_url, stats):
        backend = provider(base_url, monkeypatch, key=wrong, max_attempts=4)
        [result] = backend.generate([request("d" * 32, "a cat")])
        backend.close()
    assert not result.ok and "HTTP 401" in result.error and "invalid API key" in result.error
    assert stats.by_status[401] == 1  # 4xx other than 429 are not retried
    assert wrong not in result.error and wrong not in caplog.text


def test_unsupported_plans_are_explained(monkeypatch):
    monkeypatch.setenv("FLUX_API_KEY", "k" * 8)
    backend = FluxApiBackend(base_url="http://127.0.0.1:9/api/v1/flux/dev")
    assert backend.base_url == "http://127.0.0.1:9"  # the endpoint's full URL is accepted too
    refuses = backend.capabilities().refuses
    assert refuses("dev", 1024, 768, 28, 3.5) is None
    assert "does not offer FLUX schnell" in refuses("schnell", 1024, 1024, 4, 0.0)
    assert "guidance 1-20" in refuses("dev", 1024, 1024, 28, 0.5)
    assert "768x768 is not a size" in refuses("dev", 768, 768, 28, 3.5) and "1024x576" in refuses("dev", 768, 768, 28, 3.5)
    monkeypatch.delenv("FLUX_API_KEY")
    monkeypatch.delenv("FLUX_API_BASE_URL", raising=False)
    keyless = FluxApiBackend(base_url="http://127.0.0.1:9")  # planning and estimates need no key
    with pytest.raises(ValueError, match="FLUX_API_KEY"):
        keyless.check_ready()  # a run checks it before its first image
    monkeypatch.setenv("FLUX_API_KEY", "k" * 8)
    with pytest.raises(ValueError, match="FLUX_API_BASE_URL"):
        FluxApiBackend()
