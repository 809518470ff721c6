"""A tiny random-weight FLUX, FLUX.1 Fill and FLUX.1 Kontext built locally (no download), saved once, then loaded
like real weights: the real diffusers FluxPipeline, FluxFillPipeline and FluxKontextPipeline code paths with toy-width
components and FLUX's geometry."""

from __future__ import annotations

import os
import shutil
import string
import tempfile
import threading

from fluxcat.backends.diffusers import DiffusersBackend

TINY_VERSION = "v1"
_build_lock = threading.Lock()
# FLUX.1 Fill's transformer reads the noisy latents (16 channels packed 2x2 = 64), the masked image's latents (64)
# and the mask at latent resolution (8x8 pixels per latent, packed 2x2 = 256): 384 in, 64 out.
FILL_IN_CHANNELS = 64 + 64 + 256


def default_cache_dir() -> str:
    return os.path.join(_cache_base(), f"tiny-flux-{TINY_VERSION}")


def default_reference_root() -> str:
    return os.path.join(_cache_base(), f"tiny-flux-reference-{TINY_VERSION}")


def _cache_base() -> str:
    return os.environ.get("FLUXCAT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "fluxcat")


class TinyBackend(DiffusersBackend):
    """The `diffusers` backend, unchanged, pointed at tiny pipelines: images are noise, code path is real."""

    name = "tiny"

    kwargs_to_base = False  # its **fast_options go to `_configure` (more_options), not DiffusersBackend()

    def __init__(self, cache_dir: str | None = None, device: str = "cpu", max_batch: int = 4, batch_pixels=None, **fast_options):
        self.root = cache_dir or default_cache_dir()
        self.reference_root = f"{cache_dir.rstrip('/')}-reference" if cache_dir else default_reference_root()
        self.paths = {model: os.path.join(self.root, model) for model in ("schnell", "dev")}
        self.paths |= {model: os.path.join(self.reference_root, model) for model in ("fill", "kontext")}
        self.revision = None
        self._configure(device, max_batch, batch_pixels=batch_pixels, **fast_options)

    def model_id(self, model: str) -> str:
        return f"fluxcat-tiny-{TINY_VERSION}/{model}"

    def _load(self, path: str, model: str = "schnell"):
        if model in ("fill", "kontext"):  # built on first use, so planning never pays for it
            ensure_tiny_reference(self.reference_root)
        else:
            ensure_tiny_flux(self.root)
        return super()._load(path, model)


def ensure_tiny_flux(root: str) -> str:
    """Build the tiny pipelines under `root` unless they are there; safe against concurrent builders."""
    return build_once(root, {model: (lambda dev=(model == "dev"): build_tiny_pipeline(guidance_embeds=dev))
                             for model in ("schnell", "dev")})


def ensure_tiny_reference(root: str | None = None) -> str:
    """Build the tiny Fill and Kontext pipelines under `root` unless they are there; safe against concurrent builders."""
    return build_once(root or default_reference_root(), {"fill": build_tiny_fill_pipeline,
                                                         "kontext": build_tiny_kontext_pipeline})


def build_once(root: str, builders: dict) -> str:
    """Save each builder's pipeline under root/<name> unless all are there: built in a staging folder and renamed
    into place, so a concurrent builder or a crash never leaves half a model behind."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    with _build_lock:
        if all(os.path.isfile(os.path.join(root, m, "model_index.json")) for m in builders):
            return root
        os.makedirs(os.path.dirname(root) or ".", exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".tiny-build-", dir=os.path.dirname(root) or ".")
        try:
            for model, build in builders.items():
                build().save_pretrained(os.path.join(staging, model))
            try:
                os.rename(staging, root)
            except OSError:  # another process finished first; its copy is as good as ours
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return root


def build_tiny_pipeline(guidance_embeds: bool, seed: int = 0):
    """FLUX's real geometry (x8 VAE, 16 latent channels, 2x2 packing) at toy width, random weights."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=(4, 6, 6),
        guidance_embeds=guidance_embeds,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=4, use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.1159, scaling_factor=0.3611, sample_size=1024,
    )
    clip_tokenizer, t5_tokenizer = build_tiny_tokenizers()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=clip_tokenizer.vocab_size, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, projection_dim=32, max_position_embeddings=77,
        bos_token_id=clip_tokenizer.bos_token_id, eos_token_id=clip_tokenizer.eos_token_id,
        pad_token_id=clip_tokenizer.pad_token_id,
    ))
    text_encoder_2 = T5EncoderModel(T5Config(
        vocab_size=len(t5_tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=t5_tokenizer.pad_token_id,
        eos_token_id=t5_tokenizer.eos_token_id, decoder_start_token_id=t5_tokenizer.pad_token_id,
    ))
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0 if guidance_embeds else 1.0, use_dynamic_shifting=guidance_embeds,
        base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096,
    )
    return FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer,
                        text_encoder_2=text_encoder_2, tokenizer_2=t5_tokenizer, transformer=transformer)


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


def build_tiny_tokenizers():
    """CLIP BPE and T5 unigram tokenizers over characters and a few words, made in memory."""
    from transformers import CLIPTokenizer, T5TokenizerFast

    pieces = list(string.ascii_lowercase + string.digits + string.punctuation)
    clip_vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for piece in pieces:
        clip_vocab.setdefault(piece, len(clip_vocab))
        clip_vocab.setdefault(piece + "</w>", len(clip_vocab))
    clip = CLIPTokenizer(vocab=clip_vocab, merges=[], unk_token="<|endoftext|>", bos_token="<|startoftext|>",
                         eos_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=77)
    t5_vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    t5_vocab += [(piece, -3.0) for piece in pieces] + [("▁" + piece, -2.5) for piece in string.ascii_lowercase]
    t5 = T5TokenizerFast(vocab=t5_vocab, extra_ids=0, model_max_length=512)
    return clip, t5
