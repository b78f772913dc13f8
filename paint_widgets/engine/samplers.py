"""InvokeAI sampler names → diffusers schedulers.

Each scheduler is created with ``Cls.from_config(base_config)`` from the model's
own scheduler config, after dropping the keys one sampler adds (so switching
``k_dpmpp_2`` → ``k_lms`` does not carry ``algorithm_type`` over). The names belong to
the DDPM-style families (SD 1.x, SD 2.x, SDXL: :attr:`.families.Family.invoke_samplers`);
on SDXL they are built from its ``EulerDiscreteScheduler`` config (``timestep_spacing
"leading"``, ``steps_offset 1``), keys a class does not know being ignored. The
flow-matching families (SD3, FLUX) take none of them.
"""

from __future__ import annotations

from typing import Any

import diffusers

from ..errors import InvalidInputError
from ..requests import SAMPLERS
from .families import Family

# name -> (scheduler class name, extra config)
_TABLE: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "plms": ("PNDMScheduler", {"skip_prk_steps": True}),
    "k_lms": ("LMSDiscreteScheduler", {}),
    "k_euler": ("EulerDiscreteScheduler", {}),
    "k_euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "k_heun": ("HeunDiscreteScheduler", {}),
    "k_dpm_2": ("KDPM2DiscreteScheduler", {}),
    "k_dpm_2_a": ("KDPM2AncestralDiscreteScheduler", {}),
    "k_dpmpp_2": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "k_dpmpp_2_a": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
}
assert tuple(_TABLE) == SAMPLERS

#: Keys a sampler may add that must not leak into the next one.
_SAMPLER_KEYS = ("use_karras_sigmas", "algorithm_type", "skip_prk_steps", "solver_order")


def samplers_for(family: Family) -> tuple[str, ...]:
    """The InvokeAI sampler names that apply to ``family`` (all ten, or none)."""
    return SAMPLERS if family.invoke_samplers else ()


def make_scheduler(name: str, base_config: dict[str, Any], family: Family | None = None):
    """A fresh scheduler for sampler ``name`` built from the model's scheduler config.

    With ``family``, a family that takes no InvokeAI sampler names is refused clearly.
    """
    if family is not None and not family.invoke_samplers:
        raise InvalidInputError(
            f"sampler {name!r}: {family.label} models use their own flow-matching scheduler; "
            "InvokeAI's sampler names apply to SD 1.x, SD 2.x and SDXL"
        )
    if name not in _TABLE:
        raise InvalidInputError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")
    cls_name, extra = _TABLE[name]
    config = {k: v for k, v in dict(base_config).items() if k not in _SAMPLER_KEYS}
    config.update(extra)
    return getattr(diffusers, cls_name).from_config(config)


__all__ = ["make_scheduler", "samplers_for"]
