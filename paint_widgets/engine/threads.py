"""Settings of the thread a background job runs on: its torch thread count and CPU priority.

A live preview on every core of a small CPU starves the kernel's comm thread, the
browser and the server (stroke echo doubled on 2 cores: benchmarks/bench_live_echo.py),
so the preview worker runs on fewer torch threads at a lower priority, while the
full-quality Generate keeps torch's default.
"""

from __future__ import annotations

import os
import sys
import threading

_niced = threading.local()


def lower_priority_here(delta: int) -> None:
    """Raise this thread's niceness by ``delta`` (at most 19), once per thread; Linux only.

    On Linux the nice value belongs to each thread (setpriority(2) with the thread's id);
    elsewhere the same call would name a process, so nothing is done. Raising it needs no
    privilege; a live worker thread ends when it has nothing to do, and the next one
    starts at the kernel's priority again, so this never reaches other work.
    """
    if delta <= 0 or not sys.platform.startswith("linux") or getattr(_niced, "done", False):
        return
    _niced.done = True
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + int(delta)))
    except OSError:  # a sandbox that refuses it: previews still run, at the same priority
        pass


def torch_threads_here(n: int) -> None:
    """Run this thread's torch ops on ``n`` intra-op threads, leaving other threads' setting alone.

    ``torch.set_num_threads`` sets the calling thread's OpenMP/MKL thread count and, as a
    side effect, the default that threads started later pick up on their first torch op
    (the Generate worker, say). So after setting it here, a short-lived helper thread sets
    that default back; this thread keeps ``n``. A thread that makes its first torch op in
    the moment between the two gets ``n`` too: harmless, and all but impossible.
    """
    import torch

    n = max(1, int(n))
    keep = torch.get_num_threads()
    if keep == n:
        return
    torch.set_num_threads(n)
    helper = threading.Thread(target=torch.set_num_threads, args=(keep,), name="paint-widgets-threads")
    helper.start()
    helper.join()
