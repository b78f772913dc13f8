"""Model families: read from the model (never its name), and two families in one manager."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import paint_widgets as pw
from paint_widgets.engine import families
from paint_widgets.engine.crop import native_size
from paint_widgets.engine.denoise import Step
from paint_widgets.engine.families import FAMILIES, Family, family_of
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.engine.samplers import make_scheduler, samplers_for
from paint_widgets.errors import InvalidInputError
from paint_widgets.requests import SAMPLERS


def write_index(folder: Path, class_name: str, **configs: dict) -> Path:
    """A diffusers folder with only its configs (no weights): what family_of reads."""
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    for name, config in configs.items():
        (folder / name).mkdir()
        (folder / name / "config.json").write_text(json.dumps(config))
    return folder


VAE_X8 = {"block_out_channels": [128, 256, 512, 512]}

# --------------------------------------------------------------------------- detection


def test_the_tiny_models_families_from_their_folders(tiny_models):
    sd_inpaint, sd, xl = (family_of(tiny_models[k]) for k in ("sd-inpaint", "sd", "sdxl-inpaint"))
    assert (sd_inpaint.name, sd_inpaint.native_size, sd_inpaint.inpaint_unet) == ("sd1", 512, True)
    assert (sd.name, sd.native_size, sd.inpaint_unet) == ("sd1", 512, False)
    assert (xl.name, xl.native_size, xl.inpaint_unet) == ("sdxl", 1024, True)
    assert xl.pipeline_class == "StableDiffusionXLInpaintPipeline" and xl.preview == "sdxl"
    assert xl.invoke_samplers and xl.size_conditioning and xl.upcast_vae
    assert sd.pipeline_class == "StableDiffusionInpaintPipeline" and not sd.size_conditioning


def test_the_family_is_read_from_the_model_not_its_name(tiny_models, tmp_path):
    misnamed_xl = tmp_path / "stable-diffusion-v1-5-inpainting"
    misnamed_sd = tmp_path / "sdxl-1.0-inpainting-XL"
    shutil.copytree(tiny_models["sdxl-inpaint"], misnamed_xl)
    shutil.copytree(tiny_models["sd-inpaint"], misnamed_sd)
    assert family_of(misnamed_xl).name == "sdxl"
    assert family_of(str(misnamed_sd)).name == "sd1"
    # the same for what the manager loads: the class follows the model, not the path
    mgr = PipelineManager(device="cpu")
    try:
        assert type(mgr.pipeline(str(misnamed_xl))).__name__ == "StableDiffusionXLInpaintPipeline"
        assert type(mgr.pipeline(str(misnamed_sd))).__name__ == "StableDiffusionInpaintPipeline"
    finally:
        mgr.release()


def test_loaded_pipelines_and_their_views_have_the_same_family(mgr, tiny_models):
    for key, name, native in (("sd-inpaint", "sd1", 512), ("sdxl-inpaint", "sdxl", 1024)):
        model = str(tiny_models[key])
        pipe = mgr.pipeline(model)
        assert family_of(pipe) == family_of(model)
        assert native_size(pipe) == native
        for task in ("img2img", "text2img"):
            view = family_of(mgr.pipeline(model, task))
            assert (view.name, view.native_size) == (name, native)


@pytest.mark.parametrize(("class_name", "configs", "expected"), [
    ("StableDiffusionInpaintPipeline", {"unet": {"cross_attention_dim": 768, "sample_size": 64, "in_channels": 9},
                                        "vae": VAE_X8}, ("sd1", 512, True)),
    ("StableDiffusionInpaintPipeline", {"unet": {"cross_attention_dim": 1024, "sample_size": 64, "in_channels": 9},
                                        "vae": VAE_X8}, ("sd2", 512, True)),
    ("StableDiffusionPipeline", {"unet": {"cross_attention_dim": 1024, "sample_size": 96, "in_channels": 4},
                                 "vae": VAE_X8}, ("sd2", 768, False)),  # SD 2.1 768-v
    ("StableDiffusionXLPipeline", {"unet": {"addition_embed_type": "text_time", "sample_size": 128,
                                            "in_channels": 4, "cross_attention_dim": 2048}, "vae": VAE_X8},
     ("sdxl", 1024, False)),
    ("StableDiffusionXLImg2ImgPipeline", {}, ("sdxl", 1024, None)),  # a refiner, no configs read
    ("StableDiffusion3Pipeline", {"transformer": {"in_channels": 16}}, ("sd3", 1024, None)),
    ("FluxFillPipeline", {"transformer": {"in_channels": 384}}, ("flux", 1024, None)),
    ("KandinskyV22InpaintPipeline", {}, ("unknown", 512, None)),
])
def test_families_from_model_index_and_configs(tmp_path, class_name, configs, expected):
    family = family_of(write_index(tmp_path / "model", class_name, **configs))
    assert (family.name, family.native_size, family.inpaint_unet) == expected


def test_flux_without_fill_channels_loads_as_flux_inpaint(tmp_path):
    family = family_of(write_index(tmp_path / "m", "FluxPipeline", transformer={"in_channels": 64}))
    assert (family.name, family.pipeline_class) == ("flux", "FluxInpaintPipeline")


def test_unreadable_and_missing_models_are_unknown(tmp_path):
    assert family_of(tmp_path / "nowhere") is families.UNKNOWN
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_index.json").write_text("{not json")
    assert family_of(tmp_path / "broken") is families.UNKNOWN
    (tmp_path / "x.safetensors").write_bytes(b"not a safetensors file")
    assert family_of(tmp_path / "x.safetensors") is families.UNKNOWN


@pytest.mark.parametrize(("keys", "expected"), [
    ({"conditioner.embedders.1.model.ln_final.weight": (4,),
      "model.diffusion_model.input_blocks.0.0.weight": (8, 9, 3, 3)}, ("sdxl", 1024, True)),
    ({"cond_stage_model.transformer.text_model.final_layer_norm.weight": (4,),
      "model.diffusion_model.input_blocks.0.0.weight": (8, 9, 3, 3)}, ("sd1", 512, True)),
    ({"cond_stage_model.model.ln_final.weight": (4,),
      "model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3)}, ("sd2", 512, False)),
    ({"double_blocks.0.img_attn.norm.key_norm.scale": (4,)}, ("flux", 1024, None)),
    ({"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight": (4,)}, ("sd3", 1024, None)),
    ({"something.else": (4,)}, ("unknown", 512, None)),
])
def test_single_files_by_their_tensor_names(tmp_path, keys, expected):
    from safetensors.numpy import save_file

    path = tmp_path / "checkpoint.safetensors"
    save_file({k: np.zeros(shape, np.float16) for k, shape in keys.items()}, str(path))
    family = family_of(path)
    assert (family.name, family.native_size, family.inpaint_unet) == expected


def test_every_family_names_a_diffusers_pipeline_class():
    import diffusers

    for family in FAMILIES.values():
        assert isinstance(family, Family)
        assert getattr(diffusers, family.pipeline_class, None) is not None, family.pipeline_class


# --------------------------------------------------------------------------- samplers and previews


def test_invokeai_samplers_belong_to_the_sd_families(tiny_models):
    assert samplers_for(families.SD1) == samplers_for(families.SDXL) == SAMPLERS
    assert samplers_for(families.FLUX) == samplers_for(families.SD3) == ()
    with pytest.raises(InvalidInputError, match="flow-matching"):
        make_scheduler("k_lms", {}, families.FLUX)
    config = json.loads((tiny_models["sdxl-inpaint"] / "scheduler" / "scheduler_config.json").read_text())
    for name in SAMPLERS:  # all ten from SDXL's own config, nothing of one leaking into the next
        scheduler = make_scheduler(name, config, families.SDXL)
        scheduler.set_timesteps(4)
        assert len(scheduler.timesteps) >= 4
        assert scheduler.config.timestep_spacing == "leading" and scheduler.config.steps_offset == 1


def test_previews_per_kind():
    latents = torch.randn(1, 4, 6, 5)
    sd, xl = Step(1, 2, latents, "sd").preview(), Step(1, 2, latents, "sdxl").preview()
    assert sd is not None and xl is not None
    assert sd.shape == xl.shape == (48, 40, 3) and sd.dtype == xl.dtype == np.uint8
    assert not np.array_equal(sd, xl)
    assert Step(1, 2, latents, "none").preview() is None
    assert Step(1, 2, torch.randn(1, 16, 6, 5), "sd").preview() is None  # not 4-channel latents
    big = Step(1, 2, latents, "sd", scale=16).preview()
    assert big is not None and big.shape == (96, 80, 3)


def test_recognised_but_unsupported_families_are_refused_clearly(monkeypatch):
    from paint_widgets.engine import denoise

    not_fill = families.classify("FluxPipeline", transformer={"in_channels": 64})  # FLUX.1 without Fill
    assert not not_fill.generates
    monkeypatch.setattr(denoise, "family_of", lambda pipe: not_fill)
    settings = denoise.DenoiseSettings("x", "", 2, 7.5, 1.0, "k_lms", 1)
    with pytest.raises(InvalidInputError, match=r"FLUX.1 \(not Fill\) models are recognised"):
        denoise.denoise_masked(object(), np.zeros((64, 64, 3), np.uint8), np.ones((64, 64), np.float32),
                               settings, base_scheduler_config={})


# --------------------------------------------------------------------------- two families in one manager


def _inpaint(model: str, photo: np.ndarray, mask: np.ndarray, **kwargs) -> np.ndarray:
    return np.asarray(pw.inpaint(photo, mask, "x", steps=2, seed=4, model=model, **kwargs).image)


def test_two_families_resident_at_once_share_nothing_and_reload_nothing(mgr, tiny_models, photo, box_mask):
    sd, xl = str(tiny_models["sd-inpaint"]), str(tiny_models["sdxl-inpaint"])
    first_sd = _inpaint(sd, photo, box_mask)
    first_xl = _inpaint(xl, photo, box_mask, sampler="k_euler_a")
    status = mgr.status()
    assert status["loads"] == 2 and set(status["resident"]) == {sd, xl}
    pipe_sd, pipe_xl = mgr.pipeline(sd), mgr.pipeline(xl)
    modules_sd = {id(m) for m in pipe_sd.components.values() if isinstance(m, torch.nn.Module)}
    modules_xl = {id(m) for m in pipe_xl.components.values() if isinstance(m, torch.nn.Module)}
    assert modules_sd.isdisjoint(modules_xl)
    assert pipe_sd.tokenizer is not pipe_xl.tokenizer
    # each keeps its own scheduler config as the base of every sampler
    assert pipe_sd._paint_widgets_base_scheduler["_class_name"] == "LMSDiscreteScheduler"
    assert pipe_xl._paint_widgets_base_scheduler["_class_name"] == "EulerDiscreteScheduler"
    # switching back and forth loads nothing and gives the same pixels
    for _ in range(2):
        assert np.array_equal(_inpaint(sd, photo, box_mask), first_sd)
        assert np.array_equal(_inpaint(xl, photo, box_mask, sampler="k_euler_a"), first_xl)
    assert mgr.status()["loads"] == 2
    assert mgr.status()["generations"] == 6


def test_two_families_fit_or_evict_by_the_budget(mgr, tiny_models, photo, box_mask):
    sd, xl = str(tiny_models["sd-inpaint"]), str(tiny_models["sdxl-inpaint"])
    mgr.pipeline(sd)
    sd_bytes = mgr.device_bytes()
    mgr.pipeline(xl)
    both = mgr.device_bytes()
    xl_bytes = both - sd_bytes
    assert xl_bytes > 0 and mgr.status()["resident"] == {sd: sd_bytes, xl: xl_bytes}
    mgr.configure(budget_bytes=both)  # both fit: nothing moves
    assert set(mgr.status()["resident"]) == {sd, xl} and mgr.status()["loads"] == 2
    mgr.configure(budget_bytes=max(sd_bytes, xl_bytes))  # one fits: the least recently used goes
    assert list(mgr.status()["resident"]) == [xl]
    assert mgr.device_bytes() <= mgr.budget_bytes
    out = _inpaint(sd, photo, box_mask)  # read again (on a CPU device eviction drops the model)
    assert list(mgr.status()["resident"]) == [sd] and mgr.status()["loads"] == 3
    assert out.shape == photo.shape
    assert family_of(mgr.pipeline(sd)).name == "sd1"
