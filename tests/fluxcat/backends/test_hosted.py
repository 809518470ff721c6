"""The hosted machinery on its own: Retry-After, backoff, circuit breaker, scrubbing, data URIs, quotas, budget, safety."""

import base64
import email.utils
import threading
import time

import pytest

from fluxcat.backends import get_backend
from fluxcat.backends.hosted import secrets as hosted_secrets
from fluxcat.backends.base import BackendConfigError
from fluxcat.backends.hosted import (
    CircuitBreaker, ProviderError, QuotaUsage, RetryPolicy, decode_data_uri,
    parse_retry_after, register_secret, scrub,
)
from fluxcat.budget import Budget
from fluxcat.pipeline import RunOptions, check_options
from fluxcat.safety import SafetyFilter
from fluxcat.store import Store
from tests.fluxcat.backends.protocol_servers import png_bytes


def test_retry_after_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    now = time.time()
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling():
    policy = RetryPolicy(max_attempts=8, backoff_base=1.0, backoff_max=10.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0)):
        delays = {policy.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1


def test_circuit_breaker_closed_open_half_open_closed():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_seconds=10, clock=lambda: now[0])
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.5
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state == "open"                 # the probe failed: open again
    now[0] = 21.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.failures == 0


def test_scrub_removes_raw_quoted_and_base64_secrets():
    secret = "sk-live/abc+def=123"
    register_secret(secret)
    text = f"bad key {secret} url ?k=sk-live%2Fabc%2Bdef%3D123 b64 {base64.b64encode(secret.encode()).decode()}"
    assert secret not in scrub(text) and "abc" not in scrub(text)
    assert secret not in str(ProviderError(f"HTTP 401 for {secret}"))


def test_data_uris_decode_and_refuse_non_images_and_oversize():
    data = png_bytes(8, 8)
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    assert decode_data_uri(uri, 10_000) == data
    with pytest.raises(ProviderError, match="not an image"):
        decode_data_uri("data:text/html;base64,PGI+", 10_000)
    with pytest.raises(ProviderError, match="download_max_bytes"):
        decode_data_uri(uri, 10)
    with pytest.raises(ProviderError, match="not base64"):
        decode_data_uri("data:image/png,rawbytes", 10_000)


def test_quota_usage_is_kept_in_the_store_across_runs_and_processes(tmp_path):
    store = Store(str(tmp_path / "out"))
    first = QuotaUsage(store)  # one run's
    assert first.take("fal", 3) and first.take("fal", 3)
    first.commit("fal")
    first.release("fal")  # a failed image gives its reservation back
    second = QuotaUsage(store)  # a later run's, in this process or another: it knows only what the store says
    assert second.used("fal") == 1
    assert second.take("fal", 2) and not second.take("fal", 2)
    assert store.list("_work/quota/fal") and QuotaUsage.month() in store.list("_work/quota/fal")[0]


def test_budget_never_over_commits_across_threads():
    budget = Budget(1.0)
    admitted = []

    def worker():
        for _ in range(50):
            if budget.admit(0.03):
                admitted.append(1)
                budget.settle(0.03, 0.03)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 33 and budget.spent_usd <= 1.0 + 1e-9
    assert "budget-usd" in budget.skip_reason(0.03)


@pytest.mark.parametrize("prompt, found", [
    ("a quiet harbour at dawn", None),
    ("write to jane.doe@example.com on the sign", "email address"),
    ("a poster with 555-123-4567 on it", "phone number"),
    ("card 4111 1111 1111 1111", "credit card number"),
    ("ssn 123-45-6789", "social security number"),
    ("a CSAM image", "blocked term 'csam'"),
    ("a dragon   FIRE mural", "blocked term 'dragon fire'"),
    ("firedragon", None),
])
def test_prompt_safety_terms_and_pii_are_data(prompt, found):
    reason = SafetyFilter.from_option("dragon fire").check(prompt)
    assert (reason is None) if found is None else (found in reason)


def test_missing_key_and_bad_options_fail_before_work(monkeypatch, tmp_path):
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    segmind = get_backend("segmind", {"base_url": "http://127.0.0.1:9"})  # planning and estimates need no key
    with pytest.raises(BackendConfigError, match="SEGMIND_API_KEY"):
        segmind.check_ready()  # a run checks it before its first image
    monkeypatch.setenv("FAL_KEY", "k-123456")
    with pytest.raises(ValueError, match="takes no option 'api_key'.*api_key_env, api_key_block"):  # keys by reference
        RunOptions(catalog="c", output=str(tmp_path), backend="fal", backend_options={"api_key": "x"})
    with pytest.raises(BackendConfigError, match="http"):
        get_backend("fal", {"base_url": "ftp://example.invalid"})
    monkeypatch.setattr(hosted_secrets, "_secret_resolvers", [])  # the core alone cannot read Prefect blocks
    with pytest.raises(BackendConfigError, match="needs Prefect"):
        get_backend("fal", {"api_key_block": "fal-key", "base_url": "http://127.0.0.1:9"}).check_ready()
    with pytest.raises(ValueError, match="budget_usd"):
        check_options(RunOptions(catalog="c", output=str(tmp_path), backend="fixed", budget_usd=-1))


