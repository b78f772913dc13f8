"""Few-step previews: what a full inpaint would roughly give, in a fraction of its time.

A preview is the crop around the mask (at the model's native size, as
``region="crop"`` generates it: :mod:`.crop`) denoised in a few steps: by default 4
steps at guidance 1.5 with the LCM sampler and an LCM-LoRA (diffusers' recipe for
``latent-consistency/lcm-lora-sdv1-5``: ``LCMScheduler`` built from the model's own
scheduler config, 2 to 8 steps, guidance 1 to 2), or with a few-step model the user
picks (``model=...``, ``lora=None``, its own sampler by InvokeAI name if it is not an
LCM model). The seed, prompt, mask, strength and the prompt's own ``withLora(...)``
are those of the full request, so the preview shows what that request will paint.

A :class:`PreviewRequest` wraps the :class:`~paint_widgets.requests.InpaintRequest`
that Generate would run (``preview.request``): the Studio's live mode keeps the
full request beside its preview. The LCM-LoRA is loaded into the pipeline once
(:mod:`.loras`) and is switched off by any run that does not name it, so a full pass
after previews gives the pixels of a full pass without them.

The default LoRA (``lora="auto"``) is looked up by name in the LoRA folder
(``manager().configure(lora_dir=...)``): ``lcm-lora-sdv1-5`` for SD 1.x/2.x models,
``lcm-lora-sdxl`` for SDXL. Nothing is downloaded here; put the file there once
(``pytorch_lora_weights.safetensors`` of the hub repository, renamed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..cancel import CancelToken
from ..errors import InvalidInputError, ModelLoadError
from ..io import ImageLike, load_image, require_number
from ..params import MAX_STEPS
from ..requests import GenerationParams, InpaintRequest
from ..result import Result
from .crop import choose_region, crop_padding_for, generation_size, native_size
from .denoise import DenoiseSettings, ProgressFn, denoise_masked
from .families import family_of
from .generation import (
    PASTE_BLUR,
    PASTE_DILATE,
    crop_canvas,
    paste_near_mask,
    resize_canvas,
    seeds_for,
)
from .inpainting import fit_canvas, resolve_mask
from .loras import check_loras, lora_call, split_loras, use_loras
from .manager import PipelineManager, manager
from .samplers import INTERNAL_SCHEDULERS
from .threads import lower_priority_here, torch_threads_here

#: The preview's defaults: diffusers' LCM-LoRA inpainting recipe.
PREVIEW_STEPS = 4
PREVIEW_CFG = 1.5
PREVIEW_SAMPLER = "lcm"
#: ``lora="auto"``: the LCM-LoRA file stem to look for in the LoRA folder, per family.
LCM_LORAS = {"sd1": "lcm-lora-sdv1-5", "sd2": "lcm-lora-sdv1-5", "sdxl": "lcm-lora-sdxl"}
LCM_LORA_REPOS = {"lcm-lora-sdv1-5": "latent-consistency/lcm-lora-sdv1-5",
                  "lcm-lora-sdxl": "latent-consistency/lcm-lora-sdxl"}


@dataclass(frozen=True)
class PreviewRequest:
    """A few-step preview of ``request`` (the full inpaint Generate would run).

    ``steps``/``cfg``/``sampler`` replace the request's for the preview only (``sampler``
    ``"lcm"`` or an InvokeAI name); ``lora`` is the few-step LoRA (``"auto"``: the
    family's LCM-LoRA from the LoRA folder, a name or file, or None for a few-step
    model); ``size`` the generated side (None: the model's native size); ``model`` a
    few-step model for the preview only (None: the request's).
    """

    request: InpaintRequest
    steps: int = PREVIEW_STEPS
    cfg: float = PREVIEW_CFG
    sampler: str = PREVIEW_SAMPLER
    lora: str | None = "auto"
    lora_weight: float = 1.0
    size: int | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.request, InpaintRequest):
            raise InvalidInputError(f"a preview is of an InpaintRequest, not {type(self.request).__name__}")
        object.__setattr__(self, "steps", require_number(self.steps, "preview steps", low=1, high=MAX_STEPS,
                                                         integer=True))
        object.__setattr__(self, "cfg", require_number(self.cfg, "preview cfg", low=0.0, high=100.0))
        if self.sampler not in INTERNAL_SCHEDULERS:
            GenerationParams(sampler=self.sampler)  # an InvokeAI name, or the table's message
        if self.lora is not None and self.lora != "auto":
            lora_call(self.lora, self.lora_weight)  # a name the prompt syntax can hold
        if self.size is not None:
            object.__setattr__(self, "size", require_number(self.size, "preview size", low=64, high=4096,
                                                            integer=True))
        self.params  # steps x strength gives at least one step  # noqa: B018

    @property
    def params(self) -> GenerationParams:
        """The request's parameters with the preview's steps, cfg and model (what its metadata records)."""
        return self.request.params.with_(steps=self.steps, cfg=self.cfg, model=self.model or self.request.params.model)

    def command(self, seed: int, width: int, height: int) -> str:
        """The ``invoke>`` line that makes this preview again: the request's line, ``-s``/``-C``
        the preview's, and ``--preview``."""
        line = dataclasses.replace(self.request, params=self.params).command(seed, width, height)
        return f"{line} --preview"


def preview(
    image: ImageLike,
    mask: Any = None,
    prompt: str = "",
    *,
    negative_prompt: str = "",
    steps: int = PREVIEW_STEPS,
    cfg: float = PREVIEW_CFG,
    strength: float = 0.75,
    seed: int | None = None,
    sampler: str = PREVIEW_SAMPLER,
    lora: str | None = "auto",
    lora_weight: float = 1.0,
    model: str | None = None,
    size: int | None = None,
    invert_mask: bool = False,
    crop_padding: int = 32,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    mgr: PipelineManager | None = None,
) -> Result:
    """A few-step preview of ``pw.inpaint(image, mask, prompt, ...)``, of the crop around the mask.

    ``lora="auto"`` uses the family's LCM-LoRA from the LoRA folder; ``lora=None`` with
    ``model=`` a few-step model (an LCM model with ``sampler="lcm"``, or e.g. a turbo
    model with ``sampler="k_euler_a"``). The result's image is the whole picture with the
    crop pasted back (pixels outside the feathered mask unchanged); its metadata records
    the crop ``box`` and the generated ``size``. ``cancel`` stops it at its next step.
    """
    params = GenerationParams(prompt=prompt, negative_prompt=negative_prompt, strength=strength, seed=seed,
                              model=model, steps=steps, cfg=cfg)
    request = InpaintRequest(image=image, mask=mask, params=params, invert_mask=invert_mask, region="crop",
                             crop_padding=crop_padding)
    return run_preview(PreviewRequest(request, steps=steps, cfg=cfg, sampler=sampler, lora=lora,
                                      lora_weight=lora_weight, size=size),
                       progress=progress, cancel=cancel, mgr=mgr)


def lcm_lora_for(pipe: Any, lora_dir: str | None) -> str:
    """The LCM-LoRA name ``lora="auto"`` means for ``pipe``'s family; a clear error if it is missing."""
    family = family_of(pipe)
    name = LCM_LORAS.get(family.name)
    if name is None:
        raise InvalidInputError(f"no LCM-LoRA is known for {family.label} models: pass lora=None and a "
                                "few-step model (model=...), or lora=NAME")
    try:
        check_loras(f"withLora({name})", lora_dir)
    except ModelLoadError as err:
        raise ModelLoadError(
            f"the live preview needs the LCM-LoRA {name}.safetensors in the LoRA folder ({err}); download "
            f"pytorch_lora_weights.safetensors of {LCM_LORA_REPOS[name]} there as {name}.safetensors, "
            "or pass lora=NAME (a file) or lora=None with a few-step model"
        ) from None
    return name


def run_preview(preview_request: PreviewRequest, *, progress: ProgressFn | None = None,
                cancel: CancelToken | None = None, mgr: PipelineManager | None = None,
                on_wait: Callable[[], None] | None = None, threads: int | None = None,
                nice: int = 0) -> Result:
    """Carry out a :class:`PreviewRequest` on the manager (one image, the first seed).

    ``threads``/``nice``: the calling thread's torch thread count and how much lower its
    CPU priority goes (:mod:`.threads`), for a background worker such as the Studio's Live.
    """
    if threads is not None:
        torch_threads_here(threads)
    if nice:
        lower_priority_here(nice)
    mgr = mgr or manager()
    request = preview_request.request
    p = preview_request.params
    check_loras(p.prompt, mgr.lora_dir())  # the prompt's own LoRAs: refused before any work
    model = p.model or mgr.default_model()
    with mgr.session(cancel, on_wait=on_wait, model=model):
        image = load_image(request.image, what="image (-I)")
        canvas = fit_canvas(image, resolve_mask(request, image, mgr), p.width, p.height)
        (seed,) = seeds_for(p.seed, 1)
        with mgr.generating() as token:
            pipe = mgr.pipeline(p.model)
            lora = preview_request.lora
            if lora == "auto":
                lora = lcm_lora_for(pipe, mgr.lora_dir())
            prompt = p.prompt if lora is None else f"{p.prompt} {lora_call(lora, preview_request.lora_weight)}"
            text, _ = split_loras(prompt)
            use_loras(pipe, check_loras(prompt, mgr.lora_dir()), label=model)
            native = native_size(pipe)
            padding = crop_padding_for(request.crop_padding, PASTE_DILATE, PASTE_BLUR)
            box = choose_region(canvas.paint, "crop", padding, native)
            assert box is not None  # "crop" always gives a box (or a MaskError)
            window = crop_canvas(canvas, box)
            size = generation_size(box, preview_request.size or native)
            rgb, paint = resize_canvas(window, size)
            base = dict(getattr(pipe, "_paint_widgets_base_scheduler", None) or pipe.scheduler.config)
            pipe._paint_widgets_base_scheduler = base
            settings = DenoiseSettings(prompt=text, negative_prompt=p.negative_prompt, steps=preview_request.steps,
                                       cfg=preview_request.cfg, strength=p.strength, sampler=preview_request.sampler,
                                       seed=seed, inpaint_replace=p.inpaint_replace, soft=p.soft)
            generated = denoise_masked(pipe, rgb, paint, settings, base_scheduler_config=base,
                                       progress=progress, cancel=token)
    h, w = window.rgb.shape[:2]
    if size != (w, h):
        generated = np.asarray(Image.fromarray(generated).resize((w, h), Image.Resampling.LANCZOS))
    paste = (window.paint > 0).astype(np.float32) if p.soft else window.paint
    out = canvas.rgb.copy()
    out[box.slices] = paste_near_mask(window.rgb, generated, paste)
    height, width = out.shape[:2]
    command = preview_request.command(seed, width, height)
    values = preview_request.params.as_dict()
    values.update(seed=seed, width=width, height=height, model=model)
    meta = {"app": "paint_widgets", "type": "PreviewRequest", "command": command, "params": values,
            "preview": {"sampler": preview_request.sampler, "lora": lora, "lora_weight": preview_request.lora_weight,
                        "box": [box.top, box.left, box.bottom, box.right], "size": list(size)}}
    return Result(images=[Image.fromarray(out)], seeds=[seed], commands=[command], request=preview_request,
                  metadata=[meta])


__all__ = ["LCM_LORAS", "PREVIEW_CFG", "PREVIEW_SAMPLER", "PREVIEW_STEPS", "PreviewRequest", "lcm_lora_for",
           "preview", "run_preview"]
