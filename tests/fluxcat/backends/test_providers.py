"""fal, Replicate, Hugging Face and Segmind against protocol doubles on 127.0.0.1 (checked by the official clients
in test_official_clients.py), with faults injected.

Every row ends generated, failed or rejected with its reason; no row is lost; the key (or any prefix of it)
appears in no log line, no manifest, no stored file; the per-provider cap holds across shards running in threads;
a billed create is never resent after an ambiguous failure; jobs past max_wait are cancelled."""

import io
import json
import logging

import pytest
from PIL import Image

from fluxcat.backends.provider_facts import PRICES
from fluxcat.store import Store
from tests.conftest import write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, run_pipeline, scan_output_for, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, HuggingFaceServer, ReplicateServer, SegmindServer

OK = ("generated", None)
NOT_RESENT = "not resent"


def fail(fragment):
    return ("failed", fragment)


def rejected(fragment):
    return ("rejected", fragment)


def run_provider(tmp_path, caplog, monkeypatch, server_class, backend, env, rows, options=None, cap=2, path="",
                 on_run=None):
    key = secret_key()
    monkeypatch.setenv(env, key)
    caplog.set_level(logging.DEBUG)
    catalog = write_catalog(tmp_path / "catalog.parquet", rows)
    output = tmp_path / "out"
    with server_class(key) as server:
        report, summary, manifest = run_pipeline(catalog, str(output), backend, {
            "base_url": server.url + path, "concurrency": cap, **FAST, **(options or {})}, on_run=on_run)
    return key, server, summary, manifest, output


def check_rows(manifest, expected, key, output, caplog, backend, billed=()):
    """`billed`: the failed rows the provider charged for (it made the image; fluxcat refused what came back)."""
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
        if row["status"] in ("generated", "failed"):
            price = PRICES[backend][row["model"]].cost(row["width"], row["height"], row["steps"])
        if row["status"] == "generated":
            image = Image.open(io.BytesIO(store.read_bytes(row["image_uri"][len(store.root) + 1:])))
            assert image.size == (row["width"], row["height"]) and row["sha256"] and row["backend"] == backend
            assert row["cost_usd"] == pytest.approx(price)
            assert json.loads(row["details"])["provider"] == backend
        elif row["status"] == "failed":
            assert row["cost_usd"] == pytest.approx(price if row["id"] in billed else 0.0), (row["id"], row["reason"])
    texts = [caplog.text] + [(row["reason"] or "") + (row["details"] or "") for row in manifest]
    assert not any(key[:12] in text for text in texts)  # not even a prefix: scrubbed before being cut
    assert scan_output_for(output, key) == [] and scan_output_for(output, key[:12]) == []


def square(row_id, prompt, **extra):
    return {"id": row_id, "prompt": prompt, "image_size": "square", "model": "schnell", **extra}


