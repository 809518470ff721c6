"""`fluxcat serve` speaks /api/v1/flux/dev: the reference's own examples, defaults, errors, auth and rate limits."""

from __future__ import annotations

import contextlib
import io
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from fluxcat.backends.fixed import FixedBackend
from fluxcat.limits import MAX_PROMPT_CHARS
from fluxcat.serve import ServeSettings, create_app, parse_generation
from fluxcat.store import Store
from fluxcat_cli.main import main
from tests.serving import count_closed, half_sent_requests, serve_app_in_thread

ENDPOINT = "/api/v1/flux/dev"

# 003's cURL example, verbatim but for the host.
CURL_EXAMPLE = """curl -X POST https://firemoon.studio/api/v1/flux/dev \\
  -H "Authorization: Bearer your_api_key" \\
  -H "Content-Type: application/json" \\
  -d '{
    "prompt": "A majestic eagle soaring over mountains",
    "num_images": 1,
    "image_size": "landscape_16_9",
    "guidance_scale": 4.0,
    "seed": 42
  }'
"""

# 003's Python example, verbatim but for the host.
PYTHON_EXAMPLE = """import requests

def generate_flux_image(prompt, **kwargs):
    response = requests.post(
        'https://firemoon.studio/api/v1/flux/dev',
        headers={
            'Authorization': 'Bearer your_api_key',
            'Content-Type': 'application/json'
        },
        json={
            'prompt': prompt,
            'num_images': kwargs.get('num_images', 1),
            'image_size': kwargs.get('image_size', 'landscape_4_3'),
            'guidance_scale': kwargs.get('guidance_scale', 3.5),
            **kwargs
        }
    )

    response.raise_for_status()
    return response.json()

# Usage
result = generate_flux_image(
    'A beautiful underwater scene with coral reefs',
    num_images=2,
    guidance_scale=5.0
)

for image in result['images']:
    print(f"Generated image: {image['url']}")
"""


def with_host(text: str, base_url: str) -> str:
    return text.replace("https://firemoon.studio", base_url)


def fetch_image(url: str) -> Image.Image:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert Image.MIME[image.format] == response.headers["content-type"]
    return image


