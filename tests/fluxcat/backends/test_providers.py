"""fal, Replicate, Hugging Face and Segmind against real protocol servers on 127.0.0.1, with faults injected.

Every row ends generated, failed or rejected with its reason; no row is lost; the key appears in no log line,
no manifest, no stored file; the per-provider cap holds across shards running in threads."""

import io
import json
import logging

import pytest
from PIL import Image

from fluxcat.backends import close_all
from fluxcat.backends.hosted import gauge_stats
from fluxcat.backends.provider_facts import PRICES_USD
from fluxcat.store import Store
from tests.conftest import write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, run_pipeline, scan_output_for, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, HuggingFaceServer, ReplicateServer, SegmindServer

OK = ("generated", None)


def fail(fragment):
    return ("failed", fragment)


def rejected(fragment):
    return ("rejected", fragment)


@pytest.fixture(autouse=True)
def _close_backends():
    yield
    close_all()


def run_provider(tmp_path, caplog, monkeypatch, server_class, backend, env, rows, options=None, cap=2):
    key = secret_key()
    monkeypatch.setenv(env, key)
    caplog.set_level(logging.DEBUG)
    catalog = write_catalog(tmp_path / "catalog.parquet", rows)
    output = tmp_path / "out"
    with server_class(key) as server:
        report, summary, manifest = run_pipeline(catalog, str(output), backend,
                                                 {"base_url": server.url, "concurrency": cap, **FAST, **(options or {})})
    return key, server, summary, manifest, output


def check_rows(manifest, expected, key, output, caplog, backend):
    by_id = {row["id"]: row for row in manifest}
    assert sorted(by_id) == sorted(expected) and len(manifest) == len(expected)  # nothing lost, nothing doubled
    for row_id, (status, fragment) in expected.items():
        row = by_id[row_id]
        assert row["status"] == status, (row_id, row["status"], row["reason"])
        if status != "generated":
            assert row["reason"], row_id
        if fragment:
            assert fragment in row["reason"], (row_id, row["reason"])
    store = Store(str(output))
    for row in manifest:
        if row["status"] == "generated":
            image = Image.open(io.BytesIO(store.read_bytes(row["image_uri"][len(store.root) + 1:])))
            assert image.size == (row["width"], row["height"]) and row["sha256"] and row["backend"] == backend
            assert row["cost_usd"] == PRICES_USD[backend][row["model"]]
            assert json.loads(row["details"])["provider"] == backend
        elif row["status"] == "failed":
            assert row["cost_usd"] == 0.0
    assert key not in caplog.text
    assert scan_output_for(output, key) == []
    assert not any(key in (row["reason"] or "") + (row["details"] or "") for row in manifest)


def square(row_id, prompt, **extra):
    return {"id": row_id, "prompt": prompt, "image_size": "square", "model": "schnell", **extra}


def test_fal_queue_with_faults(tmp_path, caplog, monkeypatch):
    rows = [
        square("url", "a red fox in snow"), square("data-uri", "fault:data-uri a blue whale"),
        square("429-seconds", "fault:429-seconds a cat"), square("429-date", "fault:429-date a dog"),
        square("429-backoff", "fault:429 a cow"), square("500-once", "fault:500 a pig"),
        square("500-always", "fault:500-always a hen"), square("slow", "fault:slow a duck"),
        square("reset", "fault:reset a goose"), square("malformed", "fault:malformed a crab"),
        square("400", "fault:400-echo an eel"), square("oversized", "fault:oversized a bee"),
        square("not-image", "fault:not-image an ant"), square("garbage", "fault:garbage a moth"),
        square("wrong-size", "fault:wrong-size a bat"), square("nsfw", "nsfw owl portrait"),
        square("pii", "mail me at someone@example.com"),
        {"id": "dev", "prompt": "a lighthouse at dusk", "model": "dev", "num_inference_steps": 28,
         "guidance_scale": 3.5, "image_size": "square"},
        {"id": "max-steps", "prompt": "a tower", "model": "dev", "num_inference_steps": 50, "image_size": "square"},
    ]
    key, server, summary, manifest, output = run_provider(tmp_path, caplog, monkeypatch, FalServer, "fal", "FAL_KEY", rows,
                                                          {"download_max_bytes": 200_000})
    expected = {r["id"]: OK for r in rows}
    expected.update({
        "500-always": fail("gave up after 3 attempts"), "malformed": fail("malformed JSON"),
        "400": fail("fal HTTP 400: prompt rejected for credential Key ***"),
        "oversized": fail("over download_max_bytes"), "not-image": fail("text/html, not an image"),
        "garbage": fail("not a decodable image"), "wrong-size": fail("256x256 image for a 512x512"),
        "pii": rejected("email address"),
    })
    check_rows(manifest, expected, key, output, caplog, "fal")
    details = {r["id"]: json.loads(r["details"] or "{}") for r in manifest}
    assert details["nsfw"]["has_nsfw_concepts"] is True and details["url"]["has_nsfw_concepts"] is False
    submitted = {job["prompt"]: job["args"] for job in server.jobs.values()}
    assert submitted["a lighthouse at dusk"]["guidance_scale"] == 3.5 and submitted["a lighthouse at dusk"]["num_inference_steps"] == 28
    assert "guidance_scale" not in submitted["a red fox in snow"] and submitted["a red fox in snow"]["num_inference_steps"] == 4
    assert server.download_auth_headers == []           # result downloads never carry the key
    assert server.peak <= 2 and gauge_stats(f"fal@{server.url}")["peak"] == 2  # the cap held across 5 shards in 4 threads


