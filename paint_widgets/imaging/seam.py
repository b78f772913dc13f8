"""The seam band: where the seam pass (``--seam_size``/``--seam_blur``) repaints.

After outpainting, the line where the kept picture meets the painted area can
show. The seam pass re-runs generation on a band around that line at
``seam_strength``. The band comes from the boundary between kept and painted
pixels only: an image border is not a seam.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InvalidInputError
from .masks import feather


def _check_size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidInputError(f"{name} must be a whole number of pixels >= 0, not {value!r}")
    return int(value)


def _distance_to(other: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance from each pixel centre to the nearest ``other`` centre.

    Only pixels inside the image count: nothing is assumed beyond the border.
    """
    return cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def seam_mask(paint_mask: np.ndarray, seam_size: int, seam_blur: int = 0) -> np.ndarray:
    """``float32`` band of width ``seam_size`` around the kept/painted boundary, blurred.

    Painted = ``paint_mask > 0`` (partial paint counts), kept = ``paint_mask == 0``.
    ``d`` = Euclidean distance from a pixel's centre to the nearest pixel centre of
    the other class (1 for the pixels touching the boundary). The band is:

    - painted pixels with ``d <= ceil(seam_size / 2)`` (the inner half), and
    - kept pixels with ``d <= floor(seam_size / 2)`` (the outer half),

    so across a straight boundary it is exactly ``seam_size`` pixels wide, the odd
    pixel on the painted side. It is then softened by ``masks.feather(band,
    seam_blur)``, which spreads it at most ``seam_blur`` pixels further.
    ``seam_size`` 0, or a mask with nothing painted or nothing kept, gives all zeros.
    """
    mask = np.asarray(paint_mask)
    if mask.ndim != 2:
        raise InvalidInputError(f"paint mask must be 2-D (H, W), not shape {mask.shape}")
    size = _check_size(seam_size, "seam_size")
    blur = _check_size(seam_blur, "seam_blur")
    painted = mask > 0
    if size == 0 or painted.all() or not painted.any():
        return np.zeros(mask.shape, dtype=np.float32)
    inner = painted & (_distance_to(~painted) <= (size + 1) // 2)
    outer = ~painted & (_distance_to(painted) <= size // 2)
    return feather((inner | outer).astype(np.float32), blur)
