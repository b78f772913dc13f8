"""Model families, read from the model itself: never from its name or path.

A diffusers folder says what it is in ``model_index.json`` (``_class_name``) and in its
components' configs; a loaded pipeline says it through its class and the same configs;
a single ``.safetensors`` checkpoint through its tensor names. :func:`family_of` reads
those and returns a :class:`Family`, which decides:

- the inpainting pipeline class to load (:mod:`.loading`),
- the native size crop-to-mask generates at (:mod:`.crop`),
- whether InvokeAI's ten sampler names apply (:mod:`.samplers`; not to the
  flow-matching families SD3 and FLUX),
- the latent preview and the VAE decode (:mod:`.denoise`: SDXL's latents have their
  own RGB factors, an fp16 SDXL VAE decodes in fp32),
- whether the pipeline takes SDXL's size conditioning (``original_size``...).

How a family is recognised (first match wins):

========  ==============================================================================
sdxl      a UNet with added ``text_time`` conditioning (SDXL's two text encoders and size
          ids), or a ``StableDiffusionXL*`` pipeline class; a file with
          ``conditioner.embedders.1.*`` keys
sd3       a ``StableDiffusion3*`` pipeline class (an MMDiT ``transformer``, no UNet)
flux      a ``Flux*`` pipeline class
sd2       a ``StableDiffusion*`` UNet with ``cross_attention_dim`` 1024 (OpenCLIP ViT-H)
sd1       any other ``StableDiffusion*`` pipeline or UNet (CLIP ViT-L, 768)
unknown   anything else: loaded through ``AutoPipelineForInpainting``, treated like sd1
========  ==============================================================================

The native size is the UNet's ``sample_size`` times the VAE's downsampling (512 for SD 1.x
and SD 2 base/inpainting, 768 for SD 2 768-v, 1024 for SDXL); without a UNet, the
family's default; SD3's transformer states its ``sample_size`` the same way, FLUX's pipeline
fixes 128 latent cells (1024). SD3 and FLUX.1 Fill generate through :mod:`.flow` (a FLUX
without Fill's 384 input channels is recognised, not generated).

Reads JSON and safetensors headers only: no torch, no weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Family:
    """What paint_widgets needs to know about a model family (one per model, see :func:`family_of`)."""

    name: str  # "sd1", "sd2", "sdxl", "sd3", "flux" or "unknown"
    label: str  # for people: "Stable Diffusion XL"
    native_size: int  # the side it was trained at, in pixels
    pipeline_class: str  # the diffusers inpainting pipeline class that loads it
    invoke_samplers: bool  # InvokeAI's ten sampler names (DDPM-style schedulers) apply
    preview: str  # latent preview kind: "sd", "sdxl" or "none"
    upcast_vae: bool = False  # an fp16 VAE that sets force_upcast decodes in fp32 (as diffusers' SDXL does)
    size_conditioning: bool = False  # the pipeline takes original_size / target_size / crops_coords_top_left
    generates: bool = True  # paint_widgets can generate with it today
    inpaint_unet: bool | None = None  # the UNet takes 9 channels (mask + masked image); None: no UNet seen


SD1 = Family("sd1", "Stable Diffusion 1.x", 512, "StableDiffusionInpaintPipeline", True, "sd")
SD2 = Family("sd2", "Stable Diffusion 2.x", 512, "StableDiffusionInpaintPipeline", True, "sd")
SDXL = Family("sdxl", "Stable Diffusion XL", 1024, "StableDiffusionXLInpaintPipeline", True, "sdxl",
              upcast_vae=True, size_conditioning=True)
# flow matching (:mod:`.flow`): their own FlowMatchEulerDiscreteScheduler, 16-channel latents
# (FLUX packs them 2x2 into 64-channel tokens; its preview unpacks them)
SD3 = Family("sd3", "Stable Diffusion 3", 1024, "StableDiffusion3InpaintPipeline", False, "sd3")
FLUX = Family("flux", "FLUX.1", 1024, "FluxFillPipeline", False, "flux")
UNKNOWN = Family("unknown", "an unrecognised diffusers pipeline", 512, "AutoPipelineForInpainting", True, "sd")

#: Every family by name.
FAMILIES: dict[str, Family] = {f.name: f for f in (SD1, SD2, SDXL, SD3, FLUX, UNKNOWN)}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _config(obj: Any) -> dict[str, Any]:
    """A component's config as a plain dict (diffusers' FrozenDict, a dict, or nothing)."""
    config = getattr(obj, "config", None)
    try:
        return dict(config) if config is not None else {}
    except (TypeError, ValueError):
        return {}


def _vae_factor(vae_config: dict[str, Any], default: int = 8) -> int:
    blocks = vae_config.get("block_out_channels")
    return 2 ** (len(blocks) - 1) if isinstance(blocks, (list, tuple)) and blocks else default


def classify(class_name: str, unet: dict[str, Any] | None = None, vae_factor: int = 8,
             transformer: dict[str, Any] | None = None) -> Family:
    """The family of a pipeline class name with its UNet config, VAE downsampling and transformer config."""
    unet = unet or {}
    if unet.get("addition_embed_type") == "text_time" or class_name.startswith("StableDiffusionXL"):
        family = SDXL
    elif class_name.startswith("StableDiffusion3"):
        family = SD3
    elif class_name.startswith("Flux"):
        channels = (transformer or {}).get("in_channels")
        # FLUX Fill's transformer takes 384 channels (image, masked image and mask, packed)
        family = FLUX if channels in (None, 384) else replace(
            FLUX, label="FLUX.1 (not Fill)", pipeline_class="FluxInpaintPipeline", generates=False)
    elif class_name.startswith("StableDiffusion") or unet:
        family = SD2 if unet.get("cross_attention_dim") == 1024 else SD1
    else:
        family = UNKNOWN
    sample = unet.get("sample_size")
    if isinstance(sample, (list, tuple)) and sample:
        sample = max(sample)
    changes: dict[str, Any] = {}
    if not unet and family is SD3:  # the MMDiT's sample_size is in latent cells too (128: 1024 pixels)
        sample = (transformer or {}).get("sample_size")
    if isinstance(sample, int) and sample > 0:
        changes["native_size"] = sample * vae_factor
    if isinstance(unet.get("in_channels"), int):
        changes["inpaint_unet"] = unet["in_channels"] == 9
    return replace(family, **changes) if changes else family


def _family_of_folder(folder: Path) -> Family:
    index = _read_json(folder / "model_index.json")
    class_name = index.get("_class_name")
    if not isinstance(class_name, str):
        return UNKNOWN
    parts = {name: _read_json(folder / name / "config.json") for name in ("unet", "vae", "transformer")}
    return classify(class_name, parts["unet"], _vae_factor(parts["vae"]), parts["transformer"])


def _family_of_file(path: Path) -> Family:
    """A single checkpoint by its tensor names (original Stable Diffusion layout)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            keys = list(f.keys())
            first = "model.diffusion_model.input_blocks.0.0.weight"
            shape = f.get_slice(first).get_shape() if first in keys else None
    except Exception:  # noqa: BLE001 - not a safetensors file we can read: loading will say why
        return UNKNOWN
    in_channels = {"in_channels": shape[1]} if shape and len(shape) == 4 else {}
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return classify("StableDiffusionXLInpaintPipeline", {**in_channels, "addition_embed_type": "text_time"})
    if any(k.startswith(("double_blocks.", "model.diffusion_model.double_blocks.")) for k in keys):
        return FLUX
    if any(k.startswith(("joint_blocks.", "model.diffusion_model.joint_blocks.")) for k in keys):
        return SD3
    if shape is not None:
        sd2 = any(k.startswith("cond_stage_model.model.") for k in keys)  # OpenCLIP text tower
        return classify("StableDiffusionPipeline", {**in_channels, "cross_attention_dim": 1024 if sd2 else 768})
    return UNKNOWN


def family_of(model: Any) -> Family:
    """The :class:`Family` of a loaded pipeline, a diffusers folder or a ``.safetensors`` file.

    A pipeline is read through its class and its UNet/VAE configs; a folder through
    ``model_index.json`` and ``unet/``, ``vae/``, ``transformer/config.json``; a file
    through its tensor names. Something unreadable is :data:`UNKNOWN` (loading then
    reports what is wrong with it). Cheap: no weights are read.
    """
    if isinstance(model, (str, os.PathLike)):
        path = Path(os.path.expanduser(os.fspath(model)))
        if path.is_dir():
            return _family_of_folder(path)
        if path.is_file() and path.suffix.lower() == ".safetensors":
            return _family_of_file(path)
        return UNKNOWN
    unet, vae = getattr(model, "unet", None), getattr(model, "vae", None)
    factor = _vae_factor(_config(vae), default=int(getattr(model, "vae_scale_factor", 8) or 8))
    return classify(type(model).__name__, _config(unet) if unet is not None else None, factor,
                    _config(getattr(model, "transformer", None)))


__all__ = ["FAMILIES", "FLUX", "SD1", "SD2", "SD3", "SDXL", "UNKNOWN", "Family", "classify", "family_of"]
