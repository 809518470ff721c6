"""Facts about hosted FLUX providers as data: prices, free tiers, speed, concurrency (from the providers guide)."""

from __future__ import annotations

from dataclasses import dataclass

MEGAPIXEL = 1024 * 1024  # fal's billing megapixel: a 1024x1024 image is one


@dataclass(frozen=True)
class Price:
    """What a provider charges for one image, in the unit it bills: per image, per megapixel or per step."""

    usd: float
    per: str = "image"  # "image" | "megapixel" | "step"

    def cost(self, width: int, height: int, steps: int) -> float:
        units = {"image": 1.0, "megapixel": width * height / MEGAPIXEL, "step": float(steps)}[self.per]
        return self.usd * units


# Prices by fluxcat model, in each provider's billing unit. Sources (the guide's comparison table and provider
# sections): fal "$12-15 per 1K" 1024x1024 images, billed per megapixel of output; Replicate "$20-25 per 1K",
# per image for the official FLUX models (aspect ratio does not change the price); Segmind "Schnell $0.003 per
# image, Dev $0.01-0.02" (dev at the midpoint). Hugging Face bills compute time against monthly credits and
# publishes no per-image FLUX price: 0 here, so set price_schnell= / price_dev= (USD per image) to budget it.
# Override per run with the backend options price_schnell= / price_dev= (in the provider's unit).
# FLUX.1 Fill and Kontext [dev] (reference images, docs/reference.md): fal bills its FLUX [dev] LoRA family, Fill
# included, $0.035 per megapixel and Kontext [dev] $0.025 per megapixel; Replicate lists flux-kontext-dev at $0.025
# per image and flux-fill-dev at $0.04 per image (its model pages; check them before relying on a budget).
PRICES: dict[str, dict[str, Price]] = {
    "fal": {"schnell": Price(0.012, "megapixel"), "dev": Price(0.015, "megapixel"),
            "fill": Price(0.035, "megapixel"), "kontext": Price(0.025, "megapixel")},
    "replicate": {"schnell": Price(0.020), "dev": Price(0.025), "fill": Price(0.04), "kontext": Price(0.025)},
    "hf": {"schnell": Price(0.0), "dev": Price(0.0)},
    "segmind": {"schnell": Price(0.003), "dev": Price(0.015)},
}

# Free-tier images per calendar month (the guide's FLUXProductionRouter); None means unlimited.
# Override with the backend option monthly_limit=N (or monthly_limit=none for a paid account).
MONTHLY_LIMITS: dict[str, int | None] = {
    "fal": 100,
    "replicate": 50,
    "hf": None,  # monthly credits in dollars, not images: use a budget (--budget-usd with prices set) instead
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
    PRICES.setdefault(name, {model: Price(usd) for model, usd in (prices or {"schnell": 0.0, "dev": 0.0}).items()})
    MONTHLY_LIMITS.setdefault(name, monthly_limit)
    TYPICAL_SECONDS.setdefault(name, typical_seconds if typical_seconds is not None else 5.0)
    QUALITY.setdefault(name, quality)
    DEFAULT_CONCURRENCY.setdefault(name, concurrency)
    if key_env:
        KEY_ENV.setdefault(name, key_env)
    if base_url_env:
        BASE_URL_ENV.setdefault(name, base_url_env)
