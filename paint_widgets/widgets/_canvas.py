"""Small helpers shared by the canvas widgets.

- :func:`fit_scale` / :class:`ViewMap`: show an image scaled to fit a view and map
  event coordinates and dirty boxes between view and image pixels.
- :func:`to_rgba`: image → contiguous ``(H, W, 4)`` uint8 for ``put_image_data``
  (ipycanvas 0.14 sends ``(H, W, 3)`` as JPEG q75; RGBA goes as lossless PNG).
- :func:`held`: ``hold_canvas`` with try/finally (ipycanvas' own leaves batching on
  after an exception).
- :func:`set_attrs`: set canvas drawing attributes without the traitlets round
  (for per-mouse-move drawing, where ``stroke_style``'s validation costs more than
  the drawing).
- :func:`report_error` / :func:`routed`: show callback exceptions in an ``Output``
  widget (thread-safe ``append_*``, never ``with out:``) instead of losing them.
- :func:`enable_colab_widgets`: Colab's custom widget manager, enabled once.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np
from ipycanvas.canvas import COMMANDS as _IPYCANVAS_COMMANDS
from PIL import Image

from ..errors import PaintError
from ..imaging.box import Box

F = TypeVar("F", bound=Callable[..., Any])

_SET = _IPYCANVAS_COMMANDS["set"]

#: Most error/info entries an ``Output`` keeps (a callback failing on every mouse move must not grow it forever).
MAX_MESSAGES = 10


def fit_scale(width: int, height: int, max_side: int = 768, min_side: int = 0) -> float:
    """Scale that shows a ``width`` x ``height`` image inside a ``max_side`` view.

    Larger images shrink to fit; images smaller than ``min_side`` (if given) grow to
    it, so a 64 px image is not a stamp on the screen; others stay 1:1.
    """
    longest = max(int(width), int(height))
    if longest > max_side:
        return max_side / longest
    if min_side and longest < min_side:
        return min_side / longest
    return 1.0


@dataclass(frozen=True)
class ViewMap:
    """Maps between image pixels ``(H, W)`` and view (canvas) pixels ``(vh, vw)``.

    Pixel-index convention: the centre of view pixel ``v`` maps to the centre of the
    image span it covers, ``(v + 0.5) / s - 0.5``. Events from the browser arrive in
    view pixels (ipycanvas already undoes CSS scaling).
    """

    height: int
    width: int
    view_height: int
    view_width: int

    @classmethod
    def fit(cls, height: int, width: int, max_side: int = 768, min_side: int = 0) -> ViewMap:
        s = fit_scale(width, height, max_side, min_side)
        return cls(height, width, max(1, round(height * s)), max(1, round(width * s)))

    @property
    def sx(self) -> float:
        return self.view_width / self.width

    @property
    def sy(self) -> float:
        return self.view_height / self.height

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """View point → image pixel-index point (floats, may lie outside the image)."""
        return (float(x) + 0.5) / self.sx - 0.5, (float(y) + 0.5) / self.sy - 0.5

    def to_view(self, x: float, y: float) -> tuple[float, float]:
        """Image pixel-index point → view point."""
        return (float(x) + 0.5) * self.sx - 0.5, (float(y) + 0.5) * self.sy - 0.5

    def view_box(self, box: Box) -> Box:
        """View pixels whose sampled image pixel may lie in the image ``box``."""
        return Box(
            top=max(0, math.floor(box.top * self.sy) - 1),
            left=max(0, math.floor(box.left * self.sx) - 1),
            bottom=min(self.view_height, math.ceil(box.bottom * self.sy) + 1),
            right=min(self.view_width, math.ceil(box.right * self.sx) + 1),
        )

    @property
    def whole_view(self) -> Box:
        """The view box of the whole view."""
        return Box(0, 0, self.view_height, self.view_width)

    def sample(self, mask: np.ndarray, vbox: Box | None = None) -> np.ndarray:
        """Nearest-neighbour view of ``mask`` over view box ``vbox`` (whole view if None).

        View pixel ``v`` shows image pixel ``floor((v + 0.5) / s)``; cost is the view
        box's area, not the image's.
        """
        vy0, vx0, vy1, vx1 = vbox if vbox is not None else self.whole_view
        rows = np.minimum(((np.arange(vy0, vy1) + 0.5) / self.sy).astype(np.intp), self.height - 1)
        cols = np.minimum(((np.arange(vx0, vx1) + 0.5) / self.sx).astype(np.intp), self.width - 1)
        if self.sx == 1.0 and self.sy == 1.0:
            return mask[vy0:vy1, vx0:vx1]
        return mask[rows[:, None], cols[None, :]]


def to_rgba(image: np.ndarray | Image.Image, *, opaque: bool = False) -> np.ndarray:
    """Contiguous ``(H, W, 4)`` uint8 array; ``opaque`` forces alpha to 255."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {arr.dtype}")
    if arr.shape[2] == 3:
        out = np.empty((*arr.shape[:2], 4), dtype=np.uint8)
        out[..., :3] = arr
        out[..., 3] = 255
        return out
    out = np.ascontiguousarray(arr[..., :4]).copy()
    if opaque:
        out[..., 3] = 255
    return out


