"""A cancel that belongs to one run.

Every run (a widget's Generate, a ``pw.inpaint`` call) carries its own
:class:`CancelToken`. Pressing Cancel sets that token and nothing else: it holds
from the moment it is set, whatever the run is doing then (waiting for the manager,
loading a model, infilling, in a pass or between passes), and it never stops
another widget's run. No torch here: widgets make tokens without loading the engine.
"""

from __future__ import annotations

import threading

from .errors import CancelledError


class CancelToken(threading.Event):
    """Set once, by whoever may stop the run; checked by the engine at every step."""

    def cancel(self) -> None:
        """Ask the run to stop at its next check (the next step, or before the next pass)."""
        self.set()

    @property
    def cancelled(self) -> bool:
        return self.is_set()

    def check(self) -> None:
        """Raise :class:`CancelledError` if the run was cancelled."""
        if self.is_set():
            raise CancelledError("generation cancelled; nothing was changed")
