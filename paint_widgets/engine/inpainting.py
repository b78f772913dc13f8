"""Inpainting from a request: mask resolution, geometry, iterations, paste-back.

Readable top to bottom: load the image, work out the paint mask the way the
reference describes (``-M`` replaces ``-I``'s alpha, ``--invert_mask``, ``-tm``),
pick the window to generate (the whole image, or with ``region="crop"``/``"auto"``
the padded box around the mask at the model's native size, see :mod:`.crop`),
fit it to the model's grid, denoise once per iteration, restore the size, and
paste the original back so unpainted pixels are bit-identical.

``region`` applies to inpainting a mask; outpainting an RGBA image with
transparent borders always generates the whole canvas. The generation itself
(:func:`~.generation.generate_on_canvas`, :func:`~.generation.extend_canvas`) lives
in :mod:`.generation`, shared with :mod:`.outpainting`.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ..errors import MaskError
from ..imaging import masks
from ..imaging.outpaint_geometry import is_outpainting
from ..io import load_image, to_rgb_array
from ..requests import InpaintRequest
from ..result import Result
from .denoise import DenoiseSettings, ProgressFn
from .generation import (
    PASTE_BLUR,
    PASTE_DILATE,
    Canvas,
    add_image,
    extend_canvas,
    generate_on_canvas,
    paste_near_mask,
    seeds_for,
)
from .manager import PipelineManager


def is_img2img(request: InpaintRequest, image: Image.Image) -> bool:
    """An opaque image with no mask source, in a request that takes that as img2img."""
    if request.if_opaque != "img2img" or request.has_mask_source:
        return False
    return image.mode != "RGBA" or int(np.asarray(image)[..., 3].min()) == 255


def resolve_mask(request: InpaintRequest, image: Image.Image, mgr: PipelineManager) -> np.ndarray:
    """The paint mask for ``request`` at the image's size (float32, 1 = paint)."""
    if is_img2img(request, image):
        return np.ones((image.height, image.width), dtype=np.float32)  # repaint it all at -f
    shape = (image.height, image.width)
    if request.mask is not None:
        mask_src = request.mask
        if isinstance(mask_src, (str, os.PathLike)):
            mask_src = load_image(mask_src, what="mask (-M)")
        paint = masks.as_paint_mask(mask_src, shape, what="mask (-M)")
    elif request.text_mask is not None:
        from .textmask import text_mask

        text, threshold = request.text_mask
        paint = text_mask(image, text, threshold, manager=mgr).mask(threshold).astype(np.float32)
    else:
        rgba = np.asarray(image)
        # black transparent borders are how the reference prepares outpainting: no warning then
        if rgba.shape[2] == 4 and not is_outpainting(rgba):
            masks.warn_if_colour_erased(rgba, source=request.image_ref or "the image")
        paint = masks.mask_from_alpha(rgba)
    if request.invert_mask:
        paint = masks.invert(paint)
    masks.require_paint(paint)
    return paint


def fit_canvas(image: Image.Image, paint: np.ndarray, width: int | None, height: int | None) -> Canvas:
    """Resize image and mask to ``-W``/``-H`` when given (the image's own size otherwise)."""
    w, h = width or image.width, height or image.height
    rgb = to_rgb_array(image)
    if (w, h) != image.size:
        rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.LANCZOS))
        paint = np.asarray(Image.fromarray(paint).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
        if not np.any(paint > 0):
            raise MaskError("the mask vanished when resizing to -W/-H; paint a larger area")
    return Canvas(rgb=rgb, paint=paint)


def run_inpaint(request: InpaintRequest, mgr: PipelineManager, *, progress: ProgressFn | None = None) -> Result:
    """Carry out an :class:`InpaintRequest`; one image per iteration."""
    p = request.params
    image = load_image(request.image, what="image (-I)")
    paint = resolve_mask(request, image, mgr)
    canvas = fit_canvas(image, paint, p.width, p.height)
    # transparent borders in -I: outpainting (infill first, seam pass, originals kept)
    outpainting = not request.has_mask_source and is_outpainting(np.asarray(image))
    img2img = is_img2img(request, image)
    result = Result(images=[], seeds=[], commands=[], request=request)
    for seed in seeds_for(p.seed, p.iterations):
        if outpainting:
            out = extend_canvas(mgr, canvas.rgb, canvas.paint, p, seed, progress=progress)
        else:
            settings = DenoiseSettings(
                prompt=p.prompt, negative_prompt=p.negative_prompt, steps=p.steps, cfg=p.cfg,
                strength=p.strength, sampler=p.sampler, seed=seed, inpaint_replace=p.inpaint_replace,
                soft=p.soft,
            )
            out = generate_on_canvas(mgr, canvas, settings, model=p.model, progress=progress,
                                     color_correct=p.color_correct, region=request.region,
                                     crop_padding=request.crop_padding)
        add_image(result, out, seed, mgr)
        if img2img:
            result.metadata[-1].update(mode="img2img", mask="whole image (opaque -I, no -M/-tm)")
    return result


#: ``PASTE_*``, ``Canvas`` and ``paste_near_mask`` are re-exported: they lived here first.
__all__ = ["PASTE_BLUR", "PASTE_DILATE", "Canvas", "fit_canvas", "paste_near_mask", "resolve_mask", "run_inpaint"]
