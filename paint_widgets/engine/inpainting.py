"""Inpainting from a request: mask resolution, geometry, iterations, paste-back.

Readable top to bottom: load the image, work out the paint mask the way the
reference describes (``-M`` replaces ``-I``'s alpha, ``--invert_mask``, ``-tm``),
pick the window to generate (the whole image, or with ``region="crop"``/``"auto"``
the padded box around the mask at the model's native size, see :mod:`.crop`),
fit it to the model's grid, denoise once per iteration, restore the size, and
paste the original back so unpainted pixels are bit-identical.

``region`` applies to inpainting a mask; outpainting an RGBA image with
transparent borders always generates the whole canvas.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import MaskError
from ..imaging import masks
from ..imaging.outpaint_geometry import is_outpainting
from ..imaging.paste import colour_correct, paste_back
from ..io import load_image, to_rgb_array
from ..requests import GenerationParams, InpaintRequest
from ..result import Result
from .crop import Box, choose_region, crop_padding_for, generation_size, native_size, reach_box
from .denoise import DenoiseSettings, ProgressFn, denoise_masked
from .manager import PipelineManager

#: Paste-back: grow the paint area by this much, then feather over this much.
PASTE_DILATE = 8
PASTE_BLUR = 8


@dataclass
class Canvas:
    """An image and its paint mask at the size the output will have."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    paint: np.ndarray  # float32 (H, W), 1 = paint


def resolve_mask(request: InpaintRequest, image: Image.Image, mgr: PipelineManager) -> np.ndarray:
    """The paint mask for ``request`` at the image's size (float32, 1 = paint)."""
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
        rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.LANCZOS))
        paint = np.asarray(Image.fromarray(paint).resize((w, h), Image.BILINEAR), dtype=np.float32)
        if not np.any(paint > 0):
            raise MaskError("the mask vanished when resizing to -W/-H; paint a larger area")
    return Canvas(rgb=rgb, paint=paint)


def grid_size(width: int, height: int, multiple: int = 8) -> tuple[int, int]:
    """The nearest size whose sides are multiples of ``multiple`` (the VAE's grid), at least 64."""
    def snap(v: int) -> int:
        return max(64, int(round(v / multiple)) * multiple)

    return snap(width), snap(height)


def generate_on_canvas(
    mgr: PipelineManager,
    canvas: Canvas,
    settings: DenoiseSettings,
    *,
    model: str | None,
    progress: ProgressFn | None = None,
    color_correct: bool = False,
    region: str = "full",
    crop_padding: int = 32,
) -> np.ndarray:
    """One masked generation, pasted back onto the canvas.

    ``region="full"`` generates the whole canvas (snapped to the VAE's grid);
    ``"crop"`` only the padded box around the mask, at the model's native size
    (:mod:`.crop`); ``"auto"`` crops a small mask on a large image. Pixels outside
    the generated window and outside the feathered mask come back unchanged.
    """
    with mgr.generating() as cancel:
        pipe = mgr.pipeline(model)
        native = native_size(pipe)
        box = choose_region(canvas.paint, region, crop_padding_for(crop_padding, PASTE_DILATE, PASTE_BLUR), native)
        window = canvas if box is None else crop_canvas(canvas, box)
        h, w = window.rgb.shape[:2]
        size = grid_size(w, h) if box is None else generation_size(box, native)
        rgb, paint = resize_canvas(window, size)
        base = dict(getattr(pipe, "_paint_widgets_base_scheduler", None) or pipe.scheduler.config)
        pipe._paint_widgets_base_scheduler = base
        generated = denoise_masked(pipe, rgb, paint, settings, base_scheduler_config=base,
                                   progress=progress, cancel=cancel)
    if size != (w, h):
        generated = np.asarray(Image.fromarray(generated).resize((w, h), Image.LANCZOS))
    if color_correct:
        generated = colour_correct(window.rgb, generated, window.paint)
    pasted = paste_near_mask(window.rgb, generated, window.paint)
    if box is None:
        return pasted
    out = canvas.rgb.copy()
    out[box.top:box.bottom, box.left:box.right] = pasted
    return out


