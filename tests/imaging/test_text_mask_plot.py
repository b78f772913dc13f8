"""TextMask.plot(): the selection, the heatmap with the threshold's outline, the coverage curve."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from paint_widgets.imaging.text_mask import TextMask
from paint_widgets.imaging.text_mask_plot import coverage_curve, figure_png


@pytest.fixture
def tm() -> TextMask:
    yy, xx = np.mgrid[0:120, 0:160]
    heat = np.clip(1.0 - np.hypot(yy - 60, xx - 80) / 80.0, 0.0, 1.0).astype(np.float32)
    image = np.stack([xx, yy, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    return TextMask(image=image, heatmap=heat, prompt="blob", threshold=0.6)


def test_the_coverage_curve_is_exactly_the_share_selected(tm):
    thresholds, share = coverage_curve(tm.heatmap)
    assert thresholds[0] == 0.0 and thresholds[-1] == 1.0
    for i in (0, 37, 100, 150, 200):
        assert share[i] == pytest.approx(tm.coverage(float(thresholds[i])), abs=1e-12)
    assert np.all(np.diff(share) <= 0)  # a higher threshold never selects more


def test_plot_shows_the_selection_the_outline_and_the_marked_threshold(tm):
    fig = tm.plot(0.4)
    assert isinstance(fig, Figure)
    image_ax, heat_ax, curve_ax = fig.axes[:3]
    assert f"{tm.coverage(0.4):.1%}" in image_ax.get_title()
    contours = [c for c in heat_ax.collections if hasattr(c, "levels")]
    assert contours and list(contours[0].levels) == [0.4]
    marker = curve_ax.lines[-1]
    assert marker.get_xdata()[0] == pytest.approx(0.4)
    assert marker.get_ydata()[0] == pytest.approx(tm.coverage(0.4) * 100)
    vline = curve_ax.lines[1]
    assert list(vline.get_xdata()) == [0.4, 0.4]
    assert figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_defaults_to_the_masks_own_threshold_and_copes_with_a_flat_heatmap(tm):
    assert f"{tm.coverage():.1%}" in tm.plot().axes[0].get_title()
    flat = TextMask(image=tm.image, heatmap=np.zeros_like(tm.heatmap), prompt="nothing")
    fig = flat.plot()  # no outline to draw: nothing above the threshold
    assert "0.0%" in fig.axes[0].get_title()
