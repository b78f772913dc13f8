"""Sample pictures drawn in code, so notebooks and tests need no downloads.

They are this project's own work, under the project's MIT licence.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def landscape(width: int = 512, height: int = 384, *, seed: int = 0) -> Image.Image:
    """A small landscape: sky, sun, two hills, a house with a door, a tree."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    sky = (1 - y) * np.array([90, 150, 230]) + y * np.array([200, 225, 250])
    img = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    s = width / 512
    draw.ellipse([400 * s, 40 * s, 460 * s, 100 * s], fill=(255, 220, 90))
    draw.polygon([(0, height), (0, 250 * s), (180 * s, 200 * s), (360 * s, 260 * s), (360 * s, height)], fill=(70, 140, 60))
    draw.polygon([(200 * s, height), (330 * s, 230 * s), (width, 210 * s), (width, height)], fill=(90, 160, 70))
    draw.rectangle([230 * s, 230 * s, 330 * s, 310 * s], fill=(210, 190, 160))
    draw.polygon([(220 * s, 232 * s), (280 * s, 185 * s), (340 * s, 232 * s)], fill=(150, 60, 50))
    draw.rectangle([268 * s, 265 * s, 292 * s, 310 * s], fill=(100, 60, 40))
    draw.rectangle([120 * s, 250 * s, 132 * s, 300 * s], fill=(100, 70, 40))
    draw.ellipse([95 * s, 200 * s, 157 * s, 262 * s], fill=(40, 110, 50))
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.int16)
    arr = arr + rng.integers(-6, 7, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def door_mask(width: int = 512, height: int = 384) -> np.ndarray:
    """A paint mask (True = paint) over the house's door in :func:`landscape`."""
    s = width / 512
    mask = np.zeros((height, width), dtype=bool)
    mask[int(258 * s): int(316 * s), int(260 * s): int(300 * s)] = True
    return mask
