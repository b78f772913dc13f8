"""MaskPainter in the Notebook 7 UI (``/notebooks/<path>``), not only in JupyterLab 4.

The same jupyter_server that ``python -m jupyterlab`` starts also serves Notebook 7
(the ``notebook`` 7 server extension). Open a notebook there, run it, paint a
stroke with the real mouse and check the kernel's mask; save a screenshot of the
whole page to ``tests/artifacts/notebook7_mask_painter.png``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from harness import NOTEBOOK7_EXPOSE_APP_ARG, canvas_box, jupyterlab, open_notebook7, write_notebook

pytestmark = pytest.mark.browser

SELECTOR = ".paint-widgets-mask-painter canvas.paint-widgets-canvas"
RADIUS = 8  # brush=16
CELLS = [
    "import numpy as np\n"
    "from paint_widgets import MaskPainter\n"
    "yy, xx = np.mgrid[0:192, 0:256]\n"
    "img = np.stack([xx, yy * 255 // 191, np.full_like(xx, 90)], -1).astype(np.uint8)\n"
    "painter = MaskPainter(img, brush=16)\n"
    "painter",
]


def test_mask_painter_paints_in_notebook7(page: Any, tmp_path: Path, artifacts: Path) -> None:
    write_notebook(tmp_path / "nb7_painter.ipynb", CELLS)
    with jupyterlab(tmp_path, extra_args=[NOTEBOOK7_EXPOSE_APP_ARG]) as lab:
        open_notebook7(page, lab, "nb7_painter.ipynb")
        assert page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"  # not JupyterLab
        assert "/notebooks/nb7_painter.ipynb" in page.url
        kernel = lab.kernel("nb7_painter.ipynb")
        page.wait_for_selector(SELECTOR, state="visible")
        page.locator(SELECTOR).scroll_into_view_if_needed()
        assert kernel.wait_for("painter.view.view_width == 256 and painter.mask_version == 0")
        box = canvas_box(page, SELECTOR)
        assert (box["cw"], box["ch"]) == (256, 192)
        assert (round(box["width"]), round(box["height"])) == (256, 192)  # 1:1, view px = image px

        a = (box["x"] + 30, box["y"] + 150)
        b = (box["x"] + 220, box["y"] + 50)
        page.mouse.move(*a)
        page.mouse.down()
        page.mouse.move(*b, steps=12)
        page.mouse.up()
        assert kernel.wait_for("painter.mask_version >= 1", timeout=20)

        (ax, ay), (bx, by) = (a[0] - box["x"], a[1] - box["y"]), (b[0] - box["x"], b[1] - box["y"])
        samples = [(ax + (bx - ax) * t / 20, ay + (by - ay) * t / 20) for t in range(21)]
        hits = kernel.value(f"[bool(painter.mask[int(y), int(x)]) for x, y in {samples!r}]")
        assert all(hits), hits
        count = kernel.value("int(painter.mask.sum())")
        length = math.hypot(bx - ax, by - ay)
        assert 0.8 * 2 * RADIUS * length < count < 2 * RADIUS * length + math.pi * RADIUS**2 + 200
        assert not kernel.value("bool(painter.mask[:20, :20].any() or painter.mask[-20:, -20:].any())")

        page.mouse.move(box["x"] + box["width"] + 40, box["y"] + 20)  # no brush cursor over the stroke
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / "notebook7_mask_painter.png"))
        assert not [e for e in page.console_errors if "ipycanvas" in e or "widget" in e.lower()]
