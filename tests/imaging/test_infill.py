"""Infill: every hole pixel filled, every other pixel bit-identical, for every method."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from paint_widgets.errors import InvalidInputError, MaskError
from paint_widgets.imaging import infill as infill_module
from paint_widgets.imaging import infill_pypm
from paint_widgets.imaging.infill import MID_GREY, infill
from paint_widgets.requests import INFILL_METHODS

METHODS = list(INFILL_METHODS)
LOW, HIGH = 10, 240  # known pixels stay in this range; the hole starts outside it
SENTINEL = (255, 0, 255)
#: Every method, plus ``patchmatch`` forced onto our own numpy PatchMatch (the fallback
#: where the pypatchmatch wheel is missing); plain ``patchmatch`` uses it where it loads.
VARIANTS = [*METHODS, "patchmatch/ours"]


def fill(image: object, mask: object, variant: str, **kwargs: object) -> np.ndarray:
    """``infill`` with ``variant``'s method; ``method/ours`` turns pypatchmatch off for the call."""
    method, _, backend = variant.partition("/")
    enabled = infill_pypm.ENABLED
    infill_pypm.ENABLED = backend != "ours"
    try:
        return infill(image, mask, method, **kwargs)  # type: ignore[arg-type]
    finally:
        infill_pypm.ENABLED = enabled


