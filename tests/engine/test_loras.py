"""LoRAs: withLora(name,weight) in the prompt, loras= in the API, loaded once, off when not named."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import outside

import paint_widgets as pw
from paint_widgets.commands.parser import parse
from paint_widgets.engine import loras as L

FAST = {"steps": 3, "seed": 1}


def image(result) -> np.ndarray:
    return np.asarray(result.image).astype(int)


def test_with_lora_is_taken_out_of_the_prompt_with_invokeai_s_default_weight():
    assert L.split_loras("a cat withLora(ink) in the rain withLora(./x.safetensors, 0.5)") == (
        "a cat in the rain", {"ink": 1.0, "./x.safetensors": 0.5})
    assert L.split_loras("no loras (here), really") == ("no loras (here), really", {})
    with pytest.raises(pw.InvalidInputError, match="weight must be a number"):
        L.split_loras("withLora(ink,lots)")
    with pytest.raises(pw.InvalidInputError, match="between -10 and 10"):
        L.split_loras("withLora(ink,1e9)")
    assert L.with_loras("a cat", {"ink": 0.8}) == "a cat withLora(ink,0.8)"
    with pytest.raises(pw.InvalidInputError, match="without commas or parentheses"):
        L.with_loras("a cat", {"my (best), lora": 1})


@pytest.mark.parametrize(("model", "lora"), [("sd-inpaint", "loras/tiny-sd"), ("sdxl-inpaint", "loras/tiny-sdxl")])
def test_a_lora_changes_the_pixels_by_its_weight_and_leaves_no_trace(mgr, tiny_models, photo, box_mask, model, lora):
    mgr.configure(model=str(tiny_models[model]), lora_dir=str(tiny_models[lora].parent))
    name = tiny_models[lora].stem
    before = image(pw.inpaint(photo, box_mask, "a red barn", **FAST))
    full = pw.inpaint(photo, box_mask, f"a red barn withLora({name},1.0)", **FAST)
    light = image(pw.inpaint(photo, box_mask, "a red barn", loras={name: 0.3}, **FAST))
    after = image(pw.inpaint(photo, box_mask, "a red barn", **FAST))
    keep = outside(box_mask)
    change_full = np.abs(image(full) - before)[box_mask].mean()
    assert change_full > 0.5 and 0 < np.abs(light - before)[box_mask].mean() < change_full
    assert np.array_equal(after, before)  # not named: as if it had never been loaded
    assert np.array_equal(image(full)[keep], before[keep])  # outside the mask, nothing moves
    assert mgr.loads == 1  # one model load; a new weight reloads nothing
    assert f"withLora({name},1.0)" in full.commands[0]
    assert full.metadata[0]["params"]["prompt"] == f"a red barn withLora({name},1.0)"


def test_the_printed_line_replays_with_the_lora(mgr, tiny_models, photo, box_mask, tmp_path):
    from paint_widgets.commands.runner import Runner

    mgr.configure(lora_dir=str(tiny_models["loras/tiny-sd"].parent))
    first = pw.inpaint(photo, box_mask, "a red barn", loras={"tiny-sd": 0.7}, **FAST)
    paths = first.save(tmp_path / "made")
    from PIL import Image

    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(np.where(box_mask, 0, 255).astype(np.uint8)).save(tmp_path / "mask.png")
    line = first.commands[0].replace("<image>", str(tmp_path / "photo.png")).replace("<mask>", str(tmp_path / "mask.png"))
    assert parse(line).request.params.prompt == "a red barn withLora(tiny-sd,0.7)"
    import io

    again = Runner(tmp_path / "out", mgr=mgr, stdout=io.StringIO(), stderr=io.StringIO()).run(line)
    assert again is not None and np.array_equal(image(again), image(first)) and paths


def test_unknown_and_unfitting_loras_are_refused_by_name(mgr, tiny_models, photo, box_mask, tmp_path):
    before = (mgr.loads, mgr.generations)
    with pytest.raises(pw.ModelLoadError, match="no LoRA folder is set"):
        pw.inpaint(photo, box_mask, "x withLora(ink)", **FAST)
    mgr.configure(lora_dir=str(tiny_models["loras/tiny-sd"].parent))
    with pytest.raises(pw.ModelLoadError, match=r"no ink.safetensors in the LoRA folder .*it has .*tiny-sd"):
        pw.inpaint(photo, box_mask, "x withLora(ink)", **FAST)
    assert (mgr.loads, mgr.generations) == before  # refused before any work
    with pytest.raises(pw.InvalidInputError, match="lora_dir must be a folder"):
        mgr.configure(lora_dir=str(tmp_path / "nowhere"))
    mgr.configure(model=str(tiny_models["sdxl-inpaint"]))
    with pytest.raises(pw.ModelLoadError, match="tiny-sd.safetensors does not load into .*model family"):
        pw.inpaint(photo, box_mask, "x withLora(tiny-sd)", **FAST)
