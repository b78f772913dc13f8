"""Crop-to-mask inpainting: generate only the box around the mask, at the model's native size.

A 4096x4096 photo with a 200-pixel blemish does not need a 4096x4096 generation:
the model repaints a window around the mask and the window is stitched back.

1. **Box.** The bounding box of the paint mask (``paint > 0``), padded by
   ``padding`` pixels on every side, grown to the model's aspect (square for SD 1.x
   and SDXL) around its centre, sides rounded up to a multiple of 8, then shifted
   (not shrunk) to lie inside the image; a side longer than the image's becomes the
   whole side.
2. **Generation size.** The box is resized so its longer side is the model's
   native size (its family's, see :mod:`.families`: 512 for SD 1.x/2.x-base, 1024
   for SDXL), sides multiples of 8: small boxes are scaled up (the model draws best
   at its training size), large ones down. The cost is that of a native-size image whatever the photo's size.
3. **Stitching.** The generated window is resized back to the box and pasted onto
   the original window through the same dilated, feathered mask as a full-image
   generation. The padding is at least the paste-back's dilate + blur, so that mask
   ends inside the box: pixels outside the box, and outside the feathered mask,
   are bit-identical to the input.

``region="auto"`` picks the crop when it pays off (:func:`choose_region`).
Pure geometry: numpy only, no torch (the family is read from configs).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MaskError
from ..imaging.box import Box
from ..imaging.masks import bounding_box
from .families import family_of

#: ``auto`` crops when the image's longest side exceeds this many times the native size...
AUTO_MIN_SIDE_FACTOR = 1.5
#: ...and the crop box covers less than this fraction of the image's area.
AUTO_MAX_AREA_FRACTION = 0.5
#: Sides of crop boxes and generation sizes are multiples of this (the VAE's grid).
MULTIPLE = 8


def native_size(pipe: Any) -> int:
    """The side the model was trained at, from its family (:func:`.families.family_of`).

    The UNet's ``sample_size`` times the VAE's downsampling when the model states them
    (512 for SD 1.x, 768 for SD 2 768-v, 1024 for SDXL), else the family's default.
    """
    return family_of(pipe).native_size


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple)) * multiple


def _place(lo: int, hi: int, size: int, limit: int) -> tuple[int, int]:
    """A span of ``size`` (at most ``limit``) centred on ``[lo, hi)``, shifted into ``[0, limit)``."""
    size = min(size, limit)
    start = (lo + hi - size) // 2
    start = min(max(start, 0), limit - size)
    return start, start + size


def crop_box(paint: np.ndarray, padding: int, *, aspect: float = 1.0, multiple: int = MULTIPLE) -> Box:
    """The crop window for ``paint`` (``(H, W)``, ``> 0`` = paint) as a :class:`Box`.

    ``aspect`` is the target width / height. The box contains the mask's bounding
    box padded by ``padding`` (clipped to the image), is centred on it where the image
    allows, and has sides that are multiples of ``multiple`` unless it spans the
    image's whole side. :class:`MaskError` when the mask is empty.
    """
    if aspect <= 0:
        raise InvalidInputError(f"crop aspect must be positive, not {aspect}")
    box = bounding_box(paint)  # nonzero = paint
    if box is None:
        raise MaskError(
            "region='crop' needs a mask that selects something: the mask is empty, so there is no "
            "area to crop around. Paint an area, or pass a mask (-M) or a text mask (-tm)"
        )
    height, width = paint.shape[:2]
    top, left, bottom, right = box.top - padding, box.left - padding, box.bottom + padding, box.right + padding
    h: float = bottom - top
    w: float = right - left
    if w < h * aspect:
        w = h * aspect
    else:
        h = w / aspect
    y0, y1 = _place(top, bottom, _round_up(h, multiple), height)
    x0, x1 = _place(left, right, _round_up(w, multiple), width)
    return Box(y0, x0, y1, x1)


def reach_box(paint: np.ndarray, reach: int) -> Box | None:
    """The mask's bounding box grown by ``reach`` on every side, clipped to the image; None if empty."""
    box = bounding_box(paint)
    if box is None:
        return None
    height, width = paint.shape[:2]
    return Box(max(box.top - reach, 0), max(box.left - reach, 0),
               min(box.bottom + reach, height), min(box.right + reach, width))


def generation_size(box: Box, native: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    """``(width, height)`` to generate ``box`` at: longer side ``native``, sides multiples of 8."""
    bw, bh = box.width, box.height
    scale = native / max(bw, bh)

    def snap(v: float) -> int:
        return max(64, int(round(v * scale / multiple)) * multiple)

    return snap(bw), snap(bh)


def box_area(box: Box) -> int:
    """Pixels in ``box`` (:attr:`Box.area`; kept for callers of this module)."""
    return box.area


def choose_region(paint: np.ndarray, region: str, padding: int, native: int) -> Box | None:
    """The crop box to generate, or ``None`` to generate the whole image.

    - ``"full"``: ``None``.
    - ``"crop"``: always the crop box (:class:`MaskError` for an empty mask).
    - ``"auto"``: the crop box when the image's longest side is more than
      1.5 x ``native`` **and** the crop box covers less than half of the image's
      area; otherwise ``None``. Small images keep the whole picture as context; a
      mask that covers most of a big image gains little from cropping.

    ``padding`` should already include the paste-back margin (see :func:`crop_padding_for`).
    """
    if region == "full":
        return None
    if region not in ("auto", "crop"):
        raise InvalidInputError(f"region must be 'auto', 'full' or 'crop', not {region!r}")
    height, width = paint.shape[:2]
    if region == "auto" and max(height, width) <= AUTO_MIN_SIDE_FACTOR * native:
        return None
    box = crop_box(paint, padding)
    if region == "auto" and box_area(box) >= AUTO_MAX_AREA_FRACTION * height * width:
        return None
    return box


def crop_padding_for(requested: int, paste_dilate: int, paste_blur: int) -> int:
    """The padding actually used: at least the paste-back's reach, so its feather ends in the box."""
    return max(int(requested), int(paste_dilate) + int(paste_blur))


__all__ = [
    "AUTO_MAX_AREA_FRACTION",
    "AUTO_MIN_SIDE_FACTOR",
    "Box",
    "box_area",
    "choose_region",
    "crop_box",
    "crop_padding_for",
    "generation_size",
    "native_size",
    "reach_box",
]
