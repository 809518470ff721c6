"""Tiny random-weight FLUX.1 Fill and FLUX.1 Kontext pipelines, built locally like the tiny FLUX (tiny.py): the real
diffusers FluxFillPipeline and FluxKontextPipeline code paths with toy-width components and FLUX's geometry."""

from __future__ import annotations

import os

from fluxcat.backends.tiny import TINY_VERSION, build_once, build_tiny_pipeline

# FLUX.1 Fill's transformer reads the noisy latents (16 channels packed 2x2 = 64), the masked image's latents (64)
# and the mask at latent resolution (8x8 pixels per latent, packed 2x2 = 256): 384 in, 64 out.
FILL_IN_CHANNELS = 64 + 64 + 256


def build_tiny_fill_pipeline(seed: int = 0):
    """FluxFillPipeline over the tiny FLUX dev's components, with a transformer that takes Fill's 384 channels."""
    import torch
    from diffusers import FluxFillPipeline, FluxTransformer2DModel

    components = {name: part for name, part in build_tiny_pipeline(guidance_embeds=True, seed=seed).components.items()
                  if part is not None}  # FluxPipeline's optional IP-Adapter parts, which Fill does not take
    torch.manual_seed(seed + 1)
    components["transformer"] = FluxTransformer2DModel(
        patch_size=1, in_channels=FILL_IN_CHANNELS, out_channels=64, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=(4, 6, 6), guidance_embeds=True,
    )
    return FluxFillPipeline(**components)


def build_tiny_kontext_pipeline(seed: int = 0):
    """FluxKontextPipeline over the tiny FLUX dev's components (Kontext's transformer is FLUX dev's, reading the
    reference's latents beside the noisy ones); no IP-Adapter image encoder."""
    from diffusers import FluxKontextPipeline

    return FluxKontextPipeline(**build_tiny_pipeline(guidance_embeds=True, seed=seed + 2).components)


BUILDERS = {"fill": build_tiny_fill_pipeline, "kontext": build_tiny_kontext_pipeline}


def default_reference_root() -> str:
    base = os.environ.get("FLUXCAT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "fluxcat")
    return os.path.join(base, f"tiny-flux-reference-{TINY_VERSION}")


def ensure_tiny_reference(root: str | None = None) -> str:
    """Build the tiny Fill and Kontext pipelines under `root` unless they are there; safe against concurrent builders."""
    return build_once(root or default_reference_root(), BUILDERS)
