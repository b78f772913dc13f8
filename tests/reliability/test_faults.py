"""Faults: out of memory, cancel, errors in worker threads, failed model switches, failed saves.

Each fault is injected where it happens in real life (inside the UNet's forward,
the VAE decode, a model load, the PNG encoder, the hard link) and each test
checks the clear message and then that the next call works as if nothing had
happened: same pixels for the same seed, no reload, no partial file.
"""

from __future__ import annotations

import errno
import gc
import os
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from reliability_helpers import H, W, box_mask, files_under, mask_file, photo, quiet_runner

import paint_widgets as pw
from paint_widgets.engine.denoise import Step
from paint_widgets.io import save_png_atomic

FAST = {"steps": 4, "strength": 1.0, "seed": 11}


@pytest.fixture(scope="module")
def reference(warm):
    """The picture a clean run makes with FAST: every recovered run must make it again."""
    return np.asarray(pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST).image)


def clean_run_matches(mgr, reference: np.ndarray) -> None:
    loads = mgr.loads
    out = np.asarray(pw.inpaint(photo(), box_mask(), "x", mgr=mgr, **FAST).image)
    assert np.array_equal(out, reference), "the run after the fault differs from a clean run"
    assert mgr.loads == loads


def lock_is_free(mgr) -> bool:
    free = mgr.lock.acquire(blocking=False)
    if free:
        mgr.lock.release()
    return free


# =========================================================================== out of memory

OOM_ERRORS = {
    "torch.OutOfMemoryError": lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "RuntimeError (older CUDA)": lambda: RuntimeError("CUDA error: out of memory"),
    "RuntimeError (CPU allocator)": lambda: RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB"),
    "MemoryError": lambda: MemoryError(),
}


def explode_on_call(module, n: int, error, holder: list) -> None:
    """Make ``module.forward`` raise ``error()`` on its ``n``-th call, holding a 200 MB tensor."""
    real = module.forward
    calls = {"n": 0}

    def forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            ballast = torch.ones(50_000_000)  # what a real run holds when it runs out
            holder.append(weakref.ref(ballast))
            raise error()
        return real(*args, **kwargs)

    module.forward = forward


@pytest.mark.parametrize("kind", OOM_ERRORS)
def test_out_of_memory_in_the_unet_is_clear_releases_memory_and_the_next_call_works(
        warm, reference, monkeypatch, kind):
    pipe = warm.pipeline()
    held: list[weakref.ref] = []
    released: list[str] = []
    monkeypatch.setattr("paint_widgets.engine.manager.empty_cache", lambda device: released.append(str(device)))
    monkeypatch.setattr(pipe.unet, "forward", pipe.unet.forward)  # restored after the test
    explode_on_call(pipe.unet, 2, OOM_ERRORS[kind], held)  # step 2 of 4: mid-run
    loads, generations = warm.loads, warm.generations
    with pytest.raises(pw.OutOfMemoryError, match=r"out of memory on cpu during generation; memory was released") as caught:
        pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST)
    assert "\n" not in str(caught.value) and "try a smaller image" in str(caught.value)
    gc.collect()
    assert held and held[0]() is None, "the failed run's tensors are still alive while the error is held"
    assert released == ["cpu"]
    assert lock_is_free(warm)
    assert warm.generations == generations and warm.loads == loads
    monkeypatch.undo()
    clean_run_matches(warm, reference)


def test_out_of_memory_in_the_vae_decode_is_clear_and_the_next_call_works(warm, reference, monkeypatch):
    pipe = warm.pipeline()

    def decode(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

    monkeypatch.setattr(pipe.vae, "decode", decode)
    with pytest.raises(pw.OutOfMemoryError, match="still usable"):
        pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST)
    monkeypatch.undo()
    clean_run_matches(warm, reference)


def test_other_errors_in_the_unet_are_not_disguised_as_out_of_memory(warm, reference, monkeypatch):
    pipe = warm.pipeline()
    monkeypatch.setattr(pipe.unet, "forward", pipe.unet.forward)
    explode_on_call(pipe.unet, 1, lambda: ValueError("shapes do not match"), [])
    with pytest.raises(ValueError, match="shapes do not match"):
        pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST)
    assert lock_is_free(warm)
    monkeypatch.undo()
    clean_run_matches(warm, reference)


