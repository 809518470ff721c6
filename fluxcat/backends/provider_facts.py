"""Facts about hosted FLUX providers as data: prices, free tiers, speed, concurrency (from the providers guide)."""

from __future__ import annotations

# USD per image by fluxcat model. Sources (the guide's comparison table and provider sections):
# fal "$12-15 per 1K" (schnell at the low end: fal bills compute time); Replicate "$20-25 per 1K";
# Hugging Face Inference "rate limited but unlimited free" (0 here; Pro is a flat $9/month);
# Segmind "Schnell $0.003 per image, Dev $0.01-0.02" (dev at the midpoint).
# Override per run with the backend options price_schnell= / price_dev=.
PRICES_USD: dict[str, dict[str, float]] = {
    "fal": {"schnell": 0.012, "dev": 0.015},
    "replicate": {"schnell": 0.020, "dev": 0.025},
    "hf": {"schnell": 0.0, "dev": 0.0},
    "segmind": {"schnell": 0.003, "dev": 0.015},
}

# Free-tier images per calendar month (the guide's FLUXProductionRouter); None means unlimited.
# Override with the backend option monthly_limit=N (or monthly_limit=none for a paid account).
MONTHLY_LIMITS: dict[str, int | None] = {
    "fal": 100,
    "replicate": 50,
    "hf": None,
    "segmind": 150,
}

# Typical seconds per image (the guide's benchmarks: fal 0.9-1.2 s, Replicate 1.5-2 s warm,
# Hugging Face 2-30 s, Segmind 3-5 s): the router's speed term, replaced by measured latency once known.
TYPICAL_SECONDS: dict[str, float] = {"fal": 1.05, "replicate": 1.75, "hf": 16.0, "segmind": 4.0}

# Quality on a 0-1 scale: the guide rates every provider "excellent" (all run the official weights).
QUALITY: dict[str, float] = {"fal": 1.0, "replicate": 1.0, "hf": 1.0, "segmind": 1.0}

# Requests in flight per provider and process; the guide: "most free tiers handle 2-3 concurrent requests".
DEFAULT_CONCURRENCY: dict[str, int] = {"fal": 3, "replicate": 3, "hf": 2, "segmind": 3}

# Environment variables for credentials and base URLs.
KEY_ENV: dict[str, str] = {
    "fal": "FAL_KEY", "replicate": "REPLICATE_API_TOKEN", "hf": "HF_TOKEN", "segmind": "SEGMIND_API_KEY",
    "flux-api": "FLUX_API_KEY",
}
BASE_URL_ENV: dict[str, str] = {
    "fal": "FAL_BASE_URL", "replicate": "REPLICATE_BASE_URL", "hf": "HF_BASE_URL", "segmind": "SEGMIND_BASE_URL",
    "flux-api": "FLUX_API_BASE_URL",
}


def register_provider_facts(name: str, *, prices: dict[str, float] | None = None, monthly_limit: int | None = None,
                            typical_seconds: float | None = None, quality: float = 1.0, concurrency: int = 3,
                            key_env: str | None = None, base_url_env: str | None = None) -> None:
    """Add a provider's facts (a provider module outside this file calls this at import)."""
    PRICES_USD.setdefault(name, prices or {"schnell": 0.0, "dev": 0.0})
    MONTHLY_LIMITS.setdefault(name, monthly_limit)
    TYPICAL_SECONDS.setdefault(name, typical_seconds if typical_seconds is not None else 5.0)
    QUALITY.setdefault(name, quality)
    DEFAULT_CONCURRENCY.setdefault(name, concurrency)
    if key_env:
        KEY_ENV.setdefault(name, key_env)
    if base_url_env:
        BASE_URL_ENV.setdefault(name, base_url_env)
