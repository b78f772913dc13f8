"""Independent pieces of one big array job, run side by side on a few threads.

numpy releases the GIL inside its array loops (fancy indexing, ``take``, ufuncs,
``einsum``) and pypatchmatch inside its native call, so a job cut into independent
pieces runs on several cores. What comes out never depends on the thread count: each
piece is a pure function of its inputs and the pieces are put back in order.

:func:`workers` opens a pool for the calling thread for the length of a ``with``
block; :func:`map_pieces` uses it, and runs the pieces one after another outside
one (or inside a piece: no nesting). A fresh pool per block, so its threads start
with the caller's CPU priority (a niced live-preview worker's helpers stay niced).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Threads a :func:`workers` block uses: the cores, at most 4 (the jobs here stop
#: gaining beyond that: they are bound by memory bandwidth).
THREADS = max(1, min(4, os.cpu_count() or 1))
#: Rows below which a piece is not worth a thread hand-off (~0.1 ms).
MIN_ROWS = 1 << 13

_local = threading.local()


@contextmanager
def workers(threads: int | None = None) -> Iterator[None]:
    """Let :func:`map_pieces` in this thread use ``threads`` (default :data:`THREADS`)."""
    n = THREADS if threads is None else int(threads)
    if n <= 1 or getattr(_local, "pool", None) is not None:  # serial, or already inside one
        yield
        return
    with ThreadPoolExecutor(n, thread_name_prefix="paint-widgets-pieces") as pool:
        _local.pool, _local.threads = pool, n
        try:
            yield
        finally:
            _local.pool, _local.threads = None, 1


def threads_here() -> int:
    """How many threads :func:`map_pieces` may use in this thread right now."""
    return getattr(_local, "threads", 1)


def map_pieces(fn: Callable[[T], R], pieces: Sequence[T]) -> list[R]:
    """``[fn(p) for p in pieces]``, on the :func:`workers` pool when one is open here."""
    pool = getattr(_local, "pool", None)
    if pool is None or len(pieces) < 2:
        return [fn(p) for p in pieces]
    return list(pool.map(fn, pieces))


def row_slices(n: int, min_rows: int = MIN_ROWS) -> list[slice]:
    """``range(n)`` as contiguous slices, one per thread available here, each at least
    ``min_rows`` long (a single slice when that leaves only one)."""
    parts = max(1, min(threads_here(), n // max(1, min_rows)))
    cuts = [round(k * n / parts) for k in range(parts + 1)]
    return [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
