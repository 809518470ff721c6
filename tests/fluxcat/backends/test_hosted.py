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
    CircuitBreaker, ProviderError, QuotaLedger, RetryPolicy, decode_data_uri, forget_ledgers, ledger_for,
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


def test_quota_usage_is_kept_in_the_store_across_processes(tmp_path):
    store = Store(str(tmp_path / "out"))
    first = ledger_for(store)
    assert first.take("fal", 3) and first.take("fal", 3)
    first.commit("fal")
    first.release("fal")  # a failed image gives its reservation back
    forget_ledgers()      # what a new process sees
    second = ledger_for(store)
    assert second is not first and second.used("fal") == 1
    assert second.take("fal", 2) and not second.take("fal", 2)
    assert store.list("_work/quota/fal") and QuotaLedger.month() in store.list("_work/quota/fal")[0]


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
    with pytest.raises(BackendConfigError, match="SEGMIND_API_KEY"):
        get_backend("segmind", {"base_url": "http://127.0.0.1:9"})
    monkeypatch.setenv("FAL_KEY", "k-123456")
    with pytest.raises(BackendConfigError, match="does not accept"):
        check_options(RunOptions(catalog="c", output=str(tmp_path), backend="fal", backend_options={"api_key": "x"}))
    with pytest.raises(BackendConfigError, match="http"):
        get_backend("fal", {"base_url": "ftp://example.invalid"})
    monkeypatch.setattr(hosted_secrets, "_secret_resolvers", [])  # the core alone cannot read Prefect blocks
    with pytest.raises(BackendConfigError, match="needs Prefect"):
        get_backend("fal", {"api_key_block": "fal-key", "base_url": "http://127.0.0.1:9"})
    with pytest.raises(ValueError, match="budget_usd"):
        check_options(RunOptions(catalog="c", output=str(tmp_path), backend="fixed", budget_usd=-1))


def test_base_url_from_environment_and_option(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf-abcdef")
    monkeypatch.setenv("HF_BASE_URL", "http://127.0.0.1:1234/")
    assert get_backend("hf").base_url == "http://127.0.0.1:1234"
    assert get_backend("hf", {"base_url": "http://127.0.0.1:5678"}).base_url == "http://127.0.0.1:5678"
    assert get_backend("hf").model_id("schnell") == "hf:black-forest-labs/FLUX.1-schnell"