def test_out_of_memory_through_the_command_language_is_one_line_and_the_next_command_runs(
        warm, tmp_path, monkeypatch):
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    pipe = warm.pipeline()
    monkeypatch.setattr(pipe.unet, "forward", pipe.unet.forward)
    explode_on_call(pipe.unet, 1, OOM_ERRORS["torch.OutOfMemoryError"], [])
    q = quiet_runner(tmp_path / "out", warm)
    line = f'"x" -I {image} -M {mask} -s 4 -f 1.0 -S 11'
    assert q.runner.run(line) is None
    (message,) = q.error_lines
    assert message.startswith("error: out of memory on cpu") and "Traceback" not in q.err.getvalue()
    assert files_under(tmp_path / "out") == set()
    monkeypatch.undo()
    result = q.runner.run(line)
    assert result is not None and [p.name for p in result.paths] == ["000000.11.png"]


def test_out_of_memory_in_the_studio_is_shown_in_place_and_the_next_run_works(warm, tmp_path, monkeypatch):
    studio = pw.Studio(photo(), outdir=tmp_path / "out", mgr=warm)
    studio.painter.set_mask(box_mask())
    studio.steps.value = 2
    pipe = warm.pipeline()
    monkeypatch.setattr(pipe.unet, "forward", pipe.unet.forward)
    explode_on_call(pipe.unet, 1, OOM_ERRORS["torch.OutOfMemoryError"], [])
    assert studio.generate() is True
    assert studio.wait(timeout=120) is None
    assert "Generation failed: out of memory" in studio.status.value
    assert "Traceback" not in "".join(o.get("text", "") for o in studio.output.outputs)  # ours: one line
    assert studio.generate_button.disabled is False and studio.cancel_button.disabled is True
    monkeypatch.undo()
    assert studio.generate() is True and studio.wait(timeout=120) is not None


# =========================================================================== cancel


def test_cancel_from_another_thread_stops_mid_run_and_the_next_call_works(warm, reference):
    reached_two, cancelled = threading.Event(), threading.Event()
    seen: list[int] = []
    outcome: list[BaseException | object] = []

    def progress(step: Step) -> None:
        seen.append(step.step)
        if step.step == 2:
            reached_two.set()
            cancelled.wait(timeout=30)  # hold step 2 until the other thread has cancelled

    def work() -> None:
        try:
            outcome.append(pw.inpaint(photo(), box_mask(), "x", mgr=warm, steps=40, strength=1.0,
                                      seed=1, progress=progress))
        except BaseException as err:  # noqa: BLE001 - inspected below
            outcome.append(err)

    worker = threading.Thread(target=work)
    worker.start()
    assert reached_two.wait(timeout=60)
    warm.cancel()
    cancelled.set()
    worker.join(timeout=60)
    (err,) = outcome
    assert isinstance(err, pw.CancelledError) and "nothing was changed" in str(err)
    assert seen == [1, 2]  # stopped within one step of the cancel
    assert lock_is_free(warm) and not warm.cancel_requested
    clean_run_matches(warm, reference)


def test_a_cancel_while_idle_does_not_cancel_the_next_run(warm, reference):
    warm.cancel()
    clean_run_matches(warm, reference)


# =========================================================================== worker threads and widgets


def test_an_exception_inside_the_pipeline_in_the_studio_worker_shows_in_the_widget(warm, tmp_path, monkeypatch):
    studio = pw.Studio(photo(), outdir=tmp_path / "out", mgr=warm)
    studio.painter.set_mask(box_mask())
    studio.steps.value = 2
    pipe = warm.pipeline()
    monkeypatch.setattr(pipe.unet, "forward", pipe.unet.forward)
    explode_on_call(pipe.unet, 1, lambda: KeyError("unexpected key in the UNet"), [])
    assert studio.generate() is True
    assert studio.wait(timeout=120) is None
    text = "".join(o.get("text", "") for o in studio.output.outputs)
    assert "unexpected key in the UNet" in text and "Traceback" in text  # a bug: with its traceback
    assert "Generation failed" in studio.status.value
    assert studio.generate_button.disabled is False and not studio.running
    assert lock_is_free(warm)
    monkeypatch.undo()
    assert studio.generate() is True and studio.wait(timeout=120) is not None
    assert len(studio.results) == 1


