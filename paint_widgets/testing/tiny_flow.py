"""Tiny random-weight flow-matching models: FLUX.1 Fill and SD3 inpainting.

They keep the real component classes and geometry, scaled down:

- ``flux-fill``: :class:`~diffusers.FluxFillPipeline` with a ``FluxTransformer2DModel``
  taking 384 input channels as FLUX.1 Fill does (the 16 latent channels packed 2x2 = 64,
  the masked image's packed latents = 64, and the x8 mask folded to 8x8 = 64 channels
  packed 2x2 = 256), 64 output channels, guidance embedding; an ``AutoencoderKL`` with
  16 latent channels, FLUX's scaling and shift factors and no quant convs; a CLIP text
  encoder (pooled output) and a T5 encoder, each with its tokenizer;
  ``FlowMatchEulerDiscreteScheduler`` with FLUX's dynamic shifting.
- ``sd3-inpaint``: :class:`~diffusers.StableDiffusion3InpaintPipeline` with an MMDiT
  ``SD3Transformer2DModel`` (16 channels, patch 2, ``sample_size`` 128: 1024 pixels),
  CLIP-L and CLIP-G (both with projection; their pooled outputs concatenated make the
  pooled projection), T5, SD3's VAE factors and ``FlowMatchEulerDiscreteScheduler``
  with shift 3.

The T5 tokenizer is a Unigram vocabulary (ASCII letters, digits, punctuation and a few
words) built with ``tokenizers`` through transformers' ``T5TokenizerFast``: nothing is
downloaded.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Any

import torch

from .tiny_models import TEXT2_DIM, TEXT2_PROJECTION, TEXT_DIM, _text_config, _tokenizer

#: The tiny T5's width (SD3 pads the concatenated CLIP embeddings, 32 + 48, up to it).
T5_DIM = 96
#: The tiny T5 tokenizer's length (FLUX.1 reads 512 T5 tokens, SD3 256: kept short here).
T5_TOKENS = 32
_WORDS = ("a", "the", "red", "barn", "cat", "dog", "sky", "photo", "of", "and")


def build_t5_tokenizer(folder: str | Path | None = None, *, max_length: int = T5_TOKENS) -> Any:
    """A ``T5TokenizerFast`` over a small Unigram vocabulary (pad 0, ``</s>`` 1, unk 2), no download.

    Written to ``folder`` and read back when given, as a saved pipeline would.
    """
    from transformers import T5TokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(ch, -3.0) for ch in string.ascii_letters + string.digits + string.punctuation]
    vocab += [("\u2581" + word, -1.0) for word in _WORDS]
    tokenizer = T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=max_length)
    if folder is None:
        return tokenizer
    tokenizer.save_pretrained(str(folder))
    return T5TokenizerFast.from_pretrained(str(folder))


def _t5_encoder(vocab_size: int, d_model: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size, d_model=d_model, d_kv=16, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=32, feed_forward_proj="gated-gelu",
        dense_act_fn="gelu_new", is_gated_act=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def _flow_vae(scaling_factor: float, shift_factor: float) -> Any:
    """A x8 VAE with 16 latent channels and no quant convs (FLUX's and SD3's layout)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, layers_per_block=1,
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8, sample_size=1024, scaling_factor=scaling_factor, shift_factor=shift_factor,
        use_quant_conv=False, use_post_quant_conv=False, force_upcast=True,
    )


def build_tiny_flux_fill(*, seed: int = 6, workdir: str | Path | None = None) -> Any:
    """A tiny ``FluxFillPipeline`` with FLUX.1 Fill's channel packing (384 in, 64 out)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    work = Path(workdir or tempfile.mkdtemp(prefix="pw-tok-"))
    tokenizer = _tokenizer(work)
    tokenizer_2 = build_t5_tokenizer(work / "t5")
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=384, out_channels=64, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=T5_DIM, pooled_projection_dim=TEXT_DIM,
        guidance_embeds=True, axes_dims_rope=(4, 6, 6),
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )
    return FluxFillPipeline(
        scheduler=scheduler, vae=_flow_vae(0.3611, 0.1159), text_encoder=CLIPTextModel(_text_config(len(tokenizer))),
        tokenizer=tokenizer, text_encoder_2=_t5_encoder(len(tokenizer_2), T5_DIM), tokenizer_2=tokenizer_2,
        transformer=transformer,
    )


def build_tiny_sd3(*, seed: int = 7, workdir: str | Path | None = None) -> Any:
    """A tiny ``StableDiffusion3InpaintPipeline``: MMDiT at 1024 native, CLIP-L, CLIP-G and T5."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3InpaintPipeline,
    )
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    work = Path(workdir or tempfile.mkdtemp(prefix="pw-tok-"))
    tokenizer, tokenizer_2 = _tokenizer(work), _tokenizer(work)
    tokenizer_3 = build_t5_tokenizer(work / "t5")
    transformer = SD3Transformer2DModel(
        sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=T5_DIM, caption_projection_dim=32,
        pooled_projection_dim=TEXT_DIM + TEXT2_PROJECTION, pos_embed_max_size=192,
    )
    return StableDiffusion3InpaintPipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        vae=_flow_vae(1.5305, 0.0609),
        text_encoder=CLIPTextModelWithProjection(_text_config(len(tokenizer))),
        tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(_text_config(len(tokenizer_2), TEXT2_DIM, TEXT2_PROJECTION)),
        tokenizer_2=tokenizer_2,
        text_encoder_3=_t5_encoder(len(tokenizer_3), T5_DIM),
        tokenizer_3=tokenizer_3,
    )


def write_tiny_flow_models(paths: dict[str, Path], work: Path) -> None:
    """Save the tiny FLUX Fill and SD3 pipelines to ``paths["flux-fill"]`` and ``paths["sd3-inpaint"]``."""
    build_tiny_flux_fill(workdir=work).save_pretrained(paths["flux-fill"], safe_serialization=True)
    build_tiny_sd3(workdir=work).save_pretrained(paths["sd3-inpaint"], safe_serialization=True)


__all__ = ["build_t5_tokenizer", "build_tiny_flux_fill", "build_tiny_sd3", "write_tiny_flow_models"]
