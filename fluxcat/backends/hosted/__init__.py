"""Shared machinery for hosted FLUX providers: one module per job (secrets, retry and circuit breaker, the event-loop
thread and caps, quotas, the job journal, replies and downloads, settings, the base class).

How to write a provider
-----------------------
Subclass `HostedBackend` in `fluxcat/backends/<provider>.py` and register it in `fluxcat/backends/__init__.py`:

    class AcmeBackend(HostedBackend):
        name = "acme"                                  # backend name; keys KEY_ENV / BASE_URL_ENV / PRICES
        default_base_url = "https://api.acme.example"  # overridden by ACME_BASE_URL or base_url=
        models = {"schnell": "flux-schnell", "dev": "flux-dev"}   # fluxcat model -> provider model
        auth_header, auth_scheme = "Authorization", "Bearer"      # header value: "Bearer <key>"

        def model_limits(self, model):                 # sizes, steps and guidance it takes: planning fits rows to them
            return ModelLimits(sizes=(SizeRule(step=8, low=512, high=1024),))

        async def produce(self, request):              # one-call APIs: one image; raise ProviderError for a failure
            response = await self.request("POST", self.url(self.models[request.model]), json={...})
            body = self.json_of(response, "generate")
            return Output(body["image_url"], details={"has_nsfw_concepts": body.get("nsfw")})

Queue APIs (a billed job, then polling) implement `submit(request) -> job dict` and `await_job(job) -> Output`
instead of `produce`: the base class records each submitted job in the output store's journal before waiting, so
a rerun after a crash re-attaches instead of paying twice. Send the create with `request(..., creates=True)`:
it is resent only after failures that prove nothing was created. Raise `JobFailed` when the provider says the job
ended without an image, and pass `wait_until(check, what, on_timeout=cancel)` so a job past max_wait is cancelled.

`produce` returns an `Output` whose `image` is raw bytes, an http(s) URL or a `data:` URI; the base class
downloads (http(s) only, never to link-local or loopback hosts unless the base URL is on one, size cap, total
deadline, content type), decodes with PIL, checks the size, prices the image and fills `ImageResult.details`.
Every reply is read under a total deadline (timeout=) and a size cap (reply_max_bytes=); 429 honours Retry-After
or a "resets in ~30s" text; 5xx, timeouts and resets are retried up to max_attempts; other 4xx fail at once with
the provider's message, scrubbed of every known secret before it is shortened; 401/402/403/406/410 open the
circuit at once. Credentials are sent only to the provider's base URL (downloads carry no auth header).

Process-wide state (holds across shards running in threads of one worker process): one event-loop thread;
an asyncio.Semaphore per provider endpoint capping requests in flight (held for a whole image); a CircuitBreaker
per endpoint; monthly usage per provider and submitted jobs in the output store once `attach_store` is called.

Credentials come from the provider's environment variable (provider_facts.KEY_ENV, or api_key_env=NAME) or from a
Prefect Secret block named by api_key_block=NAME, resolved by a resolver the Prefect layer registers with
`register_secret_resolver` (the core never imports Prefect). Keys are never accepted as plain backend options.
"""

from fluxcat.backends.hosted.backend import AmbiguousCreate, HostedBackend, JobFailed, Output
from fluxcat.backends.hosted.journal import JOBS_DIR, JobJournal, journal_for
from fluxcat.backends.hosted.loop import gauge_stats, generate_on_loop, run_on_loop
from fluxcat.backends.hosted.quota import QUOTA_DIR, QuotaLedger, forget_ledgers, ledger_for
from fluxcat.backends.hosted.results import decode_base64, decode_data_uri, decode_image, provider_message
from fluxcat.backends.hosted.retry import CircuitBreaker, RetryPolicy, circuit_for, parse_retry_after, retry_after_from_text
from fluxcat.backends.hosted.secrets import (
    ProviderError, register_secret, register_secret_resolver, resolve_credential, scrub,
)
from fluxcat.backends.hosted.settings import SHARED_OPTIONS, HostedSettings

__all__ = [
    "AmbiguousCreate", "CircuitBreaker", "HostedBackend", "HostedSettings", "JOBS_DIR", "JobFailed", "JobJournal",
    "Output", "ProviderError", "QUOTA_DIR", "QuotaLedger", "RetryPolicy", "SHARED_OPTIONS", "circuit_for",
    "decode_base64", "decode_data_uri", "decode_image", "forget_ledgers", "gauge_stats", "generate_on_loop",
    "journal_for", "ledger_for", "parse_retry_after", "provider_message", "register_secret",
    "register_secret_resolver", "resolve_credential", "retry_after_from_text", "run_on_loop", "scrub",
]
