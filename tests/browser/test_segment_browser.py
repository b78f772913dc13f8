"""Click-to-segment in a real JupyterLab + Chromium (issue #16): mouse in the page, SAM in the kernel.

A MaskPainter with the Segment tool and the tiny random-weight SAM (an arbitrary
but deterministic proposal). The 1000x750 image is shown in a 768x576 canvas
(the painter's view) that CSS shrinks to 480 px wide, so a click passes through
both scalings before it reaches the kernel:

- a real click gives a proposal in the kernel made from that point: the point's
  image coordinates are the clicked ones, and the proposal is what ``pw.segment``
  gives for them;
- Shift + click adds a negative point (label 0);
- a drag draws a box (the press and release points, in image pixels);
- the proposal shows in its own colour (checked on the composited canvas);
- **Add** puts the proposal into ``painter.mask``, and **Undo** takes it out again.

Saves ``tests/artifacts/segment_proposal.png`` (a point, a negative point, a box and
the blue proposal) and ``tests/artifacts/segment_added.png`` (the region added to the mask).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import canvas_box, canvas_pixel

from paint_widgets.widgets.mask_painter import PROPOSAL_COLOR, PROPOSAL_OPACITY

pytestmark = pytest.mark.browser

PAINTER = ".paint-widgets-mask-painter"
SELECTOR = f"{PAINTER} canvas.paint-widgets-canvas"
GREY = (128, 128, 128)
PROPOSAL_ALPHA = round(PROPOSAL_OPACITY * 255) / 255  # as overlay_rgba sends it


#: Defines ``_probe_pixel()`` in the kernel: a view pixel whose 11x11 neighbourhood is all proposal and
#: grey image, at least 8 view px from every point and the box lines (so only the proposal is drawn there).
PROBE = """
def _probe_pixel():
    v = painter.view
    ok = v.sample(painter.proposal) & v.sample(img[..., 0] == 128)
    h, w = ok.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for x, y, _ in painter.segment_points:
        px, py = v.to_view(x, y)
        ok &= np.hypot(xx - px, yy - py) > 12
    if painter.segment_box is not None:
        (x0, y0), (x1, y1) = v.to_view(*painter.segment_box[:2]), v.to_view(*painter.segment_box[2:])
        near = lambda a, b: np.abs(a - b) <= 8
        ok &= ~(((near(xx, x0) | near(xx, x1)) & (yy >= y0 - 8) & (yy <= y1 + 8))
                | ((near(yy, y0) | near(yy, y1)) & (xx >= x0 - 8) & (xx <= x1 + 8)))
    padded, inner = np.pad(ok, 5), np.ones_like(ok)
    for dy in range(11):
        for dx in range(11):
            inner &= padded[dy:dy + h, dx:dx + w]
    ok = inner
    ys, xs = np.nonzero(ok)
    return None if len(xs) == 0 else [int(xs[len(xs) // 2]), int(ys[len(ys) // 2])]
"""


def cells(sam: Path) -> list[str]:
    return [
        "import os\n"
        "os.environ['HF_HUB_OFFLINE'] = '1'\n"
        "import numpy as np\n"
        "import paint_widgets as pw\n"
        f"pw.manager().configure(segment_model={str(sam)!r})\n"
        f"img = np.full((750, 1000, 3), {GREY[0]}, np.uint8)\n"
        "img[250:500, 350:650] = (200, 40, 40)\n"
        "painter = pw.MaskPainter(img)\n"
        "painter.tool = 'segment'\n"
        "painter.canvas.layout.width = '480px'  # shown smaller than its 768 px: CSS scales the clicks\n"
        "painter",
    ]


def image_point(box: dict[str, float], view: tuple[int, int], x: float, y: float) -> tuple[float, float]:
    """Page point → image coordinates: CSS px → canvas px (ipycanvas) → image px (the painter's view)."""
    vx = (x - box["x"]) * box["cw"] / box["width"]
    vy = (y - box["y"]) * box["ch"] / box["height"]
    sx, sy = view[0] / 1000, view[1] / 750
    return (vx + 0.5) / sx - 0.5, (vy + 0.5) / sy - 0.5


def close(a: tuple[float, ...], b: tuple[float, ...], tol: float = 0.02) -> bool:
    return len(a) == len(b) and all(abs(p - q) <= tol for p, q in zip(a, b, strict=True))


def test_click_shift_click_and_drag_propose_in_the_kernel_and_add_is_undoable(
    tiny_models: dict[str, Path], notebook: Any, artifacts: Path
) -> None:
    if "sam" not in tiny_models:
        pytest.skip("this transformers has no SamModel")
    page, kernel = notebook("segment.ipynb", cells(tiny_models["sam"]))
    page.wait_for_selector(SELECTOR, state="visible")
    page.locator(PAINTER).first.scroll_into_view_if_needed()
    assert kernel.wait_for("'painter' in globals() and painter.tool == 'segment'", timeout=60)
    view = tuple(kernel.value("[painter.view.view_width, painter.view.view_height]"))
    assert view == (768, 576)
    page.wait_for_function(  # the CSS width applied: the canvas shows at 480 px
        "(sel) => Math.abs(document.querySelector(sel).getBoundingClientRect().width - 480) < 1", arg=SELECTOR
    )
    box = canvas_box(page, SELECTOR)
    assert (box["cw"], box["ch"]) == view and abs(box["height"] - 360) < 1

    # 1. a click: one positive point at the clicked image coordinates, and a proposal from it
    click = (round(box["x"] + 300), round(box["y"] + 200))
    page.mouse.click(*click)
    assert kernel.wait_for("painter.proposal is not None", timeout=60)
    points = [tuple(p) for p in kernel.value("painter.segment_points")]
    expected = image_point(box, view, *click)
    assert len(points) == 1 and points[0][2] == 1 and close(points[0][:2], expected), (points, expected)
    assert kernel.value("bool(painter.proposal.any())")
    assert kernel.value(  # the proposal is SAM's for exactly that point
        "bool(np.array_equal(painter.proposal, pw.segment(img, points=[painter.segment_points[0][:2]])))"
    )

    # 2. Shift + click: a negative point (ipycanvas' mouse events carry no modifiers: the key arms it)
    neg = (round(box["x"] + 60), round(box["y"] + 50))
    page.keyboard.down("Shift")
    page.mouse.click(*neg)
    page.keyboard.up("Shift")
    assert kernel.wait_for("len(painter.segment_points) == 2", timeout=60)
    points = [tuple(p) for p in kernel.value("painter.segment_points")]
    assert points[1][2] == 0 and close(points[1][:2], image_point(box, view, *neg)), points
    assert kernel.value(
        "bool(np.array_equal(painter.proposal, pw.segment(img, points=[p[:2] for p in painter.segment_points],"
        " labels=[p[2] for p in painter.segment_points])))"
    )
    # the next plain click is positive again (Shift armed one click only)
    page.mouse.click(round(box["x"] + 330), round(box["y"] + 220))
    assert kernel.wait_for("len(painter.segment_points) == 3", timeout=60)
    assert kernel.value("painter.segment_points[2][2]") == 1

    # 3. a drag: a box from the press to the release point (with the points, it refines the proposal)
    a, b = (round(box["x"] + 150), round(box["y"] + 110)), (round(box["x"] + 340), round(box["y"] + 260))
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=8)
    page.mouse.up()
    assert kernel.wait_for("painter.segment_box is not None", timeout=60)
    (ax, ay), (bx, by) = image_point(box, view, *a), image_point(box, view, *b)
    assert close(tuple(kernel.value("list(painter.segment_box)")), (ax, ay, bx, by))
    assert kernel.value("len(painter.segment_points)") == 3  # a drag adds no point
    assert kernel.value(
        "bool(np.array_equal(painter.proposal, pw.segment(img, points=[p[:2] for p in painter.segment_points],"
        " labels=[p[2] for p in painter.segment_points], box=painter.segment_box)))"
    )
    assert kernel.value("bool(painter.proposal.any()) and not painter.mask.any()")  # proposing paints nothing

    # 4. the proposal shows in its own colour: a view pixel inside it, away from the points and the box lines
    kernel.run(PROBE)
    probe = kernel.value("_probe_pixel()")
    assert probe is not None, "no grey view pixel inside the proposal"
    page.wait_for_timeout(500)
    px = canvas_pixel(page, SELECTOR, box["x"] + (probe[0] + 0.5) * box["width"] / box["cw"],
                      box["y"] + (probe[1] + 0.5) * box["height"] / box["ch"])
    blend = [round(g * (1 - PROPOSAL_ALPHA) + c * PROPOSAL_ALPHA) for g, c in zip(GREY, PROPOSAL_COLOR, strict=True)]
    assert all(abs(p - e) <= 6 for p, e in zip(px[:3], blend, strict=True)), (probe, px, blend)
    page.mouse.move(box["x"] + box["width"] + 40, box["y"] + 20)  # the pointer off the canvas
    page.wait_for_timeout(300)
    page.locator(PAINTER).first.screenshot(path=str(artifacts / "segment_proposal.png"))

    # 5. Add: the proposal into the mask, one undo step; Undo takes it out
    proposal_sum = kernel.value("int(painter.proposal.sum())")
    kernel.run("_proposed = painter.proposal")
    page.locator(f"{PAINTER} button", has_text="Add").first.click()
    assert kernel.wait_for("painter.proposal is None and bool(painter.mask.any())", timeout=30)
    assert kernel.value("bool(np.array_equal(painter.mask, _proposed))")
    assert kernel.value("[painter.undo_steps, int(painter.mask.sum())]") == [1, proposal_sum]
    page.wait_for_timeout(500)
    page.locator(PAINTER).first.screenshot(path=str(artifacts / "segment_added.png"))
    page.locator(f"{PAINTER} button", has_text="Undo").first.click()
    assert kernel.wait_for("not painter.mask.any()", timeout=30)
    assert not [e for e in page.console_errors if "ipycanvas" in e or "widget" in e.lower()]
