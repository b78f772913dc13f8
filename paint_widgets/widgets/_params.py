"""Studio controls built from the parameter table (:mod:`paint_widgets.params`).

A row with a :class:`~paint_widgets.params.Control` gets a widget here, labelled,
bounded and started at the operation's default, so a new parameter shows up in
the Studio without the Studio restating it.

A slider may show a narrower range than its parameter allows (steps 1-150 of
1-1000) so that the common values are easy to pick. What it shows is what is used:
a value set from code is checked against the parameter at once (one-line
:class:`~paint_widgets.errors.InvalidInputError`, e.g. ``steps (-s) must be <= 1000``),
and an allowed value outside the slider's range stretches the range to show it,
instead of being clamped silently. Number fields show what was typed; the Studio
refuses a bad one when Generate is pressed, with the message in its status line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as widgets
from traitlets import validate

from ..params import Param

#: Labels of number and choice controls share this width, so the controls line up.
_STYLE = {"description_width": "8em"}


def controls_for(params: Iterable[Param], operation: str = "inpaint") -> dict[str, widgets.Widget]:
    """``{name: widget}`` for each row of ``params`` that has a control, in table order."""
    return {p.name: _control(p, p.default_for(operation)) for p in params if p.control is not None}


def values_from(controls: Mapping[str, widgets.Widget]) -> dict[str, Any]:
    """``{name: value}`` of the controls: what :class:`~paint_widgets.requests.GenerationParams` takes."""
    return {name: control.value for name, control in controls.items()}


def swap_defaults(controls: Mapping[str, widgets.Widget], params: Iterable[Param], old: str, new: str) -> None:
    """Move each control the user left at ``old``'s default to ``new``'s (outcrop's strength 0.9...)."""
    for p in params:
        control = controls.get(p.name)
        before, after = p.default_for(old), p.default_for(new)
        if control is None or before == after:
            continue
        if _same(control.value, before):
            control.value = after


def unplaced(controls: Mapping[str, widgets.Widget], layout: Iterable[widgets.Widget]) -> list[widgets.Widget]:
    """The controls that ``layout`` (widgets and the boxes holding them) does not place, in table order.

    A layout that names its controls still shows a new parameter's: put these at its end.
    """
    placed: set[int] = set()
    stack = list(layout)
    while stack:
        widget = stack.pop()
        placed.add(id(widget))
        stack.extend(getattr(widget, "children", ()))
    return [c for c in controls.values() if id(c) not in placed]


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, (int, float)) and isinstance(default, (int, float)):
        return math.isclose(value, default, rel_tol=0.0, abs_tol=1e-9)
    return value == default


class _Fitted:
    """A slider for one parameter: values are checked against it, the range stretches to show them."""

    _param: Param
    min: Any
    max: Any

    def _fit(self, value: Any) -> Any:
        checked = self._param.check(value)  # InvalidInputError naming the parameter and its bound
        if checked > self.max:
            self.max = checked
        if checked < self.min:
            self.min = checked
        return checked


class ParamIntSlider(_Fitted, widgets.IntSlider):
    """An ``IntSlider`` for a whole-number parameter (steps, iterations)."""

    def __init__(self, param: Param, value: Any, **kwargs: Any) -> None:
        self._param = param
        super().__init__(value, **kwargs)

    @validate("value")
    def _validate_value(self, proposal: Any) -> Any:
        return self._fit(proposal["value"])


class ParamFloatSlider(_Fitted, widgets.FloatSlider):
    """A ``FloatSlider`` for a number parameter (cfg, strength, inpaint_replace)."""

    def __init__(self, param: Param, value: Any, **kwargs: Any) -> None:
        self._param = param
        super().__init__(value, **kwargs)

    @validate("value")
    def _validate_value(self, proposal: Any) -> Any:
        return self._fit(proposal["value"])


def _control(p: Param, default: Any) -> widgets.Widget:
    spec = p.control
    assert spec is not None
    kind = spec.kind or _kind(p)
    value = spec.start() if default is None and spec.start is not None else default
    if kind == "area":
        return widgets.Textarea(value, placeholder=spec.placeholder, description=spec.label,
                                layout=widgets.Layout(width="98%"))
    if kind == "line":
        return widgets.Text(value, placeholder=spec.placeholder, description=spec.label,
                            layout=widgets.Layout(width="98%"))
    if kind == "dropdown":
        return widgets.Dropdown(options=p.choices, value=value, description=spec.label, style=_STYLE)
    if kind == "checkbox":
        return widgets.Checkbox(bool(value), description=spec.label, style=_STYLE)
    integer = p.type is int
    if kind == "slider":
        low = spec.low if spec.low is not None else p.low
        high = spec.high if spec.high is not None else p.high
        options: dict[str, Any] = {"min": low, "max": high}
        if spec.step is not None:
            options["step"] = spec.step
        slider = ParamIntSlider if integer else ParamFloatSlider
        return slider(p, value, description=spec.label, style=_STYLE, **options)
    if kind == "bounded":
        cls = widgets.BoundedIntText if integer else widgets.BoundedFloatText
        return cls(value, min=p.low, max=p.high, description=spec.label, style=_STYLE)
    if kind == "field":
        cls = widgets.IntText if integer else widgets.FloatText
        return cls(value, description=spec.label, style=_STYLE)
    raise ValueError(f"unknown control kind {kind!r} for parameter {p.name}")


def _kind(p: Param) -> str:
    if p.choices:
        return "dropdown"
    if p.type is bool:
        return "checkbox"
    if p.type is str:
        return "line"
    return "field"


__all__ = ["ParamFloatSlider", "ParamIntSlider", "controls_for", "swap_defaults", "unplaced", "values_from"]