def test_mask_painter_handlers_on_other_threads_show_errors_in_place(tmp_path):
    painter = pw.MaskPainter(photo())
    painter.set_mask(box_mask())
    errors: list[BaseException] = []

    def bad_upload() -> None:
        try:
            painter.load_mask(b"\x89PNG\r\n\x1a\n not really")
        except BaseException as err:  # noqa: BLE001 - must not happen: handlers never raise
            errors.append(err)

    threads = [threading.Thread(target=bad_upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert np.array_equal(painter.mask, box_mask()) and painter.undo_steps == 1
    text = "".join(o.get("text", "") for o in painter.output.outputs)
    # >= 1, not == 4: Output appends are read-modify-write without a lock (widgets/_canvas.py),
    # so concurrent reports can drop one under heavy thread switching
    assert 1 <= text.count("mask file is not an image") <= 4


# =========================================================================== model switches


def _corrupt(folder: Path) -> Path:
    path = folder / "corrupt-model"
    path.mkdir()
    (path / "model_index.json").write_text("{ not json")
    return path


class _Unmovable:
    """What a loaded pipeline looks like when moving it to the device runs out of memory."""

    def to(self, device):
        raise RuntimeError("CUDA error: out of memory")


SWITCHES = {
    "missing folder": (lambda folder, mp: str(folder / "nope"), pw.ModelLoadError, "model not found"),
    "corrupt folder": (lambda folder, mp: str(_corrupt(folder)), pw.ModelLoadError, "cannot load model"),
    "out of memory while loading": (
        lambda folder, mp: (mp.setattr("paint_widgets.engine.loading.load_inpaint_pipeline",
                                       lambda *a, **k: _Unmovable()), str(_corrupt(folder)))[1],
        pw.OutOfMemoryError, "while loading .*the models already loaded are still usable"),
}


@pytest.mark.parametrize("name", SWITCHES)
def test_a_failed_model_switch_leaves_the_previous_model_usable(warm, reference, tmp_path, monkeypatch, name):
    make, error, pattern = SWITCHES[name]
    source = make(tmp_path, monkeypatch)
    resident, loads = set(warm.status()["resident"]), warm.loads
    budget = warm.budget_bytes
    warm.budget_bytes = warm.device_bytes() + 1  # the new model would evict the old one, had it loaded
    try:
        with pytest.raises(error, match=pattern):
            pw.inpaint(photo(), box_mask(), "x", model=source, mgr=warm, **FAST)
    finally:
        warm.budget_bytes = budget
    assert set(warm.status()["resident"]) == resident and warm.loads == loads
    assert lock_is_free(warm)
    monkeypatch.undo()
    clean_run_matches(warm, reference)


def test_a_failed_default_model_switch_can_be_switched_back_without_a_reload(warm, reference, tmp_path):
    previous = warm.default_model()
    warm.configure(model=str(_corrupt(tmp_path)))  # exists, so accepted; fails when it loads
    try:
        with pytest.raises(pw.ModelLoadError, match="cannot load model"):
            pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST)
    finally:
        warm.configure(model=previous)
    clean_run_matches(warm, reference)


def test_a_failed_model_switch_in_the_studio_then_back(warm, tmp_path):
    studio = pw.Studio(photo(), outdir=tmp_path / "out", mgr=warm)
    studio.painter.set_mask(box_mask())
    studio.steps.value = 2
    studio.model = str(_corrupt(tmp_path))
    studio.generate()
    assert studio.wait(timeout=60) is None and studio.engine.value == "infill"
    loads = warm.loads
    studio.model = None
    studio.engine.value = "diffusion"
    studio.generate()
    assert studio.wait(timeout=120) is not None and warm.loads == loads


# =========================================================================== saves


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    real_save = Image.Image.save

    def disk_full(self, fp, format=None, **params):  # noqa: A002 - Pillow's name
        fp.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 1000)  # half a file reached the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(pw.OutputError, match=r"cannot write .*000001.7.png: No space left on device"):
        save_png_atomic(Image.fromarray(photo()), tmp_path / "out" / "000001.7.png", metadata={"seed": 7})
    assert files_under(tmp_path / "out") == set()  # not even the hidden temporary file
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert save_png_atomic(Image.fromarray(photo()), tmp_path / "out" / "000001.7.png").stat().st_size > 100


