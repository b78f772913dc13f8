"""TextMaskTuner and OutpaintMargins in a real JupyterLab + Chromium, driven by the mouse.

- TextMaskTuner on the sample landscape with the tiny CLIPSeg (random weights: an
  arbitrary but deterministic heatmap): dragging the Threshold slider's handle in
  the page changes ``tuner.coverage`` and the label, with no new model call.
- OutpaintMargins: dragging the top edge handle of the canvas up by 70 page px
  moves ``margins.top`` to the nearest multiple of 64.

Element screenshots go to ``tests/artifacts/text_mask_tuner.png`` and
``tests/artifacts/outpaint_margins.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import canvas_box, jupyterlab, open_notebook, write_notebook

pytestmark = pytest.mark.browser

TUNER = ".paint-widgets-text-mask-tuner"
MARGINS = ".paint-widgets-outpaint-margins"
TUNER_CELLS = [
    "import paint_widgets\n"
    "from paint_widgets.samples import landscape\n"
    "tuner = paint_widgets.TextMaskTuner(landscape(), prompt='house')\n"
    "tuner",
]
MARGINS_CELLS = [
    "import paint_widgets\n"
    "from paint_widgets.samples import landscape\n"
    "margins = paint_widgets.OutpaintMargins(landscape(512, 384), top=128, right=64)\n"
    "margins",
]


def test_threshold_slider_drag_rethresholds_without_the_model(
    tiny_models: dict[str, Path], page: Any, tmp_path: Path, artifacts: Path
) -> None:
    env = {"PAINT_WIDGETS_MODEL": str(tiny_models["sd-inpaint"]),
           "PAINT_WIDGETS_TEXTMASK_MODEL": str(tiny_models["clipseg"]), "HF_HUB_OFFLINE": "1"}
    write_notebook(tmp_path / "tuner.ipynb", TUNER_CELLS)
    with jupyterlab(tmp_path, env=env) as lab:
        open_notebook(page, lab, "tuner.ipynb")
        kernel = lab.kernel("tuner.ipynb")
        assert kernel.wait_for("'tuner' in globals() and tuner.runs == 1", timeout=120)
        calls, coverage = kernel.value(
            "[paint_widgets.engine.textmask.model_calls(), tuner.coverage]"
        )
        assert calls >= 1 and kernel.value("tuner.threshold") == 0.5

        label = page.locator(f"{TUNER} .widget-label", has_text="of the image selected").first
        label.wait_for(state="visible")
        assert label.inner_text().strip() == f"{coverage:.1%} of the image selected"
        slider = page.locator(f"{TUNER} .widget-slider", has_text="Threshold").first
        slider.scroll_into_view_if_needed()
        handle = slider.locator(".noUi-handle").first
        readout = slider.locator(".widget-readout").first  # "0.50" (aria-valuenow is rounded to 0.1)
        track = slider.locator(".noUi-base").first.bounding_box()
        hbox = handle.bounding_box()
        assert track and hbox and track["width"] > 80
        hx, hy = hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2
        assert abs(hx - (track["x"] + track["width"] / 2)) < 6  # the handle sits at 0.5

        # drag the handle right by a third of the track: the threshold goes to ~0.83
        page.mouse.move(hx, hy)
        page.mouse.down()
        page.mouse.move(hx + track["width"] / 3, hy, steps=8)
        page.mouse.up()
        shown = float(readout.inner_text())
        assert 0.7 < shown < 0.95, shown
        assert kernel.wait_for(f"abs(tuner.threshold - {shown}) < 1e-6", timeout=20)
        new_calls, new_coverage = kernel.value(
            "[paint_widgets.engine.textmask.model_calls(), tuner.coverage]"
        )
        assert new_calls == calls  # re-thresholding the kept heatmap, no CLIPSeg run
        assert new_coverage != coverage
        assert kernel.value("tuner.coverage == float(tuner.text_mask.mask(tuner.threshold).mean())")
        page.wait_for_function(
            "([el, text]) => el.textContent.trim() === text",
            arg=[label.element_handle(), f"{new_coverage:.1%} of the image selected"],
        )

        # back down to 0.25: a different selection again, still no model call
        hbox = handle.bounding_box()
        assert hbox
        hx = hbox["x"] + hbox["width"] / 2
        page.mouse.move(hx, hy)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] / 4, hy, steps=8)
        page.mouse.up()
        shown = float(readout.inner_text())
        assert 0.15 < shown < 0.35, shown
        assert kernel.wait_for(f"abs(tuner.threshold - {shown}) < 1e-6", timeout=20)
        assert kernel.value("paint_widgets.engine.textmask.model_calls()") == calls
        assert kernel.value("tuner.coverage") not in (coverage, new_coverage)

        page.wait_for_timeout(300)  # the overlay PNG drawn
        page.locator(TUNER).first.screenshot(path=str(artifacts / "text_mask_tuner.png"))
        assert not [e for e in page.console_errors if "ipycanvas" in e or "widget" in e.lower()]


def test_dragging_the_top_edge_grows_the_top_margin(notebook: Any, artifacts: Path) -> None:
    page, kernel = notebook("outpaint_margins.ipynb", MARGINS_CELLS)
    canvas = f"{MARGINS} canvas"
    page.wait_for_selector(canvas, state="visible")
    assert page.locator(canvas).count() == 1  # ipycanvas composites the layers into one canvas
    assert kernel.wait_for("'margins' in globals()")
    assert kernel.value("margins.margins") == {"top": 128, "right": 64, "bottom": 0, "left": 0}
    vw, vh = kernel.value("[margins.view.view_width, margins.view.view_height]")
    x0, y0, x1, _ = kernel.value("list(margins._edges())")  # the new canvas' outline, view px
    page.locator(canvas).scroll_into_view_if_needed()
    size = page.locator(f"{MARGINS} .widget-label", has_text="New canvas").first
    assert size.inner_text().strip() == "New canvas: 576 x 512 px (picture 512 x 384)"

    box = canvas_box(page, canvas)
    assert (box["cw"], box["ch"]) == (vw, vh)
    kx, ky = box["width"] / vw, box["height"] / vh  # view px -> page px
    hx, hy = box["x"] + (x0 + x1) / 2 * kx, box["y"] + y0 * ky  # the top edge's handle
    page.mouse.move(hx, hy + 40)
    page.mouse.move(hx, hy, steps=4)
    page.mouse.down()
    page.mouse.move(hx, hy - 70, steps=10)
    page.mouse.up()
    # 70 page px up = 70 / ky view px = 70 / ky / sy image px beyond 128, snapped to the nearest 64
    sy = kernel.value("margins.view.sy")
    expected = round((128 + 70 / ky / sy) / 64) * 64
    assert expected == 192
    assert kernel.wait_for(f"margins.top == {expected}", timeout=20), kernel.value("margins.margins")
    assert kernel.value("margins.margins") == {"top": 192, "right": 64, "bottom": 0, "left": 0}
    page.wait_for_function(
        "(el) => el.textContent.trim() === 'New canvas: 576 x 576 px (picture 512 x 384)'",
        arg=size.element_handle(),
    )
    top_field = page.locator(f"{MARGINS} .widget-text", has_text="Top").locator("input").first
    assert top_field.input_value() == "192"

    page.mouse.move(box["x"] + 20, box["y"] + box["height"] - 20)  # off the handles
    page.wait_for_timeout(300)
    page.locator(MARGINS).first.screenshot(path=str(artifacts / "outpaint_margins.png"))
    assert not [e for e in page.console_errors if "ipycanvas" in e or "widget" in e.lower()]
