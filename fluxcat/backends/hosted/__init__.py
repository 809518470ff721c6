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
instead of `produce`: the base class records each billed create in the run's ledger (fluxcat/ledger.py, in the
output store) before waiting, and consults it before creating anything, so a rerun after a crash re-attaches
instead of paying twice, whichever provider the job is at. One-call APIs are recorded too (before the call), but a
call cut by a crash has no job to re-attach to. Send the create with `request(..., creates=True)`:
it is resent only after failures that prove nothing was created. Raise `JobFailed` when the provider says the job
ended without an image (nothing charged: the attempt costs the budget $0; any other failure after the create, or
after the provider delivered an image, costs its price), and pass `wait_until(check, what, on_timeout=cancel)` so a
job past max_wait is cancelled.

`produce` returns an `Output` whose `image` is raw bytes, an http(s) URL or a `data:` URI; the base class
downloads (http(s) only, never to link-local or loopback hosts unless the base URL is on one, size cap, total
deadline, content type), decodes with PIL, checks the size, prices the image and fills `ImageResult.details`.
Every reply is read under a total deadline (timeout=) and a size cap (reply_max_bytes=); 429 honours Retry-After
or a "resets in ~30s" text; 5xx, timeouts and resets are retried up to max_attempts; other 4xx fail at once with
the provider's message, scrubbed of every known secret before it is shortened; 401/402/403/406/410 open the
circuit at once. Credentials are sent only to the provider's base URL (downloads carry no auth header).

Run state lives in the instance, which belongs to one run (its RunContext builds it, calls `attach(ledger)` and
closes it): an event-loop thread (a router's providers share the router's), a cap on requests in flight (held for
a whole image, shared by every shard of the run), a CircuitBreaker, monthly quota usage (kept in the output
store), and the run's ledger. Nothing is kept at module level: a second run in the same process shares none of it.

Credentials come from the provider's environment variable (provider_facts.KEY_ENV, or api_key_env=NAME) or from a
Prefect Secret block named by api_key_block=NAME, resolved by a resolver the Prefect layer registers with
`register_secret_resolver` (the core never imports Prefect). Keys are never accepted as plain backend options.
"""

from fluxcat.backends.hosted.backend import AmbiguousCreate, HostedBackend, JobFailed, Output
from fluxcat.backends.hosted.loop import ConcurrencyGauge, HostedLoop, generate_on_loop
from fluxcat.backends.hosted.quota import QuotaUsage
from fluxcat.backends.hosted.results import decode_base64, decode_data_uri, decode_image, provider_message
from fluxcat.backends.hosted.retry import CircuitBreaker, RetryPolicy, parse_retry_after, retry_after_from_text
from fluxcat.backends.hosted.secrets import (
    ProviderError, register_secret, register_secret_resolver, resolve_credential, scrub,
)
from fluxcat.backends.hosted.settings import SHARED_OPTIONS, HostedSettings

__all__ = [
    "AmbiguousCreate", "CircuitBreaker", "ConcurrencyGauge", "HostedBackend", "HostedLoop", "HostedSettings",
    "JobFailed", "Output", "ProviderError", "QuotaUsage", "RetryPolicy", "SHARED_OPTIONS", "decode_base64",
    "decode_data_uri", "decode_image", "generate_on_loop", "parse_retry_after", "provider_message", "register_secret",
    "register_secret_resolver", "resolve_credential", "retry_after_from_text", "scrub",
]