def resize_rgba(rgba: np.ndarray, view_width: int, view_height: int) -> np.ndarray:
    """Resize for display: area-averaging down, nearest up (crisp pixels when zoomed)."""
    h, w = rgba.shape[:2]
    if (w, h) == (view_width, view_height):
        return rgba
    interp = cv2.INTER_AREA if view_width < w else cv2.INTER_NEAREST
    return np.ascontiguousarray(cv2.resize(rgba, (view_width, view_height), interpolation=interp))


@contextmanager
def held(canvas: Any) -> Iterator[None]:
    """Batch the drawing commands of the block into one message, even if it raises.

    Nested blocks flush once, at the outermost exit.
    """
    manager = canvas._canvas_manager
    outer = manager._caching
    manager._caching = True
    try:
        yield
    finally:
        if not outer:
            try:
                manager.flush()
            finally:
                manager._caching = False


def set_attrs(canvas: Any, **attrs: Any) -> None:
    """Send ipycanvas ``set`` commands for ``canvas``'s drawing attributes (``line_width=2`` ...).

    The same commands as assigning ``canvas.stroke_style = ...``, without validating
    and storing the trait (a Color trait costs about 12 µs a set): use it only with
    values the browser accepts. The Python-side trait keeps its old value; ipycanvas
    never reads it back. Relies on ipycanvas 0.14's command table, as :func:`held`
    relies on its batching flag.
    """
    manager, table = canvas._canvas_manager, type(canvas).ATTRS
    for name, value in attrs.items():
        manager.send_command(canvas, [_SET, [table[name], value]])


def _message(text: str, name: str) -> dict[str, str]:
    return {"output_type": "stream", "name": name, "text": text}


_APPEND_LOCK = threading.Lock()


def _append(out: Any, text: str, name: str) -> None:
    with _APPEND_LOCK:  # read-modify-write of out.outputs: worker threads report too
        outputs = tuple(out.outputs)[-(MAX_MESSAGES - 1) :]
        out.outputs = (*outputs, _message(text, name))


def report_info(out: Any, text: str) -> None:
    """Show a one-line message in ``out`` (safe from any thread)."""
    _append(out, text.rstrip("\n") + "\n", "stdout")


def report_error(out: Any, exc: BaseException, where: str = "") -> None:
    """Show ``exc`` in ``out``: our own errors as one line, others with the traceback."""
    prefix = f"{where}: " if where else ""
    if isinstance(exc, PaintError):
        text = f"{prefix}{exc}\n"
    else:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        text = f"Error in {where or 'callback'}: {type(exc).__name__}: {exc}\n{tb}"
    _append(out, text, "stderr")


def routed(out_of: Callable[[Any], Any]) -> Callable[[F], F]:
    """Decorate a method so its exceptions go to the ``Output`` that ``out_of(self)`` returns."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown in the widget, not lost
                report_error(out_of(self), exc, fn.__name__.lstrip("_"))
                return None

        return wrapper  # type: ignore[return-value]

    return decorate


_COLAB_ENABLED = False


def enable_colab_widgets() -> None:
    """Enable Colab's custom widget manager once per kernel (no-op elsewhere)."""
    global _COLAB_ENABLED
    if _COLAB_ENABLED or "google.colab" not in sys.modules:
        return
    try:
        from google.colab import output  # type: ignore[import-not-found,import-untyped,unused-ignore]

        output.enable_custom_widget_manager()
    except Exception:  # noqa: BLE001 - outside a Colab notebook the module may be half there
        return
    _COLAB_ENABLED = True
