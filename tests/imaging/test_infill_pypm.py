"""``patchmatch`` through pypatchmatch: windows around the hole, originals kept, seeded,
safe across threads, and our own PatchMatch where the wheel is missing or fails."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from paint_widgets.imaging import infill as infill_module
from paint_widgets.imaging import infill_pypm
from paint_widgets.imaging.infill import PYPM_MAX_HOLE, infill

needs_pypm = pytest.mark.skipif(
    infill_pypm._library() is None, reason="pypatchmatch's native library does not load here"
)


def photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients, a few hard edges and a little noise: values in [10, 240]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([xx * 200 // w, yy * 200 // h, ((xx // 24 + yy // 24) % 2) * 120 + 40], axis=-1)
    return (10 + base + rng.integers(0, 30, size=(h, w, 3))).clip(10, 240).astype(np.uint8)


def square_hole(h: int, w: int, top: int, left: int, side: int) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    hole[top : top + side, left : left + side] = True
    return hole


class Spy:
    """Stands in for :func:`infill_pypm.inpaint_each` (every pypatchmatch call goes through
    it): records each image it is given, then runs the real one."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], np.ndarray]] = []
        self.real = infill_pypm.inpaint_each

    def __call__(self, jobs: list[tuple[np.ndarray, np.ndarray]], seed: int) -> list[np.ndarray]:
        self.calls += [(rgb.shape, hole.copy()) for rgb, hole in jobs]
        return self.real(jobs, seed)


def broken(jobs: object, seed: int) -> list[np.ndarray]:
    """A pypatchmatch that fails, as its native call does when out of memory."""
    raise RuntimeError("patchmatch failed: out of memory")


def fill_a_border(
    monkeypatch: pytest.MonkeyPatch, height: int, width: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Spy]:
    """Fills a 16 px border of a photo-like image with ``patchmatch``, too big for the
    windows, with every pypatchmatch call spied on; checks the known pixels stay as they are."""
    spy = Spy()
    monkeypatch.setattr(infill_pypm, "inpaint_each", spy)
    monkeypatch.setattr(infill_module, "PYPM_MAX_HOLE", 500)
    img = photo_like(height, width, seed=seed)
    hole = np.ones((height, width), bool)
    hole[16:-16, 16:-16] = False
    out = infill(img, hole, "patchmatch", seed=seed)
    np.testing.assert_array_equal(out[~hole], img[~hole])
    return img, hole, out, spy


def own(img: np.ndarray, hole: np.ndarray, **kwargs: object) -> np.ndarray:
    enabled = infill_pypm.ENABLED
    infill_pypm.ENABLED = False
    try:
        return infill(img, hole, "patchmatch", **kwargs)  # type: ignore[arg-type]
    finally:
        infill_pypm.ENABLED = enabled


# --- windows --------------------------------------------------------------------------


def test_windows_cover_every_hole_pixel_once_with_context() -> None:
    hole = np.zeros((400, 500), bool)
    hole[10:30, 10:30] = True  # near the frame: clipped there
    hole[200:220, 300:340] = True
    hole[205:215, 350:360] = True  # its window overlaps the one before: merged
    hole[380:390, 480:495] = True
    wins = infill_pypm.windows(hole)
    cover = np.zeros(hole.shape, int)
    for win in wins:
        cover[win] += 1
    assert cover.max() == 1, "windows overlap"
    assert (cover[hole] == 1).all()
    assert len(wins) == 3
    # no hole pixel is closer than MIN_PAD to its window's edge, unless that edge is the frame
    for win in wins:
        ys, xs = np.nonzero(hole[win])
        (top, bottom), (left, right) = ((s.start, s.stop) for s in win)
        assert top == 0 or ys.min() >= infill_pypm.MIN_PAD
        assert left == 0 or xs.min() >= infill_pypm.MIN_PAD
        assert bottom == 400 or (bottom - top) - ys.max() > infill_pypm.MIN_PAD
        assert right == 500 or (right - left) - xs.max() > infill_pypm.MIN_PAD


def test_windows_grow_with_the_hole() -> None:
    hole = square_hole(2048, 2048, 960, 960, 128)
    (win,) = infill_pypm.windows(hole)
    pad = int(infill_pypm.CONTEXT * 128)
    assert (win[0].start, win[0].stop) == (960 - pad, 960 + 128 + pad)
    assert infill_pypm.windows(np.zeros((9, 9), bool)) == []


def test_many_pieces_share_one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "MAX_PIECES", 3)
    hole = np.zeros((300, 300), bool)
    hole[100:200:10, 100:200:10] = True  # 100 dots
    (win,) = infill_pypm.windows(hole)
    assert hole[win].sum() == hole.sum()