def picture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A textured picture with every value in [LOW, HIGH]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([xx * 7 % 200, yy * 5 % 200, ((xx // 4 + yy // 4) % 2) * 150], axis=-1)
    noise = rng.integers(0, 30, size=(h, w, 3))
    return (LOW + (base + noise) % (HIGH - LOW + 1)).astype(np.uint8)


def border_mask(h: int, w: int, border: int) -> np.ndarray:
    mask = np.ones((h, w), bool)
    mask[border : h - border, border : w - border] = False
    return mask


def with_sentinel(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[hole] = SENTINEL
    return out


def assert_infilled(img: np.ndarray, hole: np.ndarray, out: np.ndarray) -> None:
    """Identity outside the hole; inside, values only the known area could give."""
    assert out.shape == img.shape[:2] + (3,) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~hole], img[..., :3][~hole])
    if hole.any() and (~hole).any():
        filled = out[hole]
        assert filled.min() >= LOW and filled.max() <= HIGH, "a hole pixel was left unfilled"


def colours(pixels: np.ndarray) -> set[tuple[int, int, int]]:
    return set(map(tuple, pixels.reshape(-1, 3).tolist()))


@pytest.mark.parametrize("method", VARIANTS)
def test_every_method_fills_the_hole_and_keeps_the_rest(method: str) -> None:
    img = picture(96, 80)
    hole = border_mask(96, 80, 20)
    out = fill(with_sentinel(img, hole), hole, method)
    assert_infilled(img, hole, out)


@pytest.mark.parametrize("method", VARIANTS)
def test_interior_hole_and_float_mask(method: str) -> None:
    img = picture(64, 64, seed=1)
    mask = np.zeros((64, 64), np.float32)
    mask[20:40, 10:50] = 0.25  # partial paint is a hole too
    hole = mask > 0
    out = fill(with_sentinel(img, hole), mask, method)
    assert_infilled(img, hole, out)


@pytest.mark.parametrize("method", ["patchmatch", "patchmatch/ours", "tile"])
def test_copying_methods_only_use_known_colours(method: str) -> None:
    img = picture(70, 90, seed=2)
    hole = border_mask(70, 90, 16)
    out = fill(with_sentinel(img, hole), hole, method, tile_size=8)
    assert colours(out[hole]) <= colours(img[~hole])


@pytest.mark.parametrize("method", VARIANTS)
def test_what_was_under_the_hole_does_not_matter(method: str) -> None:
    img = picture(60, 50, seed=12)
    hole = border_mask(60, 50, 12)
    hole[25:30, 20:30] = True
    np.testing.assert_array_equal(
        fill(img, hole, method), fill(with_sentinel(img, hole), hole, method)
    )


@pytest.mark.parametrize("method", VARIANTS)
def test_deterministic_by_default(method: str) -> None:
    img = picture(48, 40, seed=3)
    hole = border_mask(48, 40, 10)
    np.testing.assert_array_equal(fill(img, hole, method), fill(img, hole, method))


@pytest.mark.parametrize("method", VARIANTS)
def test_pil_and_rgba_input(method: str) -> None:
    img = picture(40, 52, seed=4)
    rgba = np.dstack([img, np.full((40, 52), 77, np.uint8)])
    hole = border_mask(40, 52, 8)
    assert_infilled(img, hole, fill(Image.fromarray(rgba), hole, method))
    assert_infilled(img, hole, fill(rgba, hole, method))


@pytest.mark.parametrize("method", VARIANTS)
def test_no_hole_returns_an_identical_copy(method: str) -> None:
    img = picture(30, 30)
    out = fill(img, np.zeros((30, 30), bool), method)
    np.testing.assert_array_equal(out, img)
    assert out is not img


@pytest.mark.parametrize("method", VARIANTS)
def test_everything_is_hole_gives_mid_grey(method: str) -> None:
    out = fill(picture(20, 24), np.ones((20, 24), bool), method)
    assert (out == np.array(MID_GREY, np.uint8)).all()


def test_everything_is_hole_uses_the_colour_when_given() -> None:
    out = fill(picture(20, 24), np.ones((20, 24), bool), "tile", color=(1, 2, 3))
    assert (out == np.array([1, 2, 3], np.uint8)).all()


@pytest.mark.parametrize("method", VARIANTS)
@pytest.mark.parametrize("shape", [(8, 300), (300, 8)])
def test_thin_images(method: str, shape: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_module, "PM_WORK_PIXELS", 400)  # 3x downscaled search
    img = picture(*shape, seed=13)
    hole = np.zeros(shape, bool)
    hole[: shape[0] // 2, : shape[1] // 2] = True
    hole[-2:, -50:] = True
    hole[-50:, -2:] = True
    assert_infilled(img, hole, fill(with_sentinel(img, hole), hole, method, tile_size=16))


# --- color ----------------------------------------------------------------------------


def test_color_given() -> None:
    img = picture(32, 32)
    hole = border_mask(32, 32, 4)
    out = fill(img, hole, "color", color=(12, 34, 56))
    assert (out[hole] == [12, 34, 56]).all()
    assert (fill(img, hole, "color", color="#0c2238")[hole] == [12, 34, 56]).all()
    assert (fill(img, hole, "color", color=np.array([12, 34, 56]))[hole] == [12, 34, 56]).all()


def test_color_default_is_the_rounded_mean_of_known_pixels() -> None:
    img = np.zeros((10, 10, 3), np.uint8)
    img[:, :5] = (10, 20, 30)
    img[:, 5:] = (20, 31, 200)
    hole = np.zeros((10, 10), bool)
    hole[:, 8:] = True
    # known: 50 px of (10, 20, 30) and 30 px of (20, 31, 200)
    expected = np.rint((50 * np.array([10, 20, 30]) + 30 * np.array([20, 31, 200])) / 80)
    out = fill(img, hole, "color")
    assert (out[hole] == expected.astype(np.uint8)).all()


@pytest.mark.parametrize(
    "bad", [(1, 2), (1, 2, 3, 4), (0, 0, 256), (-1, 0, 0), (1.5, 2, 3), "nope"]
)
def test_bad_colour(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="colour"):
        fill(picture(10, 10), border_mask(10, 10, 2), "color", color=bad)


# --- tile -------------------------------------------------------------------------------


def test_tile_odd_size_deterministic_by_seed() -> None:
    img = picture(77, 131, seed=5)
    hole = border_mask(77, 131, 20)
    a = fill(with_sentinel(img, hole), hole, "tile", tile_size=16, seed=7)
    b = fill(with_sentinel(img, hole), hole, "tile", tile_size=16, seed=7)
    c = fill(with_sentinel(img, hole), hole, "tile", tile_size=16, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert_infilled(img, hole, a)


def test_tile_copies_whole_tiles_on_a_grid() -> None:
    """Each grid cell inside the hole is one tile copied verbatim from the known area."""
    img = picture(64, 96, seed=6)
    hole = np.zeros((64, 96), bool)
    hole[:, 64:] = True  # right third
    out = fill(img, hole, "tile", tile_size=16, seed=1)
    known = img[:, :64]
    for y in range(0, 64, 16):
        for x in range(64, 96, 16):
            cell = out[y : y + 16, x : x + 16]
            found = any(
                np.array_equal(known[ty : ty + 16, tx : tx + 16], cell)
                for ty in range(64 - 15)
                for tx in range(64 - 15)
            )
            assert found, f"cell at {(y, x)} is not a known tile"


def test_tile_larger_than_the_known_area() -> None:
    img = picture(77, 131, seed=7)
    hole = np.ones((77, 131), bool)
    hole[30:35, 40:43] = False  # 5x3 known pixels, tile 32
    out = fill(with_sentinel(img, hole), hole, "tile", tile_size=32)
    assert_infilled(img, hole, out)
    assert colours(out[hole]) <= colours(img[~hole])


def test_tile_larger_than_the_image() -> None:
    img = picture(9, 11)
    hole = border_mask(9, 11, 2)
    assert_infilled(img, hole, fill(with_sentinel(img, hole), hole, "tile", tile_size=64))


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_bad_tile_size(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="tile_size"):
        fill(picture(10, 10), border_mask(10, 10, 2), "tile", tile_size=bad)


# --- telea -------------------------------------------------------------------------------


def test_telea_big_hole_runs_downscaled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infill_module, "TELEA_MAX_HOLE", 500)
    img = picture(90, 75, seed=8)
    hole = border_mask(90, 75, 15)
    assert_infilled(img, hole, fill(with_sentinel(img, hole), hole, "telea"))


def test_telea_is_smooth_across_a_thin_hole() -> None:
    img = np.zeros((40, 40, 3), np.uint8)
    img[:] = (100, 150, 200)
    hole = np.zeros((40, 40), bool)
    hole[18:22] = True
    out = fill(with_sentinel(img, hole), hole, "telea")
    # OpenCV's Telea has a little numerical noise on flat areas (a couple of levels)
    assert np.abs(out.astype(int) - img).max() <= 3


# --- patchmatch --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["patchmatch", "patchmatch/ours"])
def test_patchmatch_continues_a_stripe_pattern(method: str) -> None:
    """Vertical stripes with a horizontal gap: the gap should get the same stripes."""
    w = 96
    stripes = np.where((np.arange(w) // 4) % 2 == 0, 40, 200).astype(np.uint8)
    img = np.repeat(np.repeat(stripes[None, :, None], 96, axis=0), 3, axis=2)
    hole = np.zeros((96, w), bool)
    hole[40:56] = True
    out = fill(with_sentinel(img, hole), hole, method)
    assert (out[hole] == img[hole]).mean() > 0.9


def test_patchmatch_downscaled_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """A picture bigger than the working size: the field is found small, copied big."""
    monkeypatch.setattr(infill_module, "PM_WORK_PIXELS", 40 * 40)
    img = picture(131, 77, seed=9)
    hole = border_mask(131, 77, 24)
    out = fill(with_sentinel(img, hole), hole, "patchmatch/ours")
    assert_infilled(img, hole, out)
    assert colours(out[hole]) <= colours(img[~hole])


def test_patchmatch_without_known_blocks_falls_back_to_telea(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(infill_module, "PM_WORK_PIXELS", 20 * 20)
    img = picture(80, 80, seed=10)
    hole = np.ones((80, 80), bool)
    hole[::2, ::2] = False  # known pixels never fill a whole block
    # pypatchmatch's raw fill is not trusted without a known patch to polish from
    out = fill(with_sentinel(img, hole), hole, "patchmatch")
    assert_infilled(img, hole, out)
    np.testing.assert_array_equal(out, fill(img, hole, "telea"))


@pytest.mark.parametrize("method", ["patchmatch", "patchmatch/ours"])
def test_patchmatch_seed_changes_the_result(method: str) -> None:
    img = picture(64, 64, seed=11)
    hole = border_mask(64, 64, 16)
    a = fill(img, hole, method, seed=1)
    assert np.array_equal(a, fill(img, hole, method, seed=1))
    assert not np.array_equal(a, fill(img, hole, method, seed=2))


# --- errors ------------------------------------------------------------------------------


def test_unknown_method_lists_the_methods() -> None:
    with pytest.raises(InvalidInputError, match="patchmatch, telea, tile, color"):
        fill(picture(10, 10), border_mask(10, 10, 2), "lama")


def test_mask_of_another_size() -> None:
    with pytest.raises(MaskError, match="resize the mask"):
        fill(picture(10, 10), np.zeros((10, 11), bool), "telea")


@pytest.mark.parametrize("bad", [-1, 1.5, "1"])
def test_bad_seed(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="seed"):
        fill(picture(10, 10), border_mask(10, 10, 2), "tile", seed=bad)


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(8, 48),
    w=st.integers(8, 48),
    method=st.sampled_from(VARIANTS),
    tile_size=st.integers(1, 40),
    data=st.data(),
)
def test_infill_property(h: int, w: int, method: str, tile_size: int, data: st.DataObject) -> None:
    img = picture(h, w, seed=h * w)
    bits = data.draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w), label="mask bits")
    hole = np.array(bits, bool).reshape(h, w)
    out = fill(with_sentinel(img, hole), hole, method, tile_size=tile_size, seed=3)
    assert_infilled(img, hole, out)
    if hole.all():
        assert (out == np.array(MID_GREY, np.uint8)).all()
