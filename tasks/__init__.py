"""Prefect tasks: thin wrappers over fluxcat's core; retries, tags, caching and concurrency live here."""

from tasks import secrets as _secrets  # noqa: E402,F401  (hosted backends' api_key_block= resolves Prefect Secret blocks)
