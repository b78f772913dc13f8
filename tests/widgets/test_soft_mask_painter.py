"""MaskPainter's soft brush (hardness, brush_opacity) and ``soft_mask``, by simulated frontend events.

``painter.mask`` stays the bool ``soft_mask > 0``; the soft values are what ``--soft`` uses.
"""

from __future__ import annotations

import numpy as np
import pytest
from painter_events import drag, send
from painter_events import image as _image

from paint_widgets.errors import InvalidInputError
from paint_widgets.widgets.mask_painter import MaskPainter, brush_cover


def image(h: int = 96, w: int = 128, alpha: bool = False) -> np.ndarray:
    return _image(h, w, alpha)





def painter(**kwargs: object) -> MaskPainter:
    return MaskPainter(image(), min_view=0, brush=20, **kwargs)  # shown 1:1: view pixels are image pixels


def test_a_hard_brush_gives_a_bool_mask_and_soft_values_of_one() -> None:
    p = painter()
    drag(p, [(30, 40), (90, 40)])
    assert p.mask.dtype == bool and p.mask.any()
    soft = p.soft_mask
    assert soft.dtype == np.float32 and soft.shape == (96, 128)
    assert np.array_equal(soft, p.mask.astype(np.float32))
    assert p._level is None  # a hard painter never makes the levels


def test_brush_opacity_caps_the_value_and_does_not_build_up() -> None:
    p = painter(brush_opacity=0.25)
    drag(p, [(30, 40), (90, 40)])
    drag(p, [(30, 40), (90, 40)])  # the same path again, and back and forth in one stroke
    drag(p, [(30, 40), (90, 40), (30, 40)])
    values = np.unique(p.soft_mask)
    assert np.allclose(values, [0.0, 64 / 255])
    assert np.array_equal(p.mask, p.soft_mask > 0)
    assert p.mask.dtype == bool


def test_hardness_fades_the_edge() -> None:
    p = painter(hardness=0.0)
    send(p, "mouse_down", x=64, y=48)
    send(p, "mouse_up", x=64, y=48)
    soft = p.soft_mask
    assert soft[48, 64] == 1.0
    row = soft[48, 64:76]
    assert np.all(np.diff(row) <= 0) and 0 < row[5] < 1  # falling from the centre to the rim
    assert soft[48, 74] == 0.0 and not p.mask[48, 74]  # at the radius (10) nothing is painted
    assert np.array_equal(p.mask, soft > 0)
    half = painter(hardness=0.5)
    send(half, "mouse_down", x=64, y=48)
    send(half, "mouse_up", x=64, y=48)
    assert np.all(half.soft_mask[48, 60:69] == 1.0) and 0 < half.soft_mask[48, 72] < 1


def test_brush_cover_at_hardness_one_is_the_hard_footprint() -> None:
    from paint_widgets.imaging.box import Box
    from paint_widgets.imaging.brush import segment_footprint

    box = Box(0, 0, 40, 60)
    hard = brush_cover(box, (10.0, 12.0), (45.0, 30.0), 7.5, 1.0)
    assert np.array_equal(hard > 0, segment_footprint(box, (10.0, 12.0), (45.0, 30.0), 7.5))
    soft = brush_cover(box, (10.0, 12.0), (45.0, 30.0), 7.5, 0.3)
    assert soft.max() == 1.0 and np.all((soft > 0) <= (hard > 0))


def test_the_eraser_lowers_soft_values_and_undo_redo_are_exact() -> None:
    p = painter()
    drag(p, [(20, 48), (100, 48)])  # hard
    hard = p.soft_mask.copy()
    p.hardness, p.brush_opacity = 0.5, 0.6
    drag(p, [(20, 60), (100, 60)])  # soft, partly over the hard stroke
    after_soft = p.soft_mask.copy()
    assert np.any((after_soft > 0) & (after_soft < 1))
    p.tool = "eraser"
    p.brush_opacity = 0.5
    drag(p, [(20, 48), (100, 48)])
    erased = p.soft_mask.copy()
    assert erased.max() <= 1.0 and np.all(erased <= after_soft)
    assert np.all(erased[48, 40:80] <= 0.5 + 1e-6) and erased[48, 40:80].min() > 0  # halved, not removed
    p.undo()
    assert np.array_equal(p.soft_mask, after_soft)
    p.undo()
    assert np.array_equal(p.soft_mask, hard)
    assert np.array_equal(p.mask, hard > 0)
    p.redo()
    p.redo()
    assert np.array_equal(p.soft_mask, erased)
    assert np.array_equal(p.mask, erased > 0)


def test_invert_clear_set_soft_mask_and_rgba() -> None:
    p = painter()
    values = np.zeros((96, 128), np.float32)
    values[10:30, 10:50] = 0.25
    values[40:60, 60:100] = 1.0
    p.set_soft_mask(values)
    assert np.allclose(p.soft_mask, np.rint(values * 255) / 255)
    assert np.array_equal(p.mask, values > 0)
    rgba = p.rgba(soft=True)
    assert rgba[20, 20, 3] == 191 and rgba[50, 70, 3] == 0 and rgba[0, 0, 3] == 255
    assert p.rgba()[20, 20, 3] == 0  # the plain rgba: alpha 0 wherever it paints
    p.invert()
    assert np.allclose(p.soft_mask[20, 20], 1 - 64 / 255) and p.soft_mask[50, 70] == 0 and p.soft_mask[0, 0] == 1
    p.undo()
    assert np.allclose(p.soft_mask, np.rint(values * 255) / 255)
    p.clear()
    assert not p.mask.any() and not p.soft_mask.any()
    p.set_soft_mask(np.full((96, 128), 0.001, np.float32))  # tiny values stay painted
    assert p.mask.all() and p.soft_mask.min() > 0


def test_fill_from_alpha_keeps_partial_alpha_as_soft_values() -> None:
    rgba = image(alpha=True)
    rgba[..., 3] = 255
    rgba[10:20, 10:20, 3] = 0
    rgba[30:40, 30:40, 3] = 191
    p = MaskPainter(rgba)
    p.fill_from_alpha()
    assert np.array_equal(p.mask, rgba[..., 3] < 255)
    assert p.soft_mask[15, 15] == 1.0 and np.isclose(p.soft_mask[35, 35], 64 / 255)


def test_overlay_shows_soft_values_at_their_share_of_the_opacity(monkeypatch: pytest.MonkeyPatch) -> None:
    p = painter(brush_opacity=0.5)
    puts: list[tuple[np.ndarray, int, int]] = []
    layer = p.canvas[1]
    real = type(layer).put_image_data

    def spy(self, data, x=0, y=0):  # noqa: ANN001
        if self is layer:
            puts.append((np.asarray(data), int(x), int(y)))
        return real(self, data, x, y)

    monkeypatch.setattr(type(layer), "put_image_data", spy)
    drag(p, [(30, 40), (90, 40)])
    data, x, y = puts[-1]
    assert data.shape[2] == 4
    alpha = data[..., 3]
    assert alpha.max() == round(128 * p.opacity)  # value 0.5 at overlay opacity 0.5
    assert np.array_equal(alpha > 0, p.mask[y:y + data.shape[0], x:x + data.shape[1]])


def test_bad_hardness_and_brush_opacity_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="hardness"):
        painter(hardness=2.0)
    with pytest.raises(InvalidInputError, match="brush_opacity"):
        painter(brush_opacity=-0.5)
    p = painter()
    p.hardness = 3.0
    assert p.hardness == 1.0
    with pytest.raises(InvalidInputError, match="brush_opacity must be a number"):
        p.brush_opacity = float("nan")
    assert p.brush_opacity == 1.0
