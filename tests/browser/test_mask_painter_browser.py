"""MaskPainter in a real JupyterLab + Chromium: paint with the mouse, check the kernel's mask.

Also records the stroke echo latency (mouse move → overlay pixel under the
pointer changes) and saves a screenshot to ``tests/artifacts/mask_painter.png``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from harness import canvas_box, canvas_pixel, measure_echo, percentile, save_notebook, snake_points

pytestmark = pytest.mark.browser

SELECTOR = "canvas.paint-widgets-canvas"
RADIUS = 12  # brush=24
CELLS = [
    "import numpy as np\n"
    "from paint_widgets import MaskPainter\n"
    "yy, xx = np.mgrid[0:384, 0:512]\n"
    "img = np.stack([xx * 255 // 511, yy * 255 // 383, np.full_like(xx, 90)], -1).astype(np.uint8)\n"
    "painter = MaskPainter(img, brush=24)\n"
    "painter",
]


def to_image(box: dict[str, float], x: float, y: float) -> tuple[float, float]:
    """Page point → image pixel-index point (the painter's ViewMap at scale 1 here)."""
    vx = (x - box["x"]) * box["cw"] / box["width"]
    vy = (y - box["y"]) * box["ch"] / box["height"]
    return vx, vy


def test_drag_paints_the_kernel_mask_and_echo_is_fast(notebook: Any, artifacts: Path) -> None:
    page, kernel = notebook("mask_painter.ipynb", CELLS)
    page.wait_for_selector(SELECTOR, state="visible")
    page.locator(SELECTOR).scroll_into_view_if_needed()
    assert kernel.wait_for("painter.view.view_width == 512 and painter.mask_version == 0")
    box = box_before = canvas_box(page, SELECTOR)
    assert (box["cw"], box["ch"]) == (512, 384)
    assert (box["width"], box["height"]) == (512, 384)  # shown at natural size

    # 1. a stroke dragged with the real mouse lands in painter.mask
    a = (box["x"] + 60, box["y"] + 300)
    b = (box["x"] + 420, box["y"] + 200)
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=12)
    page.mouse.up()
    assert kernel.wait_for("painter.mask_version >= 1", timeout=20)
    (ax, ay), (bx, by) = to_image(box, *a), to_image(box, *b)
    samples = [(ax + (bx - ax) * t / 20, ay + (by - ay) * t / 20) for t in range(21)]
    hits = kernel.value(
        f"[bool(painter.mask[int(round(y)), int(round(x))]) for x, y in {samples!r}]"
    )
    assert all(hits), hits
    stats = kernel.value(
        # painted pixel count, and the farthest painted pixel from the line a-b
        f"(lambda ys, xs: [int(len(xs)), float(np.abs((xs - {ax}) * {by - ay} - (ys - {ay}) * {bx - ax}).max()"
        f" / {math.hypot(bx - ax, by - ay)})])(*np.nonzero(painter.mask))"
    )
    count, farthest = stats
    length = math.hypot(bx - ax, by - ay)
    assert 0.8 * 2 * RADIUS * length < count < 2 * RADIUS * length + math.pi * RADIUS**2 + 400
    assert farthest <= RADIUS + 1.5  # nothing painted beyond the brush around the line

    # 2. echo latency: each move lands on unpainted pixels 30 px from the last one
    points = snake_points({**box, "y": box["y"] + 10}, step=30, rows=3, margin=24)[:40]
    echoes = measure_echo(page, SELECTOR, points, warmup=4)
    ok = [e for e in echoes if e is not None]
    p50, p95 = percentile(ok, 50), percentile(ok, 95)
    print(f"\nMaskPainter echo latency over {len(ok)}/{len(echoes)} moves: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    assert len(ok) >= 0.9 * len(echoes), echoes
    assert p50 < 250, echoes

    # 3. a page reload redraws the canvas from Python state (client_ready)
    assert kernel.wait_for("painter.mask_version >= 2", timeout=20)
    save_notebook(page)
    page.wait_for_timeout(500)
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector(SELECTOR, state="visible", timeout=60_000)
    page.locator(SELECTOR).scroll_into_view_if_needed()
    box = canvas_box(page, SELECTOR)
    mid = ((a[0] + b[0]) / 2 - box_before["x"] + box["x"], (a[1] + b[1]) / 2 - box_before["y"] + box["y"])
    vx, vy = to_image(box, *mid)
    img = [int(vx) * 255 // 511, int(vy) * 255 // 383, 90]
    expected = [round((c + o) / 2) for c, o in zip(img, (255, 0, 80), strict=True)]  # overlay at opacity 0.5
    page.wait_for_function(
        "([sel, x, y]) => { const c = document.querySelector(sel);"
        " return c.getContext('2d').getImageData(x, y, 1, 1).data[3] === 255; }",
        arg=[SELECTOR, int(vx), int(vy)],
    )
    page.wait_for_timeout(500)
    pixel = canvas_pixel(page, SELECTOR, *mid)
    assert all(abs(p - e) <= 3 for p, e in zip(pixel[:3], expected, strict=True)), (pixel, expected)

    # 4. the screenshot shows image, stroke overlay, cursor and toolbar
    page.mouse.move(box["x"] + 250, box["y"] + 330)
    page.wait_for_timeout(300)
    page.locator(".paint-widgets-mask-painter").screenshot(path=str(artifacts / "mask_painter.png"))
    assert not [e for e in page.console_errors if "ipycanvas" in e or "widget" in e.lower()]
