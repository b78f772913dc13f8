"""paint_widgets: Jupyter widgets for Stable Diffusion inpainting and outpainting.

Importing the package is cheap: torch, diffusers and ipywidgets load only when a
name that needs them is first used (PEP 562 ``__getattr__``). That keeps the
Jupyter server extension and the imaging helpers light.
"""

from __future__ import annotations

import importlib
from typing import Any

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

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "manager": "paint_widgets.engine.manager",
    "PipelineManager": "paint_widgets.engine.manager",
    "Result": "paint_widgets.result",
    "inpaint": "paint_widgets.engine.api",
    "outcrop": "paint_widgets.engine.api",
    "outpaint": "paint_widgets.engine.api",
    "infill": "paint_widgets.imaging.infill",
    "text_mask": "paint_widgets.engine.textmask",
    "TextMask": "paint_widgets.imaging.text_mask",
    "save_mask_debug": "paint_widgets.engine.textmask",
    "MaskPainter": "paint_widgets.widgets.mask_painter",
    "TextMaskTuner": "paint_widgets.widgets.text_mask_tuner",
    "OutpaintMargins": "paint_widgets.widgets.outpaint_margins",
    "Studio": "paint_widgets.widgets.studio",
}

__all__ = [
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
    *_LAZY,
]


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
