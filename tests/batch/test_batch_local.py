"""pw.batch on the local engine: outputs and metadata, bad files, resume, one model load."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import paint_widgets as pw
from paint_widgets.batching import work
from paint_widgets.batching.report import read_manifest
from paint_widgets.io import read_metadata, read_png_text

QUICK = {"steps": 2, "display": None}


def test_batch_writes_each_output_with_its_command_and_metadata(mgr, folder, tmp_path):
    events = []
    report = pw.batch(folder["inputs"], masks=folder["masks"], prompt="a cat", outdir=tmp_path / "out",
                      progress=events.append, **QUICK)
    assert [o.status for o in report.outcomes] == ["done", "done", "failed", "done"]  # a, b, b_broken, c
    assert len(report.outputs) == 3 and all(p.is_file() for p in report.outputs)
    assert mgr.loads == 1  # one model load for the whole batch
    meta = read_metadata(report.outputs[0])
    assert meta["params"]["prompt"] == "a cat" and meta["params"]["steps"] == 2
    assert meta["batch"]["input"].endswith("a.png") and meta["batch"]["mask"].endswith("a.png")
    command = read_png_text(report.outputs[0])["Dream"]
    assert command.startswith('"a cat" -s 2 -S ') and "-M " in command and "a.png" in command
    # the stored command is the single-image command: replaying it gives the same pixels
    single = pw.inpaint(meta["batch"]["input"], meta["batch"]["mask"], "a cat", steps=2,
                        seed=meta["params"]["seed"], mgr=mgr)
    assert np.array_equal(np.asarray(single.image), np.asarray(Image.open(report.outputs[0]).convert("RGB")))
    # far outside the (feathered) mask the input's pixels are bit-identical
    out = np.asarray(Image.open(report.outputs[0]).convert("RGB"))
    src = np.asarray(Image.open(folder["inputs"] / "a.png").convert("RGB"))
    assert np.array_equal(out[:2, :8], src[:2, :8])
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and "step" in kinds
    last = events[-1]
    assert (last.done, last.failed, last.skipped, last.total) == (3, 1, 0, 4)
    assert report.ignored and report.ignored[0].endswith("README.txt")


def test_bad_file_is_recorded_with_a_one_line_reason_and_the_rest_goes_on(mgr, folder, tmp_path):
    report = pw.batch(folder["inputs"], masks=folder["masks"], prompt="x", outdir=tmp_path / "out", **QUICK)
    (failure,) = report.failures
    assert failure.input == str(folder["bad"])
    assert "not an image" in failure.reason and "\n" not in failure.reason
    summary = report.summary()
    assert "3 done" in summary and "1 failed" in summary and f"failed: {folder['bad']}: " in summary
    records = read_manifest(tmp_path / "out")
    assert sorted(r["status"] for r in records) == ["done", "done", "done", "failed"]


def test_missing_mask_for_an_image_is_a_failure_naming_the_stem(mgr, folder, tmp_path):
    (folder["masks"] / "c.png").unlink()
    report = pw.batch(folder["inputs"], masks=folder["masks"], prompt="x", outdir=tmp_path / "out", **QUICK)
    reasons = {o.input.rsplit("/", 1)[-1]: o.reason for o in report.failures}
    assert "no mask named c.*" in reasons["c.png"]
    assert len(report.done) == 2


def test_rerun_after_an_interrupted_batch_resumes_without_redoing_or_half_files(mgr, folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = {"n": 0}
    real = work.build_request

    def interrupt_on_second(job, recipe, m, **sources):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second image runs
        return real(job, recipe, m, **sources)

    monkeypatch.setattr(work, "build_request", interrupt_on_second)
    with pytest.raises(KeyboardInterrupt):
        pw.batch(folder["inputs"], masks=folder["masks"], prompt="x", outdir=out, seed=7, **QUICK)
    first = sorted(p.name for p in out.glob("*.png"))
    assert len(first) == 1 and not list(out.glob(".tmp-*"))  # one whole output, no partial file
    monkeypatch.setattr(work, "build_request", real)
    before = mgr.generations
    report = pw.batch(folder["inputs"], masks=folder["masks"], prompt="x", outdir=out, seed=7, **QUICK)
    assert [o.status for o in report.outcomes].count("skipped") == 1
    assert len(report.done) == 2 and mgr.generations - before == 2  # the written one is not redone
    assert first[0] in {p.name for p in report.outputs}
    # a changed parameter is a new output next to the old ones
    again = pw.batch(folder["inputs"], masks=folder["masks"], prompt="x", outdir=out, seed=7, cfg=5.0, **QUICK)
    assert len(again.done) == 3 and not set(again.outputs) & set(report.outputs)


def test_same_seed_gives_same_pixels_and_no_seed_is_drawn_from_the_input(mgr, folder, tmp_path):
    one = pw.batch(folder["inputs"] / "a.png", masks=folder["masks"], prompt="x", outdir=tmp_path / "1", **QUICK)
    two = pw.batch([folder["inputs"] / "a.png"], masks=folder["masks"], prompt="x", outdir=tmp_path / "2", **QUICK)
    assert one.outputs[0].name == two.outputs[0].name
    assert np.array_equal(np.asarray(Image.open(one.outputs[0])), np.asarray(Image.open(two.outputs[0])))


def test_text_mask_batch_uses_the_engine_text_mask(mgr, folder, tmp_path):
    report = pw.batch(folder["inputs"], text_mask=("square", 0.0), prompt="x", outdir=tmp_path / "o", **QUICK)
    assert len(report.done) == 3
    assert "-tm square 0.0" in read_png_text(report.outputs[0])["Dream"]
