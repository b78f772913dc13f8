"""The Python API: ``inpaint``, ``outcrop``, ``outpaint``, each building one request.

Each function validates its arguments by building the same frozen request the
widgets and the command language build, then runs it on the kernel's manager.
"""

from __future__ import annotations

import os
from typing import Any

from ..io import ImageLike
from ..requests import GenerationParams, InpaintRequest
from ..result import Result
from .denoise import ProgressFn
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
    progress: ProgressFn | None = None,
    invert_mask: bool = False,
    text_mask: str | tuple[str, float] | None = None,
    color_correct: bool = False,
    region: str = "auto",
    crop_padding: int = 32,
    mgr: PipelineManager | None = None,
) -> Result:
    """Repaint the masked part of ``image``; everything outside stays bit-identical.

    ``mask``: array (True/1/255 = paint), PIL image or file path (``-M`` convention:
    black or transparent = paint). Without one, the transparent area of an RGBA
    ``image`` is painted (partial alpha = partial preservation), or ``text_mask``
    (``"orange"`` or ``("orange", 0.6)``) selects the area by words.
    """
    if isinstance(text_mask, str):
        text_mask = (text_mask, 0.5)
    params = GenerationParams(
        prompt=prompt, negative_prompt=negative_prompt, steps=steps, cfg=cfg, strength=strength,
        seed=seed, sampler=sampler, iterations=iterations, width=width, height=height,
        inpaint_replace=inpaint_replace, color_correct=color_correct, model=model,
    )
    request = InpaintRequest(
        image=image, mask=mask, params=params, invert_mask=invert_mask, text_mask=text_mask,
        region=region, crop_padding=crop_padding, image_ref=_ref(image), mask_ref=_ref(mask),
    )
    return run(request, progress=progress, mgr=mgr)


def run(request: Any, *, progress: ProgressFn | None = None, mgr: PipelineManager | None = None) -> Result:
    """Carry out any request object (what the widgets and the command language call)."""
    mgr = mgr or manager()
    if isinstance(request, InpaintRequest):
        from .inpainting import run_inpaint

        return run_inpaint(request, mgr, progress=progress)
    from .outpainting import run_outcrop, run_outpaint
    from ..requests import OutcropRequest, OutpaintRequest

    if isinstance(request, OutcropRequest):
        return run_outcrop(request, mgr, progress=progress)
    if isinstance(request, OutpaintRequest):
        return run_outpaint(request, mgr, progress=progress)
    raise TypeError(f"not a generation request: {type(request).__name__}")
