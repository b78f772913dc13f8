"""Seam band geometry: width on a straight boundary, zero far away and on image borders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paint_widgets.errors import InvalidInputError
from paint_widgets.imaging.seam import seam_mask


def top_painted(h: int, w: int, rows: int) -> np.ndarray:
    paint = np.zeros((h, w), np.float32)
    paint[:rows] = 1.0
    return paint


def band_rows(band: np.ndarray) -> list[int]:
    """Rows where the band is set (it must be uniform along each row)."""
    assert (band == band[:, :1]).all()
    return [int(r) for r in np.flatnonzero(band[:, 0] > 0)]


def test_even_width_is_split_half_and_half() -> None:
    band = seam_mask(top_painted(60, 40, 20), 8, 0)
    assert band.dtype == np.float32 and band.shape == (60, 40)
    assert band_rows(band) == list(range(16, 24))  # painted 16..19, kept 20..23
    assert set(np.unique(band)) == {0.0, 1.0}
    assert int((band > 0).sum(axis=0)[0]) == 8


def test_odd_width_puts_the_extra_pixel_on_the_painted_side() -> None:
    band = seam_mask(top_painted(60, 40, 20), 5, 0)
    assert band_rows(band) == [17, 18, 19, 20, 21]


def test_width_one_is_the_painted_boundary_row() -> None:
    assert band_rows(seam_mask(top_painted(30, 10, 12), 1, 0)) == [11]


def test_vertical_boundary_kept_on_the_left() -> None:
    paint = np.zeros((30, 50), np.float32)
    paint[:, 35:] = 1
    band = seam_mask(paint, 10, 0)
    cols = np.flatnonzero(band[0] > 0)
    assert list(cols) == list(range(30, 40))
    assert (band == band[:1]).all()


def test_image_borders_are_not_seams() -> None:
    """An outcrop-style mask: painted border, kept centre. Only the inner edge is a seam."""
    paint = np.ones((100, 100), np.float32)
    paint[30:70, 30:70] = 0
    band = seam_mask(paint, 10, 0)
    for edge in (band[0], band[-1], band[:, 0], band[:, -1]):
        assert not edge.any()
    assert not band[:25].any() and not band[75:].any()
    assert list(np.flatnonzero(band[:, 50])) == [*range(25, 35), *range(65, 75)]
    assert not band[40:60, 40:60].any()  # deep inside the kept centre


def test_boundary_touching_the_image_border_only_follows_the_boundary() -> None:
    band = seam_mask(top_painted(40, 40, 20), 6, 0)
    assert not band[:17].any() and not band[23:].any()
    assert band[17:23].all()


@pytest.mark.parametrize(
    "paint",
    [np.zeros((20, 20), np.float32), np.ones((20, 20), np.float32), top_painted(20, 20, 10)],
)
def test_zero_cases(paint: np.ndarray) -> None:
    size = 0 if paint.any() and not paint.all() else 8
    assert not seam_mask(paint, size, 4).any()
    assert seam_mask(paint, size, 4).dtype == np.float32


def test_partial_paint_counts_as_painted() -> None:
    paint = top_painted(30, 10, 12) * 0.3
    assert band_rows(seam_mask(paint, 4, 0)) == [10, 11, 12, 13]


def test_bool_mask() -> None:
    assert band_rows(seam_mask(top_painted(30, 10, 12) > 0, 2, 0)) == [11, 12]


def test_blur_softens_and_spreads_at_most_blur_pixels() -> None:
    hard = seam_mask(top_painted(80, 20, 40), 8, 0)
    soft = seam_mask(top_painted(80, 20, 40), 8, 4)
    assert band_rows(soft) == list(range(36 - 4, 44 + 4))
    assert soft.max() <= 1.0 and soft.min() >= 0.0
    assert soft[40, 0] == pytest.approx(soft[39, 0])  # symmetric about the boundary
    assert soft[30, 0] == 0.0 and 0.0 < soft[33, 0] < soft[36, 0] <= 1.0
    assert hard[36:44].all() and not hard[32:36].any()


def test_corner_uses_euclidean_distance() -> None:
    """Around a corner the band is round (Euclidean), not square (a 3x3 dilation's)."""
    paint = np.zeros((40, 40), np.float32)
    paint[:20, :20] = 1  # painted top-left square; its corner pixel is (19, 19)
    band = seam_mask(paint, 8, 0)  # 4 px on the kept side
    assert band[21, 21] == 1  # distance sqrt(8) <= 4
    assert band[22, 22] == 0  # distance sqrt(18) > 4, though a square band would have it
    assert band[10, 23] == 1 and band[10, 24] == 0  # straight side: exactly 4
    assert band[20, 22] == 1 and band[20, 23] == 0  # sqrt(10) <= 4 < sqrt(17)


@pytest.mark.parametrize(("size", "blur"), [(-1, 0), (4, -2), (2.5, 0), (True, 0)])
def test_bad_sizes(size: object, blur: object) -> None:
    with pytest.raises(InvalidInputError):
        seam_mask(top_painted(10, 10, 5), size, blur)  # type: ignore[arg-type]


def test_mask_must_be_2d() -> None:
    with pytest.raises(InvalidInputError, match="2-D"):
        seam_mask(np.zeros((4, 4, 3), np.float32), 2, 0)


@settings(max_examples=80, deadline=None)
@given(h=st.integers(2, 80), w=st.integers(1, 30), data=st.data())
def test_band_width_property(h: int, w: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, h - 1), label="painted rows")
    size = data.draw(st.integers(0, 60), label="seam_size")
    band = seam_mask(top_painted(h, w, k), size, 0)
    inner = range(max(0, k - (size + 1) // 2), k)
    outer = range(k, min(h, k + size // 2))
    expected = [*inner, *outer] if size else []
    if size == 0:
        assert not band.any()
    else:
        assert band_rows(band) == expected
