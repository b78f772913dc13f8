"""One job runner for every widget that generates or computes a mask.

A widget owns one :class:`JobRunner`. :meth:`JobRunner.start` runs a job in a worker
thread (so the kernel stays live), refusing a second one atomically, also when two
threads ask at once. Each job has its own :class:`~paint_widgets.CancelToken`: Cancel
stops that job and nothing else, whatever it is doing when pressed. :meth:`JobRunner.wait`
returns the result of the job it waited for, or None if that job failed, was cancelled
or (with a timeout) is still running.

The widget supplies what is shown: ``on_busy(True/False)`` around each job (buttons),
``on_done(result)`` and ``on_error(error)``. All three run in the worker thread,
before :meth:`wait` returns, so a caller that waited sees the widget updated.
``on_idle`` runs after the job is done and may start the next one (a prompt typed
while the previous one was computed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..cancel import CancelToken
from ._canvas import report_error

Work = Callable[[CancelToken], Any]


@dataclass(eq=False)
class Job:
    """One run: its token, and once done its result or error."""

    name: str
    token: CancelToken = field(default_factory=CancelToken)
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return not self.done.is_set()


class JobRunner:
    """At most one job at a time for one widget, in a worker thread."""

    def __init__(self, name: str, *, output: Any = None,
                 on_busy: Callable[[bool], None] | None = None,
                 on_done: Callable[[Any], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None,
                 on_idle: Callable[[None], None] | None = None) -> None:
        self.name = name
        self.output = output  # where a failing callback is reported
        self.on_busy = on_busy
        self.on_done = on_done
        self.on_error = on_error
        self.on_idle = on_idle  # after a job is done; may start the next one
        self._lock = threading.Lock()
        self.job: Job | None = None  # the newest job (running or finished)

    @property
    def running(self) -> bool:
        job = self.job
        return job is not None and job.running

    def start(self, work: Work, *, background: bool = True) -> Job | None:
        """Run ``work(token)``; None (and nothing started) if a job is running.

        ``background=False`` runs it in the calling thread (a blocking ``run()``); it
        is still this widget's job: a second start is refused and Cancel stops it.
        """
        with self._lock:
            if self.running:
                return None
            job = Job(self.name)
            self.job = job
        self._call(self.on_busy, True)
        if not background:
            self._run(job, work)
            return job
        job.thread = threading.Thread(target=self._run, args=(job, work), name=f"paint-widgets-{self.name}",
                                      daemon=True)
        job.thread.start()
        return job

    def cancel(self) -> bool:
        """Cancel the running job (it stops at its next check); False if none runs."""
        job = self.job
        if job is None or not job.running:
            return False
        job.token.cancel()
        return True

    def wait(self, timeout: float | None = None) -> Any:
        """The result of the job running now (or the last one): None if it failed or was cancelled.

        With a ``timeout``, None while it is still running after that many seconds.
        """
        job = self.job
        if job is None:
            return None
        if not job.done.wait(timeout):
            return None
        return job.result if job.error is None else None

    def close(self, timeout: float = 5.0) -> None:
        """Cancel a running job and wait a little for its thread (a widget's ``close()``)."""
        job = self.job
        if job is not None and job.running:
            job.token.cancel()
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(timeout)

    def _run(self, job: Job, work: Work) -> None:
        try:
            job.result = work(job.token)
        except BaseException as err:  # noqa: BLE001 - shown in the widget, never lost in a thread
            job.error = err
        try:
            if job.error is None:
                self._call(self.on_done, job.result)
            else:
                self._call(self.on_error, job.error)
        finally:
            self._call(self.on_busy, False)
            job.done.set()
        self._call(self.on_idle, None)

    def _call(self, fn: Callable[[Any], None] | None, arg: Any) -> None:
        if fn is None:
            return
        try:
            fn(arg)
        except Exception as err:  # noqa: BLE001 - a display callback must not break the runner
            if self.output is not None:
                report_error(self.output, err, self.name)
