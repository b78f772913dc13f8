"""Outcrop / outpaint geometry: sizes, offsets, shift semantics, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from paint_widgets.errors import InvalidInputError
from paint_widgets.imaging.masks import mask_from_alpha
from paint_widgets.imaging.outpaint_geometry import (
    Box,
    is_outpainting,
    outcrop_canvas,
    outpaint_canvas,
    round_up_64,
    transparent_border_mask,
)


def unique_image(h: int, w: int, channels: int = 3) -> np.ndarray:
    """Every pixel different, so any misplaced pixel shows."""
    rng = np.random.default_rng(h * 1000 + w)
    return rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)


# --- round_up_64 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("px", "expected"),
    [(0, 0), (1, 64), (63, 64), (64, 64), (65, 128), (100, 128), (128, 128), (129, 192)],
)
def test_round_up_64(px: int, expected: int) -> None:
    assert round_up_64(px) == expected


def test_round_up_64_accepts_numpy_ints() -> None:
    assert round_up_64(np.int64(100)) == 128


@pytest.mark.parametrize("bad", [-1, -64, 1.5, "64", True, None])
def test_round_up_64_rejects(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        round_up_64(bad)  # type: ignore[arg-type]


# --- outcrop ------------------------------------------------------------------------------


def test_outcrop_reference_example() -> None:
    """The reference: 512x512 + top 128, right 64, bottom 64 -> 576 wide x 704 high."""
    img = unique_image(512, 512)
    canvas, paint, offset = outcrop_canvas(img, top=128, right=64, bottom=64)
    assert canvas.shape == (704, 576, 3)
    assert canvas.dtype == np.uint8
    assert paint.shape == (704, 576)
    assert paint.dtype == np.float32
    assert offset == (128, 0)
    np.testing.assert_array_equal(canvas[128:640, 0:512], img)
    assert (paint[128:640, 0:512] == 0).all()
    assert int(paint.sum()) == 704 * 576 - 512 * 512
    assert (canvas[paint == 1] == 0).all()


def test_outcrop_rounds_each_amount_up() -> None:
    img = unique_image(64, 64)
    canvas, paint, offset = outcrop_canvas(img, top=1, right=100, bottom=0, left=64)
    assert canvas.shape == (64 + 64, 64 + 128 + 64, 3)
    assert offset == (64, 64)
    np.testing.assert_array_equal(canvas[64:128, 64:128], img)


def test_outcrop_positional_order_is_top_right_bottom_left() -> None:
    canvas, _, offset = outcrop_canvas(unique_image(10, 20), 64, 128, 192, 256)
    assert canvas.shape == (10 + 64 + 192, 20 + 128 + 256, 3)
    assert offset == (64, 256)


def test_outcrop_alpha_becomes_paint_and_rgb_is_kept() -> None:
    rgba = unique_image(32, 48, channels=4)
    rgba[..., 3] = 255
    rgba[5:10, 7:20, 3] = 0
    rgba[20, 30, 3] = 128
    canvas, paint, (y, x) = outcrop_canvas(rgba, left=64)
    inside = paint[y : y + 32, x : x + 48]
    np.testing.assert_array_equal(inside, mask_from_alpha(rgba))
    assert inside[5:10, 7:20].min() == 1.0
    assert inside[20, 30] == pytest.approx(1 - 128 / 255)
    np.testing.assert_array_equal(canvas[y : y + 32, x : x + 48], rgba[..., :3])


def test_outcrop_accepts_pil() -> None:
    img = unique_image(16, 24)
    canvas, _, offset = outcrop_canvas(Image.fromarray(img), bottom=64)
    assert canvas.shape == (80, 24, 3)
    np.testing.assert_array_equal(canvas[:16], img)
    assert offset == (0, 0)


def test_outcrop_negative_amount_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="0 or more"):
        outcrop_canvas(unique_image(8, 8), top=-64)


def test_outcrop_refuses_a_giant_canvas() -> None:
    with pytest.raises(InvalidInputError, match="Mpx"):
        outcrop_canvas(unique_image(8, 8), right=20000, bottom=20000)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    margins=st.tuples(*[st.integers(0, 150)] * 4),
)
def test_outcrop_geometry_property(h: int, w: int, margins: tuple[int, int, int, int]) -> None:
    img = unique_image(h, w)
    t, r, b, lft = (round_up_64(m) for m in margins)
    canvas, paint, (y, x) = outcrop_canvas(img, *margins)
    assert canvas.shape == (h + t + b, w + lft + r, 3)
    assert (y, x) == (t, lft)
    np.testing.assert_array_equal(canvas[y : y + h, x : x + w], img)
    assert int(paint.sum()) == paint.size - h * w
    assert set(np.unique(paint)) <= {0.0, 1.0}


# --- outpaint -------------------------------------------------------------------------------


H, W = 40, 60


def test_outpaint_top_moves_the_image_down() -> None:
    img = unique_image(H, W)
    canvas, paint, kept = outpaint_canvas(img, "top", 16)
    assert canvas.shape == (H, W, 3) and paint.shape == (H, W)
    np.testing.assert_array_equal(canvas[16:], img[:-16])
    assert (paint[:16] == 1).all() and (paint[16:] == 0).all()
    assert (canvas[:16] == 0).all()
    assert kept == Box(16, 0, H, W) == (16, 0, 40, 60)


def test_outpaint_bottom_moves_the_image_up() -> None:
    img = unique_image(H, W)
    canvas, paint, kept = outpaint_canvas(img, "bottom", 16)
    np.testing.assert_array_equal(canvas[:-16], img[16:])
    assert (paint[-16:] == 1).all() and (paint[:-16] == 0).all()
    assert kept == (0, 0, H - 16, W)


def test_outpaint_left_moves_the_image_right() -> None:
    img = unique_image(H, W)
    canvas, paint, kept = outpaint_canvas(img, "left", 16)
    np.testing.assert_array_equal(canvas[:, 16:], img[:, :-16])
    assert (paint[:, :16] == 1).all() and (paint[:, 16:] == 0).all()
    assert kept == (0, 16, H, W)


def test_outpaint_right_moves_the_image_left() -> None:
    img = unique_image(H, W)
    canvas, paint, kept = outpaint_canvas(img, "right", 16)
    np.testing.assert_array_equal(canvas[:, :-16], img[:, 16:])
    assert (paint[:, -16:] == 1).all() and (paint[:, :-16] == 0).all()
    assert kept == (0, 0, H, W - 16)


@pytest.mark.parametrize(
    ("direction", "painted"),
    [("top", H // 2 * W), ("bottom", H // 2 * W), ("left", W // 2 * H), ("right", W // 2 * H)],
)
def test_outpaint_default_is_half_the_axis(direction: str, painted: int) -> None:
    _, paint, _ = outpaint_canvas(unique_image(H, W), direction)
    assert int(paint.sum()) == painted


def test_outpaint_default_half_rounds_down_on_odd_sizes() -> None:
    img = unique_image(41, 61)
    _, paint, kept = outpaint_canvas(img, "top")
    assert kept == (20, 0, 41, 61)
    _, paint, kept = outpaint_canvas(img, "left")
    assert kept == (0, 30, 41, 61)


def test_outpaint_no_rounding_to_64() -> None:
    _, paint, _ = outpaint_canvas(unique_image(H, W), "top", 5)
    assert int(paint.sum()) == 5 * W


@pytest.mark.parametrize(
    ("direction", "pixels", "match"),
    [
        ("up", 8, "unknown outpaint direction 'up'"),
        ("Top", 8, "top, right, bottom, left"),
        ("top", 0, "1 to 39"),
        ("top", -5, "1 to 39"),
        ("top", H, "height is 40"),
        ("bottom", H + 10, "height is 40"),
        ("left", W, "width is 60"),
        ("right", 1000, "width is 60"),
        ("top", 2.5, "whole number"),
        ("top", True, "whole number"),
    ],
)
def test_outpaint_bad_input(direction: str, pixels: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        outpaint_canvas(unique_image(H, W), direction, pixels)  # type: ignore[arg-type]


def test_outpaint_rgba_transparency_in_the_kept_part_is_painted() -> None:
    rgba = unique_image(H, W, channels=4)
    rgba[..., 3] = 255
    rgba[0:4, 0:4, 3] = 0
    canvas, paint, kept = outpaint_canvas(rgba, "left", 10)
    assert (paint[0:4, 10:14] == 1).all()
    assert int(paint.sum()) == 10 * H + 16
    np.testing.assert_array_equal(canvas[:, 10:], rgba[:, :-10, :3])
    assert kept == (0, 10, H, W)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(2, 50),
    w=st.integers(2, 50),
    direction=st.sampled_from(["top", "right", "bottom", "left"]),
    frac=st.floats(0.0, 1.0),
)
def test_outpaint_geometry_property(h: int, w: int, direction: str, frac: float) -> None:
    img = unique_image(h, w)
    size = h if direction in ("top", "bottom") else w
    px = 1 + int(frac * (size - 2))
    canvas, paint, kept = outpaint_canvas(img, direction, px)
    assert canvas.shape == img.shape and paint.shape == (h, w)
    other = w if direction in ("top", "bottom") else h
    assert int(paint.sum()) == px * other
    top, left, bottom, right = kept
    assert (bottom - top) * (right - left) == (size - px) * other
    assert (paint[top:bottom, left:right] == 0).all()
    # the kept region holds the original, shifted by px away from the direction
    dy = {"top": px, "bottom": -px}.get(direction, 0)
    dx = {"left": px, "right": -px}.get(direction, 0)
    np.testing.assert_array_equal(
        canvas[top:bottom, left:right], img[top - dy : bottom - dy, left - dx : right - dx]
    )


# --- transparent borders -------------------------------------------------------------------


def rgba_with_alpha(alpha: np.ndarray) -> np.ndarray:
    rgba = unique_image(*alpha.shape, channels=4)
    rgba[..., 3] = alpha
    return rgba


def test_transparent_border_mask_is_the_alpha_paint_mask() -> None:
    alpha = np.full((20, 30), 255, np.uint8)
    alpha[:5] = 0
    alpha[10, 10] = 100
    rgba = rgba_with_alpha(alpha)
    paint = transparent_border_mask(rgba)
    assert paint.dtype == np.float32
    np.testing.assert_array_equal(paint, mask_from_alpha(rgba))
    assert int((paint == 1).sum()) == 5 * 30


def test_transparent_border_mask_without_alpha_is_empty() -> None:
    assert not transparent_border_mask(unique_image(8, 8)).any()


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ((slice(0, 3), slice(None)), True),  # top strip
        ((slice(None), slice(-1, None)), True),  # right column
        ((slice(-1, None), slice(5, 6)), True),  # one pixel on the bottom edge
        ((slice(5, 10), slice(5, 10)), False),  # interior hole: inpainting
        ((slice(0, 0), slice(0, 0)), False),  # opaque
    ],
)
def test_is_outpainting(where: tuple[slice, slice], expected: bool) -> None:
    alpha = np.full((20, 30), 255, np.uint8)
    alpha[where] = 0
    assert is_outpainting(rgba_with_alpha(alpha)) is expected


def test_is_outpainting_needs_full_transparency_and_alpha() -> None:
    alpha = np.full((20, 30), 255, np.uint8)
    alpha[0] = 1
    assert is_outpainting(rgba_with_alpha(alpha)) is False
    assert is_outpainting(unique_image(20, 30)) is False
