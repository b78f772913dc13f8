"""Masked denoising on the flow-matching families: FLUX.1 Fill and SD3 inpainting.

:func:`.denoise.denoise_masked` hands these families here. Each runs its own diffusers
pipeline's call (``FluxFillPipeline``, ``StableDiffusion3InpaintPipeline``) with the
image, the hard mask (``paint > 0``), ``strength``, ``num_inference_steps``,
``guidance_scale`` and a seeded CPU generator, ``output_type="latent"``, progress and
cancel through ``callback_on_step_end``; the latents are decoded here (with the VAE's
``shift_factor``, which diffusers' SD3 inpainting decode leaves out although its encode
applies it) and :mod:`.generation` pastes the result back as for every family.

What the parameters mean here:

- **sampler** (``-A``): each family takes its own ``FlowMatchEulerDiscreteScheduler``,
  built fresh from the model's scheduler config every run. It answers to ``k_euler``
  (it *is* Euler, on the flow) and to the default ``k_lms`` (what a run that names no
  sampler carries); the other InvokeAI names are refused
  (:func:`.samplers.make_scheduler`'s message).
- **strength** (``-f``): ``int(steps * strength)`` steps from the image noised to that
  level, as on the other families. FLUX.1 Fill also sees the masked image and the mask
  (384 input channels), like a 9-channel UNet; SD3's 16-channel transformer re-blends
  the re-noised original outside the mask every step, like a 4-channel UNet.
- **cfg** (``-C``): SD3's classifier-free guidance; FLUX.1 Fill's distilled guidance
  (embedded in the transformer, no negative pass: the published Fill examples use 30).
- Sizes: both pipelines need sides that are multiples of 16 (VAE x8 times FLUX's 2x2
  packing or SD3's patch 2); other sizes are padded at the right and bottom with edge
  pixels (not painted) and cropped back after decoding.

Refused with a clear error (:func:`check_flow_settings`): ``-r`` (inpaint_replace) and
soft inpainting on both families, and a negative prompt on FLUX.1 (it has none).

FLUX packs its latents 2x2 into 64-channel tokens: previews (:class:`.steps.Step`)
get them unpacked to ``(1, 16, h/8, w/8)`` and use the family's RGB factors.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import CancelledError, InvalidInputError
from .families import Family
from .samplers import make_scheduler
from .steps import DenoiseSettings, ProgressFn, Step, warn_if_truncated

#: The sampler names the flow-matching families answer to: all mean the model's own
#: ``FlowMatchEulerDiscreteScheduler`` (``k_lms`` being the default a run carries).
FLOW_SAMPLERS = ("k_euler", "k_lms")



def flow_scheduler(name: str, base_config: dict[str, Any], family: Family) -> Any:
    """The family's own ``FlowMatchEulerDiscreteScheduler`` for ``name`` in :data:`FLOW_SAMPLERS`.

    Any other name gets :func:`.samplers.make_scheduler`'s error for the family.
    """
    if name not in FLOW_SAMPLERS:
        make_scheduler(name, base_config, family)  # raises: InvokeAI names do not apply here
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler.from_config(dict(base_config))


def check_flow_settings(family: Family, settings: DenoiseSettings) -> None:
    """Refuse, naming the family and the alternative, what its pipeline cannot do."""
    if settings.inpaint_replace > 0:
        raise InvalidInputError(
            f"-r/--inpaint_replace {settings.inpaint_replace:g}: not available on {family.label} models "
            "(their flow-matching pipelines start the painted area from their own noise); use -f/--strength 1.0, "
            "which starts the painted area from pure noise, or an SD 1.x/SDXL model"
        )
    if settings.soft:
        raise InvalidInputError(
            f"soft inpainting (--soft): not available on {family.label} models; paint a hard mask (the "
            "paste-back still feathers its edge), or use an SD 1.x/SDXL model"
        )
    if family.name == "flux" and settings.negative_prompt:
        raise InvalidInputError(
            f"negative prompt: {family.label} takes none (its guidance is distilled into the model); "
            "leave it empty and describe what you want in the prompt"
        )


def _multiple(pipe: Any, family: Family) -> int:
    factor = int(getattr(pipe, "vae_scale_factor", 8))
    patch = 2 if family.name == "flux" else int(getattr(pipe, "patch_size", 2) or 2)
    return factor * patch


def _pad(image: np.ndarray, paint: np.ndarray, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad right and bottom to multiples of ``multiple``: edge pixels, not painted."""
    height, width = image.shape[:2]
    dh, dw = -height % multiple, -width % multiple
    if not (dh or dw):
        return image, paint
    return (np.pad(image, ((0, dh), (0, dw), (0, 0)), mode="edge"),
            np.pad(paint, ((0, dh), (0, dw)), mode="constant"))


