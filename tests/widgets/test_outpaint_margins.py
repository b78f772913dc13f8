"""OutpaintMargins: edge drags through simulated frontend events, fields, and outcrop runs.

Events go through ipycanvas' own ``_handle_frontend_event`` (the path a browser
message takes); drags are checked against the view-to-image mapping.
"""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import ipycanvas
import numpy as np
import pytest
from PIL import Image

import paint_widgets
from paint_widgets.engine import api
from paint_widgets.errors import GenerationError, InvalidInputError
from paint_widgets.result import Result
from paint_widgets.widgets.outpaint_margins import SIDES, OutpaintMargins, snap_nearest

FAST = {"steps": 2, "seam_steps": 2, "seed": 5}


def picture(h: int, w: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, channels), dtype=np.uint8)


def send(widget: OutpaintMargins, event: str, x: float, y: float) -> None:
    """Deliver a frontend message exactly as ipycanvas does (MultiCanvas -> last layer)."""
    widget.canvas[-1]._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def drag(widget: OutpaintMargins, start: tuple[float, float], end: tuple[float, float], steps: int = 5) -> None:
    send(widget, "mouse_down", *start)
    for i in range(1, steps + 1):
        t = i / steps
        send(widget, "mouse_move", start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
    send(widget, "mouse_up", *end)


def handle(widget: OutpaintMargins, side: str) -> tuple[float, float]:
    """The view point in the middle of ``side``'s edge of the new canvas."""
    x0, y0, x1, y1 = widget._edges()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return {"top": (cx, y0), "bottom": (cx, y1), "left": (x0, cy), "right": (x1, cy)}[side]


OUTWARD = {"top": (0, -1), "bottom": (0, 1), "left": (-1, 0), "right": (1, 0)}


def expected_drag(widget: OutpaintMargins, side: str, start: int, view_px: float) -> int:
    """Margin after dragging ``side`` outward by ``view_px`` (negative = inward): nearest 64, clamped."""
    scale = widget.view.sy if side in ("top", "bottom") else widget.view.sx
    image_px = start + view_px / scale
    return min(widget.max_margin, max(0, int(math.floor(image_px / 64 + 0.5)) * 64))


def errors(widget: OutpaintMargins) -> str:
    return "".join(o["text"] for o in widget.output.outputs if o.get("name") == "stderr")


def infos(widget: OutpaintMargins) -> str:
    return "".join(o["text"] for o in widget.output.outputs if o.get("name") == "stdout")


@pytest.fixture(autouse=True)
def puts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Spy on put_image_data: every array sent must be RGBA (an (H, W, 3) one goes as JPEG)."""
    shapes: list[tuple[int, ...]] = []
    original = ipycanvas.Canvas.put_image_data

    def spy(self, image_data, x=0, y=0):
        shapes.append(tuple(np.asarray(image_data).shape))
        return original(self, image_data, x, y)

    monkeypatch.setattr(ipycanvas.Canvas, "put_image_data", spy)
    yield shapes
    assert all(len(s) == 3 and s[2] == 4 for s in shapes), shapes


# ---------------------------------------------------------------- traits, fields, label


def test_reference_example_size_label_and_margins_dict() -> None:
    w = paint_widgets.OutpaintMargins(picture(512, 512), top=128, right=64, bottom=64)
    assert w.margins == {"top": 128, "right": 64, "bottom": 64, "left": 0}
    assert w.new_size == (576, 704)
    assert "New canvas: 576 x 704 px" in w.size_label.value
    w.left = 64
    assert "New canvas: 640 x 704 px" in w.size_label.value
    w.margins = {"top": 0, "bottom": 1}
    assert w.margins == {"top": 0, "right": 64, "bottom": 64, "left": 64}


def test_traits_hold_snapped_values_and_reject_bad_ones() -> None:
    w = OutpaintMargins(picture(128, 128))
    assert w.margins == dict.fromkeys(SIDES, 0)
    w.top = 100
    assert w.top == 128
    w.right = 64
    assert w.right == 64
    w.bottom = 1
    assert w.bottom == 64
    for bad in (-64, -1):
        with pytest.raises(InvalidInputError, match="top margin must be 0 or more pixels"):
            w.top = bad
    with pytest.raises(InvalidInputError, match="whole number"):
        w.left = True
    with pytest.raises(InvalidInputError, match="at most 256 pixels.*max_margin"):
        w.left = 300
    with pytest.raises(InvalidInputError, match="unknown margin"):
        w.margins = {"up": 64}
    assert w.margins == {"top": 128, "right": 64, "bottom": 64, "left": 0}  # unchanged by the failures
    assert OutpaintMargins(picture(128, 128), max_margin=600).max_margin == 640
    assert OutpaintMargins(picture(128, 128), left=400).max_margin == 448  # room for the initial margin
    with pytest.raises(InvalidInputError, match="0 or more"):
        OutpaintMargins(picture(128, 128), bottom=-64)


def test_fields_sync_both_ways_snap_and_refuse_negative_visibly() -> None:
    w = OutpaintMargins(picture(128, 128))
    w.fields["top"].value = 100  # typed in the browser
    assert w.top == 128 and w.fields["top"].value == 128
    w.right = 192  # set from Python
    assert w.fields["right"].value == 192
    w.fields["top"].value = -64
    assert w.top == 128 and w.fields["top"].value == 128  # reverted
    assert "top field: top margin must be 0 or more pixels, not -64" in errors(w)
    w.fields["left"].value = 10_000
    assert w.left == 0 and w.fields["left"].value == 0
    assert "at most 256 pixels" in errors(w)


def test_bad_generation_params_fail_at_construction() -> None:
    with pytest.raises(InvalidInputError, match="unknown outcrop parameter 'stepz'"):
        OutpaintMargins(picture(128, 128), stepz=2)
    with pytest.raises(InvalidInputError):
        OutpaintMargins(picture(128, 128), steps=0)


# ---------------------------------------------------------------- dragging


def test_drag_top_up_maps_view_pixels_through_the_scale() -> None:
    w = OutpaintMargins(picture(1200, 1600))  # shown scaled: (1600 + 2*256) wide in 768 px
    assert w.view.view_width == 768 and w.view.sy == pytest.approx(0.364, abs=1e-3)
    x, y = handle(w, "top")
    drag(w, (x, y), (x + 3, y - 47))  # 47 view px up = ~129 image px; sideways motion ignored
    assert w.top == 128 == expected_drag(w, "top", 0, 47)
    assert w.margins == {"top": 128, "right": 0, "bottom": 0, "left": 0}
    x, y = handle(w, "top")  # the edge moved up with the margin
    assert y == pytest.approx((256 - 128) * w.view.sy)
    drag(w, (x, y), (x, y - 10))  # ~27 image px: snaps back to 128 (nearest)
    assert w.top == 128
    drag(w, (x, y), (x, y - 13))  # ~36 image px: the next grid line
    assert w.top == 192
    # at 1:1 the same 47 px would be 64: the mapping matters
    small = OutpaintMargins(picture(128, 128), min_view=0)
    assert small.view.sy == 1.0
    sx, sy = handle(small, "top")
    drag(small, (sx, sy), (sx, sy - 47))
    assert small.top == 64


@pytest.mark.parametrize("side", SIDES)
def test_drag_each_edge_out_then_back_past_zero(side: str) -> None:
    w = OutpaintMargins(picture(512, 384))  # view scale 0.75 (1024 x 896 world in 768 px)
    dx, dy = OUTWARD[side]
    x, y = handle(w, side)
    drag(w, (x, y), (x + 100 * dx, y + 100 * dy))
    assert getattr(w, side) == expected_drag(w, side, 0, 100) == 128
    assert [getattr(w, s) for s in SIDES if s != side] == [0, 0, 0]
    x, y = handle(w, side)
    drag(w, (x, y), (x - 400 * dx, y - 400 * dy))  # far inward: stops at 0
    assert getattr(w, side) == 0
    x, y = handle(w, side)
    drag(w, (x, y), (x + 2000 * dx, y + 2000 * dy))  # far outward: stops at max_margin
    assert getattr(w, side) == w.max_margin == 256
    assert errors(w) == ""


def test_clicks_away_from_edges_change_nothing_and_mouse_out_ends_a_drag() -> None:
    w = OutpaintMargins(picture(512, 512))
    cx, cy = w.view.view_width / 2, w.view.view_height / 2  # middle of the picture
    drag(w, (cx, cy), (cx, cy - 300))
    assert w.margins == dict.fromkeys(SIDES, 0)
    x, y = handle(w, "left")
    drag(w, (x + 20, y), (x - 80, y))  # 20 px off the edge: beyond the 12 px hit radius
    assert w.left == 0
    send(w, "mouse_down", x + 8, y)  # within it
    send(w, "mouse_move", x - 90, y)
    send(w, "mouse_out", x - 90, y)
    assert w.left == 128 and w._drag is None
    send(w, "mouse_move", x - 300, y)  # no button: only hover
    assert w.left == 128
    assert errors(w) == ""


def test_touch_drag() -> None:
    w = OutpaintMargins(picture(512, 512))
    x, y = handle(w, "bottom")

    def touch(event: str, *points: tuple[float, float]) -> None:
        touches = [{"x": px, "y": py} for px, py in points]
        w.canvas[-1]._handle_frontend_event(None, {"event": event, "touches": touches}, [])

    touch("touch_start", (x, y))
    touch("touch_move", (x, y + 50))  # 50 / 0.75 = ~67 image px
    touch("touch_end")
    assert w.bottom == 64 and w._drag is None
    touch("touch_move", (x, y + 200))  # no finger down on an edge: nothing
    assert w.bottom == 64


def test_snap_nearest() -> None:
    assert [snap_nearest(v) for v in (0, 31.9, 32, 95, 96, 129.3, -10)] == [0, 0, 64, 64, 128, 128, 0]


# ---------------------------------------------------------------- drawing


def test_only_rgba_reaches_put_image_data_including_on_reload(puts: list) -> None:
    rgba = picture(200, 300, channels=4)
    rgba[..., 3] = 128
    for img in (picture(96, 128), rgba, np.asarray(Image.fromarray(picture(64, 80)).convert("L"))):
        w = OutpaintMargins(img)
        w.canvas[-1]._handle_frontend_event(None, {"event": "client_ready"}, [])
        w.top = 64
    assert len(puts) >= 12  # background + picture per draw, redrawn on client_ready
    assert all(s[2] == 4 for s in puts)


# ---------------------------------------------------------------- running outcrop


def test_run_with_tiny_models_grows_canvas_and_keeps_original_pixels(mgr) -> None:
    img = picture(128, 128)
    w = OutpaintMargins(img, top=64, left=30, manager=mgr, **FAST)
    assert w.margins == {"top": 64, "right": 0, "bottom": 0, "left": 64}
    result = w.run(prompt="a field")
    assert result is w.result and w.runs == 1 and w.error is None
    out = np.asarray(result.image)
    assert out.shape == (192, 192, 3) and w.new_size == (192, 192)
    np.testing.assert_array_equal(out[64:192, 64:192], img)
    assert "--outcrop top 64 left 64" in result.commands[0]
    assert w.result_image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert w.progress.value == w.progress.max
    assert not w.running


def test_button_runs_in_a_thread_and_wait_returns_the_result(mgr) -> None:
    w = OutpaintMargins(picture(128, 128), right=64, manager=mgr, **FAST)
    w.prompt_field.value = "a wall"
    seen: list[str] = []
    original = api.outcrop

    def recording(*args, **kwargs):
        seen.append(threading.current_thread().name)
        assert kwargs["prompt"] == "a wall" and kwargs["right"] == 64
        return original(*args, **kwargs)

    api_patch = pytest.MonkeyPatch()
    api_patch.setattr(api, "outcrop", recording)
    try:
        w.button.click()
        worker = w._jobs.job.thread
        assert worker is not None and worker is not threading.current_thread()
        result = w.wait(timeout=120)
    finally:
        api_patch.undo()
    assert seen == ["paint-widgets-outcrop"]  # the worker thread, not the kernel's
    assert not worker.is_alive() and not w.running
    assert result is w.result and result.image.size == (192, 128)
    assert errors(w) == "" and "done: 192 x 128 px" in w.status_label.value
    assert w.button.description == "Outcrop" and w.cancel_button.disabled


def fake_result(size: tuple[int, int] = (192, 128)) -> Result:
    return Result(images=[Image.new("RGB", size)], seeds=[7], commands=["!fix <image> --outcrop right 64"])


def test_second_click_while_running_is_refused_visibly(monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[dict] = []

    def slow(image, **kwargs):
        calls.append(kwargs)
        for i in range(1, 4):
            kwargs["progress"](SimpleNamespace(step=i, total=8))
        started.set()
        assert release.wait(10)
        return fake_result()

    monkeypatch.setattr(api, "outcrop", slow)
    w = OutpaintMargins(picture(128, 128), right=64)
    w.button.click()
    assert started.wait(10)
    assert w.running and w.button.description == "Running…" and not w.cancel_button.disabled
    assert (w.progress.value, w.progress.max) == (3, 8)
    w.button.click()
    assert "already running" in infos(w)
    with pytest.raises(GenerationError, match="already running"):
        w.run()
    release.set()
    assert w.wait(10) is w.result
    assert len(calls) == 1  # refused, not queued
    assert not w.running and w.result.seeds == [7]
    w.button.click()  # free again
    w.wait(10)
    assert len(calls) == 2


def test_errors_in_the_run_show_in_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(image, **kwargs):
        raise RuntimeError("the GPU caught fire")

    monkeypatch.setattr(api, "outcrop", boom)
    w = OutpaintMargins(picture(128, 128), top=64)
    w.button.click()
    assert w.wait(10) is None
    text = errors(w)
    assert "Error in outcrop: RuntimeError: the GPU caught fire" in text and "Traceback" in text
    assert isinstance(w.error, RuntimeError) and w.status_label.value == "failed"
    assert not w.running and w.button.description == "Outcrop"


def test_all_zero_margins_give_a_clear_error() -> None:
    w = OutpaintMargins(picture(128, 128))
    w.button.click()
    w.wait(10)
    assert "outcrop: outcrop needs at least one side to extend" in errors(w)
    with pytest.raises(InvalidInputError, match="at least one side"):
        w.run()
