"""The Python API: ``inpaint``, ``outcrop``, ``outpaint``, each building one request.

Each function validates its arguments by building the same frozen request the
widgets and the command language build, then runs it on the kernel's manager.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ..cancel import CancelToken
from ..io import ImageLike
from ..requests import GenerationParams, InpaintRequest, OutcropRequest, OutpaintRequest
from ..result import Result
from .denoise import ProgressFn
from .loras import check_loras, with_loras
from .manager import PipelineManager, manager


def _ref(image: Any) -> str | None:
    return str(image) if isinstance(image, (str, os.PathLike)) else None


def inpaint(
    image: ImageLike,
    mask: Any = None,
    prompt: str = "",
    *,
    negative_prompt: str = "",
    strength: float = 0.75,
    steps: int = 50,
    cfg: float = 7.5,
    seed: int | None = None,
    sampler: str = "k_lms",
    inpaint_replace: float = 0.0,
    iterations: int = 1,
    width: int | None = None,
    height: int | None = None,
    model: str | None = None,
    loras: Mapping[str, float] | None = None,
    progress: ProgressFn | None = None,
    invert_mask: bool = False,
    text_mask: str | tuple[str, float] | None = None,
    color_correct: bool = False,
    soft: bool = False,
    seam_size: int = 0,
    seam_blur: int = 0,
    seam_strength: float = 0.7,
    seam_steps: int = 10,
    tile_size: int = 32,
    infill_method: str = "patchmatch",
    region: str = "auto",
    crop_padding: int = 32,
    mgr: PipelineManager | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    """Repaint the masked part of ``image``; everything outside stays bit-identical.

    ``mask``: array (True/1/255 = paint), PIL image or file path (``-M`` convention:
    black or transparent = paint). Without one, the transparent area of an RGBA
    ``image`` is painted (partial alpha = partial preservation), or ``text_mask``
    (``"orange"`` or ``("orange", 0.6)``) selects the area by words.

    An RGBA ``image`` whose transparent area touches its border is outpainted: the
    transparent area is infilled (``infill_method``, ``tile_size``) before generation,
    a seam pass runs if ``seam_size > 0``, and the opaque pixels stay identical.

    ``loras={"name or file.safetensors": weight}``: LoRAs, appended to the prompt as
    InvokeAI's ``withLora(name,weight)`` (so the printed line replays with them); a name
    is looked up in ``manager().configure(lora_dir=...)``.

    ``soft=True`` (``--soft``): soft inpainting. A mask value ``m`` between 0 and 1
    (partial alpha, a grey ``-M``, a feathered edge, a soft brush) lets the pixel
    follow the original until the last ``m`` share of the denoising steps
    (differential diffusion); without it, such a pixel is repainted fully and only
    blended by ``m`` at paste-back.
    """
    if isinstance(text_mask, str):
        text_mask = (text_mask, 0.5)
    params = GenerationParams(
        prompt=with_loras(prompt, loras), negative_prompt=negative_prompt, steps=steps, cfg=cfg, strength=strength,
        seed=seed, sampler=sampler, iterations=iterations, width=width, height=height,
        inpaint_replace=inpaint_replace, color_correct=color_correct, soft=soft, model=model,
        seam_size=seam_size, seam_blur=seam_blur, seam_strength=seam_strength, seam_steps=seam_steps,
        tile_size=tile_size, infill_method=infill_method,
    )
    request = InpaintRequest(
        image=image, mask=mask, params=params, invert_mask=invert_mask, text_mask=text_mask,
        region=region, crop_padding=crop_padding, image_ref=_ref(image), mask_ref=_ref(mask),
    )
    return run(request, progress=progress, mgr=mgr, cancel=cancel)


def _params(prompt: str | None, params: dict[str, Any], defaults: GenerationParams) -> GenerationParams:
    values = dict(params)
    if prompt is not None:
        values["prompt"] = prompt
    return defaults.with_(**values) if values else defaults


def outcrop(
    image: ImageLike,
    *,
    top: int = 0,
    right: int = 0,
    bottom: int = 0,
    left: int = 0,
    prompt: str | None = None,
    progress: ProgressFn | None = None,
    mgr: PipelineManager | None = None,
    cancel: CancelToken | None = None,
    on_wait: Callable[[], None] | None = None,
    **params: Any,
) -> Result:
    """Grow the canvas (each margin rounded up to 64 px) and paint the new area.

    Defaults as the reference's outcrop: strength 0.9, seam_size 96, seam_blur 16,
    seam_strength 0.7, seam_steps 20. Prompt and seed default to those stored in the
    PNG metadata of an image this package made. ``params``: any GenerationParams field.
    """
    request = OutcropRequest(image=image, top=top, right=right, bottom=bottom, left=left,
                             params=_params(prompt, params, OutcropRequest.default_params()),
                             image_ref=_ref(image))
    return run(request, progress=progress, mgr=mgr, cancel=cancel, on_wait=on_wait)


def outpaint(
    image: ImageLike,
    direction: str,
    pixels: int | None = None,
    *,
    prompt: str | None = None,
    progress: ProgressFn | None = None,
    mgr: PipelineManager | None = None,
    cancel: CancelToken | None = None,
    on_wait: Callable[[], None] | None = None,
    **params: Any,
) -> Result:
    """Shift the picture away from ``direction`` by ``pixels`` (default half) and paint the strip.

    The canvas keeps its size; the strip on the opposite side falls off.
    """
    request = OutpaintRequest(image=image, direction=direction, pixels=pixels,
                              params=_params(prompt, params, GenerationParams()), image_ref=_ref(image))
    return run(request, progress=progress, mgr=mgr, cancel=cancel, on_wait=on_wait)


def run(request: Any, *, progress: ProgressFn | None = None, mgr: PipelineManager | None = None,
        cancel: CancelToken | None = None, on_wait: Callable[[], None] | None = None) -> Result:
    """Carry out any request object (what the widgets and the command language call).

    The run holds the manager from its first pass to its last, so no other run's pass
    comes between them, and it keeps the model it started with (``configure(model=...)``
    meanwhile applies to the next run; every image's metadata names the model that made
    it). ``cancel`` stops it at its next check, whatever it is doing; ``on_wait`` is
    called once if it has to wait for another run to finish.
    """
    mgr = mgr or manager()
    if not isinstance(request, (InpaintRequest, OutcropRequest, OutpaintRequest)):
        raise TypeError(f"not a generation request: {type(request).__name__}")
    check_loras(request.params.prompt, mgr.lora_dir())  # an unknown LoRA: refused before any work
    # the model of this moment, kept for the whole run (the line prints --model only if given)
    with mgr.session(cancel, on_wait=on_wait, model=request.params.model or mgr.default_model()):
        if isinstance(request, InpaintRequest):
            from .inpainting import run_inpaint

            return run_inpaint(request, mgr, progress=progress)
        from .outpainting import run_outcrop, run_outpaint

        if isinstance(request, OutcropRequest):
            return run_outcrop(request, mgr, progress=progress)
        return run_outpaint(request, mgr, progress=progress)
