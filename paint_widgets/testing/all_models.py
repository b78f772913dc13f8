"""Every tiny model in one folder: ``python -m paint_widgets.testing DIR`` and the tests' fixture."""

from __future__ import annotations

from pathlib import Path

from . import tiny_sam
from .single_file import write_single_file
from .tiny_flow import write_tiny_flow_models
from .tiny_models import build_tiny_clipseg, build_tiny_sd, build_tiny_sdxl, write_tiny_lora

#: The models :func:`write_tiny_models` writes, in this order: name -> path under the folder.
TINY_MODELS = {
    "sd-inpaint": "sd-inpaint", "sd": "sd", "clipseg": "clipseg", "sdxl-inpaint": "sdxl-inpaint",
    # single-file checkpoints in the original key layout, made from the folders above
    "single/sd-inpaint": "single/sd-inpaint.safetensors",
    "single/sdxl-inpaint": "single/sdxl-inpaint.safetensors",
    # a LoRA for the tiny SD UNets, made with peft
    "loras/tiny-sd": "loras/tiny-sd.safetensors",
    "loras/tiny-sdxl": "loras/tiny-sdxl.safetensors",
    # a stand-in LCM-LoRA for the live preview (another seed: it only has to differ)
    "loras/tiny-lcm": "loras/tiny-lcm.safetensors",
    # SAM, SAM 2, SAM 3 tracker (points/boxes -> masks) and SAM 3 (text -> instances), :mod:`.tiny_sam`
    "sam": "sam", "sam2": "sam2", "sam3-tracker": "sam3-tracker", "sam3": "sam3",
    # flow-matching families (:mod:`.tiny_flow`)
    "flux-fill": "flux-fill", "sd3-inpaint": "sd3-inpaint",
}


def write_tiny_models(folder: str | Path) -> dict[str, Path]:
    """Write :data:`TINY_MODELS` under ``folder``; return ``{name: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / where for name, where in TINY_MODELS.items()}
    work = folder / ".tokenizer"
    build_tiny_sd(in_channels=9, seed=0, workdir=work).save_pretrained(paths["sd-inpaint"], safe_serialization=True)
    build_tiny_sd(in_channels=4, seed=1, workdir=work).save_pretrained(paths["sd"], safe_serialization=True)
    model, processor = build_tiny_clipseg(seed=2, workdir=work)
    model.save_pretrained(paths["clipseg"], safe_serialization=True)
    processor.save_pretrained(paths["clipseg"])
    build_tiny_sdxl(seed=3, workdir=work).save_pretrained(paths["sdxl-inpaint"], safe_serialization=True)
    for name in ("sd-inpaint", "sdxl-inpaint"):
        write_single_file(paths[name], paths[f"single/{name}"])
    write_tiny_lora(paths["sd-inpaint"], paths["loras/tiny-sd"])
    write_tiny_lora(paths["sdxl-inpaint"], paths["loras/tiny-sdxl"], seed=5)
    write_tiny_lora(paths["sd-inpaint"], paths["loras/tiny-lcm"], seed=6)
    for name, write, available in (
            ("sam", tiny_sam.write_tiny_sam, tiny_sam.sam_available()),
            ("sam2", tiny_sam.write_tiny_sam2, tiny_sam.tracker_available("Sam2Model")),
            ("sam3-tracker", tiny_sam.write_tiny_sam3_tracker, tiny_sam.tracker_available("Sam3TrackerModel")),
            ("sam3", tiny_sam.write_tiny_sam3, tiny_sam.sam3_available())):
        write(paths[name]) if available else paths.pop(name)  # only what this transformers has
    write_tiny_flow_models(paths, work)
    return paths
