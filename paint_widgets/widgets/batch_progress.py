"""A notebook widget for a running batch: a bar of images, counts, seconds per image, failures.

It is a batch progress sink (``widget(event)``): the batch calls it from the
cell's thread, so updating traits is enough; failures are listed as they come.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets


class BatchProgressWidget(widgets.VBox):
    """Images done of total, failed and skipped, per-image time, and the failures (file: reason)."""

    def __init__(self) -> None:
        self.bar = widgets.IntProgress(value=0, min=0, max=1, description="batch",
                                       layout=widgets.Layout(width="50%"))
        self.status = widgets.HTML()
        self.step = widgets.HTML()
        self.failures = widgets.HTML()
        super().__init__([widgets.HBox([self.bar, self.status]), self.step, self.failures])

    def show(self) -> None:
        """Display the widget in the running cell's output."""
        from IPython.display import display

        display(self)

    def __call__(self, event: Any) -> None:
        self.bar.max = max(int(event.total), 1)
        self.bar.value = min(int(event.finished), self.bar.max)
        self.status.value = html.escape(event.describe())
        if event.kind == "step" and event.current:
            self.step.value = f"<small>{html.escape(event.current)}: step {event.step}/{event.steps}</small>"
        last = event.last
        if event.kind == "image" and last is not None and last.status == "failed":
            line = f"<div style='color:#b00020'>failed: {html.escape(last.input)}: {html.escape(last.reason)}</div>"
            self.failures.value += line
        if event.kind == "end":
            self.step.value = ""
            self.bar.bar_style = "warning" if event.failed else "success"
