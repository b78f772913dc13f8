"""Studio live mode follows every kind of change, and Generate takes over from a preview (issue #17).

A preview follows: a click-to-segment region added to the mask, a text-mask
threshold change (Text mask tab), a prompt edit and parameter changes; each shown
preview's request is the Studio's state at that moment. Generate while Live is on
runs the full-quality pass (the user's sampler and steps, the previews' seed, a
history line that replays it) and cancels a preview in flight instead of waiting
behind it. Tiny random-weight models; frontend events delivered as ipycanvas does.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import numpy as np
import pytest
from live_studio import live_studio

from paint_widgets.commands.runner import Runner

WAIT = 180


def send(painter: Any, event: str, **content: object) -> None:
    """A frontend message, as ipycanvas delivers it (MultiCanvas: the last layer)."""
    painter.canvas[-1]._handle_frontend_event(None, {"event": event, **content}, [])


def click(painter: Any, x: float, y: float) -> None:
    send(painter, "mouse_down", x=x, y=y)
    send(painter, "mouse_up", x=x, y=y)


@pytest.fixture
def studio(mgr, tiny_models, photo, box_mask, tmp_path, monkeypatch):
    if "sam" not in tiny_models:
        pytest.skip("this transformers has no SamModel")
    monkeypatch.setenv("PAINT_WIDGETS_SEGMENT_MODEL", str(tiny_models["sam"]))
    s = live_studio(mgr, tiny_models, photo, box_mask, tmp_path / "out")
    yield s
    s.close()


def preview_is_current(studio: Any, mask: np.ndarray) -> bool:
    """The newest preview shown was made from ``mask`` and the Studio's prompt, parameters and seed."""
    result = studio.live_result
    if result is None:
        return False
    request = result.request.request
    return (np.array_equal(np.asarray(request.mask, bool), mask)
            and request.params.with_(model=None) == studio.params().with_(model=None)
            and result.seeds == [studio.seed.value])


def test_a_segment_region_added_to_the_mask_gets_a_preview(studio):
    studio.live = True
    assert studio.live_wait(WAIT)
    before = studio.live_result
    painter = studio.painter
    painter.tool = "segment"
    click(painter, 20, 70)  # a point on the canvas: SAM proposes, the mask is unchanged
    assert painter.proposal is not None and painter.proposal.any()
    assert studio.live_wait(WAIT) and studio.live_result is before  # a proposal alone is not the mask
    proposal = painter.proposal
    painter.add_proposal()  # the Add button's action
    assert painter.mask[proposal].all()
    assert studio.live_wait(WAIT)
    assert studio.live_result is not before
    assert preview_is_current(studio, painter.mask)
    painter.undo()  # and the undo of it too
    assert studio.live_wait(WAIT)
    assert preview_is_current(studio, painter.mask) and not painter.mask[proposal & ~before.request.request.mask].any()


def test_a_text_mask_threshold_change_gets_a_preview_of_the_new_mask(studio):
    tuner = studio.tuner
    tuner.run("barn")  # the tiny CLIPSeg: an arbitrary, deterministic heatmap
    heat = tuner.text_mask.heatmap
    tuner.threshold = float(np.quantile(heat, 0.8))  # about a fifth of the image
    studio.tabs.selected_index = 1
    studio.live = True
    assert studio.live_wait(WAIT)
    first = studio.live_result
    assert preview_is_current(studio, tuner.mask) and first.request.request.mask.any()
    tuner.threshold = float(np.quantile(heat, 0.5))  # a bigger mask, no model run
    assert studio.live_wait(WAIT)
    assert studio.live_result is not first
    assert preview_is_current(studio, tuner.mask)
    assert studio.live_result.request.request.mask.sum() > first.request.request.mask.sum()


@pytest.mark.parametrize(("name", "value"), [
    ("prompt", "a blue door"),
    ("negative_prompt", "blurry"),
    ("strength", 0.9),
    ("seed", 7),
    ("inpaint_replace", 0.5),
])
def test_a_prompt_or_parameter_edit_gets_a_preview_with_it(studio, name, value):
    studio.live = True
    assert studio.live_wait(WAIT)
    first = studio.live_result
    studio.param_controls[name].value = value
    assert studio.live_wait(WAIT)
    assert studio.live_result is not first
    assert getattr(studio.live_result.request.request.params, name) == value
    assert preview_is_current(studio, studio.painter.mask)


