"""`auto`: the real FLUX weights on a CUDA GPU when they are at hand, else the tiny model, with a notice."""

from __future__ import annotations

import logging

from fluxcat.backends.diffusers import DiffusersBackend, weights_available

log = logging.getLogger("fluxcat")


def resolve_auto(**options):
    """Pick `diffusers` where it can run for real, `tiny` otherwise (saying why and how to change it)."""
    reason = _why_not_diffusers(options)
    if reason is None:
        return DiffusersBackend(**options)
    from fluxcat.backends.tiny import TinyBackend

    log.warning("backend auto -> tiny (noise images): %s. For real images run on a CUDA GPU with FLUX weights "
                "(local folders via --backend-option schnell=PATH dev=PATH or FLUXCAT_SCHNELL/FLUXCAT_DEV, or the Hugging Face cache).", reason)
    return TinyBackend()


def _why_not_diffusers(options: dict) -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU"
    paths = DiffusersBackend.default_paths(options.get("schnell"), options.get("dev"))
    missing = [name for name, path in paths.items() if not weights_available(path)]
    return f"no weights found for {', '.join(missing)}" if missing else None


# `auto` takes what `diffusers` takes (it passes its options on when it picks it)
resolve_auto.options = DiffusersBackend.options
