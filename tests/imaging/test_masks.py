"""Masks from alpha and mask files, the erased-colour check, grow/feather/invert/combine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from paint_widgets.errors import MaskError
from paint_widgets.imaging import masks


def rgba(h: int = 32, w: int = 48, alpha: int = 255) -> np.ndarray:
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 0] = 120
    img[..., 1] = np.arange(w, dtype=np.uint8)[None, :]
    img[..., 3] = alpha
    return img


def test_alpha_255_keeps_alpha_0_paints_and_partial_alpha_is_linear():
    img = rgba()
    img[0, 0, 3] = 0
    img[0, 1, 3] = 128
    img[0, 2, 3] = 64
    paint = masks.mask_from_alpha(img)
    assert paint.dtype == np.float32 and paint.shape == (32, 48)
    assert paint[0, 0] == 1.0 and paint[5, 5] == 0.0
    # 50% alpha preserves ~50% (not squared: squaring would give 0.75 paint)
    assert paint[0, 1] == pytest.approx(1 - 128 / 255)
    assert paint[0, 2] == pytest.approx(1 - 64 / 255)


def test_rgb_image_has_no_alpha_mask():
    assert not masks.mask_from_alpha(np.zeros((8, 8, 3), np.uint8)).any()


@pytest.mark.parametrize("fill", [0, 255])
def test_erased_colour_detected_when_every_transparent_pixel_is_black_or_white(fill):
    img = rgba()
    img[4:10, 4:10, :3] = fill
    img[4:10, 4:10, 3] = 0
    assert masks.colour_was_erased(img)
    with pytest.warns(masks.ErasedColourWarning, match="erased the colour"):
        assert masks.warn_if_colour_erased(img)


def test_mixed_black_and_white_transparent_pixels_count_as_erased():
    img = rgba()
    img[0:2, :, 3] = 0
    img[0, :, :3] = 0
    img[1, :, :3] = 255
    assert masks.colour_was_erased(img)


def test_colour_kept_under_transparency_is_not_flagged():
    img = rgba()
    img[4:10, 4:10, 3] = 0  # colour (120, x, 0) kept under the hole
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not masks.warn_if_colour_erased(img)


def test_opaque_image_is_not_flagged():
    assert not masks.colour_was_erased(rgba())


def test_mask_file_rgba_uses_alpha_and_l_uses_luminance_black_paints():
    alpha = np.full((16, 16), 255, np.uint8)
    alpha[:8] = 0
    rgba_mask = Image.fromarray(np.dstack([np.full((16, 16, 3), 255, np.uint8), alpha]), "RGBA")
    paint = masks.mask_from_mask_image(rgba_mask)
    assert paint[:8].min() == 1.0 and paint[8:].max() == 0.0

    lum = np.full((16, 16), 255, np.uint8)
    lum[:, :4] = 0
    paint = masks.mask_from_mask_image(Image.fromarray(lum, "L"))
    assert paint[:, :4].min() == 1.0 and paint[:, 4:].max() == 0.0
    paint_rgb = masks.mask_from_mask_image(Image.fromarray(lum, "L").convert("RGB"))
    assert np.array_equal(paint, paint_rgb)


def test_as_paint_mask_accepts_bool_uint8_float_and_rejects_wrong_size():
    b = np.zeros((10, 12), bool)
    b[2:4, 3:5] = True
    assert np.array_equal(masks.as_paint_mask(b, (10, 12)) > 0, b)
    assert np.array_equal(masks.as_paint_mask(b.astype(np.uint8) * 255, (10, 12)) > 0, b)
    assert np.array_equal(masks.as_paint_mask(b.astype(np.float64), (10, 12)) > 0, b)
    with pytest.raises(MaskError, match="12x10 but the image is 13x10"):
        masks.as_paint_mask(b, (10, 13))
    with pytest.raises(MaskError, match="NaN"):
        masks.as_paint_mask(np.full((10, 12), np.nan), (10, 12))


def test_invert_flips_bool_and_soft_masks():
    b = np.array([[True, False]])
    assert np.array_equal(masks.invert(b), [[False, True]])
    assert np.allclose(masks.invert(np.array([[0.25]], np.float32)), 0.75)


def test_grow_and_shrink_by_radius():
    m = np.zeros((41, 41), bool)
    m[20, 20] = True
    grown = masks.grow(m, 5)
    assert grown[20, 25] and grown[15, 20] and not grown[20, 26] and not grown[14, 14]
    assert np.array_equal(masks.grow(grown, -5), m)
    assert np.array_equal(masks.grow(m, 0), m)


def test_feather_is_soft_inside_the_radius_and_exactly_zero_beyond():
    m = np.zeros((64, 64), np.float32)
    m[20:44, 20:44] = 1.0
    soft = masks.feather(m, 6)
    assert soft.dtype == np.float32
    assert 0.0 < soft[32, 20] < 1.0
    assert soft[32, 32] == pytest.approx(1.0)
    assert soft[32, 13] == 0.0 and soft[5, 5] == 0.0


def test_combine_modes():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True
    b[:, :2] = True
    assert masks.combine(a, b, "add").sum() == 12
    assert masks.combine(a, b, "subtract").sum() == 4
    assert masks.combine(a, b, "intersect").sum() == 4
    assert np.array_equal(masks.combine(a, b, "replace"), b)
    with pytest.raises(MaskError):
        masks.combine(a, b, "xor")  # type: ignore[arg-type]


def test_empty_mask_is_a_clear_error():
    with pytest.raises(MaskError, match="mask is empty"):
        masks.require_paint(np.zeros((4, 4), np.float32))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), r=st.integers(0, 6))
def test_grow_never_loses_paint_and_shrink_never_adds(h, w, r):
    rng = np.random.default_rng(h * 41 + w)
    m = rng.random((h, w)) > 0.7
    assert not (m & ~masks.grow(m, r)).any()
    assert not (masks.grow(m, -r) & ~m).any()


def test_bounding_box():
    m = np.zeros((10, 10), bool)
    assert masks.bounding_box(m) is None
    m[2:5, 3:7] = True
    assert masks.bounding_box(m) == (2, 3, 5, 7)
