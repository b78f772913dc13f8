"""What a widget shows while its job runs: waiting, downloading, loading, steps, previews.

:class:`RunDisplay` drives a progress bar, a one-line status and (optionally) a
preview image. Its methods are the callbacks a job hands the engine: ``step`` for
each denoising step, ``load`` for model downloads and loads (see
:func:`paint_widgets.engine.hub.report_loads`), ``waiting`` when another run holds
the manager. All are cheap and safe to call from a worker thread.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

PREVIEW_EVERY_S = 0.5


def png_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8 RGB/RGBA/L) as PNG bytes for an ``ipywidgets.Image``."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class RunDisplay:
    """Progress bar + status line (+ preview) of one widget's runs."""

    def __init__(self, progress: Any, say: Callable[[str], None], preview: Any = None) -> None:
        self.progress = progress
        self.say = say
        self.preview = preview
        self._last_preview = 0.0

    def started(self, text: str) -> None:
        self.progress.value = 0
        self._last_preview = 0.0
        self.say(text)

    def waiting(self) -> None:
        self.say("Waiting for another run to finish (the model is busy)…")

    def load(self, event: Any) -> None:
        """A :class:`~paint_widgets.engine.hub.LoadProgress`: bytes while downloading, then the load."""
        if event.phase == "download" and event.total:
            self.progress.max = max(int(event.total), 1)
            self.progress.value = min(int(event.done), self.progress.max)
        self.say(event.describe())

    def step(self, step: Any) -> None:
        """One denoising step (a :class:`~paint_widgets.Step`)."""
        total = max(int(step.total), 1)
        self.progress.max = total
        self.progress.value = min(int(step.step), total)
        self.say(f"Step {self.progress.value}/{total}")
        if self.preview is None:
            return
        now = time.monotonic()
        if now - self._last_preview >= PREVIEW_EVERY_S or step.step == step.total:
            self._last_preview = now
            image = step.preview()
            if image is not None:
                self.preview.value = png_bytes(image)
                self.preview.layout.display = ""

    def finished(self) -> None:
        if self.preview is not None:
            self.preview.layout.display = "none"
