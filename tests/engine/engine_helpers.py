"""Helpers the engine tests share."""

from __future__ import annotations

import numpy as np

from paint_widgets.engine.generation import PASTE_BLUR, PASTE_DILATE
from paint_widgets.imaging.paste import paste_alpha


def outside(paint: np.ndarray) -> np.ndarray:
    """Pixels paste-back must leave untouched: beyond the reach of the mask's hard union."""
    return paste_alpha((np.asarray(paint) > 0).astype(np.float32), dilate=PASTE_DILATE, blur=PASTE_BLUR) == 0
