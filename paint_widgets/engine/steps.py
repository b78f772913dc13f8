"""What a denoising run is told and tells back, shared by the UNet and flow denoisers.

:class:`DenoiseSettings` (the run's prompt, steps, guidance, strength, sampler, seed),
:class:`Step` (the progress a run reports, with a cheap latent preview per family) and
:func:`warn_if_truncated` (prompts longer than the text encoder reads). They live
here, below :mod:`.denoise` and :mod:`.flow`, so neither imports the other.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import PromptTruncatedWarning

# Linear maps from latents (as the UNet sees them, i.e. scaled) to RGB in [-1, 1], good
# enough for a progress preview (no VAE call), and a bias: per preview kind.
_LATENT_RGB: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
    "sd": (torch.tensor([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264],
                         [-0.184, -0.271, -0.473]]), torch.zeros(3)),
    # fitted to SDXL's VAE (scaling factor 0.13025), as in ComfyUI's latent_formats.SDXL
    "sdxl": (torch.tensor([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362],
                           [-0.3165, -0.2492, -0.2188]]), torch.tensor([0.1084, -0.0175, -0.0011])),
}


@dataclass
class Step:
    """Progress of one denoising step; ``preview()`` gives a rough image of the latents.

    ``preview_kind`` is the model family's (:attr:`.families.Family.preview`), ``scale``
    its VAE's downsampling: the preview has the generated image's size.
    """

    step: int
    total: int
    latents: torch.Tensor | None = None
    preview_kind: str = "sd"
    scale: int = 8

    @property
    def fraction(self) -> float:
        return self.step / max(self.total, 1)

    def preview(self) -> np.ndarray | None:
        """``(h, w, 3)`` uint8 at latent resolution x ``scale``; None if no latents or no preview."""
        factors = _LATENT_RGB.get(self.preview_kind)
        if self.latents is None or factors is None or self.latents.shape[1] != factors[0].shape[0]:
            return None
        weights, bias = factors
        lat = self.latents[0].detach().float().cpu()
        rgb = torch.einsum("chw,cr->hwr", lat, weights) + bias
        rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
        return np.repeat(np.repeat(rgb, self.scale, axis=0), self.scale, axis=1)


ProgressFn = Callable[[Step], Any]


@dataclass(frozen=True)
class DenoiseSettings:
    """What one masked denoising run needs beyond the image and mask."""

    prompt: str
    negative_prompt: str
    steps: int
    cfg: float
    strength: float
    sampler: str
    seed: int
    inpaint_replace: float = 0.0
    soft: bool = False  # the mask's value is the share of steps a pixel changes for (differential diffusion)


# 16-channel latents (as the transformer sees them: scaled and shifted) to RGB in [-1, 1]
# and a bias, as ComfyUI's latent_formats.SD3 and .Flux fit them: for progress previews.
_FLOW_LATENT_RGB: dict[str, tuple[list[list[float]], list[float]]] = {
    "sd3": ([[-0.0922, -0.0175, 0.0749], [0.0311, 0.0633, 0.0954], [0.1994, 0.0927, 0.0458],
             [0.0856, 0.0339, 0.0902], [0.0587, 0.0272, -0.0496], [-0.0006, 0.1104, 0.0309],
             [0.0978, 0.0306, 0.0427], [-0.0042, 0.1038, 0.1358], [-0.0194, 0.0020, 0.0669],
             [-0.0488, 0.0130, -0.0268], [0.0922, 0.0988, 0.0951], [-0.0278, 0.0524, -0.0542],
             [0.0332, 0.0456, 0.0895], [-0.0069, -0.0030, -0.0810], [-0.0596, -0.0465, -0.0293],
             [-0.1448, -0.1463, -0.1189]], [0.2394, 0.2135, 0.1925]),
    "flux": ([[-0.0346, 0.0244, 0.0681], [0.0034, 0.0210, 0.0687], [0.0275, -0.0668, -0.0433],
              [-0.0174, 0.0160, 0.0617], [0.0859, 0.0721, 0.0329], [0.0004, 0.0383, 0.0115],
              [0.0405, 0.0861, 0.0915], [-0.0236, -0.0185, -0.0259], [-0.0245, 0.0250, 0.1180],
              [0.1008, 0.0755, -0.0421], [-0.0515, 0.0201, 0.0011], [0.0428, -0.0012, -0.0036],
              [0.0817, 0.0765, 0.0749], [-0.1264, -0.0522, -0.1103], [-0.0280, -0.0881, -0.0499],
              [-0.1262, -0.0982, -0.0778]], [-0.0329, -0.0718, -0.0851]),
}
for _kind, (_weights, _bias) in _FLOW_LATENT_RGB.items():
    _LATENT_RGB[_kind] = (torch.tensor(_weights), torch.tensor(_bias))


class _DropTruncationLog(logging.Filter):
    """Drops diffusers' own truncation log line: :func:`warn_if_truncated` said it as a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "part of your input was truncated" not in str(record.msg)


_TRUNCATION_FILTER = _DropTruncationLog()


def warn_if_truncated(pipe: Any, prompt: str, what: str = "prompt") -> bool:
    """Warn (:class:`PromptTruncatedWarning`) if ``prompt`` is longer than the text encoder takes.

    CLIP reads 77 tokens (start and end included); diffusers cuts the rest and only
    logs it. Uses the pipeline's own tokenizer(s); returns whether it warned.
    """
    if not prompt:
        return False
    logger = logging.getLogger(type(pipe).__module__)
    if _TRUNCATION_FILTER not in logger.filters:
        logger.addFilter(_TRUNCATION_FILTER)
    for name in ("tokenizer", "tokenizer_2"):
        tokenizer = getattr(pipe, name, None)
        limit = getattr(tokenizer, "model_max_length", None)
        if tokenizer is None or not isinstance(limit, int) or limit > 100_000:
            continue
        try:
            ids = tokenizer(prompt, truncation=False, verbose=False).input_ids
        except Exception:  # noqa: BLE001 - a tokenizer we cannot ask: diffusers still truncates
            continue
        if len(ids) <= limit:
            continue
        dropped = tokenizer.decode(ids[limit - 1:-1], skip_special_tokens=True).strip()
        warnings.warn(
            PromptTruncatedWarning(
                f"the {what} is {len(ids)} tokens but the text encoder reads {limit}: everything after "
                f"token {limit - 2} was dropped ({dropped[:200]!r}); shorten it or move what matters "
                "to the front"
            ),
            stacklevel=3,
        )
        return True
    return False



__all__ = ["DenoiseSettings", "ProgressFn", "Step", "warn_if_truncated"]
