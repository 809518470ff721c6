"""Backend registry: names to lazily imported implementations; each call builds a new instance for its caller."""

from __future__ import annotations

import importlib

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


def register(name: str, target: str) -> None:
    """Add a backend: `target` is "module:factory", called with the backend's options."""
    REGISTRY[name] = target


def backend_names() -> list[str]:
    return sorted(REGISTRY)


def backend_class(name: str):
    """The class (or factory) a backend name stands for, imported."""
    if name not in REGISTRY:
        raise BackendConfigError(f"unknown backend {name!r}: choose one of {', '.join(backend_names())}")
    module, factory = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), factory)


def options_for(name: str):
    """The backend's options as a typed, closed pydantic model (fluxcat/backends/options.py)."""
    return backend_class(name).options()


def get_backend(name: str, options: dict | None = None) -> Backend:
    """A new backend instance for these options; its owner (a run's RunContext, `fluxcat serve`) closes it."""
    return backend_class(name)(**(options or {}))


__all__ = ["Backend", "BackendConfigError", "ImageRequest", "ImageResult", "batches", "get_backend",
           "backend_class", "options_for", "register", "backend_names", "REGISTRY"]
