"""paint_widgets: Jupyter widgets for Stable Diffusion inpainting and outpainting.

Importing the package is cheap: torch, diffusers and ipywidgets load only when a
name that needs them is first used (PEP 562 ``__getattr__``). That keeps the
Jupyter server extension and the imaging helpers light.

Type checkers see the real objects: the ``TYPE_CHECKING`` block imports every lazy
name from the module that defines it (``reveal_type(pw.inpaint)`` shows its
signature), and a misspelt name is an error rather than ``Any``. The public names:

- the Python API ``inpaint``, ``outcrop``, ``outpaint``, ``preview`` (few-step, live mode) and what they take and give
  (``GenerationParams``, ``Step`` -- what ``progress=`` receives -- and ``Result``);
- the kernel's ``manager()`` / ``PipelineManager``, ``text_mask`` and ``infill``;
- ``batch`` (a folder, locally or on Ray), its ``Recipe`` and ``BatchReport``;
- the widgets ``MaskPainter``, ``TextMaskTuner``, ``OutpaintMargins``, ``Studio``;
- every error (eager: :mod:`.errors` imports nothing), every warning, and
  ``CancelToken`` (a run's own cancel: ``pw.inpaint(..., cancel=token)``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .cancel import CancelToken
from .errors import (
    CancelledError,
    CommandError,
    GenerationError,
    ImageLoadError,
    InvalidInputError,
    MaskError,
    ModelLoadError,
    OutOfMemoryError,
    OutputError,
    OutputExistsError,
    PaintError,
    PromptTruncatedWarning,
)

if TYPE_CHECKING:  # keep in step with _LAZY (tests/test_typing.py checks)
    from .batching import BatchReport, Recipe, batch
    from .engine.api import inpaint, outcrop, outpaint
    from .engine.denoise import Step
    from .engine.manager import PipelineManager, manager
    from .engine.preview import PreviewRequest, preview
    from .engine.segment import segment
    from .engine.textmask import save_mask_debug, text_mask
    from .imaging.infill import infill
    from .imaging.masks import ErasedColourWarning
    from .imaging.text_mask import TextMask
    from .requests import GenerationParams
    from .result import Result
    from .widgets.mask_painter import MaskPainter
    from .widgets.outpaint_margins import OutpaintMargins
    from .widgets.studio import Studio
    from .widgets.text_mask_tuner import TextMaskTuner

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY: dict[str, str] = {
    "manager": "paint_widgets.engine.manager",
    "PipelineManager": "paint_widgets.engine.manager",
    "Result": "paint_widgets.result",
    "GenerationParams": "paint_widgets.requests",
    "Step": "paint_widgets.engine.denoise",
    "inpaint": "paint_widgets.engine.api",
    "outcrop": "paint_widgets.engine.api",
    "outpaint": "paint_widgets.engine.api",
    "preview": "paint_widgets.engine.preview",
    "PreviewRequest": "paint_widgets.engine.preview",
    "infill": "paint_widgets.imaging.infill",
    "text_mask": "paint_widgets.engine.textmask",
    "segment": "paint_widgets.engine.segment",
    "TextMask": "paint_widgets.imaging.text_mask",
    "save_mask_debug": "paint_widgets.engine.textmask",
    "ErasedColourWarning": "paint_widgets.imaging.masks",
    "MaskPainter": "paint_widgets.widgets.mask_painter",
    "TextMaskTuner": "paint_widgets.widgets.text_mask_tuner",
    "OutpaintMargins": "paint_widgets.widgets.outpaint_margins",
    "Studio": "paint_widgets.widgets.studio",
    "batch": "paint_widgets.batching",
    "Recipe": "paint_widgets.batching",
    "BatchReport": "paint_widgets.batching",
}

__all__ = [
    "CancelToken",
    # errors and warnings (eager)
    "CancelledError",
    "CommandError",
    "GenerationError",
    "ImageLoadError",
    "InvalidInputError",
    "MaskError",
    "ModelLoadError",
    "OutOfMemoryError",
    "OutputError",
    "OutputExistsError",
    "PaintError",
    "PromptTruncatedWarning",
    # lazy (the keys of _LAZY)
    "BatchReport",
    "ErasedColourWarning",
    "GenerationParams",
    "MaskPainter",
    "OutpaintMargins",
    "PipelineManager",
    "PreviewRequest",
    "Recipe",
    "Result",
    "Step",
    "Studio",
    "TextMask",
    "TextMaskTuner",
    "batch",
    "infill",
    "inpaint",
    "manager",
    "outcrop",
    "outpaint",
    "preview",
    "save_mask_debug",
    "segment",
    "text_mask",
]

if not TYPE_CHECKING:  # hidden from type checkers, which see the real imports above

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'paint_widgets' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext paint_widgets`` registers the ``%invoke`` / ``%%invoke`` magics."""
    from .commands.magic import load_ipython_extension as _load

    _load(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Let ``jupyter server extension enable paint_widgets`` find the TCP_NODELAY extension."""
    return [{"module": "paint_widgets.server_extension"}]