def test_generate_while_live_cancels_the_preview_in_flight_and_runs_the_full_pass(studio, tmp_path):
    from paint_widgets.engine.preview import run_preview

    studio.sampler.value = "k_euler"
    studio.steps.value = 4
    studio.live_size = None  # native 512 and 8 steps: a preview slow enough to be caught running
    studio.live_steps = 8
    studio.strength.value = 1.0
    events: list[tuple[str, int]] = []
    lock = threading.Lock()

    def log(kind: str, step: int) -> None:
        with lock:
            events.append((kind, step))

    def work(item: Any, token: Any) -> Any:
        return run_preview(item[0], mgr=studio.mgr, cancel=token, progress=lambda s: log("preview", s.step))

    studio._live.work = work
    studio.progress.observe(lambda c: log("generate", c["new"]), names="value")
    studio.live = True
    deadline = time.monotonic() + WAIT
    while not any(k == "preview" for k, _ in events) and time.monotonic() < deadline:
        time.sleep(0.01)  # the preview has made its first step
    shown, superseded = studio._live.shown, studio._live.superseded
    assert studio.generate()
    result = studio.wait(WAIT)
    assert studio.live_wait(WAIT)
    assert result is not None
    preview_steps = [s for k, s in events if k == "preview"]
    assert max(preview_steps) < 8  # cancelled at a step: it never finished
    assert studio._live.superseded == superseded + 1 and studio._live.shown == shown  # and was never shown
    first_generate = next(i for i, (k, s) in enumerate(events) if k == "generate" and s > 0)
    assert all(k == "generate" for k, _ in events[first_generate:])  # no preview step after the full pass began

    # the full-quality pass: the user's sampler and steps, the seed the previews use, replayable
    command = result.commands[0]
    assert result.seeds == [42] and " -S 42 " in command and " -A k_euler " in command and " -s 4 " in command
    assert studio.history == [command]
    assert np.array_equal(np.asarray(result.request.mask, bool), studio.painter.mask)
    replay = Runner(mgr=studio.mgr, outdir=tmp_path / "replay", stdout=io.StringIO(),
                    stderr=io.StringIO()).run(command)
    assert replay is not None and np.array_equal(np.asarray(replay.image), np.asarray(result.image))


def test_after_generate_the_next_change_previews_again(studio):
    studio.live = True
    assert studio.live_wait(WAIT)
    assert studio.generate()
    assert studio.wait(WAIT) is not None
    before = studio.live_result
    studio.prompt.value = "a green roof"
    assert studio.live_wait(WAIT)
    assert studio.live_result is not before and preview_is_current(studio, studio.painter.mask)


def test_previews_run_on_one_torch_thread_at_a_lower_priority_and_other_threads_keep_theirs(studio, monkeypatch):
    """The preview leaves the other cores, and the CPU when it is short, to the kernel and the browser."""
    import os
    import sys

    import torch

    from paint_widgets.engine import preview

    def threads_of_a_new_thread() -> int:
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        return seen[0]

    default = threads_of_a_new_thread()
    inside: list[int] = []
    nice: list[int] = []
    real = preview.denoise_masked  # runs in the preview's thread, after run_preview set it up

    def recording(*args: Any, **kwargs: Any) -> Any:
        inside.append(torch.get_num_threads())
        if sys.platform.startswith("linux"):
            nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(*args, **kwargs)

    monkeypatch.setattr(preview, "denoise_masked", recording)
    studio.live = True
    assert studio.live_wait(WAIT) and studio.live_result is not None
    assert inside == [1]  # studio.live_threads
    if sys.platform.startswith("linux"):  # studio.live_nice: the preview thread's niceness, not this one's
        here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert nice == [min(19, here + studio.live_nice)]
    assert threads_of_a_new_thread() == default  # a Generate worker started now gets torch's default
    assert torch.get_num_threads() == default
