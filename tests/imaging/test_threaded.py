"""Pieces of one job side by side: order kept, no nesting, and infill's pixels the same
on any number of threads (a seed means the same picture on a laptop and a server)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from paint_widgets.imaging import infill_pypm, threaded
from paint_widgets.imaging.infill import infill


def test_map_pieces_keeps_order_and_uses_the_pool_only_inside_workers() -> None:
    names: list[str] = []

    def square(k: int) -> int:
        names.append(threading.current_thread().name)
        return k * k

    assert threaded.map_pieces(square, range(6)) == [0, 1, 4, 9, 16, 25]
    assert set(names) == {threading.current_thread().name}, "outside workers(): serial, here"
    names.clear()
    with threaded.workers(3):
        assert threaded.threads_here() == 3
        assert threaded.map_pieces(square, list(range(40))) == [k * k for k in range(40)]
    assert all(n.startswith("paint-widgets-pieces") for n in names)
    assert threaded.threads_here() == 1, "the pool closes with the block"


def test_a_piece_maps_its_own_pieces_serially() -> None:
    """A piece that splits again runs its parts on its own thread, never waiting on the
    pool it is part of (which could deadlock)."""

    def inner(k: int) -> list[int]:
        assert threaded.threads_here() == 1
        return threaded.map_pieces(lambda j: j + k, [0, 1])

    with threaded.workers(2):
        assert threaded.map_pieces(inner, [10, 20, 30]) == [[10, 11], [20, 21], [30, 31]]


def test_row_slices_cover_the_rows_once() -> None:
    with threaded.workers(4):
        parts = threaded.row_slices(100_000)
        assert len(parts) == 4
        assert threaded.row_slices(10, min_rows=8) == [slice(0, 10)], "too small to split"
    rows = np.zeros(100_000, int)
    for p in parts:
        rows[p] += 1
    assert (rows == 1).all()
    assert threaded.row_slices(100_000) == [slice(0, 100_000)], "one slice outside workers()"


def textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([xx * 7 % 200, yy * 5 % 200, ((xx // 6 + yy // 6) % 2) * 150], axis=-1)
    return (base + rng.integers(0, 40, size=(h, w, 3))).clip(10, 240).astype(np.uint8)


@pytest.mark.parametrize("backend", ["pypatchmatch", "ours"])
@pytest.mark.parametrize("shape", ["border", "square"])
def test_infill_gives_the_same_pixels_on_any_thread_count(
    backend: str, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "pypatchmatch" and not infill_pypm.available():
        pytest.skip("pypatchmatch's native library does not load here")
    monkeypatch.setattr(infill_pypm, "ENABLED", backend == "pypatchmatch")
    monkeypatch.setattr(threaded, "MIN_ROWS", 64)  # split even this small job
    img = textured(192, 224, seed=3)
    hole = np.zeros((192, 224), bool)
    if shape == "border":
        hole[:24], hole[-24:], hole[:, :24], hole[:, -24:] = True, True, True, True
        monkeypatch.setattr("paint_widgets.imaging.infill.PYPM_MAX_HOLE", 1000)  # our EM, banded start
        monkeypatch.setattr(infill_pypm, "BAND_HOLE", 1000)
    else:
        hole[70:110, 90:140] = True
    outs = []
    for n in (1, 2, 3):
        monkeypatch.setattr(threaded, "THREADS", n)
        outs.append(infill(img, hole, "patchmatch", seed=5))
    np.testing.assert_array_equal(outs[0][~hole], img[~hole])
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[2], outs[0])
