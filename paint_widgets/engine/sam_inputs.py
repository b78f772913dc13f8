"""SAM 2 / SAM 3 tracker inputs and outputs without torchvision: what ``Sam2Processor`` does.

transformers' ``Sam2Processor`` and ``Sam3TrackerProcessor`` build on a
torchvision-backed image processor, which this project does not depend on. Their
work for one image is small and is done here from the checkpoint's
``preprocessor_config.json`` / ``processor_config.json``:

- pixels: resize to ``size`` (square, aspect not kept) with torch's antialiased
  bilinear resize on the uint8 image (rounded back to uint8, as torchvision does),
  then ``* rescale_factor``, ``- mean``, ``/ std``;
- prompts: points and boxes scaled from image pixels to ``target_size`` (x by width,
  y by height), labels as given;
- masks: low-resolution logits resized (bilinear) to the image, ``> 0``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: ImageNet mean / std (SAM 2's image processor defaults).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return {}
    inner = data.get("image_processor")
    return {**data, **inner} if isinstance(inner, dict) else data


class TrackerInputs:
    """Image and prompt preparation of a SAM 2 / SAM 3 tracker checkpoint folder.

    ``family`` is the checkpoint's ``model_type``: it picks the defaults when a file
    leaves a field out (SAM 2: 1024 px, ImageNet mean/std; SAM 3: 1008 px, 0.5/0.5).
    """

    def __init__(self, folder: str | Path, family: str) -> None:
        root = Path(folder)
        config = {**_read(root / "preprocessor_config.json"), **_read(root / "processor_config.json")}
        sam2 = family == "sam2"
        side = 1024 if sam2 else 1008
        size = config.get("size") or {}
        self.size = (int(size.get("height", side)), int(size.get("width", side)))
        self.target_size = int(config.get("target_size") or self.size[0])
        self.rescale = float(config.get("rescale_factor", 1 / 255))
        self.mean = torch.tensor(config.get("image_mean", IMAGENET_MEAN if sam2 else (0.5,) * 3),
                                 dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(config.get("image_std", IMAGENET_STD if sam2 else (0.5,) * 3),
                                dtype=torch.float32).view(1, 3, 1, 1)

    def pixel_values(self, rgb: np.ndarray) -> torch.Tensor:
        """``(1, 3, h, w)`` float32 model input of a uint8 ``(H, W, 3)`` image."""
        image = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
        if tuple(image.shape[-2:]) != self.size:
            image = F.interpolate(image, self.size, mode="bilinear", align_corners=False, antialias=True)
            image = image.round().clamp(0, 255)
        return (image * self.rescale - self.mean) / self.std

    def prompts(self, points: list[tuple[float, float]], labels: list[int],
                box: tuple[float, float, float, float] | None, original_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """``input_points`` ``(1, 1, P, 2)``, ``input_labels`` ``(1, 1, P)``, ``input_boxes`` ``(1, 1, 4)``."""
        oh, ow = original_size
        sx, sy = self.target_size / ow, self.target_size / oh
        out: dict[str, torch.Tensor] = {}
        if points:
            out["input_points"] = torch.tensor([[[[x * sx, y * sy] for x, y in points]]], dtype=torch.float32)
            out["input_labels"] = torch.tensor([[labels]], dtype=torch.int64)
        if box is not None:
            out["input_boxes"] = torch.tensor([[[box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]]],
                                              dtype=torch.float32)
        return out

    def post_process_masks(self, masks: list[torch.Tensor], original_sizes: Any) -> list[torch.Tensor]:
        """Each ``(B, N, h, w)`` logits tensor resized (bilinear) to its image's size, ``> 0``."""
        sizes = original_sizes.tolist() if isinstance(original_sizes, torch.Tensor) else original_sizes
        return [F.interpolate(m, tuple(int(v) for v in size), mode="bilinear", align_corners=False) > 0
                for m, size in zip(masks, sizes, strict=False)]
