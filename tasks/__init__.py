"""Prefect tasks: thin wrappers over fluxcat's core; retries, tags, caching and concurrency live here."""
