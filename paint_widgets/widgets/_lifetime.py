"""A widget's lifetime: its arguments checked at the door, everything it holds freed on ``close()``.

The door: :func:`check_number`, :func:`check_color`, :func:`check_view` and
:func:`check_text` refuse a bad constructor argument with one line naming it and
the allowed range, *before* a widget is built (a constructor that fails half-way
would leave the widgets it already made registered, and alive, for good).

The exit: ipywidgets keeps every widget in its registry (``Widget.widgets``) and
the comm manager until ``close()``, and closing a Box does not close its
children, their ``Layout`` or their ``Style``. :func:`close_tree` closes a widget
and every widget it holds (children, layout, style, canvas layers), each through
its own ``close()``, so a MaskPainter inside a Studio frees its buffers too.
:func:`close_parts` does the same without closing the widget itself (for a
widget's own ``close()``). Shared widgets (ipycanvas' one canvas manager) are
never closed, but a closed canvas is dropped from it (it keeps the last canvas
drawn on, and through its callbacks the widget that drew).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..errors import InvalidInputError, PaintError

#: Views (the canvas' longest side) are at most this many pixels, and at least VIEW_MIN.
VIEW_MAX = 8192
VIEW_MIN = 8


# =========================================================================== the door


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 integer: bool = False) -> Any:
    """``value`` as an int (``integer``) or float in ``[low, high]``; else one-line InvalidInputError.

    The message names the argument and the whole allowed range:
    ``brush must be a whole number from 1 to 4096, not 0``.
    """
    kind = "a whole number" if integer else "a number"
    if low is not None and high is not None:
        allowed = f"{kind} from {_num(low)} to {_num(high)}"
    elif low is not None:
        allowed = f"{kind} of at least {_num(low)}"
    elif high is not None:
        allowed = f"{kind} of at most {_num(high)}"
    else:
        allowed = kind
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if (not number or not math.isfinite(float(value)) or (integer and int(value) != value)
            or (low is not None and value < low) or (high is not None and value > high)):
        raise InvalidInputError(f"{name} must be {allowed}, not {value!r}")
    return int(value) if integer else float(value)


def check_color(value: Any, name: str = "color") -> tuple[int, int, int]:
    """An RGB colour: three whole numbers from 0 to 255; else one-line InvalidInputError."""
    try:
        parts = tuple(value) if not isinstance(value, (str, bytes)) else ()
    except TypeError:
        parts = ()
    ok = len(parts) == 3 and all(
        isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) and 0 <= c <= 255
        for c in parts
    )
    if not ok:
        raise InvalidInputError(f"{name} must be three whole numbers (red, green, blue) from 0 to 255, "
                                f"not {value!r}")
    red, green, blue = (int(c) for c in parts)
    return red, green, blue


def check_view(max_view: Any, min_view: Any) -> tuple[int, int]:
    """``(max_view, min_view)``: the view's longest side and the size small images grow to."""
    top = check_number(max_view, "max_view", low=VIEW_MIN, high=VIEW_MAX, integer=True)
    bottom = check_number(min_view, "min_view", low=0, high=top, integer=True)
    return top, bottom


def check_text(value: Any, name: str) -> str:
    """``value`` if it is a string; else one-line InvalidInputError."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, not {type(value).__name__} {value!r}")
    return value


def check_flag(value: Any, name: str) -> bool:
    """``value`` if it is True or False; else one-line InvalidInputError."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


# =========================================================================== the exit


def closed_error(widget: Any) -> PaintError:
    """The error a closed widget's state accessors raise."""
    return PaintError(f"this {type(widget).__name__} was closed (close() frees its images and masks); "
                      "make a new one")


def _shared() -> tuple[type, ...]:
    """Widgets many others refer to and no one owns: never closed."""
    try:
        from ipycanvas.canvas import _CanvasManager
    except ImportError:  # pragma: no cover - ipycanvas is a dependency
        return ()
    return (_CanvasManager,)


def _held(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    """The widgets ``widget``'s synced traits refer to (children, layout, style, canvas layers)."""
    for key in getattr(widget, "keys", ()):
        try:
            value = getattr(widget, key)
        except Exception:  # noqa: BLE001 - a half-built widget: nothing to close there
            continue
        yield from _widgets_in(value)


def _widgets_in(value: Any) -> Iterator[widgets.Widget]:
    if isinstance(value, widgets.Widget):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _widgets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _widgets_in(item)


def held_widgets(root: widgets.Widget) -> list[widgets.Widget]:
    """Every widget reachable from ``root`` through its traits, ``root`` first (shared ones left out)."""
    shared = _shared()
    seen: set[int] = set()
    order: list[widgets.Widget] = []
    stack = [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen or isinstance(widget, shared):
            continue
        seen.add(id(widget))
        order.append(widget)
        stack.extend(reversed(list(_held(widget))))
    return order


def close_parts(root: widgets.Widget, also: Iterable[Any] = ()) -> None:
    """Close every widget ``root`` holds (not ``root``), and the widgets in ``also``, with what they hold.

    Each closes through its own ``close()`` (a tool inside frees its buffers); images
    and outputs are emptied, so their bytes go even if someone keeps the widget.
    Idempotent: closing a closed widget does nothing.
    """
    todo = [w for w in held_widgets(root) if w is not root]
    for extra in also:
        if isinstance(extra, widgets.Widget) and extra is not root:
            todo.extend(held_widgets(extra))
    for widget in todo:
        _close_one(widget)


def close_tree(root: widgets.Widget) -> None:
    """Close ``root`` and every widget it holds (children, layout, style, canvas layers)."""
    _close_one(root)
    close_parts(root)


def _close_one(widget: widgets.Widget) -> None:
    _forget_canvas(widget)
    try:
        widget.close()
    except Exception:  # noqa: BLE001 - closing must go on: one broken part must not keep the rest alive
        widgets.Widget.close(widget)
    if isinstance(widget, widgets.Image) and widget.value:
        widget.value = b""
    elif isinstance(widget, widgets.Output) and widget.outputs:
        widget.outputs = ()


def _forget_canvas(widget: Any) -> None:
    """Drop ``widget`` from ipycanvas' canvas manager, which keeps the last canvas drawn on."""
    manager = getattr(widget, "_canvas_manager", None)
    if manager is not None and getattr(manager, "_current_canvas", None) is widget:
        manager._current_canvas = None


def unlink_all(links: Iterable[Any]) -> None:
    """``unlink()`` each ``widgets.link`` (their observers tie the linked widgets together)."""
    for link in links:
        try:
            link.unlink()
        except (ValueError, AttributeError):  # already unlinked
            pass


def registry() -> dict[str, Any]:
    """ipywidgets' registry of live widgets (``Widget.widgets``, without its deprecation warning)."""
    from ipywidgets.widgets import widget as module

    instances = getattr(module, "_instances", None)
    if instances is None:  # pragma: no cover - ipywidgets 7
        return dict(widgets.Widget.widgets)
    return dict(instances)


__all__ = [
    "VIEW_MAX", "VIEW_MIN", "check_color", "check_flag", "check_number", "check_text", "check_view",
    "close_parts", "close_tree", "closed_error", "held_widgets", "registry", "unlink_all",
]
