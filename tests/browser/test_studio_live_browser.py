"""Studio Live mode in a real JupyterLab + Chromium (issue #17): a stroke, then a preview in the page.

The tiny random-weight SD 1.x inpainting model and the tiny LCM-LoRA (the previews
are noise, but real ones: the model runs). The Live switch is pressed in the page,
a stroke is dragged with the mouse on the Paint canvas; the preview image appears
beside the canvas and in place on it (under the mask overlay), and
``studio.live_result``'s request is the current mask, prompt and seed. Typing a new
prompt in the page gives a new preview of that prompt.
Saves ``tests/artifacts/studio_live.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import canvas_box

pytestmark = pytest.mark.browser

STUDIO = ".paint-widgets-studio"
CANVAS = f"{STUDIO} canvas.paint-widgets-canvas"
LIVE_VIEW = f"{STUDIO} img.paint-widgets-live-view"
WAIT = 300


def cells(models: dict[str, Path]) -> list[str]:
    return [
        "import os\n"
        "os.environ['HF_HUB_OFFLINE'] = '1'\n"
        "import numpy as np\n"
        "import paint_widgets as pw\n"
        f"pw.manager().configure(model={str(models['sd-inpaint'])!r},"
        f" lora_dir={str(models['loras/tiny-lcm'].parent)!r})\n"
        "yy, xx = np.mgrid[0:384, 0:512]\n"
        "photo = np.stack([xx // 2, yy // 2, (xx + yy) // 4], axis=-1).astype(np.uint8)\n"
        "studio = pw.Studio(photo, outdir='out')\n"
        "studio.prompt.value = 'a red barn'\n"
        "studio.seed.value = 42\n"
        "studio.live_lora = 'tiny-lcm'\n"
        "studio.live_size = 256  # the tiny model's native 512 works too, only slower on this CPU\n"
        "studio",
    ]


#: True when the newest preview shown was made from exactly what the Studio holds now.
MATCHES = (
    "(lambda r: r is not None and bool(np.array_equal(r.request.request.mask, studio.painter.mask))"
    " and r.request.request.params.prompt == studio.prompt.value"
    " and r.seeds == [studio.seed.value] and r.request.request.params.seed == studio.seed.value)"
    "(studio.live_result)"
)


#: RGBA of the visible (composited) canvas at canvas pixel (x, y).
READ_PIXEL = ("([sel, x, y]) => Array.from(document.querySelector(sel).getContext('2d')"
              ".getImageData(x, y, 1, 1).data)")


def shown_image(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """(sel) => { const i = document.querySelector(sel); const r = i.getBoundingClientRect();
        return {src: i.src, w: i.naturalWidth, h: i.naturalHeight, complete: i.complete,
                shown: r.width > 0 && r.height > 0}; }""",
        LIVE_VIEW,
    )


def test_a_stroke_in_live_mode_shows_a_preview_of_the_current_mask_and_prompt(
    tiny_models: dict[str, Path], notebook: Any, artifacts: Path
) -> None:
    page, kernel = notebook("studio_live.ipynb", cells(tiny_models))
    page.wait_for_selector(CANVAS, state="visible", timeout=120_000)
    assert kernel.wait_for("'studio' in globals()", timeout=120)
    page.locator(CANVAS).first.scroll_into_view_if_needed()

    # the Live switch, pressed in the page; nothing painted yet: it says so and asks for nothing
    page.locator(f"{STUDIO} button", has_text="Live").first.click()
    assert kernel.wait_for("studio.live", timeout=30)
    page.locator(STUDIO, has_text="Paint an area to see a preview").first.wait_for(state="visible")
    assert kernel.value("[studio.live_result is None, studio._live.started]") == [True, 0]

    # a stroke with the real mouse: when it ends, a preview runs and shows beside the canvas
    box = canvas_box(page, CANVAS)
    page.mouse.move(box["x"] + 180, box["y"] + 150)
    page.mouse.down()
    page.mouse.move(box["x"] + 330, box["y"] + 230, steps=12)
    page.mouse.up()
    assert kernel.wait_for("studio.live_result is not None", timeout=WAIT)
    assert kernel.value(f"studio.live_wait({WAIT})", timeout=WAIT + 10)
    assert kernel.value("int(studio.painter.mask.sum())") > 1000
    assert kernel.value(MATCHES)
    page.wait_for_function(
        "(sel) => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0"
        " && i.getBoundingClientRect().width > 0; }",
        arg=LIVE_VIEW, timeout=60_000,
    )
    first = shown_image(page)
    y0, x0, y1, x1 = kernel.value("studio.live_result.metadata[0]['preview']['box']")
    assert first["shown"] and (first["w"], first["h"]) == (x1 - x0, y1 - y0)  # the crop around the mask
    assert kernel.value("studio.live_status.value").startswith("<small>preview ")
    page.locator(f"{STUDIO} .widget-html", has_text="seed 42").first.wait_for(state="visible")

    # a prompt typed in the page: a new preview, of that prompt
    prompt = page.locator(f"{STUDIO} textarea").first
    prompt.fill("a blue door")
    assert kernel.wait_for("studio.prompt.value == 'a blue door'", timeout=30)
    assert kernel.wait_for("studio.live_result.request.request.params.prompt == 'a blue door'", timeout=WAIT)
    assert kernel.value(f"studio.live_wait({WAIT})", timeout=WAIT + 10)
    assert kernel.value(MATCHES)
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel);"
                           " return i.src !== old && i.complete && i.naturalWidth > 0; }",
                           arg=[LIVE_VIEW, first["src"]], timeout=60_000)
    assert kernel.value("[len(studio.history), len(studio.gallery.children)]") == [0, 0]  # previews are not runs

    # the preview in place on the canvas: on the stroke, its pixel under the translucent overlay
    # (read at canvas coordinates: the page has moved since the stroke; the preview is noise,
    # so a pixel off would not match)
    vx, vy = int(255 * box["cw"] / box["width"]), int(190 * box["ch"] / box["height"])
    expected = kernel.value(
        f"[round((int(c) + o) / 2) for c, o in zip(studio.painter._shown_view[{vy}, {vx}, :3], studio.painter.color)]"
    )
    photo = kernel.value(
        f"[round((int(c) + o) / 2) for c, o in zip(studio.painter._view_image[{vy}, {vx}, :3], studio.painter.color)]"
    )
    assert max(abs(p - e) for p, e in zip(photo, expected, strict=True)) > 6, "preview and image alike here"
    assert kernel.value(f"bool(studio.painter.mask[{vy}, {vx}])")  # the view is the image's size here
    pixel: list[int] = []
    for _ in range(60):
        pixel = page.evaluate(READ_PIXEL, [CANVAS, vx, vy])
        if all(abs(p - e) <= 3 for p, e in zip(pixel[:3], expected, strict=True)):
            break
        page.wait_for_timeout(250)
    assert all(abs(p - e) <= 3 for p, e in zip(pixel[:3], expected, strict=True)), (pixel, expected, photo)

    page.mouse.move(box["x"] - 40, box["y"] - 40)
    page.wait_for_timeout(300)
    page.locator(f"{STUDIO} > .widget-hbox").first.screenshot(path=str(artifacts / "studio_live.png"))
    assert not [e for e in page.console_errors if "widget" in e.lower()]
