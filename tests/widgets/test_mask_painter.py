"""MaskPainter and the brush rasteriser, driven by simulated frontend events.

Events go through ipycanvas' own ``_handle_frontend_event`` (the path a browser
message takes) and assertions are on exact mask pixels.
"""

from __future__ import annotations

import io
import math

import ipycanvas
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from painter_events import drag, image, send
from PIL import Image

from paint_widgets.errors import MaskError
from paint_widgets.imaging.box import Box
from paint_widgets.imaging.brush import (
    overlay_rgba,
    polyline_cover,
    segment_footprint,
    stamp_segment,
)
from paint_widgets.widgets._canvas import ViewMap, fit_scale, held, to_rgba
from paint_widgets.widgets.mask_painter import MaskPainter

R = 12.0  # brush=24 → radius 12 image pixels





def distance_to_path(shape: tuple[int, int], points: list[tuple[float, float]]) -> np.ndarray:
    """Brute force over the whole image: distance of each pixel centre to the polyline."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    best = np.full(shape, np.inf)
    segments = list(zip(points, points[1:], strict=False)) or [(points[0], points[0])]
    for (ax, ay), (bx, by) in segments:
        dx, dy = bx - ax, by - ay
        n = dx * dx + dy * dy
        t = 0.0 if n == 0 else np.clip(((xs - ax) * dx + (ys - ay) * dy) / n, 0, 1)
        best = np.minimum(best, np.hypot(xs - ax - t * dx, ys - ay - t * dy))
    return best


class FakeFrontend:
    """Replays the overlay/image drawing commands on numpy arrays, like the browser would.

    Records every ``put_image_data`` shape, and keeps each canvas' alpha (overlay)
    so a test can check the canvas shows exactly ``painter.mask``.
    """

    def __init__(self) -> None:
        self.puts: list[tuple[int, tuple[int, ...]]] = []
        self.rects: list[tuple[int, int]] = []  # (canvas id, number of rects) per fill_rects
        self.alpha: dict[int, np.ndarray] = {}

    def layer(self, canvas: ipycanvas.Canvas) -> np.ndarray:
        return self.alpha.setdefault(id(canvas), np.zeros((canvas.height, canvas.width), np.uint8))

    def reload(self) -> None:
        self.alpha.clear()


@pytest.fixture
def frontend(monkeypatch: pytest.MonkeyPatch) -> FakeFrontend:
    fake = FakeFrontend()
    C = ipycanvas.Canvas
    originals = {name: getattr(C, name) for name in ("put_image_data", "fill_rects", "clear_rect", "clear")}

    def put_image_data(self, data, x=0, y=0):
        arr = np.asarray(data)
        fake.puts.append((id(self), tuple(arr.shape)))
        if arr.ndim == 3 and arr.shape[2] == 4:
            a = fake.layer(self)
            region = a[int(y) : int(y) + arr.shape[0], int(x) : int(x) + arr.shape[1]]
            region[...] = np.maximum(region, arr[: region.shape[0], : region.shape[1], 3])
        originals["put_image_data"](self, data, x, y)

    def fill_rects(self, x, y, width, height=None):
        a = fake.layer(self)
        xs, ys, ws = (np.broadcast_to(np.asarray(v), np.shape(x)) for v in (x, y, width))
        hs = np.broadcast_to(np.asarray(width if height is None else height), np.shape(x))
        fake.rects.append((id(self), int(np.size(x))))
        for xi, yi, wi, hi in zip(xs.ravel(), ys.ravel(), ws.ravel(), hs.ravel(), strict=True):
            a[int(yi) : int(yi) + int(hi), int(xi) : int(xi) + int(wi)] = 255
        originals["fill_rects"](self, x, y, width, height)

    def clear_rect(self, x, y, width, height=None):
        a = fake.layer(self)
        a[int(y) : int(y) + int(height if height is not None else width), int(x) : int(x) + int(width)] = 0
        originals["clear_rect"](self, x, y, width, height)

    def clear(self):
        fake.layer(self)[...] = 0
        originals["clear"](self)

    for name, fn in (("put_image_data", put_image_data), ("fill_rects", fill_rects),
                     ("clear_rect", clear_rect), ("clear", clear)):
        monkeypatch.setattr(C, name, fn)
    return fake


def shown(painter: MaskPainter, fake: FakeFrontend) -> np.ndarray:
    """What the overlay layer shows, as a bool view-sized array."""
    return fake.layer(painter.canvas[1]) > 0


# ---------------------------------------------------------------- brush rasteriser


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(st.floats(-20, 90), st.floats(-20, 70)),
    st.tuples(st.floats(-20, 90), st.floats(-20, 70)),
    st.floats(0, 15),
)
def test_stamp_segment_is_exact_and_local(p0: tuple, p1: tuple, radius: float) -> None:
    mask = np.zeros((50, 70), dtype=bool)
    box, changed = stamp_segment(mask, p0, p1, radius, True)
    # the exact test: centre within radius (up to float rounding exactly on the boundary)
    near = distance_to_path(mask.shape, [p0, p1])
    inside = near < radius - 1e-9
    assert mask[inside].all()
    assert not mask[near > radius + 1e-9].any()
    if box is None:
        assert not inside.any() and not mask.any()
        return
    y0, x0, y1, x1 = box
    outside = mask.copy()
    outside[y0:y1, x0:x1] = False
    assert not outside.any()  # nothing painted outside the dirty box
    assert changed.shape == (y1 - y0, x1 - x0) and changed.sum() == mask.sum()
    assert y1 - y0 <= math.ceil(abs(p1[1] - p0[1]) + 2 * radius) + 1
    assert x1 - x0 <= math.ceil(abs(p1[0] - p0[0]) + 2 * radius) + 1


def test_stamp_reports_only_flipped_pixels_and_erases() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    stamp_segment(mask, (10, 10), (10, 10), 3, True)
    before = mask.sum()
    _, changed = stamp_segment(mask, (10, 10), (14, 10), 3, True)
    assert changed.sum() == mask.sum() - before
    stamp_segment(mask, (0, 10), (40, 10), 5, False)
    assert not mask.any()
    assert segment_footprint(Box(0, 0, 3, 3), (1, 1), (1, 1), 0).sum() == 1


def test_overlay_rgba_is_rgba_with_opacity() -> None:
    crop = np.array([[True, False]])
    out = overlay_rgba(crop, (10, 20, 30), 0.5)
    assert out.shape == (1, 2, 4) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (10, 20, 30, 128) and tuple(out[0, 1]) == (0, 0, 0, 0)


# ---------------------------------------------------------------- strokes


def test_stroke_covers_segment_at_brush_radius() -> None:
    p = MaskPainter(image(), brush=24)
    path = [(40.0, 50.0), (120.0, 90.0), (200.0, 95.0), (300.0, 250.0)]
    drag(p, path)
    d = distance_to_path(p.mask.shape, path)
    assert p.mask[d <= R].all()
    assert not p.mask[d > R + 1].any()
    assert np.array_equal(p.mask, d <= R)  # exact: pixel centre within the radius
    assert p.mask.dtype == bool and p.mask.shape == (384, 512)
    assert p.mask_version == 1  # one change per finished stroke


def test_fast_stroke_with_far_apart_events_has_no_gaps() -> None:
    p = MaskPainter(image(), brush=6)
    path = [(5.0, 5.0), (500.0, 370.0), (10.0, 370.0)]  # two huge jumps
    drag(p, path)
    d = distance_to_path(p.mask.shape, path)
    assert np.array_equal(p.mask, d <= 3.0)


def test_click_paints_a_disk() -> None:
    p = MaskPainter(image(), brush=9)
    drag(p, [(100.0, 100.0)])
    assert p.mask.sum() == (distance_to_path(p.mask.shape, [(100.0, 100.0)]) <= 4.5).sum()


def test_eraser_removes() -> None:
    p = MaskPainter(image(), brush=40)
    drag(p, [(50.0, 100.0), (450.0, 100.0)])
    painted = p.mask.copy()
    p.tool = "eraser"
    p.brush = 10
    erase = [(250.0, 40.0), (250.0, 160.0)]
    drag(p, erase)
    gone = distance_to_path(p.mask.shape, erase) <= 5.0
    assert not p.mask[gone].any()
    assert np.array_equal(p.mask, painted & ~gone)


def test_touch_paints() -> None:
    p = MaskPainter(image(), brush=10)
    send(p, "touch_start", touches=[{"x": 30.0, "y": 30.0}])
    send(p, "touch_move", touches=[{"x": 60.0, "y": 40.0}, {"x": 400.0, "y": 300.0}])
    send(p, "touch_move", touches=[{"x": 90.0, "y": 80.0}])
    send(p, "touch_end", touches=[])
    d = distance_to_path(p.mask.shape, [(30.0, 30.0), (60.0, 40.0), (90.0, 80.0)])
    assert np.array_equal(p.mask, d <= 5.0)
    assert p.mask_version == 1 and p.undo_steps == 1


def test_mouse_out_ends_the_stroke() -> None:
    p = MaskPainter(image(), brush=10)
    send(p, "mouse_down", x=10.0, y=10.0)
    send(p, "mouse_out", x=-3.0, y=10.0)
    send(p, "mouse_move", x=200.0, y=200.0)  # button no longer counted as down
    assert p.mask[10, 0] and not p.mask[200, 200] and p.undo_steps == 1


# ---------------------------------------------------------------- history and operations


def test_undo_restores_exactly_and_redo_reapplies_25_steps() -> None:
    p = MaskPainter(image(), brush=16)
    states = [p.mask.copy()]
    rng = np.random.default_rng(1)
    for i in range(25):
        p.tool = "eraser" if i % 4 == 3 else "brush"
        pts = [(float(x), float(y)) for x, y in rng.uniform((0, 0), (512, 384), (3, 2))]
        drag(p, pts)
        states.append(p.mask.copy())
    p.invert()
    states.append(p.mask.copy())
    assert p.undo_steps == 26
    for expected in reversed(states[:-1]):
        p.undo()
        assert np.array_equal(p.mask, expected)
    p.undo()  # nothing left: no-op
    assert not p.mask.any()
    for expected in states[1:]:
        p.redo()
        assert np.array_equal(p.mask, expected)
    drag(p, [(5.0, 5.0)])
    assert p.redo_steps == 0  # a new edit drops the redo branch


def test_undo_history_of_a_4096_mask_stays_small() -> None:
    p = MaskPainter(np.zeros((4096, 4096, 3), np.uint8), brush=120)
    for i in range(13):
        p.tool = "brush" if i % 2 == 0 else "eraser"  # after an invert the mask is mostly paint
        drag(p, [(20.0 + 50 * i, 30.0), (20.0 + 50 * i, 700.0)])  # 3600 image px long
        if i < 12:
            p.invert()
    assert p.undo_steps == 25
    assert sum(len(e.data) for e in p._undo) < 4 * 1024 * 1024  # a full mask copy is 16 MiB
    before = p.mask.copy()
    p.undo()
    p.undo()
    p.redo()
    p.redo()
    assert np.array_equal(p.mask, before)


def test_invert_and_clear() -> None:
    p = MaskPainter(image(), brush=20)
    drag(p, [(100.0, 100.0), (200.0, 100.0)])
    before = p.mask.copy()
    p.invert()
    assert np.array_equal(p.mask, ~before)
    p.clear()
    assert not p.mask.any()
    p.undo()
    assert np.array_equal(p.mask, ~before)


def test_fill_from_alpha_and_rgba() -> None:
    rgba = image(alpha=True)
    rgba[..., 3] = 255
    rgba[100:200, 50:150, 3] = 0
    rgba[300, 300, 3] = 128
    p = MaskPainter(rgba)
    p.fill_from_alpha()
    assert np.array_equal(p.mask, rgba[..., 3] < 255)
    out = p.rgba()
    assert out.shape == (384, 512, 4) and out.dtype == np.uint8
    assert np.array_equal(out[..., 3], np.where(p.mask, 0, 255))
    assert np.array_equal(out[..., :3], rgba[..., :3])  # colour under the mask is kept


def test_fill_from_alpha_without_alpha_says_so() -> None:
    p = MaskPainter(image())
    p.fill_from_alpha()
    assert not p.mask.any()
    assert "no alpha channel" in "".join(o["text"] for o in p.output.outputs)


def test_load_mask_file_and_upload(tmp_path) -> None:
    lum = np.full((384, 512), 255, np.uint8)
    lum[10:60, 20:90] = 0  # black = paint
    path = tmp_path / "mask.png"
    Image.fromarray(lum).save(path)
    p = MaskPainter(image())
    p.load_mask(path)
    assert np.array_equal(p.mask, lum == 0)

    p.clear()
    data = path.read_bytes()
    # the state update a browser sends when a file is picked
    p._upload.set_state(
        {"value": [{"name": "mask.png", "type": "image/png", "size": len(data),
                    "content": memoryview(data), "last_modified": 0}]}
    )
    assert np.array_equal(p.mask, lum == 0)
    assert p._upload.value == ()


def test_load_mask_of_wrong_size_is_shown_and_ignored() -> None:
    p = MaskPainter(image())
    buf = io.BytesIO()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(buf, "PNG")
    p.load_mask(buf.getvalue())
    assert not p.mask.any()
    text = "".join(o["text"] for o in p.output.outputs)
    assert "10x10" in text and "512x384" in text
    p.load_mask(b"not an image")
    assert "not an image" in "".join(o["text"] for o in p.output.outputs)


def test_set_mask_and_read_only_view() -> None:
    p = MaskPainter(image())
    m = np.zeros((384, 512), bool)
    m[5:9, 5:9] = True
    p.set_mask(m)
    assert np.array_equal(p.mask, m) and p.mask is not m
    with pytest.raises(ValueError):
        p.mask[0, 0] = True
    p.set_mask(np.zeros((3, 3), bool))  # wrong size: shown, not applied
    assert np.array_equal(p.mask, m) and p.output.outputs
    assert np.array_equal(MaskPainter(image(), mask=m).mask, m)  # a starting mask
    with pytest.raises(MaskError):
        MaskPainter(image(), mask=np.zeros((3, 3), bool))


# ---------------------------------------------------------------- scale and sizes


def test_mapping_at_scale_3000x2000() -> None:
    p = MaskPainter(np.zeros((2000, 3000, 3), np.uint8), brush=3)
    assert (p.canvas.width, p.canvas.height) == (768, 512)
    s = 768 / 3000
    for vx, vy in [(0.0, 0.0), (383.0, 255.0), (767.0, 511.0), (100.0, 400.0)]:
        p.clear()
        drag(p, [(vx, vy)])
        # view pixel v covers image [v/s, (v+1)/s): the brush lands on its centre
        ix, iy = (vx + 0.5) / s - 0.5, (vy + 0.5) / s - 0.5
        ys, xs = np.nonzero(p.mask)
        assert len(xs) >= 1
        assert abs(xs.mean() - ix) <= 0.5 and abs(ys.mean() - iy) <= 0.5
        assert int(vx / s) <= xs.min() and xs.max() < int((vx + 1) / s) + 1


@pytest.mark.parametrize("side", [64, 4096])
def test_image_sizes_64_and_4096(side: int) -> None:
    p = MaskPainter(np.zeros((side, side, 3), np.uint8), brush=8)
    view = p.canvas.width
    assert view == p.canvas.height == (256 if side == 64 else 768)
    centre = (view - 1) / 2  # pixel-index coordinates: the view's centre point
    drag(p, [(centre, centre)])
    ys, xs = np.nonzero(p.mask)
    assert abs(xs.mean() - (side - 1) / 2) <= 0.5 and abs(ys.mean() - (side - 1) / 2) <= 0.5
    assert p.mask.sum() == (distance_to_path(p.mask.shape, [(xs.mean(), ys.mean())]) <= 4).sum()


def test_handler_work_is_proportional_to_brush_area(frontend: FakeFrontend) -> None:
    p = MaskPainter(np.zeros((4096, 4096, 3), np.uint8), brush=24)
    sends: list[int] = []
    manager = p.canvas._canvas_manager
    original_send = manager.send

    def spy(content, buffers=None):
        sends.append(sum(memoryview(b).nbytes for b in buffers or []))
        return original_send(content, buffers=buffers)

    send(p, "mouse_down", x=300.0, y=300.0)
    frontend.puts.clear()
    manager.send = spy
    try:
        send(p, "mouse_move", x=310.0, y=304.0)
        box = p._stroke.last_box
    finally:
        manager.send = original_send
    y0, x0, y1, x1 = box
    s = 768 / 4096
    seg = 10 / s, 4 / s  # the move in image pixels
    assert x1 - x0 <= seg[0] + 2 * R + 2 and y1 - y0 <= seg[1] + 2 * R + 2  # not the image
    assert not frontend.puts  # a stroke echoes as pixel-run rectangles, no image
    assert len(sends) == 1  # batched: one message per mouse move
    assert sends[0] < 2_000
    send(p, "mouse_up", x=310.0, y=304.0)
    assert np.array_equal(shown(p, frontend), p.view.sample(p.mask))


@pytest.mark.parametrize("shape", [(384, 512), (2000, 3000), (64, 64)])
def test_overlay_shows_exactly_the_mask(frontend: FakeFrontend, shape: tuple[int, int]) -> None:
    p = MaskPainter(np.zeros((*shape, 3), np.uint8), brush=max(3, shape[1] // 40))
    drag(p, [(10.0, 10.0), (200.0, 120.0), (60.0, 230.0)])
    p.tool = "eraser"
    drag(p, [(0.0, 100.0), (250.0, 100.0)])
    assert np.array_equal(shown(p, frontend), p.view.sample(p.mask))
    p.invert()
    p.undo()
    p.redo()
    assert np.array_equal(shown(p, frontend), p.view.sample(p.mask))
    noise = np.random.default_rng(2).random(shape) < 0.5  # too many runs: sent as one RGBA image
    p.set_mask(noise)
    assert frontend.puts[-1] == (id(p.canvas[1]), (p.view.view_height, p.view.view_width, 4))
    assert np.array_equal(shown(p, frontend), p.view.sample(p.mask))


def test_put_image_data_is_never_rgb(frontend: FakeFrontend) -> None:
    p = MaskPainter(image(alpha=True), brush=30)
    drag(p, [(10.0, 10.0), (100.0, 100.0)])
    p.opacity = 0.8
    p.invert()
    p.undo()
    p.fill_from_alpha()
    p.set_mask(np.random.default_rng(3).random((384, 512)) < 0.5)
    send(p, "client_ready")
    assert frontend.puts and all(len(shape) == 3 and shape[2] == 4 for _, shape in frontend.puts)


def test_client_ready_redraws_everything(frontend: FakeFrontend) -> None:
    p = MaskPainter(image(), brush=30)
    drag(p, [(10.0, 10.0), (100.0, 100.0)])
    frontend.reload()  # a page reload: every canvas comes back blank
    frontend.puts.clear()
    send(p, "client_ready")
    assert frontend.puts == [(id(p.canvas[0]), (384, 512, 4))]  # the image layer, as RGBA
    assert np.array_equal(shown(p, frontend), p.mask)  # the overlay, from Python state


# ---------------------------------------------------------------- callbacks and errors


def test_on_change_and_observe_fire_per_change() -> None:
    p = MaskPainter(image())
    seen: list[int] = []
    versions: list[int] = []
    p.on_change(lambda m: seen.append(int(m.sum())))
    p.observe(lambda ch: versions.append(ch["new"]), names="mask_version")
    drag(p, [(50.0, 50.0), (60.0, 60.0), (70.0, 50.0)])
    p.invert()
    assert versions == [1, 2] and len(seen) == 2 and seen[1] == p.mask.sum()


def test_callback_errors_show_in_the_widget() -> None:
    p = MaskPainter(image())

    def broken(mask: np.ndarray) -> None:
        raise RuntimeError("boom in user callback")

    def broken_observer(change: dict) -> None:
        raise KeyError("observer failed")

    p.on_change(broken)
    p.observe(broken_observer, names="mask_version")
    drag(p, [(50.0, 50.0), (60.0, 60.0)])
    text = "".join(o["text"] for o in p.output.outputs)
    assert "boom in user callback" in text and "observer failed" in text
    assert p.mask.any()  # painting went on
    for _ in range(30):
        p.invert()
    assert len(p.output.outputs) <= 10  # bounded, even when failing on every change


def test_keyboard_shortcuts() -> None:
    p = MaskPainter(image())
    drag(p, [(50.0, 50.0)])
    send(p, "key_down", key="z", shift_key=False, ctrl_key=True, meta_key=False)
    assert not p.mask.any()
    send(p, "key_down", key="Z", shift_key=True, ctrl_key=True, meta_key=False)
    assert p.mask.any()
    send(p, "key_down", key="e", shift_key=False, ctrl_key=False, meta_key=False)
    assert p.tool == "eraser"


# ---------------------------------------------------------------- shared canvas helpers


def test_view_map_round_trip_and_fit() -> None:
    assert fit_scale(3000, 2000) == 768 / 3000 and fit_scale(512, 384) == 1.0
    assert fit_scale(64, 32, min_side=256) == 4.0
    v = ViewMap.fit(2000, 3000)
    x, y = v.to_image(*v.to_view(1234.0, 567.0))
    assert abs(x - 1234.0) < 1e-9 and abs(y - 567.0) < 1e-9
    m = np.zeros((2000, 3000), bool)
    m[1000:1100, 2000:2300] = True
    full = v.sample(m)
    vb = v.view_box(Box(1000, 2000, 1100, 2300))
    assert np.array_equal(full[vb.slices], v.sample(m, vb))
    assert full.sum() == full[vb.slices].sum()


def test_to_rgba_and_held_flushes_after_errors() -> None:
    assert to_rgba(np.zeros((2, 3, 3), np.uint8)).shape == (2, 3, 4)
    assert to_rgba(np.zeros((2, 3), np.uint8))[..., 3].min() == 255
    canvas = ipycanvas.Canvas(width=10, height=10)
    with pytest.raises(RuntimeError), held(canvas):
        canvas.fill_rect(0, 0, 5, 5)
        raise RuntimeError("drawing failed")
    assert canvas._canvas_manager._caching is False


# ---------------------------------------------------------------- stroke echo


def sent_commands(painter: MaskPainter, action) -> list[tuple[list, list[int]]]:
    """Run ``action()``; each message the canvases sent: (commands as [name, args], buffer sizes)."""
    import json

    from ipycanvas.canvas import COMMANDS

    names = {v: k for k, v in COMMANDS.items()}
    manager = painter.canvas._canvas_manager
    original, messages = manager.send, []

    def spy(content, buffers=None):
        buffers = list(buffers or [])
        cmds = json.loads(bytes(buffers[0]))
        cmds = cmds if cmds and isinstance(cmds[0], list) else [cmds]
        messages.append(([[names[c[0]], c[1]] for c in cmds], [memoryview(b).nbytes for b in buffers[1:]]))
        return original(content, buffers=buffers)

    manager.send = spy
    try:
        action()
    finally:
        manager.send = original
    return messages


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-30, 100), st.floats(-30, 80)), min_size=1, max_size=6),
    st.floats(0, 20),
)
def test_polyline_cover_is_a_superset_of_the_stroke(points: list, radius: float) -> None:
    shape = (50, 70)
    near = distance_to_path(shape, points) <= radius
    cover = polyline_cover(shape, points, radius)
    if cover is None:
        assert not near.any()
        return
    box, crop = cover
    full = np.zeros(shape, bool)
    full[box.slices] = crop
    assert crop.shape == (box.height, box.width) and crop.dtype == bool
    assert full[near].all()  # every pixel within the radius is covered
    assert not full[distance_to_path(shape, points) > radius + 4].any()  # and not much more


def test_polyline_cover_of_a_huge_radius_is_the_whole_box() -> None:
    box, crop = polyline_cover((48, 64), [(-500.0, -500.0), (-500.0, -500.0)], 5e11)
    assert box == Box(0, 0, 48, 64) and crop.all()


def test_a_stroke_move_is_one_small_vector_message_on_the_overlay_only() -> None:
    p = MaskPainter(image(), brush=24)
    send(p, "mouse_down", x=100.0, y=100.0)
    send(p, "mouse_move", x=110.0, y=100.0)  # the layer is current from here on
    moves = sent_commands(p, lambda: [send(p, "mouse_move", x=110.0 + 8 * i, y=104.0) for i in range(1, 6)])
    assert len(moves) == 5  # one message per move
    for cmds, buffers in moves:
        assert not buffers  # no pixel data: a few numbers and attributes
        assert {name for name, _ in cmds} == {"set", "strokeLine"}  # no switchCanvas: one layer
        assert len(str(cmds)) < 400
    lines = [args for name, args in moves[0][0] if name == "strokeLine"]
    assert lines == [[110.5, 100.5, 118.5, 104.5]] * 2  # erase the capsule, fill it: pixel centres +0.5
    send(p, "mouse_up", x=150.0, y=104.0)
    d = distance_to_path(p.mask.shape, [(100.0, 100.0), (110.0, 100.0)] + [(110.0 + 8 * i, 104.0) for i in range(1, 6)]
                         + [(150.0, 104.0)])
    assert np.array_equal(p.mask, d <= R)  # the mask is exact whatever the echo drew


def test_a_stroke_sends_no_widget_state_and_hides_the_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipywidgets

    p = MaskPainter(image(), brush=24)
    states: list[object] = []
    original = ipywidgets.Widget.send_state
    monkeypatch.setattr(ipywidgets.Widget, "send_state", lambda self, key=None: (states.append(key), original(self, key)))
    send(p, "mouse_move", x=50.0, y=50.0)  # hovering: the cursor follows
    send(p, "mouse_down", x=50.0, y=50.0)
    cursor = id(p.canvas[2])
    during = sent_commands(p, lambda: [send(p, "mouse_move", x=50.0 + 9 * i, y=60.0) for i in range(1, 20)])
    assert not states  # no trait is synced per move (mask_version etc. change at the end)
    assert all(name != "strokeCircle" for cmds, _ in during for name, _ in cmds)
    ended = sent_commands(p, lambda: send(p, "mouse_up", x=230.0, y=60.0))
    names = [name for cmds, _ in ended for name, _ in cmds]
    assert "strokeCircle" in names and names.count("switchCanvas") >= 1  # the cursor is back
    assert states and p.mask_version == 1
    assert cursor == id(p.canvas[2])


def test_eraser_echo_only_erases(frontend: FakeFrontend) -> None:
    p = MaskPainter(image(), brush=30)
    drag(p, [(20.0, 100.0), (400.0, 100.0)])
    p.tool = "eraser"
    send(p, "mouse_down", x=200.0, y=60.0)
    moves = sent_commands(p, lambda: send(p, "mouse_move", x=200.0, y=140.0))
    sets = [args[1] for cmds, _ in moves for name, args in cmds if name == "set"]
    assert "destination-out" in sets and sets[-1] == "source-over"  # left as found
    assert len([1 for cmds, _ in moves for name, _ in cmds if name == "strokeLine"]) == 1
    send(p, "mouse_up", x=200.0, y=140.0)
    assert np.array_equal(shown(p, frontend), p.view.sample(p.mask))


@pytest.mark.parametrize("shape", [(384, 512), (2000, 3000), (64, 64)])
def test_stroke_end_repaints_around_the_stroke_only(frontend: FakeFrontend, shape: tuple[int, int]) -> None:
    p = MaskPainter(np.zeros((*shape, 3), np.uint8), brush=max(3, shape[1] // 40))
    noise = np.random.default_rng(4).random(shape) < 0.5
    noise[:, shape[1] // 3 :] = False  # fine detail on the left third only
    p.set_mask(noise)
    frontend.puts.clear()
    view = p.canvas.width
    path = [(0.6 * view, 0.1 * view), (0.9 * view, 0.3 * view), (0.7 * view, 0.6 * view)]
    ended = sent_commands(p, lambda: drag(p, path))
    assert not frontend.puts  # pixel runs, no image: the detail elsewhere is not resent
    assert sum(sum(b) for _, b in ended) < 20_000
    assert np.array_equal(shown(p, frontend), p.view.sample(p.mask))


def test_overlay_is_exact_after_reload_mid_stroke_and_opacity_change(frontend: FakeFrontend) -> None:
    p = MaskPainter(image(), brush=20)
    send(p, "mouse_down", x=30.0, y=30.0)
    send(p, "mouse_move", x=130.0, y=80.0)
    frontend.reload()
    send(p, "client_ready")
    send(p, "mouse_move", x=230.0, y=60.0)
    p.opacity = 0.7
    send(p, "mouse_move", x=300.0, y=200.0)
    send(p, "mouse_up", x=300.0, y=200.0)
    assert np.array_equal(shown(p, frontend), p.mask)
    assert p.undo_steps == 1

