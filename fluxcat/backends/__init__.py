"""Backend registry: names to lazily imported implementations, one instance per process and config."""

from __future__ import annotations

import importlib
import json
import threading

from fluxcat.backends.base import Backend, BackendConfigError, ImageRequest, ImageResult, batches

# name -> "module:Class"; imported only when used, so heavy libraries stay out of start-up.
REGISTRY: dict[str, str] = {
    "auto": "fluxcat.backends.auto:resolve_auto",
    "diffusers": "fluxcat.backends.diffusers:DiffusersBackend",
    "tiny": "fluxcat.backends.tiny:TinyBackend",
    "fixed": "fluxcat.backends.fixed:FixedBackend",
    "flux-api": "fluxcat.backends.flux_api:FluxApiBackend",
    "fal": "fluxcat.backends.fal:FalBackend",
    "replicate": "fluxcat.backends.replicate:ReplicateBackend",
    "hf": "fluxcat.backends.hf:HuggingFaceBackend",
    "segmind": "fluxcat.backends.segmind:SegmindBackend",
    "router": "fluxcat.backends.router:RouterBackend",
    "text-render": "fluxcat.backends.text_render:TextRenderBackend",
}

_instances: dict[str, Backend] = {}
_lock = threading.Lock()


def register(name: str, target: str) -> None:
    """Add a backend: `target` is "module:factory", called with the backend's options."""
    REGISTRY[name] = target


def backend_names() -> list[str]:
    return sorted(REGISTRY)


def get_backend(name: str, options: dict | None = None) -> Backend:
    """The process-wide backend for (name, options): weights load once per worker process."""
    if name not in REGISTRY:
        raise BackendConfigError(f"unknown backend {name!r}: choose one of {', '.join(backend_names())}")
    cache_key = json.dumps([name, options or {}], sort_keys=True, default=str)
    with _lock:
        if cache_key not in _instances:
            module, factory = REGISTRY[name].split(":")
            _instances[cache_key] = getattr(importlib.import_module(module), factory)(**(options or {}))
        return _instances[cache_key]


def close_all() -> None:
    with _lock:
        for backend in _instances.values():
            backend.close()
        _instances.clear()


__all__ = ["Backend", "BackendConfigError", "ImageRequest", "ImageResult", "batches", "get_backend",
           "register", "backend_names", "close_all", "REGISTRY"]
