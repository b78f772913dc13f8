"""The quickstart notebook in a real JupyterLab: paint in the Studio, press Generate,
see the result in the gallery. Runs on the tiny models; saves a screenshot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from harness import canvas_box, jupyterlab, open_notebook

pytestmark = pytest.mark.browser

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"
STUDIO = ".paint-widgets-studio"


def test_quickstart_paint_generate_and_see_the_gallery(tiny_models: dict[str, Path], page: Any,
                                                      tmp_path: Path, artifacts: Path) -> None:
    nb = nbformat.read(QUICKSTART, as_version=4)
    for cell in nb.cells:  # real step counts are for real weights
        if cell.cell_type == "code":
            cell.source = re.sub(r"(\bsteps(?:\.value)?\s*=\s*)\d+", r"\g<1>2", cell.source)
    nbformat.write(nb, tmp_path / "01_quickstart.ipynb")
    env = {"PAINT_WIDGETS_MODEL": str(tiny_models["sd-inpaint"]),
           "PAINT_WIDGETS_TEXTMASK_MODEL": str(tiny_models["clipseg"]), "HF_HUB_OFFLINE": "1"}
    with jupyterlab(tmp_path, env=env) as lab:
        open_notebook(page, lab, "01_quickstart.ipynb")
        kernel = lab.kernel("01_quickstart.ipynb")
        assert kernel.wait_for("'studio' in globals()", timeout=120)
        kernel.run("studio.steps.value = 3")

        canvas = f"{STUDIO} canvas.paint-widgets-canvas"
        page.locator(canvas).first.scroll_into_view_if_needed()
        box = canvas_box(page, canvas)
        page.mouse.move(box["x"] + 250, box["y"] + 250)
        page.mouse.down()
        page.mouse.move(box["x"] + 320, box["y"] + 300, steps=10)
        page.mouse.up()
        assert kernel.wait_for("bool(studio.painter.mask.sum() > 500)", timeout=30)

        page.locator(f"{STUDIO} textarea").first.fill("a blue door")
        assert kernel.wait_for("studio.prompt.value == 'a blue door'", timeout=10)
        before = kernel.value("len(studio.results)")  # the notebook's own Studio cell made one already
        page.locator(f"{STUDIO} button", has_text="Generate").first.click()
        assert kernel.wait_for(f"len(studio.results) == {before + 1} and not studio.running", timeout=180)

        card = page.locator(f"{STUDIO} code", has_text="a blue door").first
        card.wait_for(state="visible", timeout=30000)
        assert "-S " in card.inner_text() and "-I " in card.inner_text()
        assert kernel.value("studio.results[-1].image.size") == [512, 384]
        page.set_viewport_size({"width": 1400, "height": 2400})
        page.locator(STUDIO).first.scroll_into_view_if_needed()
        page.locator(STUDIO).first.screenshot(path=str(artifacts / "studio.png"))
