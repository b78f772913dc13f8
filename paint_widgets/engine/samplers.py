"""InvokeAI sampler names → diffusers schedulers, as InvokeAI 2.3 meant them.

InvokeAI 2.3's ``Generate._set_scheduler`` built each sampler as
``SchedulerClass.from_config(model.scheduler.config)``: the model's own scheduler
config, unchanged. So do we, from the config the model was loaded with (kept aside
by the caller, so one sampler's settings never leak into the next): a config that
enables ``use_karras_sigmas`` keeps Karras sigmas on every sampler that has them,
PLMS takes the model's own ``skip_prk_steps`` (a config that does not say, not being
a PNDM config, gets ``skip_prk_steps=True`` as every published SD config has it:
diffusers' PRK warm-up fails on the few steps a masked img2img runs), ``k_dpmpp_2`` the config's
``algorithm_type`` (DPM++ 2M, ``dpmsolver++``, unless the config says otherwise)
and ``dpmpp_2`` is its alias, as in InvokeAI's map. ``k_dpmpp_2_a``, which
InvokeAI 2.3 accepted but had no scheduler for, is refused by the parameter table
(:data:`..params.REFUSED_SAMPLERS`).

The names belong to the DDPM-style families (SD 1.x, SD 2.x, SDXL:
:attr:`.families.Family.invoke_samplers`); the flow-matching families (SD3, FLUX)
take none of them.
"""

from __future__ import annotations

from typing import Any

import diffusers

from ..errors import InvalidInputError
from ..params import PARAM, SAMPLERS
from .families import Family

#: name -> diffusers scheduler class: InvokeAI 2.3's ``scheduler_map``.
SCHEDULER_CLASSES: dict[str, str] = {
    "ddim": "DDIMScheduler",
    "plms": "PNDMScheduler",
    "k_lms": "LMSDiscreteScheduler",
    "k_euler": "EulerDiscreteScheduler",
    "k_euler_a": "EulerAncestralDiscreteScheduler",
    "k_heun": "HeunDiscreteScheduler",
    "k_dpm_2": "KDPM2DiscreteScheduler",
    "k_dpm_2_a": "KDPM2AncestralDiscreteScheduler",
    "k_dpmpp_2": "DPMSolverMultistepScheduler",
    "dpmpp_2": "DPMSolverMultistepScheduler",
}
assert tuple(SCHEDULER_CLASSES) == SAMPLERS

#: Internal schedulers, not InvokeAI names (so not in :data:`..params.SAMPLERS`, never a
#: user's ``-A``): ``"lcm"`` is the live preview's few-step LCM sampler (:mod:`.preview`).
INTERNAL_SCHEDULERS: dict[str, str] = {"lcm": "LCMScheduler"}


def samplers_for(family: Family) -> tuple[str, ...]:
    """The InvokeAI sampler names that apply to ``family`` (all ten, or none)."""
    return SAMPLERS if family.invoke_samplers else ()


def make_scheduler(name: str, base_config: dict[str, Any], family: Family | None = None):
    """A fresh scheduler for sampler ``name`` built from the model's own scheduler config
    (``base_config``, as loaded), exactly as InvokeAI 2.3 built it.

    With ``family``, a family that takes no InvokeAI sampler names is refused clearly.
    """
    if family is not None and not family.invoke_samplers:
        raise InvalidInputError(
            f"sampler {name!r}: {family.label} models use their own flow-matching scheduler; "
            "InvokeAI's sampler names apply to SD 1.x, SD 2.x and SDXL; use k_euler (its own "
            "FlowMatchEulerDiscreteScheduler) or leave the sampler unset"
        )
    if name in INTERNAL_SCHEDULERS:  # the preview's LCM: from the model's own config too
        return getattr(diffusers, INTERNAL_SCHEDULERS[name]).from_config(dict(base_config))
    PARAM["sampler"].check(name)  # unknown or refused names: the table's messages
    config = dict(base_config)
    if SCHEDULER_CLASSES[name] == "PNDMScheduler":
        config.setdefault("skip_prk_steps", True)
    return getattr(diffusers, SCHEDULER_CLASSES[name]).from_config(config)


__all__ = ["INTERNAL_SCHEDULERS", "SCHEDULER_CLASSES", "make_scheduler", "samplers_for"]
