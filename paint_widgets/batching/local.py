"""The local engine: every job in turn on this process's manager (one model load for the batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..cancel import CancelToken
from .jobs import Job
from .progress import Tracker
from .work import Outcome, run_job


def run_local(jobs: list[Job], mgr: Any, tracker: Tracker, on_outcome: Callable[[Outcome], None], *,
              cancel: CancelToken | None = None) -> None:
    """Run ``jobs`` one after the other; each outcome goes to ``on_outcome`` as it ends.

    The manager keeps the model between jobs, so it loads once for the whole batch.
    """
    for job in jobs:
        def step(s: Any, _current: str = job.input) -> None:
            tracker.step(_current, s)

        on_outcome(run_job(job, mgr, progress=step, cancel=cancel))


__all__ = ["run_local"]