def test_fal_queue_with_faults(tmp_path, caplog, monkeypatch):
    rows = [
        square("url", "a red fox in snow"), square("data-uri", "fault:data-uri a blue whale"),
        square("429-seconds", "fault:429-seconds a cat"), square("429-date", "fault:429-date a dog"),
        square("429-backoff", "fault:429 a cow"), square("500-once", "fault:500 a pig"),
        square("slow", "fault:slow a duck"), square("reset", "fault:reset a goose"),
        square("malformed", "fault:malformed a crab"),
        square("400", "fault:400-echo an eel"), square("echo-late", "fault:echo-late-always a newt"),
        square("oversized", "fault:oversized a bee"),
        square("not-image", "fault:not-image an ant"), square("garbage", "fault:garbage a moth"),
        square("wrong-size", "fault:wrong-size a bat"), square("nsfw", "nsfw owl portrait"),
        square("pii", "mail me at someone@example.com"),
        square("completed-error", "fault:completed-error a wren"),
        square("not-retryable", "fault:not-retryable-always a lark"),
        square("never-completes", "fault:never-completes a mole"),
        square("metadata", "fault:redirect-metadata a vole"), square("trickle", "fault:trickle-download a shrew"),
        {"id": "dev", "prompt": "a lighthouse at dusk", "model": "dev", "num_inference_steps": 28,
         "guidance_scale": 3.5, "image_size": "square"},
        {"id": "max-steps", "prompt": "a tower", "model": "dev", "num_inference_steps": 50, "image_size": "square"},
        {"id": "odd-size", "prompt": "a long shelf", "model": "schnell", "width": 650, "height": 470},
    ]
    gauges = []
    key, server, summary, manifest, output = run_provider(tmp_path, caplog, monkeypatch, FalServer, "fal", "FAL_KEY",
                                                          rows, {"download_max_bytes": 200_000, "max_wait": 1.0,
                                                                 "download_timeout": 0.5},
                                                          on_run=lambda run: gauges.append(run.backend.gauge.stats()))
    expected = {r["id"]: OK for r in rows}
    expected.update({
        "500-once": fail(NOT_RESENT), "slow": fail(NOT_RESENT), "reset": fail(NOT_RESENT),
        "malformed": fail("malformed JSON"),
        "400": fail("fal HTTP 400: prompt rejected for credential ***"), "echo-late": fail("***"),
        "oversized": fail("download_max_bytes"), "not-image": fail("text/html, not an image"),
        "garbage": fail("not a decodable image"), "wrong-size": fail("256x256 image for a 512x512"),
        "pii": rejected("email address"), "completed-error": fail("runner_error: Internal error"),
        "not-retryable": fail("fal HTTP 503"), "never-completes": fail("cancelled at the provider"),
        "metadata": fail("link-local address (169.254.169.254); refused"),
        "trickle": fail("download took longer than its total deadline of 0.5s"),
    })
    check_rows(manifest, expected, key, output, caplog, "fal",
               billed={"oversized", "not-image", "garbage", "wrong-size", "metadata", "trickle"})
    trickle = next(r for r in manifest if r["id"] == "trickle")
    assert trickle["seconds"] < 5  # 3 attempts of a 0.5 s deadline, not the 80 s the body would take
    details = {r["id"]: json.loads(r["details"] or "{}") for r in manifest}
    assert details["nsfw"]["has_nsfw_concepts"] is True and details["url"]["has_nsfw_concepts"] is False
    submitted = {job["prompt"]: job["args"] for job in server.jobs.values()}
    assert submitted["a lighthouse at dusk"]["guidance_scale"] == 3.5 and submitted["a lighthouse at dusk"]["num_inference_steps"] == 28
    assert "guidance_scale" not in submitted["a red fox in snow"] and submitted["a red fox in snow"]["num_inference_steps"] == 4
    assert submitted["a red fox in snow"]["output_format"] == "png"
    assert submitted["a long shelf"]["image_size"] == {"width": 656, "height": 464}  # 16-pixel grid, recorded
    assert server.creates["fault:not-retryable-always a lark"] == 0 and server.attempts["fault:not-retryable-always a lark"] == 1
    assert server.creates["fault:completed-error a wren"] == 1
    assert not any(path.endswith(job) for job in server.jobs for _, path in server.requests
                   if server.jobs[job]["prompt"] == "fault:completed-error a wren")  # no result GET after the error
    cancelled = [server.jobs[job]["prompt"] for job in server.cancelled]
    assert cancelled == ["fault:never-completes a mole"]
    assert max(server.creates.values()) == 1                     # no prompt paid for twice
    assert server.download_auth_headers == []                    # result downloads never carry the key
    assert server.peak <= 2 and gauges[0]["peak"] == 2  # the run's cap held across its shards in threads


def test_replicate_predictions_with_faults(tmp_path, caplog, monkeypatch):
    rows = [
        square("wait", "a teapot"), square("poll", "fault:poll a kettle"),
        square("prediction-failed", "fault:prediction-failed a vase"), square("429", "fault:429-seconds a cup"),
        square("throttled", "fault:throttled a saucer"), square("reset", "fault:reset a plate"),
        square("500-always", "fault:500-always a fork"), square("not-image", "fault:not-image a spoon"),
        square("400", "fault:400-echo a knife"), square("aborted", "fault:aborted a ladle"),
        square("never-completes", "fault:never-completes a whisk"),
        {"id": "hd", "prompt": "a bowl", "image_size": "square_hd", "model": "schnell"},
        {"id": "landscape", "prompt": "a jug", "image_size": "landscape_4_3", "model": "schnell"},
        {"id": "guidance", "prompt": "a long table set for dinner", "model": "dev", "guidance_scale": 12,
         "image_size": "square"},
    ]
    key, server, summary, manifest, output = run_provider(tmp_path, caplog, monkeypatch, ReplicateServer, "replicate",
                                                          "REPLICATE_API_TOKEN", rows, {"max_wait": 1.0})
    expected = {r["id"]: OK for r in rows}
    expected.update({
        "prediction-failed": fail("replicate prediction failed: NSFW content detected"),
        "reset": fail(NOT_RESENT), "500-always": fail(NOT_RESENT), "not-image": fail("not an image"),
        "400": fail("prompt rejected for credential ***"), "aborted": fail("replicate prediction aborted"),
        "never-completes": fail("cancelled at the provider"),
        "guidance": rejected("guidance_scale 12 is outside replicate's 0-10 for FLUX dev"),
    })
    check_rows(manifest, expected, key, output, caplog, "replicate", billed={"not-image"})
    by_id = {r["id"]: r for r in manifest}
    assert (by_id["landscape"]["width"], by_id["landscape"]["height"]) == (1152, 896)  # 4:3 at 1 megapixel
    assert "size 1024x768 -> 1152x896" in by_id["landscape"]["corrections"]
    inputs = [job["input"] for job in server.jobs.values()]
    assert all(i["go_fast"] is False and i["output_format"] == "png" for i in inputs)  # seeds reproduce
    assert max(server.creates.values()) == 1                       # no prediction created twice
    assert server.attempts["fault:throttled a saucer"] == 2         # waited out "resets in ~1s", then made
    assert [server.jobs[j]["prompt"] for j in server.cancelled] == ["fault:never-completes a whisk"]
    assert any(path.startswith("/v1/predictions/") for method, path in server.requests)  # the poll path ran
    assert server.download_auth_headers == []


