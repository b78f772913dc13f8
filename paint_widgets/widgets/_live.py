"""A latest-wins worker for live previews: the newest request is the only one that matters.

:meth:`LatestWins.submit` makes a request the newest: the one running is superseded
(its :class:`~paint_widgets.CancelToken` is set, so the engine stops it at its next
step), the one waiting is replaced (at most one waits), and one worker thread runs
whatever is newest when it is free. A result is handed to ``on_result`` only if its
request is still the newest when it is shown; the check and the call happen under
one lock that :meth:`submit` also takes, so a request submitted while a result is
shown makes that result old only after it was shown, never halfway. No torch here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..cancel import CancelToken
from ..errors import CancelledError

LiveWork = Callable[[Any, CancelToken], Any]


class LatestWins:
    """Run the newest submitted request in one worker thread; drop everything older."""

    def __init__(self, work: LiveWork, *, on_result: Callable[[Any, Any], None],
                 on_error: Callable[[Any, BaseException], None] | None = None,
                 on_idle: Callable[[], None] | None = None, name: str = "live") -> None:
        self.work = work
        self.on_result = on_result  # (request, result), only for the newest request
        self.on_error = on_error  # (request, error) of the newest request; cancels are not errors
        self.on_idle = on_idle  # when the worker has nothing left to do
        self.name = name
        self._lock = threading.RLock()  # on_result may submit (same thread) without a deadlock
        self._ticket = 0  # bumps with every submit / invalidate: the newest request's number
        self._waiting: tuple[int, Any] | None = None
        self._running: tuple[int, CancelToken] | None = None
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        #: Counters for tests and benchmarks: started, shown, superseded (cancelled or dropped).
        self.started = self.shown = self.superseded = 0

    @property
    def busy(self) -> bool:
        """Whether a request runs or waits."""
        return not self._idle.is_set()

    def submit(self, request: Any) -> int:
        """Make ``request`` the newest: cancel the running one, replace the waiting one; its ticket."""
        with self._lock:
            if self._closed:
                return self._ticket
            self._ticket += 1
            self._supersede()
            self._waiting = (self._ticket, request)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"paint-widgets-{self.name}", daemon=True)
                self._thread.start()
            return self._ticket

    def invalidate(self) -> None:
        """Nothing older than now may be shown, and nothing new is asked (e.g. the mask is empty)."""
        with self._lock:
            self._ticket += 1
            self._supersede()

    def _supersede(self) -> None:
        if self._running is not None:
            self._running[1].cancel()
        if self._waiting is not None:
            self._waiting = None
            self.superseded += 1

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits; False if ``timeout`` passed first."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what runs, drop what waits, and wait a little for the thread to end."""
        with self._lock:
            self._closed = True
            self._ticket += 1
            self._supersede()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._waiting is None or self._closed:
                    self._waiting = None
                    self._thread = None
                    self._running = None
                    self._idle.set()
                    break
                ticket, request = self._waiting
                self._waiting = None
                token = CancelToken()
                self._running = (ticket, token)
                self.started += 1
            self._one(ticket, request, token)
        if self.on_idle is not None:
            try:
                self.on_idle()
            except Exception:  # noqa: BLE001, S110 - a display callback must not kill the worker
                pass

    def _one(self, ticket: int, request: Any, token: CancelToken) -> None:
        try:
            result = self.work(request, token)
        except CancelledError:
            with self._lock:
                self._running = None
                self.superseded += 1
            return
        except BaseException as err:  # noqa: BLE001 - reported, never lost in a thread
            with self._lock:
                self._running = None
                newest = ticket == self._ticket and not self._closed
            if newest and self.on_error is not None:
                self._call(self.on_error, request, err)
            return
        with self._lock:  # shown only if still the newest; submit() waits for the display
            self._running = None
            if ticket == self._ticket and not self._closed:
                self.shown += 1
                self._call(self.on_result, request, result)
            else:
                self.superseded += 1

    @staticmethod
    def _call(fn: Callable[[Any, Any], None], request: Any, value: Any) -> None:
        try:
            fn(request, value)
        except Exception:  # noqa: BLE001, S110 - the widget reports its own display errors
            pass


__all__ = ["LatestWins"]
