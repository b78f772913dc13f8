"""MaskPainter: paint an inpainting mask over an image in a notebook.

State lives in Python: ``painter.mask`` is a ``bool`` array of the image's shape
(True = paint here). Strokes are rasterised here with an exact round brush
(:mod:`paint_widgets.imaging.brush`); the ipycanvas ``MultiCanvas`` (image layer,
translucent mask overlay, cursor layer) only shows that state.

A mouse move during a stroke is echoed first, then rasterised: one batched
message on the overlay layer alone draws the segment as a round-capped line the
width of the brush (erase that capsule, then fill it with the overlay colour, so
overlapping segments do not darken), a few dozen bytes with no pixel data and no
other layer to composite; then the segment is stamped exactly into ``mask``, in
its own box (the cost follows the brush area, not the image). The cursor is
hidden while a stroke lasts. When the stroke ends, the overlay around it is
repainted exactly from ``mask`` as 1-pixel-high rectangles (pixel runs), so the
antialiased echo never outlives the stroke.

Events arrive in view (canvas) pixels; images larger than ``max_view`` are shown
scaled to fit and events are mapped back to image pixels (:class:`ViewMap`).

Soft painting (for ``--soft``): with ``hardness < 1`` the brush's edge falls off
linearly from ``hardness x radius`` to the radius, and ``brush_opacity < 1`` caps
what it paints. Values go to ``painter.soft_mask`` (float32, 0..1, kept as 256
levels); a stroke raises each pixel to at most its brush value (the eraser lowers
it to at least one minus that), so going over a pixel twice in one stroke or in
two does not darken it past the brush. ``painter.mask`` stays the bool ``soft_mask > 0``.
Once a soft value exists the overlay shows each pixel at ``opacity x value``; a
hard painter never allocates the levels and draws as before.

Click-to-segment (the ``segment`` tool, key S): a click adds a point on the object
(with the "Minus" toggle, or after pressing Shift or -, a point not on it), a drag draws a
box; SAM (:mod:`paint_widgets.engine.segment`) proposes a region, shown on a layer of its
own in :data:`PROPOSAL_COLOR`. The image is embedded once, on the first click; every click
after that runs only SAM's prompt encoder and mask decoder. **Add** / **Subtract** put the
proposal into the mask as one undo step (soft values elsewhere are kept); the brush and
eraser work as before. ``painter.proposal`` is the proposed bool region (None when there is none).
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, TypeVar

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas
from PIL import Image
from traitlets import Bool, Enum, Float, Int, validate

from ..errors import InvalidInputError, MaskError
from ..imaging.box import Box
from ..imaging.brush import (
    mask_runs,
    overlay_rgba,
    polyline_cover,
    segment_box,
    segment_footprint,
    stamp_segment,
)
from ..imaging.masks import as_paint_mask, bounding_box, mask_from_alpha, mask_from_mask_image
from ..io import ImageLike, load_image
from ._canvas import (
    ViewMap,
    enable_colab_widgets,
    held,
    report_error,
    report_info,
    resize_rgba,
    routed,
    set_attrs,
    to_rgba,
)
from ._lifetime import check_color, check_number, check_view, close_parts, closed_error, unlink_all

F = TypeVar("F", bound=Callable[..., Any])
Point = tuple[float, float]
MaskCallback = Callable[[np.ndarray], Any]

IMAGE, OVERLAY, CURSOR, PROPOSAL = 0, 1, 2, 3
#: Colour (RGB) and opacity of the segment tool's proposed region, and of its points.
PROPOSAL_COLOR: tuple[int, int, int] = (0, 170, 255)
PROPOSAL_OPACITY = 0.45
#: A press and release closer than this (view pixels) is a click; farther, a box.
CLICK_SLOP = 4.0
#: Above this many pixel runs, the overlay goes as one RGBA image instead of rectangles.
MAX_RUNS = 4096
#: Rows per rectangle cleared when the overlay around a finished stroke is repainted.
REPAINT_BAND = 8
#: Most undo steps a painter keeps (``history=``).
MAX_HISTORY = 10_000


def _handler(fn: F) -> F:
    """Event/button handler: serialised by the painter's lock, exceptions shown in its Output."""

    @routed(lambda self: self.output)
    @functools.wraps(fn)
    def wrapper(self: MaskPainter, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass
class _Edit:
    """One undo step: the XOR of the mask before and after, over ``box``, packed and compressed.

    XOR makes undo and redo the same operation, and a stroke's diff packs to a
    few bytes per brush-width of path: 25 steps on a 4096² mask stay in kilobytes.
    """

    box: Box
    data: bytes
    levels: bool = False  # ``data`` is the XOR of the soft levels (uint8), not of the mask bits

    @classmethod
    def from_diff(cls, box: Box, diff: np.ndarray) -> _Edit:
        return cls(box, zlib.compress(np.packbits(diff, axis=None).tobytes(), 1))

    @classmethod
    def from_levels(cls, box: Box, diff: np.ndarray) -> _Edit:
        """An edit of the soft levels: ``diff`` is ``before ^ after`` (uint8) over ``box``."""
        return cls(box, zlib.compress(np.ascontiguousarray(diff, np.uint8).tobytes(), 1), levels=True)

    def apply(self, mask: np.ndarray, level: np.ndarray | None = None) -> None:
        """Undo or redo this edit on ``mask`` (and the soft levels, when the painter has them).

        A bit edit recorded before the levels existed sets the levels of the pixels it
        flips to 0 or 255: undo runs last-in first-out, so those pixels were hard then.
        """
        box = self.box
        if self.levels:
            assert level is not None, "a soft edit needs the painter's levels"
            diff = np.frombuffer(zlib.decompress(self.data), np.uint8).reshape(box.height, box.width)
            level[box.slices] ^= diff
            mask[box.slices] = level[box.slices] > 0
            return
        bits = np.unpackbits(np.frombuffer(zlib.decompress(self.data), np.uint8), count=box.area)
        flipped = bits.reshape(box.height, box.width).astype(bool)
        mask[box.slices] ^= flipped
        if level is not None:
            level[box.slices][flipped] = np.where(mask[box.slices][flipped], 255, 0).astype(np.uint8)


@dataclass
class _Stroke:
    """A stroke in progress: the value it paints, its last point, the pixels it flipped.

    ``flipped`` is image-sized but allocated with ``np.zeros`` (lazily zeroed pages),
    and each move ORs only its own box into it, so memory stays bounded however long
    the stroke is and the per-move work stays proportional to the brush area.
    ``path`` (view points) and ``view_radius`` say where the echo drew, so the end
    of the stroke repaints exactly there.
    """

    value: bool
    last: Point
    shape: tuple[int, int]
    soft: bool = False  # rasterised into the soft levels (``levels`` then holds its XOR)
    flipped: np.ndarray | None = None
    levels: np.ndarray | None = None
    box: Box | None = None  # union of the boxes it changed
    last_box: Box | None = None  # the last move's box
    path: list[Point] = field(default_factory=list)  # view points, from the mouse-down on
    view_radius: float = 0.0  # widest brush radius (view pixels) along the path

    def add(self, box: Box, changed: np.ndarray) -> None:
        if self.flipped is None:
            self.flipped = np.zeros(self.shape, dtype=bool)
        self.flipped[box.slices] |= changed
        self.last_box = box
        self.box = box if self.box is None else self.box.union(box)

    def add_levels(self, box: Box, diff: np.ndarray) -> None:
        """Record a soft move: ``diff`` is the XOR of the levels before and after it over ``box``."""
        if self.levels is None:
            self.levels = np.zeros(self.shape, dtype=np.uint8)
        self.levels[box.slices] ^= diff
        self.last_box = box
        self.box = box if self.box is None else self.box.union(box)

    def edit(self) -> _Edit | None:
        if self.box is None:
            return None
        if self.soft:
            return None if self.levels is None else _Edit.from_levels(self.box, self.levels[self.box.slices])
        if self.flipped is None:
            return None
        return _Edit.from_diff(self.box, self.flipped[self.box.slices])


class MaskPainter(widgets.VBox):
    """Paint a mask over ``image`` with a round brush; ``painter.mask`` is the result.

    Args:
        image: a path, PIL image or uint8 array (RGB or RGBA); at least 8 px a side.
        brush: brush diameter in image pixels, a whole number of at least 1.
        mask: optional starting mask (bool/float array or PIL image, True/white = paint).
        opacity: overlay opacity in [0, 1].
        color: overlay RGB colour, three whole numbers from 0 to 255.
        hardness: brush hardness in [0, 1]; below 1 the edge fades out (a soft brush, for ``--soft``).
        brush_opacity: the value the brush paints, in [0, 1] (1: full paint).
        max_view: longest side of the view (8 to 8192); larger images are shown scaled to fit.
        min_view: images whose longest side is smaller are shown enlarged to it (0 to max_view).
        history: undo steps kept (1 to 10,000).

    Every argument is checked before anything is built: a bad one raises a one-line
    :class:`~paint_widgets.errors.InvalidInputError` naming it and its range.

    Observe ``mask_version`` (``painter.observe(fn, names="mask_version")``) or use
    :meth:`on_change`: both fire once per finished stroke and per mask operation.

    :meth:`close` closes every widget the painter made and frees its image, mask and
    undo history (arrays already taken from it stay valid).
    """

    tool = Enum(("brush", "eraser", "segment"), default_value="brush")
    segment_negative = Bool(False)  # the "Minus" toggle: clicks add points not on the object
    brush = Int(24)
    opacity = Float(0.5)
    hardness = Float(1.0)
    brush_opacity = Float(1.0)
    mask_version = Int(0, read_only=True)

    def __init__(
        self,
        image: ImageLike,
        *,
        brush: int = 24,
        mask: np.ndarray | Image.Image | None = None,
        opacity: float = 0.5,
        color: tuple[int, int, int] = (255, 0, 80),
        max_view: int = 768,
        min_view: int = 256,
        history: int = 50,
        hardness: float = 1.0,
        brush_opacity: float = 1.0,
        segment_model: str | None = None,
        manager: Any = None,
    ) -> None:
        enable_colab_widgets()
        brush = check_number(brush, "brush", low=1, integer=True)
        opacity = check_number(opacity, "opacity", low=0.0, high=1.0)
        hardness = check_number(hardness, "hardness", low=0.0, high=1.0)
        brush_opacity = check_number(brush_opacity, "brush_opacity", low=0.0, high=1.0)
        color = check_color(color)
        max_view, min_view = check_view(max_view, min_view)
        history = check_number(history, "history", low=1, high=MAX_HISTORY, integer=True)
        pil = load_image(image)
        self._image = np.asarray(pil)
        h, w = self._image.shape[:2]
        self._mask = np.zeros((h, w), dtype=bool)
        self._level: np.ndarray | None = None  # uint8 soft values (0..255), made by the first soft edit
        start = None if mask is None else self._as_bool_mask(mask, "mask")  # checked before any widget exists
        self._closed = False
        self._links: list[Any] = []
        self._lock = threading.RLock()
        self._stroke: _Stroke | None = None
        self._undo: deque[_Edit] = deque(maxlen=max(1, int(history)))
        self._redo: list[_Edit] = []
        self._callbacks: list[MaskCallback] = []
        self._fill: tuple[Any, float] | None = None  # overlay layer's fill style, as last sent
        self._echo_width: float | None = None  # overlay layer's line width (round caps), as last sent
        self._segment_model = segment_model
        self._segment_manager = manager
        self._embedding: Any = None  # the SAM embedding of this image, made by the first click
        self._points: list[tuple[float, float, int]] = []  # image pixels, label 1 = on the object
        self._box: tuple[float, float, float, float] | None = None
        self._press: Point | None = None  # view point where a segment-tool press started
        self._negative_once = False  # Shift / - pressed: the next click is a negative point
        self._proposal: np.ndarray | None = None
        self.proposal_score: float | None = None
        self.color = color
        self.view = ViewMap.fit(h, w, max_view, min_view)
        self._view_image = resize_rgba(
            to_rgba(self._image, opaque=True), self.view.view_width, self.view.view_height
        )
        self._shown: np.ndarray | None = None  # another picture on the image layer (show_image)
        self._shown_view: np.ndarray | None = None

        self.canvas = MultiCanvas(
            4, width=self.view.view_width, height=self.view.view_height,
            # natural size (1 canvas px = 1 CSS px), shrinking only on narrow screens
            layout=widgets.Layout(width=f"{self.view.view_width}px", max_width="100%", height="auto"),
        )
        self.canvas.add_class("paint-widgets-canvas")
        self.output = widgets.Output(layout=widgets.Layout(max_height="12em", overflow="auto"))
        toolbar = self._build_toolbar(max(64, max(h, w) // 4, int(brush)))
        super().__init__(children=[*toolbar, self.canvas, self.output])
        self.add_class("paint-widgets-mask-painter")

        self.brush = brush
        self.opacity = opacity
        self.hardness = hardness
        self.brush_opacity = brush_opacity
        self.observe(self._on_opacity, names="opacity")
        self._connect_events()
        if start is not None:
            self._mask[...] = start
        self.redraw()

    # ------------------------------------------------------------------ public API

    @property
    def mask(self) -> np.ndarray:
        """The paint mask, ``bool (H, W)``, True = paint; a read-only view (use :meth:`set_mask`)."""
        if self._closed:
            raise closed_error(self)
        view = self._mask.view()
        view.flags.writeable = False
        return view

    @property
    def soft_mask(self) -> np.ndarray:
        """The paint values, ``float32 (H, W)`` in [0, 1] (a copy): what ``--soft`` uses.

        1 where a hard brush painted, the brush's value under a soft one (hardness,
        brush_opacity); ``mask`` is exactly ``soft_mask > 0``.
        """
        if self._closed:
            raise closed_error(self)
        if self._level is None:
            return self._mask.astype(np.float32)
        return self._level.astype(np.float32) / np.float32(255.0)

    @property
    def image(self) -> np.ndarray:
        """The image as loaded: uint8 ``(H, W, 3)`` or ``(H, W, 4)``."""
        if self._closed:
            raise closed_error(self)
        return self._image

    @property
    def shown_image(self) -> np.ndarray:
        """What the canvas shows under the mask: the image, or the picture of :meth:`show_image`."""
        if self._closed:
            raise closed_error(self)
        return self._image if self._shown is None else self._shown

    def show_image(self, picture: np.ndarray | Image.Image | None) -> None:
        """Show ``picture`` (the image's size) on the canvas in place of the image; None shows
        the image again. Display only: the image, the mask and the undo history stay as they
        are, and the mask overlay stays on top (the Studio's Live mode shows its preview here).
        """
        if self._closed:
            raise closed_error(self)
        arr: np.ndarray | None = None
        view: np.ndarray | None = None
        if picture is not None:
            arr = np.asarray(picture)
            if arr.shape[:2] != self._image.shape[:2] or arr.dtype != np.uint8:
                raise InvalidInputError(
                    f"show_image takes a uint8 picture of the image's {self._image.shape[1]}x"
                    f"{self._image.shape[0]} px, not {arr.dtype} {arr.shape[1]}x{arr.shape[0]}"
                )
            arr = np.array(arr[..., :3] if arr.ndim == 3 else arr)
            view = resize_rgba(to_rgba(arr, opaque=True), self.view.view_width, self.view.view_height)
        with self._lock:  # the Studio calls this from its preview thread; strokes draw too
            if self._closed or (view is None and self._shown is None):
                return
            self._shown, self._shown_view = arr, view
            self._draw_image()

    def _draw_image(self) -> None:
        layer = self.canvas[IMAGE]
        with held(self.canvas):
            layer.clear()
            layer.put_image_data(self._view_image if self._shown_view is None else self._shown_view, 0, 0)

    @property
    def color(self) -> tuple[int, int, int]:
        """The overlay's RGB colour (three whole numbers from 0 to 255, checked when set)."""
        return self._color

    @color.setter
    def color(self, value: Any) -> None:
        self._color = check_color(value)
        if "canvas" in self.__dict__ and not self._closed:  # shown at once, not from the next stroke on
            self._on_opacity(None)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return bool(getattr(self, "_closed", True))

    def close(self) -> None:
        """Close the painter and every widget it made; free its image, mask and undo history.

        Idempotent. Arrays taken from it before (``painter.mask``) stay valid; its own
        are dropped, so the memory goes even while something still refers to the painter.
        """
        if getattr(self, "_closed", True):  # closed, or the constructor stopped before building
            super().close()
            return
        self._closed = True
        with self._lock:
            self._stroke = None
            self._callbacks = []
            unlink_all(self._links)
            self._links = []
            close_parts(self)
            self._image = np.zeros((0, 0, 3), np.uint8)
            self._mask = np.zeros((0, 0), bool)
            self._level = None
            self._view_image = np.zeros((0, 0, 4), np.uint8)
            self._shown = self._shown_view = None
            self._undo.clear()
            self._redo.clear()
            self._embedding = self._proposal = None
            self._points = []
        super().close()

    def rgba(self, soft: bool = False) -> np.ndarray:
        """The image with the mask as its transparent area: uint8 ``(H, W, 4)``, alpha 0 = paint.

        Colour under the transparent area is kept (what ``-I`` wants: no erased colour).
        ``soft=True``: the soft values as partial transparency (alpha = 255 x (1 - value)),
        an ``-I`` for ``--soft``.
        """
        if self._closed:
            raise closed_error(self)
        out = to_rgba(self._image)
        if soft and self._level is not None:
            out[..., 3] = 255 - self._level
        else:
            out[..., 3] = np.where(self._mask, 0, 255).astype(np.uint8)
        return out

    @property
    def undo_steps(self) -> int:
        return len(self._undo)

    @property
    def redo_steps(self) -> int:
        return len(self._redo)

    def on_change(self, callback: MaskCallback, remove: bool = False) -> None:
        """Call ``callback(mask)`` after each finished stroke and mask operation."""
        if remove:
            self._callbacks = [c for c in self._callbacks if c is not callback]
        else:
            self._callbacks.append(callback)

    @_handler
    def set_mask(self, mask: np.ndarray | Image.Image) -> None:
        """Replace the mask (undoable): bool/float/uint8 array (high = paint) or a PIL ``-M`` image."""
        self._replace(self._as_bool_mask(mask, "mask"))

    @_handler
    def set_soft_mask(self, values: np.ndarray) -> None:
        """Replace the mask with soft values (undoable): floats 0..1, uint8 0..255 or bool, high = paint.

        Kept as 256 levels; any value above 0 stays painted (``mask`` is ``values > 0``).
        """
        self._replace_levels(_as_levels(as_paint_mask(values, self._mask.shape, what="soft mask")))

    @_handler
    def load_mask(self, source: str | PathLike | Image.Image | np.ndarray | bytes) -> None:
        """Load an ``-M`` style mask file (black / transparent = paint) of the image's size."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            paint = self._mask_from_bytes(bytes(source))
        elif isinstance(source, np.ndarray):
            paint = as_paint_mask(source, self._mask.shape, what="mask file")
        else:
            paint = mask_from_mask_image(load_image(source, what="mask file"))
            paint = as_paint_mask(paint, self._mask.shape, what="mask file")
        self._replace(paint >= 0.5)

    @_handler
    def clear(self) -> None:
        """Erase the whole mask (undoable)."""
        self._replace(np.zeros_like(self._mask))

    @_handler
    def invert(self) -> None:
        """Swap painted and kept areas (undoable); a soft value ``v`` becomes ``1 - v``."""
        if self._level is not None:
            self._replace_levels(255 - self._level)
        else:
            self._replace(~self._mask)

    @_handler
    def fill_from_alpha(self) -> None:
        """Start from the image's transparent area (alpha < 255 = paint); undoable."""
        if self._image.ndim != 3 or self._image.shape[2] != 4:
            raise MaskError("the image has no alpha channel: nothing to fill from")
        paint = mask_from_alpha(self._image)
        if self._level is not None or np.any((paint > 0) & (paint < 1)):  # partial alpha: soft values
            self._replace_levels(_as_levels(paint))
        else:
            self._replace(paint > 0)

    @_handler
    def undo(self) -> None:
        """Undo the last stroke or operation."""
        self._end_stroke()
        if self._undo:
            edit = self._undo.pop()
            self._apply(edit)
            self._redo.append(edit)
            self._changed()

    @_handler
    def redo(self) -> None:
        """Re-apply the last undone step."""
        self._end_stroke()
        if self._redo:
            edit = self._redo.pop()
            self._apply(edit)
            self._undo.append(edit)
            self._changed()

    @_handler
    def redraw(self) -> None:
        """Draw every layer from Python state (also run when a page reload reconnects)."""
        cursor = self.canvas[CURSOR]
        self._fill = self._echo_width = None  # a reloaded page starts with a fresh canvas state
        with held(self.canvas):
            self._draw_image()
            self._draw_overlay(None)
            cursor.clear()
            cursor.line_width = 1.5
            cursor.stroke_style = "rgba(255, 255, 255, 0.9)"
            self._draw_proposal()

    # ------------------------------------------------------------------ click-to-segment

    @property
    def proposal(self) -> np.ndarray | None:
        """The segment tool's proposed region, ``bool (H, W)`` (a copy), or None when there is none."""
        return None if self._proposal is None else self._proposal.copy()

    @property
    def segment_points(self) -> list[tuple[float, float, int]]:
        """The segment tool's points ``(x, y, label)`` in image pixels (label 1 = on the object)."""
        return list(self._points)

    @property
    def segment_box(self) -> tuple[float, float, float, float] | None:
        """The segment tool's box ``(x0, y0, x1, y1)`` in image pixels, or None."""
        return self._box

    @_handler
    def add_point(self, x: float, y: float, label: int = 1) -> None:
        """Add a point (image pixels; label 1 = on the object, 0 = not) and propose a region."""
        if label not in (0, 1):
            raise InvalidInputError("a segment point's label is 1 (on the object) or 0 (not on it)")
        self._points.append((float(x), float(y), int(label)))
        self._propose()

    @_handler
    def set_box(self, box: tuple[float, float, float, float] | None) -> None:
        """Set (or with None remove) the box ``(x0, y0, x1, y1)`` in image pixels and propose a region."""
        if box is None:
            self._box = None
        else:
            x0, y0, x1, y1 = (float(v) for v in box)
            self._box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        self._propose()

    @_handler
    def clear_proposal(self) -> None:
        """Forget the segment tool's points, box and proposal (the mask is unchanged)."""
        self._points, self._box, self._proposal, self.proposal_score = [], None, None, None
        with held(self.canvas):
            self._draw_proposal()
        self._show_segment_info()

    @_handler
    def add_proposal(self) -> None:
        """Paint the proposed region into the mask (one undo step), then clear the proposal."""
        self._commit_proposal(add=True)

    @_handler
    def subtract_proposal(self) -> None:
        """Erase the proposed region from the mask (one undo step), then clear the proposal."""
        self._commit_proposal(add=False)

    # ------------------------------------------------------------------ events (view pixels)

    @_handler
    def _on_mouse_down(self, x: float, y: float) -> None:
        self._end_stroke()
        if self.tool == "segment":
            self._press = (float(x), float(y))
            return
        p = self.view.to_image(x, y)
        soft = self._level is not None or self.hardness < 1.0 or self.brush_opacity < 1.0
        self._stroke = _Stroke(value=self.tool == "brush", last=p, shape=self._mask.shape, soft=soft,
                               path=[(float(x), float(y))])
        with held(self.canvas):
            self.canvas[CURSOR].clear()  # hidden while painting: each move then draws on one layer
            self._paint_to(p, draw=True)  # the dot, exactly; the overlay is the layer left current

    @_handler
    def _on_mouse_move(self, x: float, y: float) -> None:
        if self.tool == "segment":
            with held(self.canvas):
                self._draw_drag(x, y)
            return
        if self._stroke is not None:
            self._stroke_to(x, y)
        else:
            with held(self.canvas):
                self._draw_cursor(x, y)

    @_handler
    def _on_mouse_up(self, x: float, y: float) -> None:
        if self.tool == "segment" and self._press is not None:
            self._segment_release(x, y)
            return
        with held(self.canvas):
            if self._stroke is not None:
                self._stroke_to(x, y, echo=False)  # repainted exactly by _end_stroke
            self._end_stroke()
            self._draw_cursor(x, y)

    @_handler
    def _on_mouse_out(self, x: float, y: float) -> None:
        self._press = None
        with held(self.canvas):
            if self._stroke is not None:
                self._stroke_to(x, y, echo=False)
            self._end_stroke()
            self.canvas[CURSOR].clear()

    @_handler
    def _on_touch_start(self, touches: Sequence[tuple[float, float]]) -> None:
        if touches:
            self._on_mouse_down(*touches[0])

    @_handler
    def _on_touch_move(self, touches: Sequence[tuple[float, float]]) -> None:
        if touches and self._stroke is not None:
            self._stroke_to(*touches[0])

    @_handler
    def _on_touch_end(self, touches: Sequence[tuple[float, float]]) -> None:
        # ``touches`` are the fingers still down: the stroke ends when none remain.
        if not touches:
            with held(self.canvas):
                self.canvas[CURSOR].clear()
                self._end_stroke()

    @_handler
    def _on_key_down(self, key: str, shift: bool, ctrl: bool, meta: bool) -> None:
        k = key.lower()
        if (ctrl or meta) and k == "z":
            self.redo() if shift else self.undo()
        elif (ctrl or meta) and k == "y":
            self.redo()
        elif k in ("b", "e", "s"):
            self.tool = {"b": "brush", "e": "eraser", "s": "segment"}[k]
        elif key in ("Shift", "-"):
            self._negative_once = True  # ipycanvas' mouse events carry no modifiers: arm the next click
        elif key in ("[", "]"):
            self.brush = max(1, self.brush + (-2 if key == "[" else 2))

    @_handler
    def _on_client_ready(self) -> None:
        self.redraw()

    # ------------------------------------------------------------------ internals

    @validate("brush")
    def _valid_brush(self, proposal: Any) -> int:
        value = max(1, int(proposal["value"]))
        size = getattr(self, "_size_slider", None)
        if size is not None and value > size.max:
            size.max = value  # the slider shows the brush that paints, however large
        return value

    @validate("opacity", "hardness", "brush_opacity")
    def _valid_fraction(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not np.isfinite(value):
            name = proposal["trait"].name
            raise InvalidInputError(f"{name} must be a number between 0 and 1, not {proposal['value']!r}")
        return float(np.clip(value, 0.0, 1.0))

    @property
    def _radius(self) -> float:
        return self.brush / 2.0

    @property
    def _view_radius(self) -> float:
        """The brush radius in view pixels (at least half a pixel, so a stroke always shows)."""
        return max(0.5, self._radius * (self.view.sx + self.view.sy) / 2)

    def _overlay_style(self, alpha: float = 1.0) -> str:
        r, g, b = self.color
        return f"rgba({r}, {g}, {b}, {self.opacity * alpha:.4f})"

    def _stroke_to(self, x: float, y: float, echo: bool = True) -> None:
        """Continue the stroke to view point ``(x, y)``: echo the segment, then rasterise it.

        The echo is flushed before the numpy work, as its own message; ``echo=False``
        skips it when the caller repaints exactly right after (mouse up / out).
        """
        stroke = self._stroke
        assert stroke is not None
        point = (float(x), float(y))
        if echo and point != stroke.path[-1]:
            with held(self.canvas):
                self._echo_segment(stroke.path[-1], point, stroke.value,
                                   self.brush_opacity if stroke.soft else 1.0)
        self._paint_to(self.view.to_image(*point), draw=False)  # raises on a point it cannot place
        stroke.path.append(point)
        stroke.view_radius = max(stroke.view_radius, self._view_radius)

    def _echo_segment(self, a: Point, b: Point, paint: bool, alpha: float = 1.0) -> None:
        """Draw the view segment ``a``–``b`` on the overlay: a round-capped line the brush's width.

        Erasing the capsule before filling it keeps the overlay's alpha at ``opacity``
        where segments overlap (``source-over`` would darken every joint); the
        eraser only erases. Attributes go as raw ``set`` commands (:func:`set_attrs`):
        this runs on every mouse move.
        """
        layer = self.canvas[OVERLAY]
        # wider than the view's diagonal covers it all anyway; a huge brush must not overflow a C int
        width = min(2 * self._view_radius, 2 * (self.view.view_width + self.view.view_height))
        if self._echo_width != width:
            set_attrs(layer, line_width=width, line_cap="round")
            self._echo_width = width
        # pixel-index view points → canvas coordinates (pixel v spans [v, v + 1))
        ax, ay, bx, by = a[0] + 0.5, a[1] + 0.5, b[0] + 0.5, b[1] + 0.5
        set_attrs(layer, global_composite_operation="destination-out", stroke_style="#000")
        layer.stroke_line(ax, ay, bx, by)
        if paint:
            set_attrs(layer, global_composite_operation="source-over", stroke_style=self._overlay_style(alpha))
            layer.stroke_line(ax, ay, bx, by)
        else:
            set_attrs(layer, global_composite_operation="source-over")

    def _paint_to(self, p: Point, draw: bool) -> None:
        """Rasterise the stroke segment from the last point to ``p``; ``draw``: show its box exactly."""
        stroke = self._stroke
        assert stroke is not None
        if stroke.soft:
            self._paint_soft_to(p, draw)
            return
        box, changed = stamp_segment(self._mask, stroke.last, p, self._radius, stroke.value)
        stroke.last = p
        if box is not None and changed is not None and changed.any():
            stroke.add(box, changed)
            if draw:
                self._draw_overlay(box)

    def _paint_soft_to(self, p: Point, draw: bool) -> None:
        """The soft brush: raise (eraser: lower) the levels under the segment to the brush's values."""
        stroke = self._stroke
        assert stroke is not None
        level = self._levels()
        box = segment_box(level.shape, stroke.last, p, self._radius)
        if box is not None:
            amount = _as_levels(brush_cover(box, stroke.last, p, self._radius, self.hardness) * self.brush_opacity)
            crop = level[box.slices]
            new = np.maximum(crop, amount) if stroke.value else np.minimum(crop, 255 - amount)
            diff = crop ^ new
            if diff.any():
                stroke.add_levels(box, diff)
                crop[...] = new
                self._mask[box.slices] = new > 0
                if draw:
                    self._draw_overlay(box)
        stroke.last = p

    def _levels(self) -> np.ndarray:
        """The soft levels, made from the hard mask (0 or 255) the first time they are needed."""
        if self._level is None:
            self._level = np.where(self._mask, 255, 0).astype(np.uint8)
        return self._level

    def _end_stroke(self) -> None:
        """Finish the stroke in progress: repaint where it was echoed, record its undo step."""
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return
        edit = stroke.edit()
        try:
            if len(stroke.path) > 1:
                with held(self.canvas):
                    self._repaint_stroke(stroke)
        finally:  # the undo step is kept even if drawing fails
            if edit is not None:
                self._push(edit)

    def _repaint_stroke(self, stroke: _Stroke) -> None:
        """Replace the echo with the exact overlay, around the stroke's path only.

        The region is a superset of every view pixel the echo or the mask change can
        have touched (antialiasing, and nearest-neighbour sampling at up to ``s`` view
        pixels per image pixel). It is cleared in bands of :data:`REPAINT_BAND` rows
        and refilled with the mask's pixel runs inside the cleared bands, so the
        message grows with the stroke, not with the image or the mask's detail elsewhere.
        """
        view = self.view
        margin = 1.5 + max(view.sx, view.sy, 1.0)
        cover = polyline_cover((view.view_height, view.view_width), stroke.path, stroke.view_radius + margin)
        if cover is None:
            return
        vbox, region = cover
        if self._level is not None:  # soft values: the exact overlay over the whole cover (replaces the echo)
            self._paint_view(vbox)
            return
        layer = self.canvas[OVERLAY]
        h, w = region.shape
        bands = -(-h // REPAINT_BAND)
        padded = np.zeros((bands * REPAINT_BAND, w), dtype=bool)
        padded[:h] = region
        cols = np.asarray(padded.reshape(bands, REPAINT_BAND, w).any(axis=1))  # (bands, w)
        cleared = np.zeros_like(region)
        for band in np.flatnonzero(cols.any(axis=1)):
            xs = np.flatnonzero(cols[band])
            top, bottom = int(band) * REPAINT_BAND, min(h, (int(band) + 1) * REPAINT_BAND)
            left, right = int(xs[0]), int(xs[-1]) + 1
            layer.clear_rect(vbox.left + left, vbox.top + top, right - left, bottom - top)
            cleared[top:bottom, left:right] = True
        self._fill_overlay(vbox, view.sample(self._mask, vbox) & cleared)

    def _replace(self, new: np.ndarray) -> None:
        """Set the whole mask to ``new`` as one undo step; redraw what changed."""
        if self._level is not None:  # soft values exist: a hard mask is levels 0 and 255
            self._replace_levels(np.where(new, 255, 0).astype(np.uint8))
            return
        self._end_stroke()
        diff = self._mask ^ new
        box = bounding_box(diff)
        if box is None:
            return
        self._mask[...] = new
        with held(self.canvas):
            self._draw_overlay(box)
        self._push(_Edit.from_diff(box, diff[box.slices]))

    def _replace_levels(self, new: np.ndarray) -> None:
        """Set the soft levels to ``new`` (uint8) as one undo step; redraw what changed."""
        self._end_stroke()
        level = self._levels()
        diff = level ^ new
        box = bounding_box(diff != 0)
        if box is None:
            return
        level[...] = new
        self._mask[...] = new > 0
        with held(self.canvas):
            self._draw_overlay(box)
        self._push(_Edit.from_levels(box, diff[box.slices]))

    def _apply(self, edit: _Edit) -> None:
        if edit.levels:
            self._levels()
        edit.apply(self._mask, self._level)
        with held(self.canvas):
            self._draw_overlay(edit.box)

    def _push(self, edit: _Edit) -> None:
        self._undo.append(edit)
        self._redo.clear()
        self._changed()

    def _changed(self) -> None:
        """Bump ``mask_version`` and run ``on_change`` callbacks; their errors go to the Output."""
        self._undo_button.disabled = not self._undo
        self._redo_button.disabled = not self._redo
        try:
            self.set_trait("mask_version", self.mask_version + 1)
        except Exception as exc:  # noqa: BLE001 - a user's observer; show it, keep painting
            report_error(self.output, exc, "mask_version observer")
        for callback in list(self._callbacks):
            try:
                callback(self.mask)
            except Exception as exc:  # noqa: BLE001
                report_error(self.output, exc, f"on_change callback {getattr(callback, '__name__', '')}")

    def _draw_overlay(self, box: Box | None) -> None:
        """Redraw the overlay over the view box of image ``box`` (everything if None)."""
        self._paint_view(self.view.whole_view if box is None else self.view.view_box(box))

    def _paint_view(self, vbox: Box) -> None:
        """Clear the overlay over view box ``vbox`` and draw it exactly from the mask (or soft levels)."""
        layer = self.canvas[OVERLAY]
        vy0, vx0, vy1, vx1 = vbox
        if vy0 >= vy1 or vx0 >= vx1:
            return
        layer.clear_rect(vx0, vy0, vx1 - vx0, vy1 - vy0)
        if self._level is None:
            self._fill_overlay(vbox, self.view.sample(self._mask, vbox))
            return
        level = self.view.sample(self._level, vbox)
        if level.any():  # each pixel at opacity x its value: one lossless RGBA image
            rgba = np.zeros((*level.shape, 4), dtype=np.uint8)
            rgba[..., :3] = self.color
            rgba[..., 3] = np.rint(level.astype(np.float32) * self.opacity).astype(np.uint8)
            layer.put_image_data(rgba, vx0, vy0)

    def _fill_overlay(self, vbox: Box, crop: np.ndarray) -> None:
        """Draw the True pixels of ``crop`` (view box ``vbox``, already cleared) in the overlay colour."""
        layer = self.canvas[OVERLAY]
        vy0, vx0 = vbox.top, vbox.left
        rows, starts, lengths = mask_runs(crop)
        if len(rows) == 0:
            return
        if len(rows) <= MAX_RUNS:  # exact 1-px-high rects: no PNG to encode, send or decode
            if self._fill != (self.color, self.opacity):
                layer.fill_style = self._overlay_style()
                self._fill = (self.color, self.opacity)
            xs, ys = (starts + vx0).astype(np.int16), (rows + vy0).astype(np.int16)
            layer.fill_rects(xs, ys, lengths.astype(np.int16), 1)
        else:  # large, fragmented areas: one lossless RGBA image
            layer.put_image_data(overlay_rgba(crop, self.color, self.opacity), vx0, vy0)

    def _segment_release(self, x: float, y: float) -> None:
        """End of a segment-tool press: a click adds a point, a drag sets the box."""
        assert self._press is not None
        px, py = self._press
        self._press = None
        self.canvas[CURSOR].clear()
        if abs(x - px) <= CLICK_SLOP and abs(y - py) <= CLICK_SLOP:
            negative = self.segment_negative or self._negative_once
            self._negative_once = False
            ix, iy = self.view.to_image(x, y)
            self._points.append((ix, iy, 0 if negative else 1))
        else:
            x0, y0 = self.view.to_image(px, py)
            x1, y1 = self.view.to_image(x, y)
            self._box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        self._propose()

    def _propose(self) -> None:
        """Run SAM's prompt encoder and mask decoder on the points and box; show the region."""
        from ..engine import segment as seg

        if not self._points and self._box is None:
            self._proposal = self.proposal_score = None
        else:
            if self._embedding is None:  # once per image: the image encoder
                self._embedding = seg.embed(self._image, model=self._segment_model, manager=self._segment_manager)
            points = [(x, y) for x, y, _ in self._points]
            labels = [label for _, _, label in self._points]
            self._proposal, self.proposal_score = seg.predict(self._embedding, points or None,
                                                              labels or None, self._box)
        with held(self.canvas):
            self._draw_proposal()
        self._show_segment_info()

    def _commit_proposal(self, add: bool) -> None:
        proposal = self._proposal
        if proposal is None:
            report_info(self.output, "no proposed region: click on the image with the Segment tool first")
            return
        if self._level is not None:  # keep the soft values outside the region
            levels = self._level.copy()
            levels[proposal] = 255 if add else 0
            self._replace_levels(levels)
        else:
            self._replace(self._mask | proposal if add else self._mask & ~proposal)
        self.clear_proposal()

    def _draw_proposal(self) -> None:
        """Draw the proposal layer: the region, the box and the points (green on, red not on)."""
        layer = self.canvas[PROPOSAL]
        layer.clear()
        if self._proposal is not None and self._proposal.any():
            crop = self.view.sample(self._proposal, self.view.whole_view)
            layer.put_image_data(overlay_rgba(crop, PROPOSAL_COLOR, PROPOSAL_OPACITY), 0, 0)
        if self._box is not None:
            x0, y0 = self.view.to_view(self._box[0], self._box[1])
            x1, y1 = self.view.to_view(self._box[2], self._box[3])
            layer.stroke_style = "rgb({}, {}, {})".format(*PROPOSAL_COLOR)
            layer.line_width = 2
            layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
        for x, y, label in self._points:
            vx, vy = self.view.to_view(x, y)
            layer.fill_style = "rgb(40, 200, 80)" if label else "rgb(230, 40, 40)"
            layer.fill_circle(vx, vy, 4)

    def _draw_drag(self, x: float, y: float) -> None:
        """The box being dragged, on the cursor layer (nothing when no press is held)."""
        layer = self.canvas[CURSOR]
        layer.clear()
        if self._press is not None:
            px, py = self._press
            layer.stroke_rect(min(px, x), min(py, y), abs(x - px), abs(y - py))

    def _show_segment_info(self) -> None:
        label = getattr(self, "_segment_info", None)
        if label is None:
            return
        if self._proposal is None:
            label.value = "Segment: click on an object (Minus / Shift: not on it), drag a box"
        else:
            n = len(self._points)
            score = "" if self.proposal_score is None else f", score {self.proposal_score:.2f}"
            label.value = (f"{n} point{'s' if n != 1 else ''}{', a box' if self._box else ''}{score}: "
                           f"{np.count_nonzero(self._proposal):,} px proposed")

    def _draw_cursor(self, x: float, y: float) -> None:
        layer = self.canvas[CURSOR]
        layer.clear()
        radius = max(1.0, self._radius * (self.view.sx + self.view.sy) / 2)
        layer.stroke_circle(float(x), float(y), radius)

    def _as_bool_mask(self, mask: np.ndarray | Image.Image, what: str) -> np.ndarray:
        if isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == self._mask.shape:
            return mask.copy()
        return as_paint_mask(mask, self._mask.shape, what=what) >= 0.5

    def _mask_from_bytes(self, data: bytes) -> np.ndarray:
        """Decode an uploaded mask file as any image input is (:func:`..io.load_image`:
        damaged files and decompression bombs refused by name), then check its size."""
        pil = load_image(data, what="mask file")
        h, w = self._mask.shape
        if pil.size != (w, h):
            raise MaskError(
                f"mask file is {pil.size[0]}x{pil.size[1]} but the image is {w}x{h}; "
                "resize the mask to the image first"
            )
        return as_paint_mask(mask_from_mask_image(pil), (h, w), what="mask file")

    @_handler
    def _on_opacity(self, _change: Any) -> None:
        with held(self.canvas):
            self._draw_overlay(None)

    @_handler
    def _on_upload(self, change: Any) -> None:
        files = change["new"]
        if not files:
            return
        entry = files[0] if isinstance(files, (tuple, list)) else next(iter(files.values()))
        content = entry["content"]
        self._upload.value = ()
        self.load_mask(bytes(content))
        report_info(self.output, f"loaded mask {entry.get('name', '')}")

    def _connect_events(self) -> None:
        c = self.canvas
        c.on_mouse_down(self._on_mouse_down)
        c.on_mouse_move(self._on_mouse_move)
        c.on_mouse_up(self._on_mouse_up)
        c.on_mouse_out(self._on_mouse_out)
        c.on_touch_start(self._on_touch_start)
        c.on_touch_move(self._on_touch_move)
        c.on_touch_end(self._on_touch_end)
        c.on_touch_cancel(self._on_touch_end)
        c.on_key_down(self._on_key_down)
        c.on_client_ready(self._on_client_ready)

    def _build_toolbar(self, max_brush: int) -> list[widgets.Widget]:
        tool = widgets.ToggleButtons(
            options=[("Brush", "brush"), ("Eraser", "eraser"), ("Segment", "segment")],
            tooltips=["Paint the area to repaint (B)", "Erase paint (E)",
                      "Click an object, or drag a box around it: SAM proposes its region (S)"],
            style={"button_width": "6.5em"},
        )
        size = widgets.IntSlider(
            value=min(24, max_brush), min=1, max=max_brush, description="Size",
            continuous_update=True, layout=widgets.Layout(width="20em"),
        )
        opacity = widgets.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="Opacity",
            continuous_update=False, layout=widgets.Layout(width="20em"),
        )
        hardness = widgets.FloatSlider(
            value=1.0, min=0.0, max=1.0, step=0.05, description="Hardness",
            tooltip="Below 1 the brush's edge fades out: soft values for --soft",
            continuous_update=False, layout=widgets.Layout(width="20em"),
        )
        brush_opacity = widgets.FloatSlider(
            value=1.0, min=0.0, max=1.0, step=0.05, description="Paint",
            tooltip="The value the brush paints (1: full); partial values matter with --soft",
            continuous_update=False, layout=widgets.Layout(width="20em"),
        )
        self._size_slider = size
        self._links = [
            widgets.link((self, "tool"), (tool, "value")),
            widgets.link((self, "brush"), (size, "value")),
            widgets.link((self, "opacity"), (opacity, "value")),
            widgets.link((self, "hardness"), (hardness, "value")),
            widgets.link((self, "brush_opacity"), (brush_opacity, "value")),
        ]
        minus = widgets.ToggleButton(description="Minus", icon="minus", tooltip="Segment clicks mark what is "
                                     "not the object (or press Shift or - before one click)",
                                     layout=widgets.Layout(width="auto"))
        self._links.append(widgets.link((self, "segment_negative"), (minus, "value")))

        def button(label: str, icon: str, tip: str, action: Callable[[], None]) -> widgets.Button:
            b = widgets.Button(description=label, icon=icon, tooltip=tip,
                               layout=widgets.Layout(width="auto"))
            b.on_click(lambda _b: action())
            return b

        self._undo_button = button("Undo", "undo", "Undo (Ctrl+Z)", self.undo)
        self._redo_button = button("Redo", "repeat", "Redo (Ctrl+Shift+Z)", self.redo)
        self._undo_button.disabled = self._redo_button.disabled = True
        has_alpha = self._image.ndim == 3 and self._image.shape[2] == 4
        fill = button("From alpha", "clone", "Mask = the image's transparent area", self.fill_from_alpha)
        fill.disabled = not has_alpha
        self._upload = widgets.FileUpload(
            accept="image/*", multiple=False, description="Load mask",
            tooltip="An -M mask file: black / transparent = paint",
            layout=widgets.Layout(width="auto"),
        )
        self._upload.observe(self._on_upload, names="value")
        h, w = self._mask.shape
        info = widgets.Label(f"{w}x{h} px, shown at {self.view.sx:.0%}")
        row1 = widgets.HBox([tool, size, opacity, info], layout=widgets.Layout(flex_flow="row wrap"))  # no clipping
        row_soft = widgets.HBox([hardness, brush_opacity])
        row2 = widgets.HBox([
            self._undo_button, self._redo_button,
            button("Clear", "eraser", "Erase the whole mask", self.clear),
            button("Invert", "adjust", "Swap painted and kept areas", self.invert),
            fill, self._upload,
        ])
        self._segment_info = widgets.Label("")
        row_segment = widgets.HBox([
            minus,
            button("Add", "plus", "Paint the proposed region into the mask", self.add_proposal),
            button("Subtract", "minus-circle", "Erase the proposed region from the mask", self.subtract_proposal),
            button("Clear points", "times", "Forget the segment points, box and proposal", self.clear_proposal),
            self._segment_info,
        ])
        self._show_segment_info()

        def segment_row_follows(_change: Any = None) -> None:  # its buttons only with the Segment tool
            row_segment.layout.display = None if tool.value == "segment" else "none"

        tool.observe(segment_row_follows, names="value")
        segment_row_follows()
        self.segment_row = row_segment
        return [row1, row_soft, row2, row_segment]


def brush_cover(box: Box, p0: Point, p1: Point, radius: float, hardness: float) -> np.ndarray:
    """``float32`` of ``box``'s shape: the brush's value (0..1) at each pixel centre for one segment.

    1 within ``hardness x radius`` of the segment, falling linearly to 0 at ``radius``;
    at hardness 1 exactly the hard brush's pixels (:func:`segment_footprint`) are 1.
    """
    if hardness >= 1.0:
        return segment_footprint(box, p0, p1, radius).astype(np.float32)
    y0, x0, y1, x1 = box
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    ax, ay = float(p0[0]), float(p0[1])
    dx, dy = float(p1[0]) - ax, float(p1[1]) - ay
    length2 = dx * dx + dy * dy
    t: float | np.ndarray = 0.0 if length2 == 0.0 else np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
    distance = np.hypot(xs - (ax + t * dx), ys - (ay + t * dy))
    r = max(float(radius), 0.0)
    inner = r * max(float(hardness), 0.0)
    cover = np.clip((r - distance) / max(r - inner, 1e-9), 0.0, 1.0)
    return cover.astype(np.float32)


def _as_levels(values: np.ndarray) -> np.ndarray:
    """Values 0..1 as uint8 levels 0..255; anything above 0 keeps at least level 1 (it stays painted)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    levels = np.rint(v * 255.0).astype(np.uint8)
    levels[(v > 0) & (levels == 0)] = 1
    return levels
