"""Counting a batch as it runs and showing it: a callback, a bar in a terminal, a widget in a notebook.

:class:`Tracker` turns finished jobs (and denoising steps) into
:class:`~.report.BatchProgress` events for every sink. ``display="auto"`` picks a
widget inside a Jupyter kernel, a tqdm bar when standard error is a terminal, and
nothing otherwise (a log file gets the summary only).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .report import BatchProgress
from .work import Outcome

ProgressFn = Callable[[BatchProgress], None]
DISPLAYS = ("auto", "widget", "bar", None)


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where a widget can be shown)."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ip = getattr(shell, "get_ipython", lambda: None)()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class TerminalBar:
    """A tqdm bar on standard error: images done of total, failed, seconds per image."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, event: BatchProgress) -> None:
        from tqdm.auto import tqdm

        if event.kind == "start":
            self._bar = tqdm(total=event.total, unit="img", desc="batch", file=sys.stderr)
        if self._bar is None or event.kind == "step":
            return
        self._bar.n = event.finished
        self._bar.set_postfix(failed=event.failed, skipped=event.skipped,
                              s_per_img=f"{event.seconds:.1f}", refresh=False)
        self._bar.refresh()
        if event.kind == "end":
            self._bar.close()


def make_display(display: str | None) -> ProgressFn | None:
    """The sink for ``display`` (see the module docstring), or None."""
    if display not in DISPLAYS:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"display must be one of {DISPLAYS}, not {display!r}")
    if display == "auto":
        display = "widget" if in_notebook() else ("bar" if sys.stderr.isatty() else None)
    if display == "widget":
        from ..widgets.batch_progress import BatchProgressWidget

        widget = BatchProgressWidget()
        widget.show()
        return widget
    if display == "bar":
        return TerminalBar()
    return None


class Tracker:
    """Counts outcomes and sends each event to every sink (a failing sink never stops the batch)."""

    def __init__(self, total: int, sinks: list[ProgressFn]) -> None:
        self.total = total
        self.sinks = sinks
        self.done = self.failed = self.skipped = 0
        self.seconds = 0.0

    def _event(self, kind: str, **extra: Any) -> BatchProgress:
        return BatchProgress(kind, self.total, self.done, self.failed, self.skipped, seconds=self.seconds, **extra)

    def emit(self, event: BatchProgress) -> None:
        for sink in self.sinks:
            try:
                sink(event)
            except Exception as err:  # noqa: BLE001 - a display must not stop 2,000 images
                print(f"batch progress display failed: {err}", file=sys.stderr)

    def start(self) -> None:
        self.emit(self._event("start"))

    def step(self, current: str, step: Any) -> None:
        self.emit(self._event("step", current=current, step=int(step.step), steps=int(step.total)))

    def finished(self, outcome: Outcome) -> None:
        if outcome.status == "done":
            self.done += 1
            self.seconds = outcome.seconds
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
        self.emit(self._event("image", current=outcome.input, last=outcome))

    def end(self) -> None:
        self.emit(self._event("end"))


__all__ = ["DISPLAYS", "ProgressFn", "TerminalBar", "Tracker", "in_notebook", "make_display"]