def test_replicate_predictions_with_faults(tmp_path, caplog, monkeypatch):
    rows = [
        square("wait", "a teapot"), square("poll", "fault:poll a kettle"),
        square("prediction-failed", "fault:prediction-failed a vase"), square("429", "fault:429-seconds a cup"),
        square("reset", "fault:reset a plate"), square("500-always", "fault:500-always a fork"),
        square("not-image", "fault:not-image a spoon"), square("400", "fault:400-echo a knife"),
        {"id": "hd", "prompt": "a bowl", "image_size": "square_hd", "model": "schnell"},
        {"id": "landscape", "prompt": "a jug", "image_size": "landscape_4_3", "model": "schnell"},
        {"id": "guidance", "prompt": "a long table set for dinner", "model": "dev", "guidance_scale": 12,
         "image_size": "square"},
    ]
    key, server, summary, manifest, output = run_provider(tmp_path, caplog, monkeypatch, ReplicateServer, "replicate",
                                                          "REPLICATE_API_TOKEN", rows)
    expected = {r["id"]: OK for r in rows}
    expected.update({
        "prediction-failed": fail("replicate prediction failed: NSFW content detected"),
        "500-always": fail("gave up after 3 attempts"), "not-image": fail("not an image"),
        "400": fail("Bearer ***"), "landscape": rejected("1024x768 is not one"),
        "guidance": rejected("guidance 0-10, not 12"),
    })
    check_rows(manifest, expected, key, output, caplog, "replicate")
    assert any(path.startswith("/v1/predictions/") for method, path in server.requests)  # the poll path ran
    assert server.download_auth_headers == []


def test_hugging_face_inference_with_loading_and_faults(tmp_path, caplog, monkeypatch):
    rows = [
        square("bytes", "a green field"), square("loading", "fault:loading a barn"),
        square("bad-json-500", "fault:malformed a silo"), square("json-not-image", "fault:not-image a tractor"),
        square("slow", "fault:slow a fence"), square("500-always", "fault:500-always a gate"),
        square("400", "fault:400-echo a well"), square("429-date", "fault:429-date a pond"),
        {"id": "dev", "prompt": "a detailed oil painting of a farmhouse at night", "model": "dev", "image_size": "square"},
    ]
    key, server, summary, manifest, output = run_provider(tmp_path, caplog, monkeypatch, HuggingFaceServer, "hf",
                                                          "HF_TOKEN", rows, {"max_loading_wait": 0.05})
    expected = {r["id"]: OK for r in rows}
    expected.update({"json-not-image": fail("hf replied application/json instead of an image"),
                     "500-always": fail("gave up after 3 attempts"), "400": fail("Bearer ***")})
    check_rows(manifest, expected, key, output, caplog, "hf")
    assert "currently loading" in caplog.text  # the 503 was seen and waited out


def test_segmind_bytes_base64_and_url_with_faults(tmp_path, caplog, monkeypatch):
    rows = [
        square("bytes", "a mountain lake"), square("base64", "fault:base64 a glacier"),
        square("image-url", "fault:image-url a canyon"), square("429", "fault:429 a mesa"),
        square("400", "fault:400-echo a dune"), square("reset-always", "fault:reset-always a reef"),
        square("malformed", "fault:malformed a cave"), square("429-long", "fault:429-long-always a fjord"),
    ]
    key, server, summary, manifest, output = run_provider(tmp_path, caplog, monkeypatch, SegmindServer, "segmind",
                                                          "SEGMIND_API_KEY", rows)
    expected = {r["id"]: OK for r in rows}
    expected.update({"400": fail("segmind HTTP 400: prompt rejected for credential ***"),
                     "reset-always": fail("connection failed"), "malformed": fail("malformed JSON"),
                     "429-long": fail("asked to wait 3600s, more than max_retry_after=5s")})
    check_rows(manifest, expected, key, output, caplog, "segmind")
    details = {r["id"]: json.loads(r["details"] or "{}") for r in manifest}
    assert details["bytes"]["credits_remaining"] == "4.97"
    assert server.download_auth_headers == []
