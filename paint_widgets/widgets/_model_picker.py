"""The Studio's model picker: a text box with the recently used models, and what the model is.

A model is a Hub id, a diffusers folder or a single ``.safetensors`` file. For a local
one the family and native size are read from its files at once
(:func:`..engine.families.family_of`: JSON and safetensors headers, no weights, no
torch); a Hub id's family is read when it loads. Empty means the manager's default.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

#: Models picked in this kernel, newest first (shared by every Studio).
RECENT: list[str] = []
MAX_RECENT = 8


def describe(source: str) -> str:
    """One line: the family and native size of a local model, or what a Hub id will do."""
    from ..engine.families import family_of
    from ..engine.loading import describe_source
    from ..errors import PaintError

    try:
        where = describe_source(source)
    except PaintError as err:
        return f"not usable: {err}"
    if where == "hub":
        return "a Hub id: its family is read when it loads"
    family = family_of(os.path.expanduser(source))
    if family.name == "unknown":
        return "not a model paint_widgets recognises (it will say why when it loads)"
    what = "single file" if where == "file" else "folder"
    note = "" if family.generates else ", recognised but not generated"
    return f"{family.label} ({what}), native size {family.native_size} px{note}"


def remember(source: str) -> None:
    """Put ``source`` first in :data:`RECENT`."""
    if source in RECENT:
        RECENT.remove(source)
    RECENT.insert(0, source)
    del RECENT[MAX_RECENT:]


class ModelPicker(widgets.HBox):
    """``Model: [text box with recent models] family, native size``; ``on_change(source | None)``."""

    def __init__(self, model: str | None, default: Callable[[], str],
                 on_change: Callable[[str | None], Any]) -> None:
        self._default, self._on_change = default, on_change
        self.box = widgets.Combobox(
            value=model or "", options=list(RECENT), ensure_option=False, continuous_update=False,
            placeholder="the manager's default: hub id, folder or .safetensors file",
            description="Model", layout=widgets.Layout(width="32em"),
        )
        self.info = widgets.HTML()
        self.box.observe(self._changed, names="value")
        super().__init__([self.box, self.info])
        if model:
            remember(model)
        self.show(model)

    @property
    def source(self) -> str | None:
        """The model typed or picked; None for the manager's default."""
        return self.box.value.strip() or None

    def show(self, model: str | None) -> None:
        """Describe ``model`` (or the default) next to the box."""
        text = describe(model) if model else f"default ({self._default()})"
        self.info.value = f"<span style='color:#555'>{html.escape(text)}</span>"

    def _changed(self, _change: Any) -> None:
        model = self.source
        self.show(model)
        if model:
            remember(model)
            self.box.options = list(RECENT)
        self._on_change(model)


__all__ = ["RECENT", "ModelPicker", "describe", "remember"]
