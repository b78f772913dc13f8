"""The Studio's model picker: type or pick a model, see its family and native size, runs use it."""

from __future__ import annotations

import paint_widgets as pw
from paint_widgets.widgets import _model_picker


def test_picking_a_model_shows_its_family_and_the_next_run_uses_it(mgr, tiny_models, photo, box_mask, tmp_path):
    studio = pw.Studio(photo, outdir=tmp_path / "out")
    try:
        picker = studio.model_picker
        assert studio.model is None and "default (" in picker.info.value
        xl = str(tiny_models["sdxl-inpaint"])
        picker.box.value = xl  # what typing and Enter, or picking from the list, does
        assert studio.model == xl and studio.params().model == xl
        assert "Stable Diffusion XL (folder), native size" in picker.info.value
        assert _model_picker.RECENT[0] == xl and xl in picker.box.options
        studio.painter.set_mask(box_mask)
        studio.prompt.value, studio.steps.value = "a red barn", 2
        assert studio.generate()
        result = studio.wait(timeout=300)
        assert result is not None and result.metadata[0]["params"]["model"] == xl
        assert f"--model {xl}" in result.commands[0]
        single = str(tiny_models["single/sd-inpaint"])
        picker.box.value = single
        assert "Stable Diffusion 1.x (single file)" in picker.info.value
        picker.box.value = ""
        assert studio.model is None and studio.params().model is None
    finally:
        studio.close()


def test_a_model_that_is_not_there_is_said_and_the_old_one_stays(mgr, tiny_models, photo, tmp_path):
    studio = pw.Studio(photo, model=str(tiny_models["sd-inpaint"]), outdir=tmp_path / "out")
    try:
        studio.model_picker.box.value = str(tmp_path / "missing-model")
        assert studio.model == str(tiny_models["sd-inpaint"])
        assert "not usable" in studio.model_picker.info.value
        assert "stays" in studio.status.value
    finally:
        studio.close()
