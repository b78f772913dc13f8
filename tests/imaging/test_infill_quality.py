"""Infill ``auto`` and PatchMatch on big images: crop around small holes, originals kept."""

from __future__ import annotations

import numpy as np
import pytest

from paint_widgets.errors import InvalidInputError
from paint_widgets.imaging import infill as infill_module
from paint_widgets.imaging import infill_pypm
from paint_widgets.imaging.infill import AUTO_THIN, METHODS, auto_method, infill


@pytest.fixture(params=["default", "ours"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``default``: pypatchmatch where it loads; ``ours``: the numpy fallback, forced."""
    if request.param == "ours":
        monkeypatch.setattr(infill_pypm, "ENABLED", False)
    return str(request.param)


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def smooth(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.stack([xx % 256, yy % 256, (xx + yy) // 2 % 256], axis=-1).astype(np.uint8)


def test_auto_is_a_method() -> None:
    assert METHODS[-1] == "auto" and "patchmatch" in METHODS
    with pytest.raises(InvalidInputError, match="auto"):
        infill(noise(10, 10), np.ones((10, 10), bool), "lama")


@pytest.mark.parametrize(
    ("thickness", "expected"), [(1, "telea"), (2 * AUTO_THIN, "telea"), (2 * AUTO_THIN + 2, "patchmatch")]
)
def test_auto_picks_telea_for_thin_holes_only(thickness: int, expected: str) -> None:
    hole = np.zeros((80, 80), bool)
    hole[30 : 30 + thickness, 5:75] = True
    assert auto_method(hole) == expected
    img = smooth(80, 80)
    np.testing.assert_array_equal(infill(img, hole, "auto"), infill(img, hole, expected))


def test_auto_picks_patchmatch_for_a_border() -> None:
    hole = np.ones((64, 64), bool)
    hole[20:44, 20:44] = False
    assert auto_method(hole) == "patchmatch"


def test_patchmatch_keeps_the_originals_at_2048(backend: str) -> None:
    img = noise(2048, 2048, seed=5)
    hole = np.zeros((2048, 2048), bool)
    hole[900:1000, 1200:1290] = True
    hole[1500:1530, 100:400] = True
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert (out[hole] != 0).any()


def test_patchmatch_small_hole_works_on_a_crop(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """A small hole only copies from its neighbourhood, and the rest is untouched."""
    img = np.zeros((400, 400, 3), np.uint8)
    img[100:300, 100:300] = smooth(200, 200)  # the black far area is never copied
    hole = np.zeros((400, 400), bool)
    hole[190:210, 190:210] = True
    monkeypatch.setattr(infill_module, "PM_CONTEXT_MIN", 40)
    monkeypatch.setattr(infill_module, "PM_CONTEXT", 1.0)
    out = infill(img, hole, "patchmatch")
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert out[hole].min() > 0


def test_patchmatch_deterministic_by_seed_on_a_big_image(backend: str) -> None:
    img = smooth(600, 500)
    img[::7] = 30
    hole = np.ones((600, 500), bool)
    hole[60:-60, 60:-60] = False
    a = infill(img, hole, "patchmatch", seed=4)
    np.testing.assert_array_equal(a, infill(img, hole, "patchmatch", seed=4))
    np.testing.assert_array_equal(a[~hole], img[~hole])
