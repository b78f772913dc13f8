"""OutpaintMargins: choose outcrop margins by dragging the edges of the new canvas.

The picture sits on an ipycanvas ``MultiCanvas`` with room around it for the
largest margins (``max_margin`` image px on each side), scaled to fit ``max_view``.
Layers: a checkerboard (the new, transparent area), the picture, and a UI layer
with the shaded outside, the dashed outline of the new canvas, the picture's
border and four edge handles. Only the UI layer is redrawn when a margin changes,
and only when the snapped value changes (once per 64 px crossed), so a drag
sends a handful of small messages, not one per mouse move.

State lives in traitlets ``top``, ``right``, ``bottom``, ``left`` (image pixels).
They always hold **snapped** values: assigning 100 stores 128 (rounded up to a
multiple of 64, as ``outcrop`` would); a negative value, a bool or a value over
``max_margin`` raises :class:`~paint_widgets.errors.InvalidInputError`. Dragging
snaps to the *nearest* multiple of 64 (the edge follows the pointer to the closest
grid line), clamped to ``[0, max_margin]``. The number fields are synced both ways;
bad input typed there is shown in the widget's Output and the field reverts.

*Outcrop* runs :func:`paint_widgets.engine.api.outcrop` in a worker thread (the
UI stays live, a progress bar follows the steps, *Cancel* asks the manager to
stop); the result is shown below the canvas and kept in :attr:`result`.
:meth:`run` is the same call, synchronous, for code.
"""

from __future__ import annotations

import functools
import io
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas
from traitlets import Int, validate

from ..cancel import CancelToken
from ..errors import CancelledError, GenerationError, InvalidInputError
from ..imaging.outpaint_geometry import GRID, round_up_64
from ..io import ImageLike, load_image
from ._canvas import (
    ViewMap,
    enable_colab_widgets,
    held,
    report_error,
    report_info,
    resize_rgba,
    routed,
    to_rgba,
)
from ._jobs import JobRunner
from ._lifetime import check_flag, check_text, check_view, close_parts, closed_error
from ._progress import RunDisplay

F = TypeVar("F", bound=Callable[..., Any])

SIDES = ("top", "right", "bottom", "left")
BACKGROUND, PICTURE, UI = 0, 1, 2
#: Pointer within this many view pixels of an edge grabs it.
HIT_RADIUS = 12.0
#: Margins per side are capped here (OutcropRequest's own limit).
MAX_MARGIN_LIMIT = 4096
#: Default room around the picture when no larger initial margin is given.
DEFAULT_MAX_MARGIN = 256
CHECKER = 16  # checkerboard square, view px
SHADE = "rgba(48, 48, 48, 0.82)"
OUTLINE = "rgba(255, 255, 255, 0.95)"
HANDLE = "#1e88e5"
HANDLE_ACTIVE = "#ff9800"


