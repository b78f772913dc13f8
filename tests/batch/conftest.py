"""A small folder for batch tests: three 64x64 pictures, their masks, and a broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIDE = 64
NAMES = ("a", "b", "c")


def picture(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    return np.stack([xx * 4, yy * 4, (xx + yy) * 2 + 40 * i], axis=-1).astype(np.uint8)


def keep_mask() -> np.ndarray:
    """``-M`` convention: white = keep, black = paint (a 32x32 square in the middle)."""
    mask = np.full((SIDE, SIDE), 255, np.uint8)
    mask[16:48, 16:48] = 0
    return mask


@pytest.fixture
def folder(tmp_path: Path) -> dict[str, Path]:
    """``{"inputs", "masks", "bad"}``: three good images (a, b, c) with masks, and ``b_broken.png``."""
    inputs, masks = tmp_path / "in", tmp_path / "masks"
    inputs.mkdir()
    masks.mkdir()
    for i, name in enumerate(NAMES):
        Image.fromarray(picture(i)).save(inputs / f"{name}.png")
        Image.fromarray(keep_mask()).save(masks / f"{name}.png")
    bad = inputs / "b_broken.png"
    bad.write_bytes(b"this is not a png")
    Image.fromarray(keep_mask()).save(masks / "b_broken.png")
    (inputs / "README.txt").write_text("not an image")
    return {"inputs": inputs, "masks": masks, "bad": bad}
