"""Single ``.safetensors`` checkpoints (original key layout) load with their family's pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import paint_widgets as pw
from paint_widgets.engine import families
from paint_widgets.engine.families import family_of
from paint_widgets.testing.single_file import original_layout

FAST = {"steps": 2, "seed": 3}


@pytest.fixture
def configured(mgr):
    """The manager with no model_config, and none left behind for the next test."""
    mgr.configure(model_config="")
    yield mgr
    mgr.configure(model_config="")


def test_the_family_is_read_from_the_file_s_tensor_names(tiny_models):
    sd, xl = family_of(tiny_models["single/sd-inpaint"]), family_of(tiny_models["single/sdxl-inpaint"])
    assert (sd.name, sd.inpaint_unet, sd.pipeline_class) == ("sd1", True, "StableDiffusionInpaintPipeline")
    assert (xl.name, xl.inpaint_unet, xl.pipeline_class) == ("sdxl", True, "StableDiffusionXLInpaintPipeline")
    keys = set(original_layout(tiny_models["sdxl-inpaint"]))
    assert any(k.startswith("conditioner.embedders.1.model.transformer.resblocks.") for k in keys)
    assert any(k.startswith("model.diffusion_model.output_blocks.") for k in keys)


@pytest.mark.parametrize("name", ["sd-inpaint", "sdxl-inpaint"])
def test_a_single_file_loads_every_tensor_and_paints_the_same_pixels_as_its_folder(
        configured, tiny_models, photo, box_mask, name):
    single, folder = tiny_models[f"single/{name}"], tiny_models[name]
    configured.configure(model_config=str(folder))  # its configs and tokenizers, offline
    from_file = pw.inpaint(photo, box_mask, "a red barn", model=str(single), **FAST)
    pipe = configured.pipeline(str(single))
    assert type(pipe).__name__ == family_of(folder).pipeline_class
    from safetensors.torch import load_file

    for part in ("unet", "vae", "text_encoder"):
        want = load_file(str(next((folder / part).glob("*.safetensors"))))
        got = getattr(pipe, part).state_dict()
        assert all(torch.equal(got[k], v) for k, v in want.items()), part
    from_folder = pw.inpaint(photo, box_mask, "a red barn", model=str(folder), **FAST)
    assert np.array_equal(np.asarray(from_file.image), np.asarray(from_folder.image))
    from paint_widgets.commands.parser import parse

    assert parse(from_file.commands[0].replace("<image>", "x.png").replace("<mask>", "m.png")).request.params.model \
        == str(single)  # the printed line names the file


def test_offline_without_configs_says_what_is_missing_and_how_to_give_it(
        configured, tiny_models, photo, box_mask, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("PAINT_WIDGETS_MODEL_CONFIG", raising=False)
    single = tiny_models["single/sdxl-inpaint"]
    with pytest.raises(pw.ModelLoadError) as caught:
        pw.inpaint(photo, box_mask, "x", model=str(single), **FAST)
    message = str(caught.value)
    assert "diffusers/stable-diffusion-xl-1.0-inpainting-0.1" in message and "Stable Diffusion XL" in message
    assert "configure(model_config=FOLDER)" in message and "PAINT_WIDGETS_MODEL_CONFIG" in message
    assert "\n" not in message
    monkeypatch.setenv("PAINT_WIDGETS_MODEL_CONFIG", str(tiny_models["sdxl-inpaint"]))  # the same, from the env
    assert pw.inpaint(photo, box_mask, "x", model=str(single), **FAST).image.size == (128, 96)


def test_bad_configs_and_unsupported_files_are_refused_by_name(configured, tiny_models, photo, box_mask, tmp_path):
    with pytest.raises(pw.InvalidInputError, match="model_config must be a local diffusers folder"):
        configured.configure(model_config=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    configured.configure(model_config=str(tmp_path / "empty"))
    with pytest.raises(pw.ModelLoadError, match="must be a diffusers folder .*Stable Diffusion 1.x"):
        pw.inpaint(photo, box_mask, "x", model=str(tiny_models["single/sd-inpaint"]), **FAST)
    flux = tmp_path / "flux.safetensors"
    save_file({"double_blocks.0.img_attn.norm.key_norm.scale": torch.ones(4)}, str(flux))
    assert family_of(flux) is families.FLUX
    with pytest.raises(pw.ModelLoadError, match="FLUX.1 checkpoint, which loads from its diffusers folder"):
        pw.inpaint(photo, box_mask, "x", model=str(flux), **FAST)
