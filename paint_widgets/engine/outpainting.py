"""Outcrop, outpaint and transparent-border outpainting: extend the picture.

Each follows the reference's recipe: lay the picture on the new canvas, infill the
new area (so the model starts from plausible colours, not black), repaint it by
masked img2img, run the seam pass over a band along the old edge, and put the
original pixels back so they are bit-identical in their new place. That recipe,
:func:`~.generation.extend_canvas`, lives in :mod:`.generation` because inpainting
an ``-I`` with transparent borders uses it too; this module lays out the canvases.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..image_defaults import image_defaults
from ..imaging.outpaint_geometry import outcrop_canvas, outpaint_canvas
from ..io import load_image
from ..requests import GenerationParams, OutcropRequest, OutpaintRequest
from ..result import Result
from .denoise import ProgressFn
from .generation import add_image, extend_canvas, seeds_for
from .manager import PipelineManager


def _defaults_from_metadata(params: GenerationParams, image: Image.Image) -> GenerationParams:
    """The prompt and seed stored in the image (ours, or InvokeAI's), unless given."""
    stored = image_defaults(image)
    changes = {}
    if not params.prompt and "prompt" in stored:
        changes["prompt"] = stored["prompt"]
        if not params.negative_prompt and "negative_prompt" in stored:
            changes["negative_prompt"] = stored["negative_prompt"]
    if params.seed is None and "seed" in stored:
        changes["seed"] = stored["seed"]
    return params.with_(**changes) if changes else params


def _run_extension(request: OutcropRequest | OutpaintRequest, mgr: PipelineManager, rgb: np.ndarray,
                   paint: np.ndarray, params: GenerationParams, progress: ProgressFn | None) -> Result:
    """One extended image per iteration (seed, seed+1, ...), recorded in a :class:`Result`."""
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