def _handler(fn: F) -> F:
    """Event handler: serialised by the widget's lock, exceptions shown in its Output."""

    @routed(lambda self: self.output)
    @functools.wraps(fn)
    def wrapper(self: OutpaintMargins, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def snap_nearest(px: float) -> int:
    """The multiple of 64 nearest to ``px`` (halves go up)."""
    return int(math.floor(px / GRID + 0.5)) * GRID


def checkerboard(height: int, width: int, square: int = CHECKER) -> np.ndarray:
    """An opaque light-grey checkerboard, uint8 ``(H, W, 4)`` (the usual "transparent" look)."""
    yy, xx = np.mgrid[0:height, 0:width]
    light = ((yy // square + xx // square) % 2 == 0)
    out = np.empty((height, width, 4), dtype=np.uint8)
    out[..., :3] = np.where(light, 236, 204)[..., None]
    out[..., 3] = 255
    return out


@dataclass
class _Drag:
    """An edge drag in progress: which side, where it started (view px), the margin then."""

    side: str
    x: float
    y: float
    start: int


class OutpaintMargins(widgets.VBox):
    """Pick outcrop margins for ``image`` by dragging the edges of the new canvas.

    Args:
        image: a path, PIL image or uint8 array (RGB or RGBA). A path is passed to
            ``outcrop`` as is, so the prompt and seed stored in a PNG this package
            made are reused and the result's command names the file.
        top, right, bottom, left: initial margins (image px; rounded up to 64).
        prompt: initial text of the prompt field (empty: the image's stored prompt).
        max_margin: largest margin per side the view has room for (rounded up to
            64, at most 4096); default 256, or the largest initial margin if more.
        max_view: longest side of the view (8 to 8192); the picture plus room is scaled to fit.
        min_view: smaller views are enlarged to this (0 to ``max_view``).
        manager: the PipelineManager to run on (default: the kernel's).
        show_run_controls: show the prompt field and the Outcrop/Cancel buttons.
        **params: GenerationParams fields for runs (``steps=20, seed=1, ...``);
            checked now, so a typo fails here rather than at the first click.

    Every argument is checked before anything is built (one-line
    :class:`~paint_widgets.errors.InvalidInputError` naming it and its range);
    :meth:`close` closes every widget it made and frees its picture and previews.

    Read :attr:`margins` (a dict for ``outcrop(image, **margins)``), :attr:`new_size`,
    and after a run :attr:`result`.
    """

    top = Int(0)
    right = Int(0)
    bottom = Int(0)
    left = Int(0)
    #: Bumps after each successful run (observe it to react to a new result).
    runs = Int(0, read_only=True)

    def __init__(
        self,
        image: ImageLike,
        *,
        top: int = 0,
        right: int = 0,
        bottom: int = 0,
        left: int = 0,
        prompt: str = "",
        max_margin: int | None = None,
        max_view: int = 768,
        min_view: int = 256,
        manager: Any = None,
        show_run_controls: bool = True,
        **params: Any,
    ) -> None:
        enable_colab_widgets()
        prompt = check_text(prompt, "prompt")
        max_view, min_view = check_view(max_view, min_view)
        show_run_controls = check_flag(show_run_controls, "show_run_controls")
        self._closed = False
        self._lock = threading.RLock()
        self._drag: _Drag | None = None
        self._hover: str | None = None
        self._manager = manager
        pil = load_image(image)
        # what ``outcrop`` gets: a path stays a path (metadata defaults, command names the file)
        self._source: Any = image if isinstance(image, (str, os.PathLike)) else pil
        self._image = np.asarray(pil)
        self._params = self._checked_params(params)
        #: The last run's :class:`~paint_widgets.result.Result` (None before the first).
        self.result: Any = None
        #: The last run's exception (None if it succeeded).
        self.error: BaseException | None = None

        initial = {"top": top, "right": right, "bottom": bottom, "left": left}
        if max_margin is None:
            largest = max((self._snapped(v, f"{s} margin", MAX_MARGIN_LIMIT) for s, v in initial.items()),
                          default=0)
            max_margin = max(DEFAULT_MAX_MARGIN, largest)
        self.max_margin = self._snapped(max_margin, "max_margin", MAX_MARGIN_LIMIT)
        if self.max_margin < GRID:
            raise InvalidInputError(f"max_margin must be at least {GRID} px, not {max_margin!r}")
        for side, value in initial.items():  # now, before any widget exists
            self._snapped(value, f"{side} margin", self.max_margin)

        h, w = self._image.shape[:2]
        m = self.max_margin
        self.view = ViewMap.fit(h + 2 * m, w + 2 * m, max_view, min_view)
        self._picture_box = self._view_rect(0, 0, 0, 0)  # (x0, y0, x1, y1) of the picture, view px
        x0, y0, x1, y1 = (round(v) for v in self._picture_box)
        self._picture_at = (x0, y0)
        self._view_picture = resize_rgba(to_rgba(self._image), max(1, x1 - x0), max(1, y1 - y0))
        self._view_checker = checkerboard(self.view.view_height, self.view.view_width)

        self.canvas = MultiCanvas(
            3, width=self.view.view_width, height=self.view.view_height,
            layout=widgets.Layout(width=f"{self.view.view_width}px", max_width="100%", height="auto"),
        )
        self.canvas.add_class("paint-widgets-canvas")
        self.output = widgets.Output(layout=widgets.Layout(max_height="12em", overflow="auto"))
        controls = self._build_controls(prompt, show_run_controls)
        self._display = RunDisplay(self.progress, self._set_status)
        self._jobs = JobRunner("outcrop", output=self.output, on_busy=self._set_busy,
                               on_done=self._show_result, on_error=self._on_failure)
        self.result_image = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="100%"))
        super().__init__(children=[*controls, self.canvas, self.result_image, self.output])
        self.add_class("paint-widgets-outpaint-margins")

        for side, value in initial.items():
            setattr(self, side, value)
        self.observe(self._on_margin, names=list(SIDES))
        self._connect_events()
        self._update_controls()
        self.redraw()

    # ------------------------------------------------------------------ public API

    @property
    def image(self) -> np.ndarray:
        """The picture as loaded: uint8 ``(H, W, 3)`` or ``(H, W, 4)``."""
        self._check_open()
        return self._image

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return bool(getattr(self, "_closed", True))

    @property
    def margins(self) -> dict[str, int]:
        """``{"top": ..., "right": ..., "bottom": ..., "left": ...}`` in image px (multiples of 64)."""
        return {side: int(getattr(self, side)) for side in SIDES}

    @margins.setter
    def margins(self, values: dict[str, int]) -> None:
        unknown = set(values) - set(SIDES)
        if unknown:
            raise InvalidInputError(f"unknown margin {sorted(unknown)[0]!r}; use top, right, bottom, left")
        checked = {s: self._snapped(v, f"{s} margin", self.max_margin) for s, v in values.items()}
        with self.hold_trait_notifications():
            for side, value in checked.items():
                setattr(self, side, value)

    @property
    def new_size(self) -> tuple[int, int]:
        """``(width, height)`` of the outcropped canvas."""
        self._check_open()
        h, w = self._image.shape[:2]
        return w + self.left + self.right, h + self.top + self.bottom

    @property
    def running(self) -> bool:
        """True while a generation started here is running."""
        return self._jobs.running

    def run(self, prompt: str | None = None, **params: Any) -> Any:
        """Outcrop the picture by :attr:`margins` now (blocking) and return the Result.

        ``prompt`` and ``params`` override the widget's prompt field and its
        constructor ``params``. Raises on bad input (e.g. all margins 0), and
        :class:`GenerationError` if a run is already going on here.
        """
        kwargs = self._call_args(prompt, params)
        job = self._jobs.start(functools.partial(self._generate, kwargs), background=False)
        if job is None:
            raise GenerationError("an outcrop is already running in this widget; wait() for it first")
        if job.error is not None:
            raise job.error
        return job.result

    def start(self, prompt: str | None = None, **params: Any) -> threading.Thread | None:
        """Run the outcrop in a worker thread (what *Outcrop* does); None if one is running.

        Errors go to the widget's Output and to :attr:`error`; :meth:`wait` waits for it.
        """
        kwargs = self._call_args(prompt, params)
        job = self._jobs.start(functools.partial(self._generate, kwargs))
        if job is None:
            report_info(self.output, "An outcrop is already running: wait for it to finish (or Cancel).")
            return None
        return job.thread

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends: its Result, or None if it failed or was cancelled.

        With ``timeout`` (seconds), None while the run is still going on after it.
        """
        return self._jobs.wait(timeout)

    def cancel(self) -> None:
        """Stop this widget's run (only this one) at its next check; it ends as cancelled."""
        if self._jobs.cancel():
            self.status_label.value = "cancelling…"

    def close(self) -> None:
        """Cancel a running job, then close every widget this one made and free its picture.

        Idempotent. :attr:`result` stays (it is the caller's); the picture, its view
        and the result preview are dropped, so the memory goes even while something
        still refers to the widget.
        """
        jobs = getattr(self, "_jobs", None)  # None if the constructor failed
        if jobs is not None:
            jobs.close()
        if getattr(self, "_closed", True):  # closed, or the constructor stopped before building
            super().close()
            return
        self._closed = True
        close_parts(self)
        with self._lock:
            self._drag = None
            self._source = None
            self._image = np.zeros((0, 0, 3), np.uint8)
            self._view_picture = np.zeros((0, 0, 4), np.uint8)
            self._view_checker = np.zeros((0, 0, 4), np.uint8)
        super().close()

    def _check_open(self) -> None:
        if self._closed:
            raise closed_error(self)

    @_handler
    def redraw(self) -> None:
        """Draw every layer from Python state (also run when a page reload reconnects)."""
        with held(self.canvas):
            bg, pic = self.canvas[BACKGROUND], self.canvas[PICTURE]
            bg.clear()
            bg.put_image_data(self._view_checker, 0, 0)
            pic.clear()
            pic.put_image_data(self._view_picture, *self._picture_at)
            self._draw_ui()

    # ------------------------------------------------------------------ events (view pixels)

    @_handler
    def _on_mouse_down(self, x: float, y: float) -> None:
        side = self._hit(x, y)
        self._drag = None if side is None else _Drag(side, float(x), float(y), getattr(self, side))
        self._set_hover(side, force=True)

    @_handler
    def _on_mouse_move(self, x: float, y: float) -> None:
        if self._drag is None:
            self._set_hover(self._hit(x, y))
        else:
            self._drag_to(x, y)

    @_handler
    def _on_mouse_up(self, x: float, y: float) -> None:
        if self._drag is not None:
            self._drag_to(x, y)
        self._drag = None
        self._set_hover(self._hit(x, y), force=True)

    @_handler
    def _on_mouse_out(self, x: float, y: float) -> None:
        if self._drag is not None:
            self._drag_to(x, y)
        self._drag = None
        self._set_hover(None, force=True)

    @_handler
    def _on_touch_start(self, touches: Any) -> None:
        if touches:
            self._on_mouse_down(*touches[0])

    @_handler
    def _on_touch_move(self, touches: Any) -> None:
        if touches and self._drag is not None:
            self._drag_to(*touches[0])

    @_handler
    def _on_touch_end(self, touches: Any) -> None:
        if not touches:  # the fingers still down: the drag ends when none remain
            self._drag = None
            self._set_hover(None, force=True)

    @_handler
    def _on_client_ready(self) -> None:
        self.redraw()

    # ------------------------------------------------------------------ internals: geometry

    def _view_rect(self, top: int, right: int, bottom: int, left: int) -> tuple[float, float, float, float]:
        """View ``(x0, y0, x1, y1)`` of the picture grown by the margins (edges, not pixel centres)."""
        h, w = self._image.shape[:2]
        m = self.max_margin
        sx, sy = self.view.sx, self.view.sy
        return ((m - left) * sx, (m - top) * sy, (m + w + right) * sx, (m + h + bottom) * sy)

    def _edges(self) -> tuple[float, float, float, float]:
        return self._view_rect(self.top, self.right, self.bottom, self.left)

    def _hit(self, x: float, y: float) -> str | None:
        """The edge of the new canvas nearest to view point ``(x, y)``, if within HIT_RADIUS."""
        x0, y0, x1, y1 = self._edges()
        dx = max(x0 - x, 0.0, x - x1)  # distance outside the outline's horizontal span
        dy = max(y0 - y, 0.0, y - y1)
        dist = {
            "top": math.hypot(dx, y - y0),
            "bottom": math.hypot(dx, y - y1),
            "left": math.hypot(x - x0, dy),
            "right": math.hypot(x - x1, dy),
        }
        side = min(SIDES, key=dist.__getitem__)
        return side if dist[side] <= HIT_RADIUS else None

    def _drag_to(self, x: float, y: float) -> None:
        drag = self._drag
        assert drag is not None
        outward = {
            "top": (drag.y - y) / self.view.sy,
            "bottom": (y - drag.y) / self.view.sy,
            "left": (drag.x - x) / self.view.sx,
            "right": (x - drag.x) / self.view.sx,
        }[drag.side]
        value = min(self.max_margin, max(0, snap_nearest(drag.start + outward)))
        if value != getattr(self, drag.side):
            setattr(self, drag.side, value)  # the observer redraws

    # ------------------------------------------------------------------ internals: drawing

    def _set_hover(self, side: str | None, force: bool = False) -> None:
        if force or side != self._hover:
            self._hover = side
            with held(self.canvas):
                self._draw_ui()

    def _draw_ui(self) -> None:
        layer = self.canvas[UI]
        vw, vh = self.view.view_width, self.view.view_height
        x0, y0, x1, y1 = self._edges()
        px0, py0, px1, py1 = self._picture_box
        layer.clear()
        # outside the new canvas: shaded (not part of the result)
        layer.fill_style = SHADE
        for rx, ry, rw, rh in (
            (0, 0, vw, y0), (0, y1, vw, vh - y1), (0, y0, x0, y1 - y0), (x1, y0, vw - x1, y1 - y0),
        ):
            if rw > 0 and rh > 0:
                layer.fill_rect(rx, ry, rw, rh)
        # the picture's own border, then the new canvas' dashed outline
        layer.line_width = 1.0
        layer.set_line_dash([])
        layer.stroke_style = "rgba(0, 0, 0, 0.5)"
        layer.stroke_rect(px0, py0, px1 - px0, py1 - py0)
        layer.line_width = 2.0
        layer.stroke_style = OUTLINE
        layer.set_line_dash([8, 5])
        layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
        layer.set_line_dash([])
        # a handle at the middle of each edge, with the margin it stands for
        active = self._drag.side if self._drag is not None else self._hover
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        long, short = 36.0, 10.0
        handles = {
            "top": (cx - long / 2, y0 - short / 2, long, short),
            "bottom": (cx - long / 2, y1 - short / 2, long, short),
            "left": (x0 - short / 2, cy - long / 2, short, long),
            "right": (x1 - short / 2, cy - long / 2, short, long),
        }
        layer.font = "12px sans-serif"
        layer.text_align = "center"
        layer.text_baseline = "middle"
        for side, (hx, hy, hw, hh) in handles.items():
            layer.fill_style = HANDLE_ACTIVE if side == active else HANDLE
            layer.fill_rect(hx, hy, hw, hh)
            layer.stroke_style = OUTLINE
            layer.line_width = 1.0
            layer.stroke_rect(hx, hy, hw, hh)
            value = getattr(self, side)
            if value:
                tx, ty = {
                    "top": (cx, y0 + 14), "bottom": (cx, y1 - 14),
                    "left": (x0 + 24, cy), "right": (x1 - 24, cy),
                }[side]
                layer.fill_style = "rgba(0, 0, 0, 0.75)"
                layer.fill_text(f"+{value}", tx, ty)

    # ------------------------------------------------------------------ internals: traits and controls

    def _snapped(self, value: Any, name: str, high: int) -> int:
        """``value`` rounded up to 64, or a clear InvalidInputError."""
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InvalidInputError(f"{name} must be a whole number of pixels, not {value!r}")
        if value < 0:
            raise InvalidInputError(f"{name} must be 0 or more pixels, not {value}")
        snapped = round_up_64(int(value))
        if snapped > high:
            hint = "; make the widget with a larger max_margin=" if high < MAX_MARGIN_LIMIT else ""
            raise InvalidInputError(f"{name} must be at most {high} pixels, not {value}{hint}")
        return snapped

    @validate(*SIDES)
    def _valid_margin(self, proposal: Any) -> int:
        side = proposal["trait"].name
        return self._snapped(proposal["value"], f"{side} margin", self.max_margin)

    @_handler
    def _on_margin(self, change: Any) -> None:
        self._update_controls()
        with held(self.canvas):
            self._draw_ui()

    def _update_controls(self) -> None:
        for side in SIDES:
            field = self.fields[side]
            if field.value != getattr(self, side):
                field.value = getattr(self, side)
        w, h = self.new_size
        ih, iw = self._image.shape[:2]
        self.size_label.value = f"New canvas: {w} x {h} px (picture {iw} x {ih})"

    def _on_field(self, side: str, change: Any) -> None:
        field = self.fields[side]
        try:
            setattr(self, side, change["new"])
        except Exception as exc:  # noqa: BLE001 - bad input typed by the user: show it, revert
            report_error(self.output, exc, f"{side} field")
        if field.value != getattr(self, side):  # snapped (100 -> 128) or reverted
            field.value = getattr(self, side)

    def _build_controls(self, prompt: str, show_run_controls: bool = True) -> list[widgets.Widget]:
        self.fields: dict[str, widgets.IntText] = {}
        for side in SIDES:
            field = widgets.IntText(
                value=0, step=GRID, description=side.capitalize(),
                tooltip=f"{side} margin in image pixels (rounded up to a multiple of {GRID})",
                layout=widgets.Layout(width="11em"), style={"description_width": "4em"},
            )
            field.observe(functools.partial(self._on_field, side), names="value")
            self.fields[side] = field
        self.size_label = widgets.Label()
        self.prompt_field = widgets.Text(
            value=prompt, placeholder="prompt (empty: the image's stored prompt)",
            layout=widgets.Layout(width="28em"),
        )
        self.button = widgets.Button(description="Outcrop", icon="expand", button_style="primary",
                                     tooltip="Grow the canvas by the margins and paint the new area",
                                     layout=widgets.Layout(width="auto"))
        self.button.on_click(lambda _b: self._on_outcrop_click())
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="auto"))
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="14em"))
        self.status_label = widgets.Label()
        row1 = widgets.HBox([*self.fields.values(), self.size_label])
        row2 = widgets.HBox([self.prompt_field, self.button, self.cancel_button, self.progress, self.status_label])
        if not show_run_controls:  # inside the Studio, whose own controls run it
            row2.layout.display = "none"
        return [row1, row2]

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
        c.on_client_ready(self._on_client_ready)

    # ------------------------------------------------------------------ internals: running

    def _mgr(self) -> Any:
        if self._manager is not None:
            return self._manager
        from ..engine.manager import manager

        return manager()

    @staticmethod
    def _checked_params(params: dict[str, Any]) -> dict[str, Any]:
        from ..requests import GenerationParams, OutcropRequest

        fields = set(GenerationParams.__dataclass_fields__)
        unknown = sorted(set(params) - fields - {"mgr", "progress"})
        if unknown:
            raise InvalidInputError(
                f"unknown outcrop parameter {unknown[0]!r}; use GenerationParams fields such as "
                "steps, seed, strength, seam_steps"
            )
        OutcropRequest.default_params().with_(**{k: v for k, v in params.items() if k in fields})
        return dict(params)

    def _call_args(self, prompt: str | None, params: dict[str, Any]) -> dict[str, Any]:
        self._check_open()
        kwargs = {**self._params, **params}
        if prompt is None:
            prompt = self.prompt_field.value.strip() or None
        kwargs["prompt"] = prompt
        kwargs.setdefault("mgr", self._manager)
        kwargs.update(self.margins)  # taken now: a drag during the run does not change it
        return kwargs

    def _on_outcrop_click(self) -> None:
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - shown in the widget
            report_error(self.output, exc, "outcrop")

    def _set_busy(self, busy: bool) -> None:
        self.button.disabled = False  # clicks while busy are refused with a message, not ignored
        self.button.description = "Running…" if busy else "Outcrop"
        self.cancel_button.disabled = not busy
        if busy:
            self.error = None
            self._display.started("starting…")

    def _set_status(self, text: str) -> None:
        self.status_label.value = text

    def _generate(self, kwargs: dict[str, Any], token: CancelToken) -> Any:
        """The job: outcrop on the manager, with this run's cancel token and progress."""
        from ..engine import api
        from ..engine.hub import report_loads

        user_progress = kwargs.pop("progress", None)

        def progress(step: Any) -> None:
            self._display.step(step)
            if user_progress is not None:
                user_progress(step)

        with report_loads(self._display.load):
            return api.outcrop(self._source, progress=progress, cancel=token,
                               on_wait=self._display.waiting, **kwargs)

    def _on_failure(self, exc: BaseException) -> None:
        self.error = exc
        self.status_label.value = "cancelled" if isinstance(exc, CancelledError) else "failed"
        report_error(self.output, exc, "outcrop")

    def _show_result(self, result: Any) -> None:
        self.result = result
        if self._closed:  # a run that ended after close(): keep the result, show nothing
            return
        image = result.image
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        self.result_image.value = buf.getvalue()
        self.result_image.layout.display = None
        self.progress.value = self.progress.max
        self.status_label.value = f"done: {image.width} x {image.height} px, seed {result.seeds[0]}"
        try:
            self.set_trait("runs", self.runs + 1)
        except Exception as exc:  # noqa: BLE001 - a user's observer: show it, the result stands
            report_error(self.output, exc, "runs observer")


__all__ = ["OutpaintMargins", "checkerboard", "snap_nearest"]
