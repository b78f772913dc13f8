"""One masked generation on a canvas, and the extension recipe built on it.

What :mod:`.inpainting` and :mod:`.outpainting` share lives here so that neither
imports the other: the :class:`Canvas` (image + paint mask), one denoising pass
with paste-back (:func:`generate_on_canvas`, whole image or the crop around the
mask), the infill + repaint + seam recipe that extends a picture
(:func:`extend_canvas`, used by outcrop/outpaint and by inpainting an ``-I`` with
transparent borders), seeds per iteration and how a result records each image.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..imaging.box import Box
from ..imaging.infill import infill
from ..imaging.paste import colour_correct, paste_back
from ..imaging.seam import seam_mask
from ..requests import GenerationParams
from ..result import Result
from .crop import choose_region, crop_padding_for, generation_size, native_size, reach_box
from .denoise import DenoiseSettings, ProgressFn, denoise_masked
from .loras import check_loras, split_loras, use_loras
from .manager import PipelineManager

#: Paste-back: grow the paint area by this much, then feather over this much.
PASTE_DILATE = 8
PASTE_BLUR = 8


@dataclass
class Canvas:
    """An image and its paint mask at the size the output will have."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    paint: np.ndarray  # float32 (H, W), 1 = paint


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

    With ``settings.soft`` the mask's values already set how much each pixel changed
    during denoising, so paste-back blends through the hard union (``paint > 0``)
    instead of the values again (which would apply them twice).
    """
    with mgr.generating() as cancel:
        pipe = mgr.pipeline(model)
        prompt, _ = split_loras(settings.prompt)  # withLora(...) reaches the adapters, not the encoder
        use_loras(pipe, check_loras(settings.prompt, mgr.lora_dir()), label=model or mgr.default_model())
        settings = dataclasses.replace(settings, prompt=prompt)
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
        generated = np.asarray(Image.fromarray(generated).resize((w, h), Image.Resampling.LANCZOS))
    if color_correct:
        generated = colour_correct(window.rgb, generated, window.paint)
    paste = (window.paint > 0).astype(np.float32) if settings.soft else window.paint
    pasted = paste_near_mask(window.rgb, generated, paste)
    if box is None:
        return pasted
    out = canvas.rgb.copy()
    out[box.slices] = pasted
    return out


def paste_near_mask(original: np.ndarray, generated: np.ndarray, paint: np.ndarray) -> np.ndarray:
    """:func:`paste_back`, computed only where it can change anything; the same pixels.

    The paste-back alpha reaches ``PASTE_DILATE + PASTE_BLUR`` pixels past the mask,
    so only the mask's bounding box grown by that much is blended; the rest is copied.
    """
    out = original.copy()
    box = reach_box(paint, PASTE_DILATE + PASTE_BLUR)
    if box is not None:
        near = box.slices
        out[near] = paste_back(original[near], generated[near], paint[near],
                               dilate=PASTE_DILATE, blur=PASTE_BLUR)
    return out


def crop_canvas(canvas: Canvas, box: Box) -> Canvas:
    """The part of ``canvas`` inside ``box`` (views, not copies)."""
    return Canvas(rgb=canvas.rgb[box.slices], paint=canvas.paint[box.slices])


def resize_canvas(canvas: Canvas, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image (Lanczos) and mask (bilinear) at ``size = (width, height)``; unchanged if equal."""
    rgb, paint = np.ascontiguousarray(canvas.rgb), np.ascontiguousarray(canvas.paint, dtype=np.float32)
    if size == (rgb.shape[1], rgb.shape[0]):
        return rgb, paint
    rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    paint = np.asarray(Image.fromarray(paint).resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return rgb, paint


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
    ``params.soft`` applies to the main pass (partial alpha changes less); the seam
    pass keeps its blurred band as a plain mask.
    """
    keep = paint <= 0
    hole = paint >= 1.0
    filled = infill(rgb, hole, params.infill_method, tile_size=params.tile_size, seed=seed) if hole.any() else rgb
    main = DenoiseSettings(
        prompt=params.prompt, negative_prompt=params.negative_prompt, steps=params.steps, cfg=params.cfg,
        strength=params.strength, sampler=params.sampler, seed=seed, inpaint_replace=params.inpaint_replace,
        soft=params.soft,
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


def seeds_for(seed: int | None, iterations: int) -> list[int]:
    """``-S`` then ``-S+1``...; a random first seed when none is given."""
    first = random.randrange(0, 2**32) if seed is None else int(seed)
    return [(first + i) % 2**32 for i in range(iterations)]


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


__all__ = [
    "PASTE_BLUR",
    "PASTE_DILATE",
    "Canvas",
    "add_image",
    "crop_canvas",
    "extend_canvas",
    "generate_on_canvas",
    "grid_size",
    "paste_near_mask",
    "resize_canvas",
    "seeds_for",
]
