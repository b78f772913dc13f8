"""The masked denoising core every operation shares (inpaint, outcrop, outpaint, seams).

It runs the model's diffusers inpainting pipeline and adds what InvokeAI's users
rely on: samplers by InvokeAI name, ``inpaint_replace`` (``-r``) on every model
type, progress per step with a cheap preview, and cancellation within one step.

What ``strength`` means (``-f``): the pipeline runs ``int(steps * strength)``
denoising steps starting from the image noised to that level.
- A 9-channel inpainting UNet also sees the mask and the image with the painted
  area blanked out, so even at strength 1.0 the new content fits its surroundings;
  lower strength keeps more of what was under the mask.
- A plain 4-channel UNet sees only the noised latents; after every step the kept
  area is replaced by the original re-noised to the next level, so the painted
  area is img2img at that strength, and at 1.0 it ignores what was there.

The model's family (:mod:`.families`) decides the rest: SDXL's pipelines get their
size conditioning (``original_size = target_size`` = the generated size, crop at
0, 0: the window is a whole picture to the model), its latents their own preview
factors, and an fp16 SDXL VAE that asks for it decodes in fp32.

Soft inpainting (``soft=True``, ``--soft``) is differential diffusion (Levin & Fried,
2023): a mask value ``m`` in (0, 1) is how much of the run a pixel may change for.
At the end of step ``i`` of ``n``, every latent cell that still has more than its
``ceil(m * n)`` last steps to go is reset to the original latents noised to the
next step's timestep (:class:`SoftSteps`), so it follows the original until the last
``m`` share of the steps and is then denoised freely; ``m = 1`` is never reset,
``m = 0`` always (it ends on the clean original). The same callback serves 4- and
9-channel UNets of every family; the 9-channel UNet's mask input stays the hard
union ``m > 0``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import CancelledError, InvalidInputError
from .families import Family, family_of
from .samplers import make_scheduler
from .steps import DenoiseSettings, ProgressFn, Step, warn_if_truncated


def latent_mask(paint: np.ndarray, height: int, width: int, factor: int) -> torch.Tensor:
    """The hard paint mask at latent resolution, as diffusers' inpaint pipeline sees it."""
    hard = Image.fromarray(((paint > 0) * 255).astype(np.uint8)).resize((width // factor, height // factor), Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(hard, dtype=np.float32) / 255.0)[None, None]


def soft_latent_mask(paint: np.ndarray, height: int, width: int, factor: int) -> torch.Tensor:
    """The paint values averaged over each latent cell (area resampling): ``(1, 1, h/f, w/f)`` float32.

    Soft inpainting's per-cell amount of change; a cell half covered by a hard mask
    gets 0.5, so a hard edge becomes a one-cell ramp rather than a step.
    """
    values = Image.fromarray(np.clip(paint, 0.0, 1.0).astype(np.float32))
    cells = values.resize((width // factor, height // factor), Image.Resampling.BOX)
    return torch.from_numpy(np.clip(np.asarray(cells, dtype=np.float32), 0.0, 1.0))[None, None]


@contextlib.contextmanager
def _wrapped(pipe: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """Replace ``pipe.name`` by ``wrapper(pipe.name)`` for the block, restoring what was there.

    Wrappers nest (``-r`` and ``--soft`` both wrap ``prepare_latents``): each puts
    back the attribute it found, instance attribute or none.
    """
    had, before = name in vars(pipe), vars(pipe).get(name)
    setattr(pipe, name, wrapper(getattr(pipe, name)))
    try:
        yield
    finally:
        if had:
            setattr(pipe, name, before)
        else:
            delattr(pipe, name)


class SoftSteps:
    """Differential diffusion in a ``callback_on_step_end``: soft pixels follow the original longer.

    :meth:`capture` wraps the pipeline's ``prepare_latents`` to keep the noise it
    drew and the original's latents (returned by diffusers for a 4-channel UNet,
    encoded here for a 9-channel one, with a generator of its own so the pipeline's
    random draws are unchanged); :meth:`apply` resets, after step ``i``, the cells
    whose value ``m`` satisfies ``m * n <= n - (i + 1)`` to the original noised to the
    next timestep (the clean original after the last step).
    """

    def __init__(self, mask: torch.Tensor, seed: int) -> None:
        self.mask = mask
        self.seed = int(seed)
        self.noise: torch.Tensor | None = None
        self.image_latents: torch.Tensor | None = None

    def capture(self, pipe: Any) -> contextlib.AbstractContextManager[None]:
        """Keep the noise and the original latents from ``pipe.prepare_latents`` during the block."""

        def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
            def prepare_latents(*args: Any, **kwargs: Any) -> Any:
                out = original(*args, **kwargs)
                latents, self.noise = out[0], out[1]
                if len(out) > 2:
                    self.image_latents = out[2]
                else:
                    image = kwargs["image"].to(device=latents.device, dtype=latents.dtype)
                    if image.shape[1] == latents.shape[1]:  # already latents
                        self.image_latents = image
                    else:
                        generator = torch.Generator(device="cpu").manual_seed(self.seed)
                        with torch.no_grad():
                            self.image_latents = pipe._encode_vae_image(image=image, generator=generator)
                return out

            return prepare_latents

        return _wrapped(pipe, "prepare_latents", wrap)

    def apply(self, pipe: Any, i: int, latents: torch.Tensor) -> torch.Tensor:
        """``latents`` after step ``i`` with the cells still following the original reset to it."""
        if self.noise is None or self.image_latents is None:
            return latents
        n = int(getattr(pipe, "_num_timesteps", 0) or 0)
        if n <= 0:
            return latents
        remaining = n - (i + 1)
        mask = self.mask.to(device=latents.device)
        keep = mask * n <= remaining + 1e-4  # still before its last ceil(m * n) steps
        if not bool(keep.any()):
            return latents
        original = self.image_latents.to(device=latents.device, dtype=latents.dtype)
        if remaining > 0:
            timesteps = pipe.scheduler.timesteps[-n:]
            original = pipe.scheduler.add_noise(original, self.noise.to(original), timesteps[i + 1:i + 2])
        return torch.where(keep, original.to(latents.dtype), latents)


@contextlib.contextmanager
def inpaint_replace(pipe: Any, amount: float, mask: torch.Tensor) -> Iterator[None]:
    """``-r``: inside the painted area, lerp the starting latents towards fresh noise.

    The "fresh" latents are the scheduler's noising of a blank image at the start
    timestep (pure noise at strength 1), so at ``r = 1`` nothing of the old content
    survives in the painted area, on 4- and 9-channel models alike.
    """
    if amount <= 0:
        yield
        return

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def prepare_latents(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            latents, noise = out[0], out[1]
            if kwargs.get("is_strength_max", True):
                fresh = noise * pipe.scheduler.init_noise_sigma
            else:
                fresh = pipe.scheduler.add_noise(torch.zeros_like(latents), noise, kwargs["timestep"])
            weight = (mask * amount).to(device=latents.device, dtype=latents.dtype)
            return (torch.lerp(latents, fresh, weight), *out[1:])

        return prepare_latents

    with _wrapped(pipe, "prepare_latents", wrap):
        yield


class _DropUpcastLog(logging.Filter):
    """Drops diffusers' "modules ... should be kept in float32: []" line when a VAE is upcast.

    SDXL's pipeline moves its VAE to fp32 to encode (``force_upcast``) and so do we to
    decode; diffusers logs it on every call, with nothing to keep in fp32.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32: []" not in str(record.msg)


_UPCAST_FILTER = _DropUpcastLog()


def decode_latents(pipe: Any, latents: torch.Tensor, family: Family | None = None) -> np.ndarray:
    """VAE-decode to ``(h, w, 3)`` uint8 as the family's pipeline would.

    Unscales by the VAE's ``scaling_factor`` (and its ``latents_mean``/``latents_std``
    where the config has them); an fp16 VAE that sets ``force_upcast`` decodes in fp32
    on the families that do so in diffusers (SDXL: its VAE overflows in fp16).
    """
    vae = pipe.vae
    family = family or family_of(pipe)
    upcast = vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False)) and family.upcast_vae
    if upcast:
        vae.to(torch.float32)
    try:
        latents = latents.to(device=vae.device, dtype=vae.dtype)
        mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
        if mean is not None and std is not None:
            shape = (1, latents.shape[1], 1, 1)
            mean_t = torch.tensor(mean).view(shape).to(latents.device, latents.dtype)
            std_t = torch.tensor(std).view(shape).to(latents.device, latents.dtype)
            latents = latents * std_t / vae.config.scaling_factor + mean_t
        else:
            latents = latents / vae.config.scaling_factor
        with torch.no_grad():
            image = vae.decode(latents, return_dict=False)[0]
    finally:
        if upcast:
            vae.to(torch.float16)
    image = (image[0].float().clamp(-1, 1) + 1.0) * 127.5
    return image.round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def denoise_masked(
    pipe: Any,
    image: np.ndarray,
    paint: np.ndarray,
    settings: DenoiseSettings,
    *,
    base_scheduler_config: dict[str, Any],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Repaint ``image`` (``uint8 (H, W, 3)``, sides multiples of 8) where ``paint > 0``.

    Returns the decoded ``uint8 (H, W, 3)`` image before paste-back. Raises
    :class:`CancelledError` if ``cancel`` is set during the run (checked every step).
    """
    height, width = image.shape[:2]
    family = family_of(pipe)
    if not family.generates:
        raise InvalidInputError(f"{family.label} models are recognised but paint_widgets cannot generate with them yet")
    if not family.invoke_samplers:  # flow matching (SD3, FLUX.1 Fill): their own pipelines, :mod:`.flow`
        from .flow import denoise_flow

        return denoise_flow(pipe, image, paint, settings, family=family, base_scheduler_config=base_scheduler_config,
                            progress=progress, cancel=cancel)
    pipe.scheduler = make_scheduler(settings.sampler, base_scheduler_config, family)
    factor = int(getattr(pipe, "vae_scale_factor", 8))
    hard = Image.fromarray(((paint > 0) * 255).astype(np.uint8))
    total_steps = max(int(settings.steps * settings.strength), 1)
    soft = SoftSteps(soft_latent_mask(paint, height, width, factor), settings.seed) if settings.soft else None

    def on_step_end(p: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if soft is not None and kwargs.get("latents") is not None:
            kwargs["latents"] = soft.apply(p, i, kwargs["latents"])
        if progress is not None and not p._interrupt:
            total = getattr(p, "_num_timesteps", None) or total_steps
            progress(Step(min(i + 1, total), total, kwargs.get("latents"), family.preview, factor))
        if cancel is not None and cancel.is_set():
            p._interrupt = True  # the remaining steps are skipped; we raise after the call
        return kwargs

    if cancel is not None and cancel.is_set():  # pressed while the model loaded: no step runs
        raise CancelledError("generation cancelled; nothing was changed")
    warn_if_truncated(pipe, settings.prompt)
    warn_if_truncated(pipe, settings.negative_prompt, "negative prompt")
    generator = torch.Generator(device="cpu").manual_seed(int(settings.seed))
    extra: dict[str, Any] = {}
    if family.size_conditioning:  # SDXL's micro-conditioning: a whole, uncropped picture of this size
        extra.update(original_size=(height, width), target_size=(height, width), crops_coords_top_left=(0, 0))
    upcast_logger = logging.getLogger("diffusers.models.modeling_utils")
    if _UPCAST_FILTER not in upcast_logger.filters:
        upcast_logger.addFilter(_UPCAST_FILTER)
    with contextlib.ExitStack() as hooks:
        hooks.enter_context(inpaint_replace(pipe, settings.inpaint_replace, latent_mask(paint, height, width, factor)))
        if soft is not None:
            hooks.enter_context(soft.capture(pipe))
        output = pipe(
            prompt=settings.prompt,
            negative_prompt=settings.negative_prompt or None,
            image=Image.fromarray(image),
            mask_image=hard,
            height=height,
            width=width,
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
    return decode_latents(pipe, output.images, family)
