"""The Studio: generate in a worker thread, progress, cancel, gallery, history, engines."""

from __future__ import annotations

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.io import read_metadata


@pytest.fixture
def studio(mgr, photo, box_mask, tmp_path):
    s = pw.Studio(photo, outdir=tmp_path / "out")
    s.painter.set_mask(box_mask)
    s.prompt.value = "a red barn"
    s.steps.value = 2
    return s


def outputs_text(widget) -> str:
    return "".join(o.get("text", "") for o in widget.output.outputs)


def test_generate_returns_at_once_refuses_a_second_click_and_wait_gives_the_result(studio, photo, box_mask):
    studio.steps.value = 6
    assert studio.generate() is True
    assert studio.generate() is False  # refused visibly, not queued
    assert "Already generating" in studio.status.value
    result = studio.wait(timeout=120)
    assert isinstance(result, pw.Result) and studio.results == [result]
    out = np.asarray(result.image)
    assert out.shape == photo.shape
    assert np.array_equal(out[:, :20], photo[:, :20])
    assert studio.progress.value == studio.progress.max == 4  # int(6 * 0.75) steps
    assert len(studio.gallery.children) == 1
    assert studio.history == result.commands
    assert studio.generate_button.disabled is False and studio.cancel_button.disabled is True


def test_history_commands_name_real_files_and_replay_the_same_pixels(studio):
    studio.lock_seed.value = True
    studio.seed.value = 1234
    studio.generate()
    result = studio.wait(timeout=120)
    command = studio.history[-1]
    assert " -S 1234 " in command and " -I " in command and " -M " in command
    parts = command.split()
    image_path, mask_path = parts[parts.index("-I") + 1], parts[parts.index("-M") + 1]
    replay = pw.inpaint(image_path, mask_path, "a red barn", steps=2, seed=1234)
    assert np.array_equal(np.asarray(replay.image), np.asarray(result.image))


def test_unlocked_seed_is_randomised_per_run(studio):
    studio.seed.value = 5
    studio.generate()
    studio.wait(timeout=120)
    assert studio.results[-1].seeds[0] == studio.seed.value != 5  # a new seed, shown in the field


def test_cancel_stops_the_run_and_the_studio_stays_usable(studio):
    studio.steps.value = 150
    studio.strength.value = 1.0
    studio.generate()
    studio.cancel()
    assert studio.wait(timeout=120) is None
    assert "Cancelled" in studio.status.value
    studio.steps.value = 2
    studio.generate()
    assert studio.wait(timeout=120) is not None


def test_use_as_input_and_save(studio, tmp_path):
    studio.generate()
    result = studio.wait(timeout=120)
    studio.use_as_input(result)
    assert np.array_equal(studio.image, np.asarray(result.image))
    assert not studio.painter.mask.any()
    path = studio.save(result)
    assert path.parent == tmp_path / "out" and path.name.endswith(f".{result.seeds[0]}.png")
    assert read_metadata(path)["command"] == result.commands[0]


def test_infill_engine_removes_the_object_without_weights(studio, photo, box_mask):
    studio.engine.value = "infill"
    studio.generate()
    result = studio.wait(timeout=60)
    out = np.asarray(result.image)
    assert np.array_equal(out[~box_mask], photo[~box_mask])
    assert not np.array_equal(out[box_mask], photo[box_mask])
    assert result.commands[0].startswith("# infill patchmatch")


def test_missing_weights_are_said_plainly_and_the_infill_engine_is_offered(mgr, photo, tmp_path):
    studio = pw.Studio(photo, model="some-org/not-downloaded-model", outdir=tmp_path)
    assert studio.engine.value == "infill"
    assert "not downloaded" in studio.status.value and "infill engine" in studio.status.value


def test_a_model_that_fails_to_load_switches_to_infill(studio, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model_index.json").write_text("{}")
    studio.model = str(broken)
    studio.generate()
    assert studio.wait(timeout=60) is None
    assert studio.engine.value == "infill"
    assert "could not be loaded" in studio.status.value


def test_an_exception_in_the_worker_shows_in_the_widget(studio, monkeypatch):
    from paint_widgets.engine import api

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom in the worker")

    monkeypatch.setattr(api, "run", boom)
    studio.generate()
    assert studio.wait(timeout=30) is None
    assert "kaboom in the worker" in outputs_text(studio)
    assert "failed" in studio.status.value


def test_empty_mask_is_refused_before_starting(mgr, photo, tmp_path):
    studio = pw.Studio(photo, outdir=tmp_path)
    assert studio.generate() is False
    assert "nothing to repaint" in studio.status.value


def test_outcrop_tab_uses_outcrop_defaults_and_grows_the_canvas(studio, photo):
    studio.tabs.selected_index = 2
    assert studio.strength.value == 0.9 and studio.seam_size.value == 96
    studio.seam_steps.value = 2
    studio.margins.top = 64
    studio.generate()
    result = studio.wait(timeout=180)
    out = np.asarray(result.image)
    assert out.shape == (96 + 64, 128, 3)
    assert np.array_equal(out[64:], photo)
    assert result.commands[0].startswith("!fix ") and "--outcrop top 64" in result.commands[0]
    studio.tabs.selected_index = 0
    assert studio.strength.value == 0.75 and studio.seam_size.value == 0


def test_text_mask_tab_hands_its_mask_to_the_painter(studio):
    studio.tuner.run("a red square")
    studio.tuner.threshold = 0.0  # everything selected
    studio._text_mask_to_painter()
    assert studio.painter.mask.all() and studio.tabs.selected_index == 0