def test_hugging_face_router_with_faults_deadlines_and_caps(tmp_path, caplog, monkeypatch):
    rows = [
        square("bytes", "a green field"), square("loading", "fault:loading a barn"),
        square("bad-json-500", "fault:malformed a silo"), square("json-not-image", "fault:not-image a tractor"),
        square("slow", "fault:slow a fence"), square("500-always", "fault:500-always a gate"),
        square("400", "fault:400-echo a well"), square("429-date", "fault:429-date a pond"),
        square("trickle", "fault:trickle-always a hedge"), square("huge", "fault:huge-reply-always a stile"),
        square("echo-late", "fault:echo-late-always a byre"),
        {"id": "dev", "prompt": "a detailed oil painting of a farmhouse at night", "model": "dev", "image_size": "square"},
    ]
    key, server, summary, manifest, output = run_provider(
        tmp_path, caplog, monkeypatch, HuggingFaceServer, "hf", "HF_TOKEN", rows,
        {"max_loading_wait": 0.05, "reply_max_bytes": 1_000_000, "max_attempts": 2}, path="/hf-inference")
    expected = {r["id"]: OK for r in rows}
    expected.update({"json-not-image": fail("hf replied application/json instead of an image"),
                     "500-always": fail("gave up after 2 attempts"), "400": fail("prompt rejected for credential ***"),
                     "trickle": fail("total deadline of 1s"), "huge": fail("over the cap of 1000000"),
                     "echo-late": fail("***")})
    check_rows(manifest, expected, key, output, caplog, "hf")
    trickle = next(r for r in manifest if r["id"] == "trickle")
    assert trickle["seconds"] < 10  # two attempts of a 1 s deadline, not the 80 s the reply would take
    assert "currently loading" in caplog.text  # the 503 was seen and waited out
    sent = {job["prompt"]: job["parameters"] for job in server.jobs.values()}
    assert "guidance_scale" not in sent["a green field"] and sent["a green field"]["width"] == 512
    assert sent["a detailed oil painting of a farmhouse at night"]["guidance_scale"] == 3.5


def test_segmind_field_names_shapes_and_faults(tmp_path, caplog, monkeypatch):
    rows = [
        square("bytes", "a mountain lake"), square("base64", "fault:base64 a glacier"),
        square("image-url", "fault:image-url a canyon"), square("429", "fault:429 a mesa"),
        square("400", "fault:400-echo a dune"), square("reset-always", "fault:reset-always a reef"),
        square("malformed", "fault:malformed a cave"), square("429-long", "fault:429-long-always a fjord"),
        {"id": "small", "prompt": "a pebble", "model": "schnell", "width": 640, "height": 480},
        {"id": "dev-portrait", "prompt": "a tall waterfall in a detailed mossy gorge", "model": "dev",
         "image_size": "portrait_4_3"},
    ]
    key, server, summary, manifest, output = run_provider(tmp_path, caplog, monkeypatch, SegmindServer, "segmind",
                                                          "SEGMIND_API_KEY", rows)
    expected = {r["id"]: OK for r in rows}
    expected.update({"400": fail("segmind HTTP 400: prompt rejected for credential ***"),
                     "reset-always": fail("connection failed"), "malformed": fail("malformed JSON"),
                     "429-long": fail("asked to wait 3600s, more than max_retry_after=5s")})
    check_rows(manifest, expected, key, output, caplog, "segmind")
    by_id = {r["id"]: r for r in manifest}
    assert json.loads(by_id["bytes"]["details"])["credits_remaining"] == "4.97"
    assert (by_id["small"]["width"], by_id["small"]["height"]) == (640, 512)  # segmind's schnell: 512 at least
    assert (by_id["dev-portrait"]["width"], by_id["dev-portrait"]["height"]) == (896, 1152)  # aspect ratio 3:4
    payloads = {job["prompt"]: job["payload"] for job in server.jobs.values()}
    assert payloads["a mountain lake"] == {"prompt": "a mountain lake", "steps": 4, "width": 512, "height": 512,
                                           "seed": by_id["bytes"]["seed"], "samples": 1}
    dev = payloads["a tall waterfall in a detailed mossy gorge"]
    assert dev["aspect_ratio"] == "3:4" and dev["guidance"] == 3.5 and "width" not in dev
    assert server.download_auth_headers == []
