"""A Studio ready for live previews on the tiny models: shared by the live-mode widget tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import paint_widgets as pw


def live_studio(mgr: Any, tiny_models: dict[str, Path], photo: np.ndarray, mask: np.ndarray,
                outdir: Path) -> pw.Studio:
    """A Studio with ``mask`` painted, a prompt, 3 steps, seed 42 and the tiny LCM LoRA for previews.

    Previews run at 128 px: the tiny model's native 512 is covered by tests/engine/test_preview.py.
    """
    mgr.configure(lora_dir=str(tiny_models["loras/tiny-lcm"].parent))
    studio = pw.Studio(photo, outdir=outdir)
    studio.painter.set_mask(mask)
    studio.prompt.value = "a red barn"
    studio.steps.value = 3
    studio.seed.value = 42
    studio.live_lora = "tiny-lcm"
    studio.live_size = 128
    return studio
