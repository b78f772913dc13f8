"""Tiny random-weight SAM models: ``DIR/sam`` (points/boxes → masks) and ``DIR/sam3`` (text → instances).

Both are the real transformers classes with small configs, saved with
``save_pretrained(safe_serialization=True)`` and loaded back through
:mod:`paint_widgets.engine.segment` / :mod:`paint_widgets.engine.textmask` exactly
as real checkpoints are. Each builds in well under a second.

- ``sam``: :class:`transformers.SamModel` + :class:`transformers.SamProcessor`, a
  two-layer ViT at 256 px (16 px patches: a 16x16 embedding, as the real 1024 px
  model has 64x64), masks at 64 px.
- ``sam3``: :class:`transformers.Sam3Model` at 112 px (14 px patches), 8 queries, a
  CLIP text encoder over the tiny byte-level tokenizer. ``Sam3ImageProcessor`` needs
  torchvision, which the project does not depend on, so the processor files are
  written as JSON in the layout of the published checkpoint (the engine preprocesses
  SAM 3 images itself, see :mod:`paint_widgets.engine.textmask`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

#: SAM's input size for the tiny model (the real one is 1024).
TINY_SAM_SIZE = 256
#: SAM 3's input size for the tiny model (the real one is 1008).
TINY_SAM3_SIZE = 112


def sam_available() -> bool:
    """Whether the installed transformers has ``SamModel``."""
    import transformers

    return hasattr(transformers, "SamModel")


def sam3_available() -> bool:
    """Whether the installed transformers has ``Sam3Model``."""
    import transformers

    return hasattr(transformers, "Sam3Model")


def build_tiny_sam(seed: int = 6) -> tuple[Any, Any]:
    """``(SamModel, SamProcessor)`` with random weights and a small config."""
    from transformers import SamConfig, SamModel, SamProcessor

    try:
        from transformers import SamImageProcessorPil as ImageProcessor  # no torchvision needed
    except ImportError:  # older transformers: the one image processor is PIL-based
        from transformers import SamImageProcessor as ImageProcessor

    torch.manual_seed(seed)
    size, patch = TINY_SAM_SIZE, 16
    config = SamConfig(
        vision_config=dict(hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2,
                           image_size=size, patch_size=patch, window_size=4, global_attn_indexes=[1],
                           num_pos_feats=16, mlp_dim=64),
        prompt_encoder_config=dict(hidden_size=32, image_size=size, patch_size=patch, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2,
                                 iou_head_hidden_dim=32),
    )
    model = SamModel(config).eval()
    mask = size // 4
    image_processor = ImageProcessor(size={"longest_edge": size}, pad_size={"height": size, "width": size},
                                     mask_size={"longest_edge": mask}, mask_pad_size={"height": mask, "width": mask})
    return model, SamProcessor(image_processor)


def write_tiny_sam(folder: str | Path, seed: int = 6) -> Path:
    """Write the tiny SAM (model + processor) to ``folder``; return it."""
    folder = Path(folder)
    model, processor = build_tiny_sam(seed)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder


def build_tiny_sam3(vocab_size: int, bos: int, eos: int, seed: int = 7) -> Any:
    """A :class:`transformers.Sam3Model` with random weights and a small config."""
    from transformers import Sam3Config, Sam3Model

    torch.manual_seed(seed)
    hidden = 32
    config = Sam3Config(
        vision_config=dict(
            backbone_config=dict(model_type="sam3_vit_model", hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=2, image_size=TINY_SAM3_SIZE,
                                 patch_size=14, window_size=4, global_attn_indexes=[1], pretrain_image_size=56),
            fpn_hidden_size=hidden, backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]]),
        text_config=dict(model_type="clip_text_model", vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                         projection_dim=32, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=32,
                         bos_token_id=bos, eos_token_id=eos, pad_token_id=eos),
        geometry_encoder_config=dict(hidden_size=hidden, num_layers=1, num_attention_heads=2, intermediate_size=64),
        detr_encoder_config=dict(hidden_size=hidden, num_layers=1, num_attention_heads=2, intermediate_size=64),
        detr_decoder_config=dict(hidden_size=hidden, num_layers=1, num_queries=8, num_attention_heads=2,
                                 intermediate_size=64),
        mask_decoder_config=dict(hidden_size=hidden, num_attention_heads=2),
    )
    return Sam3Model(config).eval()


def write_tiny_sam3(folder: str | Path, seed: int = 7) -> Path:
    """Write the tiny SAM 3 (model, CLIP tokenizer, processor JSON) to ``folder``; return it."""
    from transformers import CLIPTokenizer

    from .tiny_models import write_tiny_tokenizer

    folder = Path(folder)
    write_tiny_tokenizer(folder)
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=32)
    tokenizer.save_pretrained(folder)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    model = build_tiny_sam3(len(vocab), vocab["<|startoftext|>"], vocab["<|endoftext|>"], seed)
    model.save_pretrained(folder, safe_serialization=True)
    size = {"height": TINY_SAM3_SIZE, "width": TINY_SAM3_SIZE}
    image_processor = {
        "image_processor_type": "Sam3ImageProcessor", "processor_class": "Sam3Processor",
        "do_resize": True, "size": size, "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "mask_size": {"height": 32, "width": 32},
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(image_processor, indent=2), encoding="utf-8")
    (folder / "processor_config.json").write_text(
        json.dumps({"processor_class": "Sam3Processor", "target_size": TINY_SAM3_SIZE, "point_pad_value": -10},
                   indent=2), encoding="utf-8")
    return folder