def test_base_url_from_environment_and_option(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf-abcdef")
    monkeypatch.setenv("HF_BASE_URL", "http://127.0.0.1:1234/")
    assert get_backend("hf").base_url == "http://127.0.0.1:1234"  # nothing started: nothing to close
    assert get_backend("hf", {"base_url": "http://127.0.0.1:5678"}).base_url == "http://127.0.0.1:5678"
    assert get_backend("hf").model_id("schnell") == "hf:black-forest-labs/FLUX.1-schnell"


def test_result_urls_on_internal_addresses_are_refused_unless_the_provider_lives_there():
    import asyncio

    from fluxcat.backends.hosted.results import base_url_kinds, check_result_url

    async def verdict(url, base):
        try:
            await check_result_url(url, await base_url_kinds(base), "fal")
            return "ok"
        except ProviderError as error:
            return str(error)

    public = "https://queue.example.invalid"
    assert "link-local" in asyncio.run(verdict("http://169.254.169.254/latest/meta-data/", public))
    assert "loopback" in asyncio.run(verdict("http://127.0.0.1:8080/x.png", public))
    assert "loopback" in asyncio.run(verdict("http://[::1]/x.png", public))
    assert asyncio.run(verdict("http://127.0.0.1:8080/x.png", "http://127.0.0.1:9")) == "ok"  # a proxy or double
    assert "link-local" in asyncio.run(verdict("http://169.254.169.254/", "http://127.0.0.1:9"))
    assert "only http(s)" in asyncio.run(verdict("file:///etc/passwd", public))


def test_errors_are_scrubbed_before_they_are_shortened():
    from fluxcat.backends.hosted.secrets import excerpt, scrub_and_cut

    secret = "sk-live-0123456789abcdef0123456789"
    register_secret(secret)
    text = "x" * 100 + secret
    assert secret[:12] in text[:120]                 # cutting first would have kept the key's first characters
    assert secret[:6] not in scrub_and_cut(text, 120) and secret[:6] not in excerpt({"detail": text})


def test_replicate_throttle_text_and_hopeless_statuses():
    from fluxcat.backends.hosted import retry_after_from_text

    assert retry_after_from_text("Request was throttled. Your rate limit resets in ~30s.") == 30
    assert retry_after_from_text("resets in ~2 minutes") == 120 and retry_after_from_text("slow down") is None
    breaker = CircuitBreaker(threshold=5, reset_seconds=60)
    breaker.trip()
    assert breaker.state == "open" and not breaker.allow()


def test_prices_follow_each_providers_billing_unit():
    from fluxcat.backends.provider_facts import PRICES

    fal, replicate = PRICES["fal"]["dev"], PRICES["replicate"]["dev"]
    assert fal.cost(1024, 1024, 28) == pytest.approx(0.015) and fal.cost(1024, 576, 28) == pytest.approx(0.015 * 576 / 1024)
    assert replicate.cost(1344, 768, 28) == replicate.cost(672, 384, 4) == 0.025  # per image, whatever the size


def test_hosted_options_are_grouped_and_unknown_ones_refused(monkeypatch):
    from fluxcat.backends.hosted import HostedSettings

    settings = HostedSettings.from_options({"timeout": "5", "max_attempts": "2", "download_max_bytes": 10, "price_dev": 0.5})
    assert settings.timeouts.request == 5.0 and settings.retries.max_attempts == 2
    assert settings.limits.download_max_bytes == 10 and settings.prices.dev == 0.5
    with pytest.raises(TypeError, match="colour"):
        HostedSettings.from_options({"colour": "blue"})
    monkeypatch.setenv("HF_TOKEN", "hf-abcdef")
    with pytest.raises(BackendConfigError, match="410 Gone"):
        get_backend("hf", {"base_url": "https://api-inference.huggingface.co"})
    with pytest.raises(BackendConfigError, match="prefer_wait"):
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8-abcdef")
        get_backend("replicate", {"base_url": "http://127.0.0.1:9", "prefer_wait": 90})
