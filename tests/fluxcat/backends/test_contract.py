"""Every backend through the one contract suite (contract.py): local ones directly, hosted ones and the router
against the loopback doubles that the official clients accept (test_official_clients.py, and for Fill and Kontext
test_reference_clients.py), creates counted there. Backends that serve reference modes pass it twice: with text rows
and with product-photo rows (ReferenceRows)."""

from __future__ import annotations

import contextlib
from collections import Counter

from fluxcat.backends.fixed import FixedBackend
from fluxcat.serve import ServeSettings, create_app
from fluxcat.store import Store
from tests.fluxcat.backends.contract import BackendContract, HostedContract, ReferenceRows, Service
from tests.fluxcat.backends.hosted_helpers import secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, HuggingFaceServer, ReplicateServer, SegmindServer
from tests.fluxcat.backends.reference_doubles import ReferenceFalServer, ReferenceReplicateServer
from tests.serving import serve_app_in_thread

JOB_SECONDS = 2.0  # a queue job in the kill test stays in flight this long
REPLY_SECONDS = 2.0  # and a one-call API's reply takes this long


class TestFixed(BackendContract):
    name = "fixed"


class TestTextRender(BackendContract):
    name = "text-render"
    options = {"misspell_rate": 0}


class TestTiny(BackendContract):
    """The real diffusers FluxPipeline code path (DiffusersBackend) with tiny random weights."""

    name = "tiny"


class TestTinyReference(ReferenceRows, BackendContract):
    """The real FluxFillPipeline and FluxKontextPipeline code paths (DiffusersBackend) with tiny random weights."""

    name = "tiny"


def double(server_class, env: str, path: str = ""):
    """A hosted backend's service: its protocol double, its key in the environment."""
    @contextlib.contextmanager
    def service(self, tmp_path, monkeypatch, slow=False):
        key = secret_key()
        monkeypatch.setenv(env, key)
        timing = {"job_seconds": JOB_SECONDS} if self.queued else {"reply_seconds": REPLY_SECONDS}
        with server_class(key, **(timing if slow else {})) as server:
            yield Service({"base_url": server.url + path, **self.options}, lambda: server.creates)
    return service


class TestFal(HostedContract):
    name = "fal"
    service = double(FalServer, "FAL_KEY")


class TestReplicate(HostedContract):
    name = "replicate"
    price = 0.02
    service = double(ReplicateServer, "REPLICATE_API_TOKEN")


class TestFalReference(ReferenceRows, HostedContract):
    name = "fal"
    price = 0.035 * 0.25  # FLUX.1 Fill at 512x512, billed per megapixel
    service = double(ReferenceFalServer, "FAL_KEY")


class TestReplicateReference(ReferenceRows, HostedContract):
    name = "replicate"
    price = 0.04  # flux-fill-dev, per image
    service = double(ReferenceReplicateServer, "REPLICATE_API_TOKEN")


class TestHuggingFace(HostedContract):
    name, queued = "hf", False
    options = {"price_schnell": 0.003}  # HF publishes no per-image price: set one so the budget has work to do
    service = double(HuggingFaceServer, "HF_TOKEN", "/hf-inference")


class TestSegmind(HostedContract):
    name, queued = "segmind", False
    service = double(SegmindServer, "SEGMIND_API_KEY")


class _CountingFixed(FixedBackend):
    """What a `fluxcat serve` behind the flux-api double is asked to make, by prompt."""

    def __init__(self):
        super().__init__()
        self.creates = Counter()

    def generate(self, requests):
        self.creates.update(request.prompt for request in requests)
        yield from super().generate(requests)


class TestFluxApi(HostedContract):
    name, queued = "flux-api", False
    options = {"price_dev": 0.003}

    @contextlib.contextmanager
    def service(self, tmp_path, monkeypatch, slow=False):
        key = secret_key()
        monkeypatch.setenv("FLUX_API_KEY", key)
        served = _CountingFixed()
        settings = ServeSettings(api_keys=(key,), inject_latency_s=REPLY_SECONDS if slow else 0.0)
        with serve_app_in_thread(create_app(served, Store(str(tmp_path / "served")), settings)) as base_url:
            yield Service({"base_url": base_url, **self.options}, lambda: served.creates)


class TestRouter(HostedContract):
    name = "router"
    price = 0.02  # Replicate's: the router reserves its dearest provider's price
    kill_options = {}  # fal ranks first and takes three at once (its default concurrency)
    servers = (FalServer, ReplicateServer)

    @contextlib.contextmanager
    def service(self, tmp_path, monkeypatch, slow=False):
        keys = {env: secret_key() for env in ("FAL_KEY", "REPLICATE_API_TOKEN")}
        for env, key in keys.items():
            monkeypatch.setenv(env, key)
        timing = {"job_seconds": JOB_SECONDS} if slow else {}
        fal_server, replicate_server = self.servers
        with fal_server(keys["FAL_KEY"], **timing) as fal, replicate_server(keys["REPLICATE_API_TOKEN"], **timing) as rep:
            options = {"providers": "fal,replicate", "weight_price": 0, "fal_base_url": fal.url,
                       "replicate_base_url": rep.url}
            yield Service(options, lambda: fal.creates + rep.creates)


class TestRouterReference(ReferenceRows, TestRouter):
    price = 0.04  # Replicate's flux-fill-dev: the dearest provider able to make a Fill image
    servers = (ReferenceFalServer, ReferenceReplicateServer)