def paste_near_mask(original: np.ndarray, generated: np.ndarray, paint: np.ndarray) -> np.ndarray:
    """:func:`paste_back`, computed only where it can change anything; the same pixels.

    The paste-back alpha reaches ``PASTE_DILATE + PASTE_BLUR`` pixels past the mask,
    so only the mask's bounding box grown by that much is blended; the rest is copied.
    """
    out = original.copy()
    box = reach_box(paint, PASTE_DILATE + PASTE_BLUR)
    if box is not None:
        rows, cols = slice(box.top, box.bottom), slice(box.left, box.right)
        out[rows, cols] = paste_back(original[rows, cols], generated[rows, cols], paint[rows, cols],
                                     dilate=PASTE_DILATE, blur=PASTE_BLUR)
    return out


def crop_canvas(canvas: Canvas, box: Box) -> Canvas:
    """The part of ``canvas`` inside ``box`` (views, not copies)."""
    rows, cols = slice(box.top, box.bottom), slice(box.left, box.right)
    return Canvas(rgb=canvas.rgb[rows, cols], paint=canvas.paint[rows, cols])


def resize_canvas(canvas: Canvas, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image (Lanczos) and mask (bilinear) at ``size = (width, height)``; unchanged if equal."""
    rgb, paint = np.ascontiguousarray(canvas.rgb), np.ascontiguousarray(canvas.paint, dtype=np.float32)
    if size == (rgb.shape[1], rgb.shape[0]):
        return rgb, paint
    rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))
    paint = np.asarray(Image.fromarray(paint).resize(size, Image.BILINEAR), dtype=np.float32)
    return rgb, paint


def seeds_for(seed: int | None, iterations: int) -> list[int]:
    """``-S`` then ``-S+1``...; a random first seed when none is given."""
    first = random.randrange(0, 2**32) if seed is None else int(seed)
    return [(first + i) % 2**32 for i in range(iterations)]


def run_inpaint(request: InpaintRequest, mgr: PipelineManager, *, progress: ProgressFn | None = None) -> Result:
    """Carry out an :class:`InpaintRequest`; one image per iteration."""
    p = request.params
    image = load_image(request.image, what="image (-I)")
    paint = resolve_mask(request, image, mgr)
    canvas = fit_canvas(image, paint, p.width, p.height)
    # transparent borders in -I: outpainting (infill first, seam pass, originals kept)
    outpainting = request.mask is None and request.text_mask is None and is_outpainting(np.asarray(image))
    result = Result(images=[], seeds=[], commands=[], request=request)
    for seed in seeds_for(p.seed, p.iterations):
        if outpainting:
            from .outpainting import extend_canvas

            out = extend_canvas(mgr, canvas.rgb, canvas.paint, p, seed, progress=progress)
        else:
            settings = DenoiseSettings(
                prompt=p.prompt, negative_prompt=p.negative_prompt, steps=p.steps, cfg=p.cfg,
                strength=p.strength, sampler=p.sampler, seed=seed, inpaint_replace=p.inpaint_replace,
            )
            out = generate_on_canvas(mgr, canvas, settings, model=p.model, progress=progress,
                                     color_correct=p.color_correct, region=request.region,
                                     crop_padding=request.crop_padding)
        add_image(result, out, seed, mgr)
    return result


def add_image(result: Result, out: np.ndarray, seed: int, mgr: PipelineManager,
              params: GenerationParams | None = None) -> None:
    """Append one generated image with its seed, command line and metadata to ``result``."""
    request = result.request
    h, w = out.shape[:2]
    command = request.command(seed, w, h)
    values = (params or request.params).as_dict()
    values.update(seed=seed, width=w, height=h, model=values["model"] or mgr.default_model())
    result.images.append(Image.fromarray(out))
    result.seeds.append(seed)
    result.commands.append(command)
    result.metadata.append(
        {"app": "paint_widgets", "type": type(request).__name__, "command": command, "params": values}
    )