def test_an_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def interrupted(self, fp, format=None, **params):  # noqa: A002
        fp.write(b"\x89PNG")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_png_atomic(Image.fromarray(photo()), tmp_path / "000000.1.png")
    assert files_under(tmp_path) == set()


def test_an_existing_output_is_never_overwritten(tmp_path):
    path = tmp_path / "000003.42.png"
    path.write_bytes(b"the user's picture")
    with pytest.raises(pw.OutputError, match="already exists; outputs are never overwritten"):
        save_png_atomic(Image.fromarray(photo()), path)
    assert path.read_bytes() == b"the user's picture"
    assert files_under(tmp_path) == {Path("000003.42.png")}


def test_without_hard_links_the_fallback_never_overwrites_either(tmp_path, monkeypatch):
    target = tmp_path / "000000.5.png"

    def no_links(src, dst, *args, **kwargs):
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    save_png_atomic(Image.fromarray(photo()), target)  # written by exclusive create + copy
    assert np.array_equal(np.asarray(Image.open(target)), photo())

    raced = tmp_path / "000001.5.png"

    def someone_else_wins(src, dst, *args, **kwargs):
        Path(dst).write_bytes(b"written by another process a moment ago")
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", someone_else_wins)
    with pytest.raises(pw.OutputError, match="already exists"):
        save_png_atomic(Image.fromarray(photo()), raced)
    assert raced.read_bytes() == b"written by another process a moment ago"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.5.png", "000001.5.png"]


def test_numbering_skips_existing_outputs(warm, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "000007.1.png").write_bytes(b"older output")
    result = pw.inpaint(photo(), box_mask(), "x", mgr=warm, steps=2, seed=1)
    (path,) = result.save(out)
    assert path.name == "000008.1.png"
    assert (out / "000007.1.png").read_bytes() == b"older output"


def test_a_writer_that_takes_our_number_first_is_not_overwritten_we_take_the_next(warm, tmp_path, monkeypatch):
    import paint_widgets.result as result_module
    from paint_widgets.errors import OutputExistsError

    assert issubclass(OutputExistsError, pw.OutputError) and issubclass(OutputExistsError, FileExistsError)
    out = tmp_path / "out"
    real_next = result_module.next_number
    raced = {"done": False}

    def next_number_then_someone_else_writes(folder):
        number = real_next(folder)
        if not raced["done"]:  # another process saves under the same number in between
            raced["done"] = True
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / f"{number:06d}.1.png").write_bytes(b"the other writer's picture")
        return number

    monkeypatch.setattr(result_module, "next_number", next_number_then_someone_else_writes)
    result = pw.inpaint(photo(), box_mask(), "x", mgr=warm, steps=2, seed=1)
    (path,) = result.save(out)
    assert path.name == "000001.1.png"
    assert (out / "000000.1.png").read_bytes() == b"the other writer's picture"
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(result.image))


def test_a_failed_save_in_the_command_language_is_one_line_and_the_next_command_runs(
        warm, tmp_path, monkeypatch):
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    real_save = Image.Image.save
    failing = {"on": True}

    def flaky(self, fp, format=None, **params):  # noqa: A002
        if failing["on"] and format == "PNG" and not isinstance(fp, (str, os.PathLike)):
            fp.write(b"\x89PNG partial")
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_save(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", flaky)
    q = quiet_runner(tmp_path / "out", warm)
    assert q.runner.run(f'"x" -I {image} -M {mask} -s 2 -S 1') is None
    (message,) = q.error_lines
    assert message.startswith("error: cannot write") and "Input/output error" in message
    assert files_under(tmp_path / "out") == set()
    failing["on"] = False
    result = q.runner.run(f'"x" -I {image} -M {mask} -s 2 -S 2')
    assert result is not None and [p.name for p in result.paths] == ["000000.2.png"]
    assert Image.open(result.paths[0]).size == (W, H)
