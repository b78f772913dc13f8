"""Tiny random-weight models that stand in for real weights in tests and CI.

They keep the real geometry (a VAE that downsamples x8, a two-level UNet with
cross-attention, a CLIP text encoder with a 77-token tokenizer, CLIPSeg at 352,
SDXL inpainting with its two text encoders and added conditioning)
so tests exercise the same code paths, and they are saved to disk and loaded
back through the same ``from_pretrained`` calls real weights take. Nothing is
downloaded. ``python -m paint_widgets.testing DIR`` writes them all (``sd-inpaint``, ``sd``,
``clipseg``, ``sdxl-inpaint``, and ``single/sd-inpaint.safetensors`` and
``single/sdxl-inpaint.safetensors``: the inpainting models as single-file checkpoints in
the original key layout, :mod:`.single_file`; ``loras/tiny-sd.safetensors``: a LoRA for
the tiny SD UNets, made with peft).
"""

from __future__ import annotations

from .tiny_models import (
    build_tiny_clipseg,
    build_tiny_sd,
    build_tiny_sdxl,
    write_tiny_lora,
    write_tiny_models,
    write_tiny_tokenizer,
)

__all__ = ["build_tiny_clipseg", "build_tiny_sd", "build_tiny_sdxl", "write_tiny_lora", "write_tiny_models",
           "write_tiny_tokenizer"]