# --- pypatchmatch path ---------------------------------------------------------------


@needs_pypm
def test_a_small_hole_in_a_big_image_runs_on_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy()
    monkeypatch.setattr(infill_pypm, "inpaint_each", spy)
    img = photo_like(1024, 1536)
    hole = square_hole(1024, 1536, 400, 700, 48)
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    (shape, sub), = spy.calls
    assert shape[:2] == (48 + 2 * 72, 48 + 2 * 72)  # CONTEXT 1.5 x the side on each side
    assert sub.sum() == hole.sum(), "the mask passed on is the hole (non-zero = fill)"


@needs_pypm
def test_a_thick_hole_starts_on_a_coarse_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 128 px square (64 px from a known pixel) is filled at half size by pypatchmatch,
    then by ours at full size: 4x fewer pixels for its ~40 us each."""
    spy = Spy()
    monkeypatch.setattr(infill_pypm, "inpaint_each", spy)
    img = photo_like(640, 640, seed=14)
    hole = square_hole(640, 640, 256, 256, 128)
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert set(map(tuple, out[hole].tolist())) <= set(map(tuple, img[~hole].tolist()))
    (shape, sub), = spy.calls
    assert sub.sum() == 64 * 64 and shape[0] <= 320, "one call on a half-size level"


@needs_pypm
def test_pypatchmatch_fill_keeps_originals_and_copies_known_colours() -> None:
    img = photo_like(300, 280, seed=1)
    hole = square_hole(300, 280, 100, 90, 60)
    hole[250:260, 20:200] = True  # a second piece, its own window
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    known = set(map(tuple, img[~hole].tolist()))
    assert set(map(tuple, out[hole].tolist())) <= known  # the polish copies known pixels
    assert not np.array_equal(out, own(img, hole)), "pypatchmatch was not used"


@needs_pypm
def test_no_seam_where_the_window_ends() -> None:
    """Outside the hole nothing changes, so a window's edge (>= MIN_PAD px away) adds no edge;
    inside, the fill is as smooth as the picture is."""
    img = photo_like(512, 512, seed=2)
    hole = square_hole(512, 512, 200, 220, 64)
    out = infill(img, hole, "patchmatch").astype(np.int32)
    np.testing.assert_array_equal(out[~hole], img[~hole])
    step = np.abs(np.diff(out, axis=1)).sum(-1)[hole[:, 1:] & hole[:, :-1]]
    ref = np.abs(np.diff(img.astype(np.int32), axis=1)).sum(-1)
    assert step.mean() < 1.5 * ref.mean()


@needs_pypm
def test_deterministic_by_seed_and_across_threads() -> None:
    imgs = [photo_like(200, 220, seed=s) for s in range(4)]
    hole = square_hole(200, 220, 70, 80, 40)
    alone = [infill(img, hole, "patchmatch", seed=s) for s, img in enumerate(imgs)]
    assert not np.array_equal(infill(imgs[0], hole, "patchmatch", seed=1), alone[0])
    together: list[np.ndarray | None] = [None] * 4

    def run(k: int) -> None:
        together[k] = infill(imgs[k], hole, "patchmatch", seed=k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b)


@needs_pypm
def test_what_was_under_the_hole_does_not_matter() -> None:
    img = photo_like(160, 160, seed=3)
    hole = square_hole(160, 160, 50, 60, 40)
    other = img.copy()
    other[hole] = 255
    np.testing.assert_array_equal(infill(img, hole, "patchmatch"), infill(other, hole, "patchmatch"))


# --- our own PatchMatch ------------------------------------------------------------------


def test_big_holes_take_our_own(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_windows(*args: object) -> None:
        raise AssertionError("a big hole went to the windows")

    monkeypatch.setattr(infill_module, "_pypatchmatch", no_windows)
    monkeypatch.setattr(infill_module, "PYPM_MAX_HOLE", 100)
    img = photo_like(64, 64, seed=4)
    hole = square_hole(64, 64, 20, 20, 11)  # 121 px > PYPM_MAX_HOLE
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert PYPM_MAX_HOLE >= 128 * 128, "thin object-removal holes of up to 128² px may use the windows"


def test_without_the_wheel_ours_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "_MODULE", [None])  # as if `import patchmatch` failed
    assert not infill_pypm.available()
    img = photo_like(96, 96, seed=5)
    hole = square_hole(96, 96, 30, 30, 24)
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    np.testing.assert_array_equal(out, own(img, hole))
    with pytest.raises(RuntimeError, match="not available"):
        infill_pypm.inpaint(img, hole, 0)


def test_a_failing_library_falls_back_to_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "_MODULE", [object()])  # "loaded"
    monkeypatch.setattr(infill_pypm, "inpaint_each", broken)
    img = photo_like(96, 96, seed=6)
    hole = square_hole(96, 96, 30, 30, 24)
    np.testing.assert_array_equal(infill(img, hole, "patchmatch"), own(img, hole))


def test_switching_it_off_forces_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy()
    monkeypatch.setattr(infill_pypm, "inpaint_each", spy)
    monkeypatch.setattr(infill_pypm, "ENABLED", False)
    img = photo_like(96, 96, seed=7)
    hole = square_hole(96, 96, 30, 30, 24)
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert spy.calls == []


# --- big holes: ours, started by pypatchmatch on the coarsest level -----------------------


@needs_pypm
def test_a_border_starts_from_pypatchmatch_on_a_small_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_module, "PM_START_HOLE", 800)
    img, hole, out, spy = fill_a_border(monkeypatch, 160, 200, seed=8)  # 10 752 px
    assert set(map(tuple, out[hole].tolist())) <= set(map(tuple, img[~hole].tolist()))
    (shape, sub), = spy.calls
    assert shape[0] < 160 and shape[1] < 200 and sub.sum() <= 800  # a coarse level only
    np.testing.assert_array_equal(out, infill(img, hole, "patchmatch", seed=8))


def test_a_failing_start_falls_back_to_the_onion_peel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "_MODULE", [object()])
    monkeypatch.setattr(infill_pypm, "inpaint_each", broken)
    monkeypatch.setattr(infill_module, "PYPM_MAX_HOLE", 500)
    img = photo_like(120, 120, seed=9)
    hole = np.ones((120, 120), bool)
    hole[20:-20, 20:-20] = False
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert set(map(tuple, out[hole].tolist())) <= set(map(tuple, img[~hole].tolist()))


# --- bands: one big fill cut across, side by side ----------------------------------------


def test_bands_cut_the_longer_side_by_the_hole_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "BAND_HOLE", 1000)
    hole = np.zeros((300, 500), bool)
    hole[:, :5] = True  # 1500 px: two bands, across the 500 px side
    cuts = infill_pypm.bands(hole)
    assert len(cuts) == 2
    own_cover = np.zeros(hole.shape, int)
    for own, reach in cuts:
        own_cover[own] += 1
        assert own[0] == reach[0] == slice(0, 300), "cut across the columns"
        assert reach[1].start == max(0, own[1].start - infill_pypm.BAND_OVERLAP)
        assert reach[1].stop == min(500, own[1].stop + infill_pypm.BAND_OVERLAP)
    assert (own_cover == 1).all(), "each pixel is kept from exactly one band"
    hole[:, :40] = True  # 12 000 px: capped at MAX_BANDS
    assert len(infill_pypm.bands(hole)) == infill_pypm.MAX_BANDS
    assert len(infill_pypm.bands(square_hole(300, 500, 10, 10, 20))) == 1, "small: one call"


@needs_pypm
def test_a_banded_fill_keeps_each_bands_own_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "BAND_HOLE", 2000)
    img = photo_like(240, 160, seed=11)
    hole = np.ones((240, 160), bool)
    hole[12:-12, 12:-12] = False  # 8 640 px: four bands down the 240 px side
    out = infill_pypm.inpaint(img, hole, 4, banded=True)
    np.testing.assert_array_equal(out[~hole], img[~hole])
    cuts = infill_pypm.bands(hole)
    assert len(cuts) == 3  # 240 px leave room for three bands with their overlap
    for own, reach in cuts:
        alone = infill_pypm.inpaint(img[reach], hole[reach], 4)
        top = own[0].start - reach[0].start
        np.testing.assert_array_equal(out[own], alone[top : top + own[0].stop - own[0].start])
    assert not np.array_equal(out, infill_pypm.inpaint(img, hole, 4)), "not one whole-image call"


@needs_pypm
def test_a_band_with_nothing_known_gives_one_whole_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "BAND_HOLE", 500)
    img = photo_like(200, 120, seed=12)
    hole = np.zeros((200, 120), bool)
    hole[:110] = True  # the top band (rows 0-99 with its overlap) has no known pixel
    np.testing.assert_array_equal(infill_pypm.inpaint(img, hole, 1, banded=True),
                                  infill_pypm.inpaint(img, hole, 1))


@needs_pypm
def test_the_coarse_start_of_a_border_is_banded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_pypm, "BAND_HOLE", 2000)
    _, _, _, spy = fill_a_border(monkeypatch, 200, 160, seed=13)  # coarse level at full size
    assert len(spy.calls) == 3 and all(shape[1] == 160 for shape, _ in spy.calls)
    assert sum(shape[0] for shape, _ in spy.calls) > 200, "bands overlap"
