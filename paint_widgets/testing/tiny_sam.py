"""Tiny random-weight SAM models: ``DIR/sam``, ``DIR/sam2``, ``DIR/sam3-tracker`` (points/boxes → masks), ``DIR/sam3`` (text → instances).

Both are the real transformers classes with small configs, saved with
``save_pretrained(safe_serialization=True)`` and loaded back through
:mod:`paint_widgets.engine.segment` / :mod:`paint_widgets.engine.textmask` exactly
as real checkpoints are. Each builds in well under a second.

- ``sam``: :class:`transformers.SamModel` + :class:`transformers.SamProcessor`, a
  two-layer ViT at 256 px (16 px patches: a 16x16 embedding, as the real 1024 px
  model has 64x64), masks at 64 px.
- ``sam2``: :class:`transformers.Sam2Model`, a four-stage Hiera at 128 px (feature
  maps 32², 16², 8²: the real 1024 px model's geometry / 8), SAM 2's decoder with its
  high-resolution features; ``sam3-tracker``: :class:`transformers.Sam3TrackerModel`,
  SAM 3's ViT at 112 px under the same decoder. Their processors need torchvision, so
  the processor files are written as JSON in the published layout and read by
  :mod:`paint_widgets.engine.sam_inputs`.
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


#: SAM 2's input size for the tiny model (the real one is 1024; 4 px patches, 16 px prompt grid).
TINY_SAM2_SIZE = 128


def tracker_available(name: str) -> bool:
    """Whether the installed transformers has ``name`` (``Sam2Model``, ``Sam3TrackerModel``)."""
    import transformers

    return hasattr(transformers, name)


def _tiny_decoder(hidden: int, size: int, patch: int) -> dict[str, Any]:
    return dict(
        prompt_encoder_config=dict(hidden_size=hidden, image_size=size, patch_size=patch, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=hidden, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2,
                                 iou_head_hidden_dim=32),
    )


def build_tiny_sam2(seed: int = 8) -> Any:
    """A :class:`transformers.Sam2Model` (Hiera backbone, FPN, high-resolution mask features), random weights.

    128 px in, feature maps 32², 16², 8² (the real 1024 px model: 256², 128², 64²), masks 32².
    """
    from transformers import Sam2Config, Sam2Model

    torch.manual_seed(seed)
    size = TINY_SAM2_SIZE
    backbone = dict(model_type="sam2_hiera_det_model", hidden_size=8, num_attention_heads=1, image_size=[size, size],
                    blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
                    num_attention_heads_per_stage=[1, 1, 2, 2], window_size_per_stage=[4, 4, 4, 2],
                    global_attention_blocks=[3], window_positional_embedding_background_size=[2, 2])
    config = Sam2Config(
        vision_config=dict(backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8],
                           backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], fpn_hidden_size=32),
        **_tiny_decoder(32, size, 16))
    return Sam2Model(config).eval()


def build_tiny_sam3_tracker(seed: int = 9) -> Any:
    """A :class:`transformers.Sam3TrackerModel` (SAM 3's ViT and FPN, SAM 2's decoder), random weights, 112 px."""
    from transformers import Sam3TrackerConfig, Sam3TrackerModel

    torch.manual_seed(seed)
    backbone = dict(model_type="sam3_vit_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, image_size=TINY_SAM3_SIZE, patch_size=14, window_size=4,
                    global_attn_indexes=[1], pretrain_image_size=56)
    config = Sam3TrackerConfig(
        vision_config=dict(backbone_config=backbone, fpn_hidden_size=32, backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]]),
        **_tiny_decoder(32, TINY_SAM3_SIZE, 14))
    return Sam3TrackerModel(config).eval()


def _write_tracker_processor(folder: Path, size: int, processor: str, mean: list[float], std: list[float]) -> None:
    """The processor files in the published checkpoints' layout (their image processor needs torchvision)."""
    image_processor = {
        "image_processor_type": "Sam2ImageProcessor", "processor_class": processor, "do_resize": True,
        "size": {"height": size, "width": size}, "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "image_mean": mean, "image_std": std, "mask_size": {"height": size // 4, "width": size // 4},
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(image_processor, indent=2), encoding="utf-8")
    (folder / "processor_config.json").write_text(
        json.dumps({"processor_class": processor, "target_size": size, "point_pad_value": -10}, indent=2),
        encoding="utf-8")


def write_tiny_sam2(folder: str | Path, seed: int = 8) -> Path:
    """Write the tiny SAM 2 (model + processor files) to ``folder``; return it."""
    folder = Path(folder)
    build_tiny_sam2(seed).save_pretrained(folder, safe_serialization=True)
    _write_tracker_processor(folder, TINY_SAM2_SIZE, "Sam2Processor", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    return folder


def write_tiny_sam3_tracker(folder: str | Path, seed: int = 9) -> Path:
    """Write the tiny SAM 3 tracker (model + processor files) to ``folder``; return it."""
    folder = Path(folder)
    build_tiny_sam3_tracker(seed).save_pretrained(folder, safe_serialization=True)
    _write_tracker_processor(folder, TINY_SAM3_SIZE, "Sam3TrackerProcessor", [0.5] * 3, [0.5] * 3)
    return folder
