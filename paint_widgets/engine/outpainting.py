"""Outcrop, outpaint and transparent-border outpainting: extend the picture.

Each follows the reference's recipe: lay the picture on the new canvas, infill the
new area (so the model starts from plausible colours, not black), repaint it by
masked img2img, run the seam pass over a band along the old edge, and put the
original pixels back so they are bit-identical in their new place.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..imaging.infill import infill
from ..imaging.outpaint_geometry import outcrop_canvas, outpaint_canvas
from ..imaging.seam import seam_mask
from ..io import load_image, read_metadata
from ..requests import GenerationParams, OutcropRequest, OutpaintRequest
from ..result import Result
from .denoise import DenoiseSettings, ProgressFn
from .inpainting import Canvas, add_image, generate_on_canvas, seeds_for
from .manager import PipelineManager


def extend_canvas(
    mgr: PipelineManager,
    rgb: np.ndarray,
    paint: np.ndarray,
    params: GenerationParams,
    seed: int,
    *,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Infill, repaint and seam-fix the painted part of ``rgb``; kept pixels stay identical.

    ``paint`` is 1 where the canvas is new (and partial where an ``-I`` image was
    partly transparent); pixels with ``paint == 0`` are returned unchanged.
    """
    keep = paint <= 0
    hole = paint >= 1.0
    filled = infill(rgb, hole, params.infill_method, tile_size=params.tile_size, seed=seed) if hole.any() else rgb
    main = DenoiseSettings(
        prompt=params.prompt, negative_prompt=params.negative_prompt, steps=params.steps, cfg=params.cfg,
        strength=params.strength, sampler=params.sampler, seed=seed, inpaint_replace=params.inpaint_replace,
    )
    out = generate_on_canvas(mgr, Canvas(filled, paint), main, model=params.model, progress=progress,
                             color_correct=params.color_correct)
    out[keep] = rgb[keep]
    if params.seam_size > 0:
        # the band straddles the old edge; only its painted side may change
        band = seam_mask(paint, params.seam_size, params.seam_blur) * (~keep)
        if band.any():
            seam = DenoiseSettings(
                prompt=params.prompt, negative_prompt=params.negative_prompt, steps=params.seam_steps,
                cfg=params.cfg, strength=params.seam_strength, sampler=params.sampler, seed=seed,
            )
            out = generate_on_canvas(mgr, Canvas(out, band.astype(np.float32)), seam, model=params.model,
                                     progress=progress)
            out[keep] = rgb[keep]
    return out


def _defaults_from_metadata(params: GenerationParams, image: Image.Image) -> GenerationParams:
    """Prompt and seed from the PNG metadata of an image this package made, unless given."""
    stored = read_metadata(image).get("params", {})
    changes = {}
    if not params.prompt and isinstance(stored.get("prompt"), str):
        changes["prompt"] = stored["prompt"]
    if params.seed is None and isinstance(stored.get("seed"), int) and 0 <= stored["seed"] < 2**32:
        changes["seed"] = stored["seed"]
    return params.with_(**changes) if changes else params


def _run_extension(request, mgr: PipelineManager, rgb: np.ndarray, paint: np.ndarray,
                   params: GenerationParams, progress: ProgressFn | None) -> Result:
    result = Result(images=[], seeds=[], commands=[], request=request)
    for seed in seeds_for(params.seed, params.iterations):
        out = extend_canvas(mgr, rgb, paint, params, seed, progress=progress)
        add_image(result, out, seed, mgr, params)
    return result


def run_outcrop(request: OutcropRequest, mgr: PipelineManager, *, progress: ProgressFn | None = None) -> Result:
    """``!fix IMG --outcrop top 128 right 64``: a bigger canvas, new margins painted."""
    image = load_image(request.image, what="image")
    params = _defaults_from_metadata(request.params, image)
    rgb, paint, _offset = outcrop_canvas(np.asarray(image), **request.margins())
    return _run_extension(request, mgr, rgb, paint, params, progress)


def run_outpaint(request: OutpaintRequest, mgr: PipelineManager, *, progress: ProgressFn | None = None) -> Result:
    """``!fix IMG -D top 64``: same canvas, picture shifted, the uncovered strip painted."""
    image = load_image(request.image, what="image")
    params = _defaults_from_metadata(request.params, image)
    rgb, paint, _kept = outpaint_canvas(np.asarray(image), request.direction, request.pixels)
    return _run_extension(request, mgr, rgb, paint, params, progress)


__all__ = ["extend_canvas", "run_outcrop", "run_outpaint"]
