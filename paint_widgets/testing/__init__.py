"""Tiny random-weight models that stand in for real weights in tests and CI.

They keep the real geometry (a VAE that downsamples x8, a two-level UNet with
cross-attention, a CLIP text encoder with a 77-token tokenizer, CLIPSeg at 352,
SDXL inpainting with its two text encoders and added conditioning)
so tests exercise the same code paths, and they are saved to disk and loaded
back through the same ``from_pretrained`` calls real weights take. Nothing is
downloaded. ``python -m paint_widgets.testing DIR`` writes them all (:data:`TINY_MODELS`,
:mod:`.all_models`): ``sd-inpaint``, ``sd``, ``clipseg``, ``sdxl-inpaint``, ``flux-fill``
and ``sd3-inpaint`` (:mod:`.tiny_flow`), ``sam`` and ``sam3`` (:mod:`.tiny_sam`), the
inpainting models as single-file checkpoints in the original key layout
(``single/*.safetensors``, :mod:`.single_file`) and peft LoRAs (``loras/*.safetensors``).
"""

from __future__ import annotations

from .all_models import TINY_MODELS, write_tiny_models
from .tiny_models import (
    build_tiny_clipseg,
    build_tiny_sd,
    build_tiny_sdxl,
    write_tiny_lora,
    write_tiny_tokenizer,
)

__all__ = [
    "TINY_MODELS",
    "build_tiny_clipseg",
    "build_tiny_sd",
    "build_tiny_sdxl",
    "write_tiny_lora",
    "write_tiny_models",
    "write_tiny_tokenizer",
]
