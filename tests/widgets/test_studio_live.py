"""Studio live mode: a few-step preview after every change, the newest wins, never a stale one."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from live_studio import live_studio

import paint_widgets as pw

WAIT = 120


def send(painter, event: str, **content: object) -> None:
    """A frontend message, as ipycanvas delivers it (MultiCanvas: the last layer)."""
    painter.canvas[-1]._handle_frontend_event(None, {"event": event, **content}, [])


def stroke(painter, y: float, x0: float, x1: float) -> None:
    """One finished brush stroke along a row of the view."""
    send(painter, "mouse_down", x=x0, y=y)
    send(painter, "mouse_move", x=(x0 + x1) / 2, y=y)
    send(painter, "mouse_up", x=x1, y=y)


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def studio(mgr, tiny_models, photo, box_mask, tmp_path):
    s = live_studio(mgr, tiny_models, photo, box_mask, tmp_path / "out")
    yield s
    s.close()


def shown_checker(studio, log: list):
    """Wrap the display: every preview shown must be of the current mask, prompt and seed."""
    show = studio._show_live

    def checked(item, result):
        request = item[0].request
        log.append((np.array_equal(request.mask, studio.painter.mask)
                    and request.params.prompt == studio.prompt.value
                    and result.seeds[0] == studio.seed.value, result))
        show(item, result)

    studio._live.on_result = checked


def test_live_shows_a_preview_after_each_stroke_and_keeps_the_seed(studio, box_mask):
    assert studio.live_result is None
    studio.live = True
    assert studio.live_switch.value is True
    assert studio.live_wait(WAIT)
    first = studio.live_result
    assert isinstance(first, pw.Result) and first.seeds == [42]
    assert np.array_equal(first.request.request.mask, box_mask)  # the request it was made from
    assert studio.live_view.value and studio.live_latency is not None
    stroke(studio.painter, 20.0, 20.0, 120.0)  # a finished stroke in the view
    assert studio.live_wait(WAIT)
    second = studio.live_result
    assert second is not first and second.seeds == [42]  # the seed is kept while painting
    assert np.array_equal(second.request.request.mask, studio.painter.mask) and studio.painter.mask.sum() > box_mask.sum()
    assert studio.history == []  # previews are not runs: no history lines, no gallery cards
    assert studio.gallery.children == ()


def test_prompt_parameter_and_threshold_changes_ask_for_a_preview(studio):
    studio.live = True
    assert studio.live_wait(WAIT)
    started = studio._live.started
    studio.prompt.value = "a blue barn"
    assert studio.live_wait(WAIT)
    assert studio.live_result.request.request.params.prompt == "a blue barn"
    studio.strength.value = 0.9
    assert studio.live_wait(WAIT)
    assert studio.live_result.request.request.params.strength == 0.9
    studio.prompt.value = "a blue barn"  # no change: nothing redone
    studio.tuner.threshold = 0.3  # the Text mask tab is not active, but the tuner is watched
    assert studio.live_wait(WAIT)
    assert studio._live.started == started + 2


def test_newest_wins_cancels_the_running_one_and_no_stale_preview_is_shown(studio, box_mask):
    log: list = []
    shown_checker(studio, log)
    studio.live_size = None  # native 512: slow enough to be superseded on this CPU
    studio.live_steps = 8
    studio.strength.value = 1.0
    steps: list[tuple[int, int]] = []
    from paint_widgets.engine.preview import run_preview

    def work(item, token):
        request = item[0]
        return run_preview(request, mgr=studio.mgr, cancel=token,
                           progress=lambda step: steps.append((id(request), step.step)))

    studio._live.work = work
    studio.live = True
    deadline = time.monotonic() + WAIT
    while not steps and time.monotonic() < deadline:  # the first preview is under way
        time.sleep(0.01)
    masks = []
    for i in range(5):  # five changes while it runs: it is cancelled, four are dropped unseen
        mask = box_mask.copy()
        mask[10:20, 10 + 10 * i:20 + 10 * i] = True
        masks.append(mask)
        studio.painter.set_mask(mask)
    assert studio.live_wait(WAIT)
    assert studio._live.started == 2 and studio._live.shown == 1  # the first and the newest
    assert all(ok for ok, _ in log) and len(log) == 1
    assert np.array_equal(studio.live_result.request.request.mask, masks[-1])
    first = steps[0][0]
    assert max(s for r, s in steps if r == first) < 8  # cancelled at its next step, not finished


def test_live_off_stops_previews_and_generate_gives_the_pixels_of_a_studio_without_live(studio, photo, box_mask):
    studio.live = True
    assert studio.live_wait(WAIT)
    loads = studio.mgr.loads
    studio.generate()  # live: the seed the previews showed (42), not a new random one
    live_made = studio.wait(WAIT)
    assert live_made is not None and live_made.seeds == [42] == studio.live_result.seeds
    studio.live = False
    shown = studio.live_result
    studio.prompt.value = "something else"
    studio.prompt.value = "a red barn"
    assert studio.live_wait(WAIT) and studio.live_result is shown  # off: nothing new asked
    plain = pw.inpaint(photo, box_mask, "a red barn", steps=3, seed=42)
    assert np.array_equal(np.asarray(live_made.image), np.asarray(plain.image))
    assert " -s 3 " in live_made.commands[0] and " -A k_lms " in live_made.commands[0]  # the user's sampler, steps
    assert studio.mgr.loads == loads == 1  # nothing unloaded or reloaded
    assert type(studio.mgr.pipeline().scheduler).__name__ == "LMSDiscreteScheduler"


def test_many_live_updates_keep_memory_bounded_and_never_reload(studio, box_mask):
    studio.live = True
    assert studio.live_wait(WAIT)
    mask = box_mask.copy()
    for i in range(10):  # warm-up: allocator pools, first encodes
        mask[60 + i % 30, 10:20] = not mask[60 + i % 30, 10]
        studio.painter.set_mask(mask)
        assert studio.live_wait(WAIT)
    before = rss_bytes()
    for i in range(50):  # each update shown
        mask[60 + i % 30, 20 + i % 60] = True
        studio.painter.set_mask(mask)
        assert studio.live_wait(WAIT)
    for i in range(150):  # a burst: each supersedes the last
        mask[70 + i % 20, 20 + i % 100] = not mask[70 + i % 20, 20 + i % 100]
        studio.painter.set_mask(mask)
    assert studio.live_wait(WAIT)
    grown = rss_bytes() - before
    assert studio.mgr.loads == 1
    assert grown < 150 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB over 200 live updates"
    assert np.array_equal(studio.live_result.request.request.mask, studio.painter.mask)  # the newest shown
    assert studio._live._waiting is None and not studio._live.busy


def test_nothing_to_preview_is_said_and_close_stops_the_worker(studio):
    studio.painter.set_mask(np.zeros_like(studio.painter.mask))
    studio.live = True
    assert studio.live_wait(WAIT) and studio.live_result is None
    assert "Paint an area" in studio.live_status.value
    studio.engine.value = "infill"
    assert "diffusion engine" in studio.live_status.value
    studio.engine.value = "diffusion"
    studio.painter.set_mask(np.ones_like(studio.painter.mask))
    studio.close()
    assert studio._live.wait(WAIT)


def test_the_preview_shows_in_place_on_the_paint_canvas(studio, photo, box_mask):
    """Live draws the latest preview on the Paint canvas's image layer (the mask overlay
    stays on top); "On canvas" off, Live off or another tab show the image again. The
    image, the mask and the undo history are never touched."""
    painter = studio.painter
    sent: list[int] = []
    real = painter._draw_image
    painter._draw_image = lambda: (sent.append(1), real())[1]
    steps = painter.undo_steps
    studio.live = True
    assert studio.live_wait(WAIT)
    shown = np.asarray(studio.live_result.images[0])
    np.testing.assert_array_equal(painter.shown_image, shown)
    assert not np.array_equal(shown[box_mask], photo[box_mask]), "the preview changed the masked area"
    np.testing.assert_array_equal(painter.image, photo)
    np.testing.assert_array_equal(painter.mask, box_mask)
    assert painter.undo_steps == steps and sent, "drawn on the canvas, not only stored"
    studio.live_on_canvas.value = False
    np.testing.assert_array_equal(painter.shown_image, photo)
    studio.live_on_canvas.value = True
    np.testing.assert_array_equal(painter.shown_image, shown)
    stroke(painter, 20.0, 20.0, 120.0)
    assert studio.live_wait(WAIT)
    np.testing.assert_array_equal(painter.shown_image, np.asarray(studio.live_result.images[0]))
    studio.live = False
    np.testing.assert_array_equal(painter.shown_image, photo)
    assert studio.live_on_canvas.layout.display == "none"


def test_show_image_checks_the_picture(photo):
    painter = pw.MaskPainter(photo)
    with pytest.raises(pw.InvalidInputError, match="show_image takes a uint8 picture"):
        painter.show_image(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(pw.InvalidInputError, match="uint8"):
        painter.show_image(photo.astype(np.float32))
    painter.show_image(photo[..., ::-1])
    np.testing.assert_array_equal(painter.shown_image, photo[..., ::-1])
    painter.redraw()  # a page reload draws the picture shown, not the image
    painter.show_image(None)
    np.testing.assert_array_equal(painter.shown_image, photo)
    painter.close()
