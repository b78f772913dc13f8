"""pw.preview: a few-step LCM preview of the crop around the mask, with the tiny LCM-LoRA."""

from __future__ import annotations

import io

import numpy as np
import pytest
from engine_helpers import outside

import paint_widgets as pw
from paint_widgets.commands.parser import parse
from paint_widgets.engine.preview import PreviewRequest
from paint_widgets.engine.samplers import make_scheduler
from paint_widgets.params import SAMPLERS

LCM = {"lora": "tiny-lcm", "seed": 7}


@pytest.fixture
def lmgr(mgr, tiny_models):
    mgr.configure(lora_dir=str(tiny_models["loras/tiny-lcm"].parent))
    return mgr


def pixels(result) -> np.ndarray:
    return np.asarray(result.image).astype(int)


def test_preview_crops_at_the_native_size_with_lcm_and_keeps_the_rest(lmgr, photo, box_mask):
    result = pw.preview(photo, box_mask, "a red barn", **LCM)
    meta = result.metadata[0]["preview"]
    top, left, bottom, right = meta["box"]
    assert max(meta["size"]) == 512 and all(side % 8 == 0 for side in meta["size"])  # tiny SD 1.x: native 512
    assert top <= 32 and left <= 48 and bottom >= 64 and right >= 88  # the box holds the mask
    assert np.array_equal(pixels(result)[outside(box_mask)], photo[outside(box_mask)])
    assert np.abs(pixels(result) - photo)[box_mask].mean() > 1  # the masked area was repainted
    assert type(lmgr.pipeline().scheduler).__name__ == "LCMScheduler"
    assert isinstance(result.request, PreviewRequest) and result.seeds == [7]
    assert result.commands[0].endswith("--preview") and " -s 4 " in result.commands[0]
    assert " -C 1.5 " in result.commands[0]
    again = pw.preview(photo, box_mask, "a red barn", **LCM)
    assert np.array_equal(pixels(again), pixels(result))  # the seed decides
    assert lmgr.loads == 1


def test_the_lcm_scheduler_is_built_from_the_models_config_and_is_no_invokeai_name(lmgr):
    base = dict(lmgr.pipeline().scheduler.config)
    lcm = make_scheduler("lcm", base)
    assert type(lcm).__name__ == "LCMScheduler"
    assert (lcm.config.beta_start, lcm.config.beta_end, lcm.config.beta_schedule) == (
        base["beta_start"], base["beta_end"], base["beta_schedule"])
    assert "lcm" not in SAMPLERS
    with pytest.raises(pw.InvalidInputError):
        pw.GenerationParams(sampler="lcm")


def test_preview_size_and_lora_change_the_pixels_and_a_full_pass_after_is_untouched(lmgr, photo, box_mask):
    before = pixels(pw.inpaint(photo, box_mask, "a red barn", steps=3, seed=7))
    small = pw.preview(photo, box_mask, "a red barn", size=128, **LCM)
    assert max(small.metadata[0]["preview"]["size"]) == 128
    plain = pw.preview(photo, box_mask, "a red barn", size=128, lora=None, seed=7)
    assert not np.array_equal(pixels(plain), pixels(small))  # the LCM-LoRA is applied
    after = pixels(pw.inpaint(photo, box_mask, "a red barn", steps=3, seed=7))
    assert np.array_equal(after, before)  # the preview left no LoRA or scheduler behind
    assert lmgr.loads == 1


def test_cancel_stops_a_preview_at_its_next_step_and_the_manager_stays_usable(lmgr, photo, box_mask):
    token = pw.CancelToken()
    steps: list[int] = []

    def progress(step) -> None:
        steps.append(step.step)
        token.cancel()

    with pytest.raises(pw.CancelledError):
        pw.preview(photo, box_mask, "a red barn", steps=8, strength=1.0, size=128, progress=progress,
                   cancel=token, **LCM)
    assert steps == [1]  # stopped after its first step, not at the end
    done = pw.CancelToken()
    done.cancel()
    with pytest.raises(pw.CancelledError):
        pw.preview(photo, box_mask, "a red barn", size=128, cancel=done, **LCM)
    assert pw.preview(photo, box_mask, "a red barn", size=128, **LCM).images


def test_auto_lora_names_the_file_it_needs(lmgr, photo, box_mask):
    with pytest.raises(pw.ModelLoadError, match="lcm-lora-sdv1-5.safetensors.*latent-consistency/lcm-lora-sdv1-5"):
        pw.preview(photo, box_mask, "a red barn", seed=1)
    with pytest.raises(pw.InvalidInputError):
        pw.preview(photo, box_mask, "x", steps=0, **LCM)


def test_the_command_language_previews_with_dash_dash_preview_and_the_auto_lora(lmgr, tiny_models, photo,
                                                                                box_mask, tmp_path):
    import shutil

    from PIL import Image

    from paint_widgets.commands.runner import Runner

    loras = tmp_path / "loras"
    loras.mkdir()
    shutil.copy(tiny_models["loras/tiny-lcm"], loras / "lcm-lora-sdv1-5.safetensors")  # what "auto" looks for
    lmgr.configure(lora_dir=str(loras))
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(np.where(box_mask, 0, 255).astype(np.uint8)).save(tmp_path / "mask.png")
    line = f"a red barn -I {tmp_path / 'photo.png'} -M {tmp_path / 'mask.png'} -S 7 --preview"
    command = parse(line)
    assert command is not None and command.preview
    with pytest.raises(pw.CommandError, match="--preview"):
        parse(f"!fix {tmp_path / 'photo.png'} --outcrop top 64 --preview")
    runner = Runner(tmp_path / "out", mgr=lmgr, stdout=io.StringIO(), stderr=io.StringIO())
    result = runner.run(line)
    assert result is not None and isinstance(result.request, PreviewRequest) and result.paths
    assert result.metadata[0]["preview"]["lora"] == "lcm-lora-sdv1-5"
    api = pw.preview(str(tmp_path / "photo.png"), str(tmp_path / "mask.png"), "a red barn", seed=7)
    assert np.array_equal(pixels(api), pixels(result))  # the line and the API: the same preview
    replay = runner.run(result.commands[0].replace("<image>", str(tmp_path / "photo.png")))
    assert replay is not None and np.array_equal(pixels(replay), pixels(result))  # the printed line replays
