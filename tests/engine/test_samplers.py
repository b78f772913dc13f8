"""Each InvokeAI sampler name means what InvokeAI 2.3 meant on the same model config."""

from __future__ import annotations

import json

import diffusers
import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.commands.parser import parse
from paint_widgets.engine.samplers import make_scheduler
from paint_widgets.errors import CommandError, InvalidInputError
from paint_widgets.requests import SAMPLERS, GenerationParams

#: InvokeAI 2.3.5, ldm/generate.py, Generate._set_scheduler: ``scheduler_map``, each built
#: as ``sampler_class.from_config(self.model.scheduler.config)``.
INVOKEAI_23_SCHEDULER_MAP = {
    "ddim": "DDIMScheduler",
    "dpmpp_2": "DPMSolverMultistepScheduler",
    "k_dpm_2": "KDPM2DiscreteScheduler",
    "k_dpm_2_a": "KDPM2AncestralDiscreteScheduler",
    "k_dpmpp_2": "DPMSolverMultistepScheduler",
    "k_euler": "EulerDiscreteScheduler",
    "k_euler_a": "EulerAncestralDiscreteScheduler",
    "k_heun": "HeunDiscreteScheduler",
    "k_lms": "LMSDiscreteScheduler",
    "plms": "PNDMScheduler",
}

#: runwayml/stable-diffusion-inpainting's scheduler/scheduler_config.json, as published.
SD15_INPAINTING = {
    "_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None, "clip_sample": False,
}
#: An SDXL-style config that enables Karras sigmas (as many fine-tunes ship).
KARRAS_EULER = {
    "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "num_train_timesteps": 1000, "steps_offset": 1,
    "timestep_spacing": "leading", "use_karras_sigmas": True, "prediction_type": "epsilon",
}


def configs(tiny_models) -> dict[str, dict]:
    out = {"sd15-inpainting": SD15_INPAINTING, "karras-euler": KARRAS_EULER}
    for name in ("sd-inpaint", "sdxl-inpaint"):
        out[name] = json.loads((tiny_models[name] / "scheduler" / "scheduler_config.json").read_text())
    return out


def schedule(scheduler, steps: int = 20) -> tuple[np.ndarray, np.ndarray | None]:
    scheduler.set_timesteps(steps)
    sigmas = getattr(scheduler, "sigmas", None)
    return np.asarray(scheduler.timesteps, dtype=np.float64), None if sigmas is None else np.asarray(sigmas)


def test_the_names_are_invokeai_23s_map():
    assert set(SAMPLERS) == set(INVOKEAI_23_SCHEDULER_MAP)


@pytest.mark.parametrize("name", sorted(INVOKEAI_23_SCHEDULER_MAP))
def test_timesteps_and_sigmas_match_invokeai_on_every_config(tiny_models, name):
    for label, config in configs(tiny_models).items():
        ours = make_scheduler(name, config)
        if name == "plms":  # a config that does not say skips PRK steps, as published SD configs do
            config = {"skip_prk_steps": True, **config}
        theirs = getattr(diffusers, INVOKEAI_23_SCHEDULER_MAP[name]).from_config(config)
        assert type(ours) is type(theirs), label
        (ot, os_), (tt, ts) = schedule(ours), schedule(theirs)
        np.testing.assert_array_equal(ot, tt, err_msg=f"{name} on {label}")
        if ts is not None:
            np.testing.assert_allclose(os_, ts, rtol=0, atol=0, err_msg=f"{name} on {label}")


def test_the_models_karras_and_plms_settings_are_kept(tiny_models):
    plain = {k: v for k, v in KARRAS_EULER.items() if k != "use_karras_sigmas"}
    for name in ("k_euler", "k_heun", "k_lms", "k_dpm_2", "k_dpmpp_2"):
        karras = make_scheduler(name, KARRAS_EULER)
        assert karras.config.use_karras_sigmas, name
        assert not np.allclose(schedule(karras)[1], schedule(make_scheduler(name, plain))[1]), name
    assert make_scheduler("plms", SD15_INPAINTING).config.skip_prk_steps is True
    assert make_scheduler("plms", {**SD15_INPAINTING, "skip_prk_steps": False}).config.skip_prk_steps is False
    assert make_scheduler("plms", KARRAS_EULER).config.skip_prk_steps is True  # not said: as published configs
    assert make_scheduler("k_dpmpp_2", SD15_INPAINTING).config.algorithm_type == "dpmsolver++"  # DPM++ 2M


def test_k_dpmpp_2_a_is_refused_everywhere_with_the_reason():
    why = r"k_dpmpp_2_a .*InvokeAI 2\.3 accepted the name but had no scheduler.*use k_dpmpp_2"
    with pytest.raises(InvalidInputError, match=why):
        GenerationParams(sampler="k_dpmpp_2_a")
    with pytest.raises(InvalidInputError, match=why):
        make_scheduler("k_dpmpp_2_a", SD15_INPAINTING)
    with pytest.raises(CommandError, match=why):
        parse('"a cat" -I cat.png -A k_dpmpp_2_a')
    with pytest.raises(pw.InvalidInputError, match=why):
        pw.inpaint(np.zeros((64, 64, 3), np.uint8), np.ones((64, 64), bool), "x", sampler="k_dpmpp_2_a")
