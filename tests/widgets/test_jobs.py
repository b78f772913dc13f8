"""One job runner for every widget: a Cancel belongs to its run, wait() to the run it waited for.

Each moment a user can press Cancel is covered (waiting for the manager, model load,
infill, main pass, between passes, seam pass), and that it never stops another
widget's run; that a run keeps the model it started with; that work waiting for the
manager says so and leaves the kernel free.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.engine import generation, loading
from paint_widgets.widgets._jobs import JobRunner

SLOW = 60  # seconds any wait in these tests may take at most


@pytest.fixture
def studio(mgr, photo, box_mask, tmp_path):
    s = pw.Studio(photo, outdir=tmp_path / "out")
    s.painter.set_mask(box_mask)
    s.prompt.value = "a red barn"
    s.steps.value = 4
    s.strength.value = 1.0
    return s


def wrap_steps(display, on_step):
    """Call ``on_step(step)`` after the widget's own progress display handles each step."""
    original = display.step

    def step(s):
        original(s)
        on_step(s)

    display.step = step


def until(predicate, timeout: float = SLOW) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --------------------------------------------------------------------------- the runner itself


def test_two_threads_starting_at_once_get_exactly_one_job():
    runner = JobRunner("test")
    release = threading.Event()
    for _ in range(40):
        barrier = threading.Barrier(2)
        accepted: list[bool] = []

        def start(barrier=barrier, accepted=accepted) -> None:
            barrier.wait()
            accepted.append(runner.start(lambda token: release.wait(SLOW)) is not None)

        threads = [threading.Thread(target=start) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(accepted) == [False, True]
        release.set()
        assert runner.wait(SLOW) is True
        release.clear()


def test_wait_returns_the_result_of_its_own_run_none_on_failure_and_on_timeout():
    runner = JobRunner("test")
    assert runner.wait() is None  # nothing ran yet
    runner.start(lambda token: "first")
    assert runner.wait(SLOW) == "first"
    gate = threading.Event()

    def fails(token):
        gate.wait(SLOW)
        raise ValueError("boom")

    runner.start(fails)
    assert runner.wait(timeout=0.05) is None  # still running
    gate.set()
    assert runner.wait(SLOW) is None  # failed: not the previous run's "first"
    assert isinstance(runner.job.error, ValueError)


# --------------------------------------------------------------------------- the Studio


def test_two_threads_pressing_generate_at_once_start_one_run(studio):
    studio.engine.value = "infill"  # the same runner; no model, so each trial is quick
    for _ in range(10):
        barrier = threading.Barrier(2)
        accepted: list[bool] = []

        def press(barrier=barrier, accepted=accepted) -> None:
            barrier.wait()
            accepted.append(studio.generate())

        threads = [threading.Thread(target=press) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(accepted) == [False, True]
        assert studio.wait(SLOW) is not None
    assert len(studio.results) == 10


def test_cancel_while_waiting_for_the_manager_shows_waiting_and_runs_nothing(studio, mgr):
    steps: list[int] = []
    wrap_steps(studio._display, lambda s: steps.append(s.step))
    with mgr.session():  # another run holds the manager
        assert studio.generate()
        until(lambda: "Waiting for another run" in studio.status.value)
        studio.cancel()
        assert studio.wait(SLOW) is None
    assert steps == [] and studio.results == []
    assert "Cancelled" in studio.status.value and not studio.running
    assert studio.generate_button.disabled is False


def test_cancel_during_the_model_load_holds(studio, mgr, monkeypatch):
    real = loading.load_inpaint_pipeline

    def slow_load(*args, **kwargs):
        studio.cancel()  # pressed while the weights load
        return real(*args, **kwargs)

    monkeypatch.setattr(loading, "load_inpaint_pipeline", slow_load)
    steps: list[int] = []
    wrap_steps(studio._display, lambda s: steps.append(s.step))
    assert studio.generate()
    assert studio.wait(SLOW) is None
    assert steps == [] and studio.results == []
    assert mgr.status()["loads"] == 1  # the model stays loaded for the next run
    assert studio.generate() and studio.wait(SLOW) is not None


def test_cancel_in_the_main_pass_stops_within_a_step(studio):
    steps: list[int] = []

    def on_step(s):
        steps.append(s.step)
        if s.step == 2:
            studio.cancel()

    wrap_steps(studio._display, on_step)
    assert studio.generate()
    assert studio.wait(SLOW) is None
    assert steps == [1, 2] and studio.results == []


def test_a_cancel_in_one_studio_never_stops_another_studios_run(mgr, photo, box_mask, tmp_path):
    first, second = (pw.Studio(photo, outdir=tmp_path / name) for name in ("a", "b"))
    for s in (first, second):
        s.painter.set_mask(box_mask)
        s.steps.value = 8
        s.strength.value = 1.0
    started = threading.Event()
    wrap_steps(first._display, lambda s: started.set())
    assert first.generate()
    assert started.wait(SLOW)
    assert second.generate()  # waits for the manager
    until(lambda: "Waiting" in second.status.value)
    second.cancel()
    assert second.wait(SLOW) is None
    assert isinstance(first.wait(SLOW), pw.Result)  # the first run was not touched


def test_a_run_keeps_its_model_and_metadata_names_it(studio, mgr, tiny_models):
    inpaint9, plain = str(tiny_models["sd-inpaint"]), str(tiny_models["sd"])
    studio.iterations.value = 3
    switched = threading.Event()

    def on_step(s):
        if not switched.is_set():
            mgr.configure(model=plain)  # from "another cell" during image 1 of 3
            switched.set()

    wrap_steps(studio._display, on_step)
    assert studio.generate()
    result = studio.wait(SLOW)
    assert switched.is_set() and result is not None
    assert [m["params"]["model"] for m in result.metadata] == [inpaint9] * 3
    assert plain not in mgr.status()["resident"]  # no image was made with the new model
    studio.iterations.value = 1
    assert studio.generate()
    assert studio.wait(SLOW).metadata[0]["params"]["model"] == plain  # the next run takes it


def test_the_python_api_run_keeps_its_model_too(mgr, photo, box_mask, tiny_models):
    plain = str(tiny_models["sd"])
    seen: list[int] = []

    def progress(step):
        seen.append(step.step)
        if len(seen) == 1:
            threading.Thread(target=mgr.configure, kwargs={"model": plain}).start()

    result = pw.inpaint(photo, box_mask, "x", steps=2, seed=1, iterations=3, progress=progress)
    assert {m["params"]["model"] for m in result.metadata} == {str(tiny_models["sd-inpaint"])}
    assert mgr.default_model() == plain


# --------------------------------------------------------------------------- OutpaintMargins

FAST = {"steps": 2, "seam_steps": 2, "seed": 5}


def picture(h: int = 128, w: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 2 % 256, yy * 2 % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)


def test_outcrop_cancel_during_infill_holds(mgr, monkeypatch):
    w = pw.OutpaintMargins(picture(), right=64, manager=mgr, **FAST)
    real = generation.infill

    def infill_then_cancel(*args, **kwargs):
        w.cancel()  # pressed while PatchMatch fills the new margin
        return real(*args, **kwargs)

    monkeypatch.setattr(generation, "infill", infill_then_cancel)
    steps: list[int] = []
    wrap_steps(w._display, lambda s: steps.append(s.step))
    w.start(prompt="a wall")
    assert w.wait(SLOW) is None
    assert steps == [] and w.result is None
    assert isinstance(w.error, pw.CancelledError) and w.status_label.value == "cancelled"


@pytest.mark.parametrize("moment", ["between passes", "in the seam pass"])
def test_outcrop_cancel_between_and_in_the_seam_pass(mgr, moment):
    w = pw.OutpaintMargins(picture(), right=64, manager=mgr, steps=4, strength=1.0, seam_steps=4,
                           seam_strength=1.0, seed=5)
    totals: list[tuple[int, int]] = []

    def on_step(s):
        totals.append((s.step, s.total))
        main_done = moment == "between passes" and len(totals) == 4
        seam_started = moment == "in the seam pass" and len(totals) == 5
        if main_done or seam_started:
            w.cancel()

    wrap_steps(w._display, on_step)
    w.start(prompt="a wall")
    assert w.wait(SLOW) is None and isinstance(w.error, pw.CancelledError)
    expected = 4 if moment == "between passes" else 5  # the seam pass never ran / stopped after 1 step
    assert len(totals) == expected


def test_outcrop_wait_after_a_failed_run_is_none_not_the_previous_result(mgr, monkeypatch):
    w = pw.OutpaintMargins(picture(), right=64, manager=mgr, **FAST)
    w.start(prompt="a wall")
    first = w.wait(SLOW)
    assert isinstance(first, pw.Result)

    def broken(*args, **kwargs):
        raise RuntimeError("the GPU fell off")

    monkeypatch.setattr(generation, "infill", broken)
    w.start(prompt="a wall")
    assert w.wait(SLOW) is None
    assert w.result is first and "GPU fell off" in str(w.error)


# --------------------------------------------------------------------------- TextMaskTuner


def test_a_prompt_typed_while_the_studio_generates_leaves_the_kernel_free(studio, tmgr, mgr, photo):
    tuner = pw.TextMaskTuner(photo, manager=mgr)
    studio.steps.value = 20
    started = threading.Event()
    wrap_steps(studio._display, lambda s: started.set())
    assert studio.generate()
    assert started.wait(SLOW)
    t0 = time.monotonic()
    tuner._text.set_state({"value": "hair"})  # Enter in the text box
    assert time.monotonic() - t0 < 1.0 and studio.running  # returned while the Studio still runs
    until(lambda: "waiting" in tuner._label.value or not studio.running)
    assert studio.wait(SLOW) is not None
    tm = tuner.wait()
    assert tm is not None and tm.prompt == "hair" and tuner.text_mask is tm


def test_cancelling_a_waiting_text_mask_does_not_touch_the_studio(studio, mgr, photo):
    tuner = pw.TextMaskTuner(photo, manager=mgr)
    studio.steps.value = 12
    started = threading.Event()
    wrap_steps(studio._display, lambda s: started.set())
    assert studio.generate()
    assert started.wait(SLOW)
    tuner.start("hair")
    until(lambda: "waiting" in tuner._label.value)
    tuner.cancel()
    assert tuner.wait() is None and tuner.text_mask is None
    assert isinstance(studio.wait(SLOW), pw.Result)