def spatial_latents(pipe: Any, latents: torch.Tensor, family: Family, height: int, width: int) -> torch.Tensor:
    """``(1, C, h/8, w/8)`` latents: FLUX's packed 2x2 tokens unpacked, SD3's as they are."""
    if family.name == "flux" and latents.ndim == 3:
        return pipe._unpack_latents(latents, height, width, int(pipe.vae_scale_factor))
    return latents


def decode_flow_latents(pipe: Any, latents: torch.Tensor, family: Family, height: int, width: int) -> np.ndarray:
    """VAE-decode (unscaled, then shifted back by ``shift_factor``) to ``(height, width, 3)`` uint8."""
    vae = pipe.vae
    latents = spatial_latents(pipe, latents, family, height, width).to(device=vae.device, dtype=vae.dtype)
    latents = latents / vae.config.scaling_factor + (getattr(vae.config, "shift_factor", None) or 0.0)
    with torch.no_grad():
        image = vae.decode(latents, return_dict=False)[0]
    image = (image[0].float().clamp(-1, 1) + 1.0) * 127.5
    return image.round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _max_sequence_length(tokenizer: Any, cap: int) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    return min(int(limit), cap) if isinstance(limit, int) and limit > 0 else cap


def denoise_flow(
    pipe: Any,
    image: np.ndarray,
    paint: np.ndarray,
    settings: DenoiseSettings,
    *,
    family: Family,
    base_scheduler_config: dict[str, Any],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """:func:`.denoise.denoise_masked` for SD3 and FLUX.1 Fill: the decoded ``uint8 (H, W, 3)`` image."""
    check_flow_settings(family, settings)
    pipe.scheduler = flow_scheduler(settings.sampler, base_scheduler_config, family)
    height, width = image.shape[:2]
    image, paint = _pad(image, paint, _multiple(pipe, family))
    ph, pw = image.shape[:2]
    factor = int(getattr(pipe, "vae_scale_factor", 8))
    total_steps = max(int(settings.steps * settings.strength), 1)

    def on_step_end(p: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if progress is not None and not p._interrupt:
            total = getattr(p, "_num_timesteps", None) or total_steps
            latents = kwargs.get("latents")
            preview = None if latents is None else spatial_latents(p, latents.detach(), family, ph, pw)
            progress(Step(min(i + 1, total), total, preview, family.preview, factor))
        if cancel is not None and cancel.is_set():
            p._interrupt = True  # the remaining steps are skipped; we raise after the call
        return kwargs

    if cancel is not None and cancel.is_set():
        raise CancelledError("generation cancelled; nothing was changed")
    warn_if_truncated(pipe, settings.prompt)
    warn_if_truncated(pipe, settings.negative_prompt, "negative prompt")
    extra: dict[str, Any] = {}
    if family.name == "flux":
        extra["max_sequence_length"] = _max_sequence_length(getattr(pipe, "tokenizer_2", None), 512)
    else:
        extra["negative_prompt"] = settings.negative_prompt or None
        if getattr(pipe, "tokenizer_3", None) is not None:
            extra["max_sequence_length"] = _max_sequence_length(pipe.tokenizer_3, 256)
    generator = torch.Generator(device="cpu").manual_seed(int(settings.seed))
    output = pipe(
        prompt=settings.prompt,
        image=Image.fromarray(image),
        mask_image=Image.fromarray(((paint > 0) * 255).astype(np.uint8)),
        height=ph,
        width=pw,
        strength=settings.strength,
        num_inference_steps=settings.steps,
        guidance_scale=settings.cfg,
        generator=generator,
        output_type="latent",
        callback_on_step_end=on_step_end,
        **extra,
    )
    if cancel is not None and cancel.is_set():
        raise CancelledError("generation cancelled; nothing was changed")
    return decode_flow_latents(pipe, output.images, family, ph, pw)[:height, :width]


__all__ = ["FLOW_SAMPLERS", "check_flow_settings", "decode_flow_latents", "denoise_flow", "flow_scheduler",
           "spatial_latents"]
