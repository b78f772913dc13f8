"""InvokeAI sampler names → diffusers schedulers.

Each scheduler is created with ``Cls.from_config(base_config)`` from the model's
own scheduler config, after dropping the keys one sampler adds (so switching
``k_dpmpp_2`` → ``k_lms`` does not carry ``algorithm_type`` over).
"""

from __future__ import annotations

from typing import Any

import diffusers

from ..errors import InvalidInputError
from ..requests import SAMPLERS

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


def make_scheduler(name: str, base_config: dict[str, Any]):
    """A fresh scheduler for sampler ``name`` built from the model's scheduler config."""
    if name not in _TABLE:
        raise InvalidInputError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")
    cls_name, extra = _TABLE[name]
    config = {k: v for k, v in dict(base_config).items() if k not in _SAMPLER_KEYS}
    config.update(extra)
    return getattr(diffusers, cls_name).from_config(config)