def test_curl_example_runs_unchanged(tiny_server):
    done = subprocess.run(["bash", "-c", with_host(CURL_EXAMPLE, tiny_server.base_url)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    body = httpx.Response(200, content=done.stdout).json()
    assert set(body) == {"images", "seed", "has_nsfw_concepts", "timings"}
    assert body["seed"] == 42 and body["has_nsfw_concepts"] == [False]
    assert body["timings"]["inference"] > 0
    [image] = body["images"]
    assert (image["width"], image["height"], image["content_type"]) == (1024, 576, "image/png")
    assert image["url"].startswith(f"{tiny_server.base_url}/images/")
    assert fetch_image(image["url"]).size == (1024, 576)


def test_python_example_runs_unchanged(tiny_server):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(with_host(PYTHON_EXAMPLE, tiny_server.base_url), "003-python-example", "exec"), {})
    urls = [line.removeprefix("Generated image: ") for line in printed.getvalue().splitlines()]
    assert len(urls) == 2 and len(set(urls)) == 2
    # The default image_size is landscape_4_3.
    assert [fetch_image(url).size for url in urls] == [(1024, 768), (1024, 768)]


def post(server, body, key: str | None = "default", **kwargs) -> httpx.Response:
    key = server.keys[0] if key == "default" else key
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{server.base_url}{ENDPOINT}", json=body, headers=headers, timeout=120, **kwargs)


def test_a_seed_reproduces_its_images_and_defaults_fill_in(tiny_server):
    body = {"prompt": "a lighthouse", "image_size": "square", "num_inference_steps": 2, "seed": 7, "num_images": 2}
    first, second = post(tiny_server, body).json(), post(tiny_server, body).json()
    assert first["seed"] == 7 and first["has_nsfw_concepts"] == [False, False]
    assert [fetch_image(i["url"]).tobytes() for i in first["images"]] == [fetch_image(i["url"]).tobytes() for i in second["images"]]
    assert fetch_image(first["images"][0]["url"]).tobytes() != fetch_image(first["images"][1]["url"]).tobytes()
    random_seeds = {post(tiny_server, {**body, "seed": None, "num_images": 1}).json()["seed"] for _ in range(2)}
    assert len(random_seeds) == 2  # "seed: default random"
    assert parse_generation({"prompt": "x"}).__dict__ | {"seed": 0} == {
        "prompt": "x", "num_images": 1, "image_size": "landscape_4_3", "guidance_scale": 3.5,
        "num_inference_steps": 28, "seed": 0}


def test_inference_runs_off_the_event_loop(tiny_server):
    """While an image is being made the server still answers: it reports the request inside the backend."""
    body = {"prompt": "a slow one", "image_size": "square", "num_inference_steps": 8}
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(post, tiny_server, body)
        seen_in_flight = False
        while not slow.done() and not seen_in_flight:
            seen_in_flight = tiny_server.stats()["generating"] == 1
        assert slow.result().status_code == 200
    assert seen_in_flight


def test_limits_are_inclusive(tiny_server):
    body = {"prompt": "p" * MAX_PROMPT_CHARS, "image_size": "square", "num_inference_steps": 1, "guidance_scale": 20,
            "seed": 2**32 - 1}
    response = post(tiny_server, body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("change, mentions", [
    ({"prompt": "p" * (MAX_PROMPT_CHARS + 1)}, f"accept at most {MAX_PROMPT_CHARS}"),
    ({"prompt": None}, "prompt is required"),
    ({"prompt": "   "}, "prompt"),
    ({"num_images": 0}, "num_images"), ({"num_images": 5}, "num_images"), ({"num_images": 1.5}, "num_images"),
    ({"num_images": True}, "num_images"),
    ({"image_size": "1024x1024"}, "landscape_16_9"),
    ({"guidance_scale": 0.5}, "guidance_scale"), ({"guidance_scale": 21}, "guidance_scale"),
    ({"guidance_scale": "high"}, "guidance_scale"),
    ({"num_inference_steps": 0}, "num_inference_steps"), ({"num_inference_steps": 51}, "num_inference_steps"),
    ({"seed": -1}, "seed"), ({"seed": "42"}, "seed"),
    ({"negative_prompt": "blur"}, "unknown parameter"),
])
def test_invalid_parameters_are_400_with_the_reason(tiny_server, change, mentions):
    body = {k: v for k, v in {"prompt": "a cat", **change}.items() if v is not None}
    response = post(tiny_server, body)
    assert response.status_code == 400
    assert mentions in response.json()["detail"]


def _images_made(server) -> tuple[int, int]:
    """The images the server counts, and the files in its output."""
    return server.stats()["images"], sum(1 for path in server.output.rglob("*") if path.is_file())


@pytest.mark.parametrize("prompt, reason", [
    ("a deep fake nude of a film star", "contains blocked term 'deepfake nude'"),
    ("a mug printed with jane.doe@example.com", "contains personal information (email address)"),
    ("a van lettered 'call (555) 123-4567'", "contains personal information (phone number)"),
])
def test_a_blocked_term_or_private_data_is_400_with_one_line_and_no_image(tiny_server, prompt, reason):
    before = _images_made(tiny_server)
    response = post(tiny_server, {"prompt": prompt, "image_size": "square", "num_inference_steps": 1})
    assert response.status_code == 400 and response.json()["type"] == "invalid_request"
    detail = response.json()["detail"]
    assert detail.startswith(f"prompt safety: {reason}") and "\n" not in detail, detail
    assert "jane.doe" not in detail and "4567" not in detail  # the reason names what it found, never the value
    assert _images_made(tiny_server) == before


def test_a_body_that_is_not_a_json_object_is_400(tiny_server):
    headers = {"Authorization": f"Bearer {tiny_server.keys[0]}", "Content-Type": "application/json"}
    for content in (b"not json", b"[1, 2]"):
        response = httpx.post(f"{tiny_server.base_url}{ENDPOINT}", content=content, headers=headers)
        assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_missing_or_wrong_key_is_401(tiny_server):
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Bearer"},
                    {"Authorization": f"Basic {tiny_server.keys[0]}"}):
        response = httpx.post(f"{tiny_server.base_url}{ENDPOINT}", json={"prompt": "a cat"}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "API key" in response.json()["detail"]
    assert httpx.get(f"{tiny_server.base_url}/api/v1/stats").status_code == 401


def test_unknown_images_are_404_and_names_cannot_escape(tiny_server):
    for name in ("0" * 32 + ".png", "..%2F..%2Fetc%2Fpasswd", "abc.png"):
        assert httpx.get(f"{tiny_server.base_url}/images/{name}").status_code == 404


def test_the_server_log_holds_no_key(tiny_server):
    post(tiny_server, {"prompt": "a cat"}, key="wrong-key")
    log = tiny_server.log_text()
    assert "Application startup complete" in log
    for key in tiny_server.keys:
        assert key not in log


@pytest.fixture
def fixed_app_server(tmp_path):
    """The same app over the instant `fixed` backend, in a thread, with settings a test chooses."""
    @contextlib.contextmanager
    def start(**settings):
        backend = FixedBackend(fail_prompts_containing="EXPLODE")
        app = create_app(backend, Store(str(tmp_path / "images")), ServeSettings(api_keys=("k1", "k2"), **settings))
        with serve_app_in_thread(app) as base_url:
            yield base_url, app

    return start


def test_rate_limit_is_429_per_key_with_retry_after(fixed_app_server):
    with fixed_app_server(rate_limit=2, rate_window_s=30) as (base_url, _):
        def call(key):
            return httpx.post(f"{base_url}{ENDPOINT}", json={"prompt": "a cat", "image_size": "square"},
                              headers={"Authorization": f"Bearer {key}"})

        assert [call("k1").status_code for _ in range(3)] == [200, 200, 429]
        limited = call("k1")
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 30
        assert "rate limit" in limited.json()["detail"]
        assert call("k2").status_code == 200  # another key has its own allowance


def test_inference_failure_is_500_and_the_server_keeps_serving(fixed_app_server):
    with fixed_app_server() as (base_url, app):
        headers = {"Authorization": "Bearer k1"}
        failed = httpx.post(f"{base_url}{ENDPOINT}", json={"prompt": "EXPLODE now"}, headers=headers)
        assert failed.status_code == 500
        assert "inference failed" in failed.json()["detail"]
        assert httpx.post(f"{base_url}{ENDPOINT}", json={"prompt": "fine"}, headers=headers).status_code == 200
        assert app.state.stats.by_status[500] == 1


def test_serve_refuses_to_start_without_a_key(monkeypatch, capsys):
    monkeypatch.delenv("FLUXCAT_SERVE_API_KEY", raising=False)
    assert main(["serve", "--backend", "fixed"]) == 2
    assert "FLUXCAT_SERVE_API_KEY" in capsys.readouterr().err


# Abuse: each answered with the status the reference lists for it (400 bad parameters, 429 too many requests),
# 413 for a body over the cap; a hostile client never gets a 500.

def _post(base_url: str, key: str = "k1", **kwargs) -> httpx.Response:
    return httpx.post(f"{base_url}{ENDPOINT}", headers={"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})},
                      timeout=60, **kwargs)


@pytest.mark.parametrize("image_size", [["square"], {"width": 512, "height": 512}, 512, True])
def test_image_size_of_another_type_is_400(fixed_app_server, image_size):
    with fixed_app_server() as (base_url, _):
        response = _post(base_url, json={"prompt": "a cat", "image_size": image_size})
        assert response.status_code == 400 and "unknown image_size" in response.json()["detail"]


def test_values_of_any_shape_are_400_never_500(fixed_app_server):
    nested = "[" * 900 + "]" * 900
    bodies = [b'{"prompt": "a cat", "seed": 1e999}', b'{"prompt": "a cat", "seed": ' + b"9" * 400 + b"}",
              b'{"prompt": "a cat", "num_images": ' + nested.encode() + b"}", b'{"prompt": ["a", "cat"]}',
              b'{"prompt": "a cat", "guidance_scale": {"a": 1}}', b"\xff\xfe", b'"just a string"',
              b'{"prompt": "a cat", "' + b"x" * 5000 + b'": 1}']
    with fixed_app_server() as (base_url, app):
        for body in bodies:
            response = _post(base_url, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (body[:60], response.text)
            assert len(response.json()["detail"]) < 400  # a huge value is quoted short
        assert app.state.stats.by_status[500] == 0


def test_json_nested_deeply_is_400_and_100k_deep_is_over_the_body_cap(fixed_app_server):
    with fixed_app_server() as (base_url, _):
        deep = ("[" * 5000 + "]" * 5000).encode()
        response = _post(base_url, content=deep, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]
        deeper = ("[" * 100_000 + "]" * 100_000).encode()
        response = _post(base_url, content=deeper, headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and response.json()["type"] == "request_too_large"
    with fixed_app_server(max_body_bytes=1_000_000) as (base_url, _):
        response = _post(base_url, content=deeper, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_cap_is_413_declared_or_streamed(fixed_app_server):
    with fixed_app_server() as (base_url, app):
        big = b'{"prompt": "' + b"x" * 100_000 + b'"}'
        response = _post(base_url, content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and "larger than 16384 bytes" in response.json()["detail"]

        def chunks():  # no Content-Length: the cap is enforced while reading
            for _ in range(100):
                yield b"x" * 1000

        response = _post(base_url, content=chunks(), headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert _post(base_url, json={"prompt": "p" * MAX_PROMPT_CHARS, "image_size": "square"}).status_code == 200
        assert app.state.stats.by_status[413] == 2


def test_a_full_queue_is_429_with_retry_after(fixed_app_server):
    with fixed_app_server(max_queue=2, inject_latency_s=1.5, rate_limit=1000) as (base_url, app):
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: _post(base_url, json={"prompt": "a cat", "image_size": "square"}), range(8)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200] + [429] * 6
        shed = [r for r in responses if r.status_code == 429]
        assert all(int(r.headers["retry-after"]) >= 1 and "server busy" in r.json()["detail"] for r in shed)
        assert app.state.stats.max_in_flight == 2


def test_image_urls_never_reflect_an_untrusted_host(fixed_app_server):
    body = {"prompt": "a cat", "image_size": "square"}
    with fixed_app_server() as (base_url, _):
        response = _post(base_url, json=body, headers={"Host": "evil.example:666"})
        assert response.status_code == 400 and "untrusted Host header 'evil.example:666'" in response.json()["detail"]
        assert _post(base_url, json=body).json()["images"][0]["url"].startswith(base_url + "/images/")
    with fixed_app_server(public_url="https://images.example.com/flux/") as (base_url, _):
        response = _post(base_url, json=body, headers={"Host": "evil.example:666"})
        url = response.json()["images"][0]["url"]
        assert url.startswith("https://images.example.com/flux/images/") and "evil" not in url
        assert httpx.get(base_url + url.removeprefix("https://images.example.com/flux")).status_code == 200
    with fixed_app_server(trusted_hosts=("gpu-box",)) as (base_url, _):
        response = _post(base_url, json=body, headers={"Host": "gpu-box:8000"})
        assert response.json()["images"][0]["url"].startswith("http://gpu-box:8000/images/")


def test_failed_api_key_attempts_are_limited_per_address(fixed_app_server):
    with fixed_app_server(auth_failure_limit=3, auth_failure_window_s=30) as (base_url, app):
        body = {"prompt": "a cat", "image_size": "square"}
        assert [_post(base_url, key=f"guess-{i}", json=body).status_code for i in range(3)] == [401] * 3
        limited = _post(base_url, key="guess-4", json=body)
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 30
        assert "failed API-key attempts" in limited.json()["detail"]
        assert _post(base_url, key="k1", json=body).status_code == 429  # the address is locked out for the window
        assert httpx.get(f"{base_url}/api/v1/stats").status_code == 429


def test_serve_settings_refuse_a_bad_public_url_or_limits():
    for bad in ({"public_url": "evil.example"}, {"max_queue": 0}, {"max_body_bytes": 10}):
        with pytest.raises(ValueError):
            ServeSettings(**bad)


def test_the_limiters_memory_is_bounded_and_the_newest_clients_stay_limited():
    from fluxcat.service.guards import RateLimiter

    limiter = RateLimiter(3, window_s=60, max_clients=100)
    for i in range(1000):
        limiter.record(f"ip:{i}")
    assert len(limiter) == 100
    for _ in range(2):
        limiter.record("ip:999")
    assert limiter.admit("ip:999", record=False) is not None  # three failures: limited
    assert limiter.admit("ip:5", record=False) is None  # forgotten long ago: a fresh client


# Behind proxies and under slow clients: a real `fluxcat serve` process (uvicorn, real sockets on 127.0.0.0/8).

@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    from tests.serving import serve_process

    args = ["--backend", "fixed", "--auth-failure-limit", "5", "--rate-limit", "1000", "--header-timeout", "1",
            "--max-connections", "1500"]
    with serve_process(args, ("k-guarded",), tmp_path_factory.mktemp("guarded")) as served:
        yield served


def _from(address: str) -> httpx.Client:
    """A client whose connections come from this loopback address (each 127.x.y.z is a distinct peer)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def test_a_forwarded_header_does_not_dodge_the_failed_key_limit(guarded_server):
    url, body = f"{guarded_server.base_url}{ENDPOINT}", {"prompt": "a cat", "image_size": "square"}
    with _from("127.0.0.2") as client:
        statuses = [client.post(url, json=body, headers={"Authorization": f"Bearer guess-{i}",
                                                         "X-Forwarded-For": f"198.51.100.{i}"}).status_code
                    for i in range(8)]
        assert statuses == [401] * 5 + [429] * 3
        unlocked = client.post(url, json=body, headers={"Authorization": "Bearer k-guarded",
                                                        "X-Forwarded-For": "203.0.113.77"})
        assert unlocked.status_code == 429  # still the same peer, whatever it claims
    with _from("127.0.0.3") as client:  # and naming another address locked nobody else out
        assert client.post(url, json=body, headers={"Authorization": "Bearer k-guarded"}).status_code == 200


def test_forwarded_headers_are_believed_from_the_proxies_the_operator_names(tmp_path):
    from fluxcat.service.server import ConnectionSettings

    app = create_app(FixedBackend(), Store(str(tmp_path / "images")),
                     ServeSettings(api_keys=("k1",), auth_failure_limit=2))
    with serve_app_in_thread(app, ConnectionSettings(forwarded_allow_ips=("127.0.0.1",))) as base_url:
        def call(key, forwarded):
            return httpx.post(f"{base_url}{ENDPOINT}", json={"prompt": "a cat", "image_size": "square"},
                              headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": forwarded}).status_code

        assert [call("guess", "198.51.100.1") for _ in range(3)] == [401, 401, 429]
        assert call("k1", "198.51.100.2") == 200  # the proxy says this is another client


def test_a_thousand_slow_connections_are_cut_by_the_header_timeout_while_requests_are_answered(guarded_server):
    port = int(guarded_server.base_url.rsplit(":", 1)[1])
    slow = half_sent_requests(port, 1000)
    try:
        with _from("127.0.0.4") as client:
            answered = [client.post(f"{guarded_server.base_url}{ENDPOINT}", json={"prompt": f"a cat {i}", "image_size": "square"},
                                    headers={"Authorization": "Bearer k-guarded"}).status_code for i in range(5)]
        assert answered == [200] * 5
        assert count_closed(slow, within_s=15) == 1000  # --header-timeout 1
    finally:
        for sock in slow:
            sock.close()


def test_connections_over_the_cap_are_closed_as_they_arrive(tmp_path):
    from fluxcat.service.server import ConnectionSettings

    app = create_app(FixedBackend(), Store(str(tmp_path / "images")), ServeSettings(api_keys=("k1",)))
    with serve_app_in_thread(app, ConnectionSettings(max_connections=20, header_timeout_s=60)) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        idle = half_sent_requests(port, 40)
        try:
            assert count_closed(idle, within_s=2) == 20
        finally:
            for sock in idle:
                sock.close()
        response = httpx.post(f"{base_url}{ENDPOINT}", json={"prompt": "a cat", "image_size": "square"},
                              headers={"Authorization": "Bearer k1"})
        assert response.status_code == 200


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_the_server_within_seconds_even_mid_request(tmp_path, signal_name):
    import signal
    import threading

    from tests.serving import serve_process

    with serve_process(["--backend", "fixed", "--inject-latency", "60"], ("k1",), tmp_path) as served:
        stuck = threading.Thread(target=lambda: _post(served.base_url, key="k1", json={"prompt": "a cat"}), daemon=True)
        stuck.start()
        slow = half_sent_requests(int(served.base_url.rsplit(":", 1)[1]), 5)
        while served.stats()["in_flight"] < 1:
            pass
        served.process.send_signal(getattr(signal, signal_name))
        served.process.wait(timeout=15)  # it used to wait for every open request (here 60 s) and more
        for sock in slow:
            sock.close()
    assert "Traceback" not in served.log_text() and "Finished server process" in served.log_text()


def test_the_curl_call_in_docs_serve_md_works(tiny_server):
    import os
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text()
    [call] = [block for block in re.findall(r"```bash\n(.*?)```", docs, re.S) if block.startswith("curl")]
    env = {**os.environ, "FLUXCAT_SERVE_API_KEY": tiny_server.keys[0]}
    done = subprocess.run(["bash", "-c", call.replace("http://127.0.0.1:8000", tiny_server.base_url)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    body = httpx.Response(200, content=done.stdout).json()
    assert body["seed"] == 42 and fetch_image(body["images"][0]["url"]).size == (512, 512)


def test_the_limiters_memory_is_a_serve_flag_checked_before_anything_listens():
    from fluxcat_cli.main import build_parser, serve_settings

    def settings(*flags):
        return serve_settings(build_parser().parse_args(["serve", "--backend", "fixed", *flags]), ("k1",))[0]

    assert settings().max_clients == 100_000
    served = settings("--max-clients", "5000")
    assert served.max_clients == 5000
    from fluxcat.service.app import Guards, ServerStats

    guards = Guards(served, ServerStats())
    assert guards.rate.max_clients == guards.auth_failures.max_clients == 5000
    with pytest.raises(ValueError, match="max_clients must be at least 1, got 0"):
        settings("--max-clients", "0")


# Prompt safety switched off: serve's own personal-information check only, never blocked terms nor a hosted
# backend's own check (as in `fluxcat run`).

EMAIL_PROMPT = {"prompt": "a mug printed with jane.doe@example.com", "image_size": "square"}


def test_private_data_check_off_lets_a_local_backend_draw_it_but_never_a_blocked_term(fixed_app_server):
    from fluxcat_cli.main import build_parser, serve_settings

    with fixed_app_server() as (base_url, app):
        refused = _post(base_url, json=EMAIL_PROMPT)
        detail = refused.json()["detail"]
        assert refused.status_code == 400 and "a server started with --private-data-check off" in detail, detail
    flag = build_parser().parse_args(["serve", "--backend", "fixed", "--private-data-check", "off"])
    settings = serve_settings(flag, ("k1",))[0]  # the flag the refusal names is serve's own
    assert settings.private_data_check is False
    with fixed_app_server(private_data_check=False) as (base_url, app):
        assert _post(base_url, json=EMAIL_PROMPT).status_code == 200
        blocked = _post(base_url, json={"prompt": "deep fake porn"})
        assert blocked.status_code == 400 and "blocked term 'deepfake porn'" in blocked.json()["detail"]
        assert app.state.stats.images == 1


def test_a_hosted_backend_behind_serve_never_sends_private_data_even_with_the_check_off(fixed_app_server, tmp_path,
                                                                                      monkeypatch):
    """The provider is another server, counting what it is asked: with --private-data-check off the hosted backend
    still refuses the e-mail address before sending it; only its own option prompt_safety=false sends it."""
    from fluxcat.backends.flux_api import FluxApiBackend

    monkeypatch.setenv("FLUX_API_KEY", "k1")
    with fixed_app_server(private_data_check=False) as (provider_url, provider):
        answers = []
        for options in ({}, {"prompt_safety": False}):
            backend = FluxApiBackend(base_url=provider_url, **options)
            front = create_app(backend, Store(str(tmp_path / "front")),
                               ServeSettings(api_keys=("f1",), private_data_check=False))
            try:
                with serve_app_in_thread(front) as front_url:
                    answers.append((_post(front_url, "f1", json=EMAIL_PROMPT), provider.state.stats.requests))
            finally:
                backend.close()
    (refused, asked_before), (sent, asked_after) = answers
    assert refused.status_code == 400 and asked_before == 0
    detail = refused.json()["detail"]
    assert "personal information (email address)" in detail and "prompt_safety=false" in detail, detail
    assert sent.status_code == 200 and asked_after == 1, sent.text
