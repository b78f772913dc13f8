"""``paint_widgets.testing``: the tiny models load through the real loading code."""

from __future__ import annotations

import json
import time
from pathlib import Path

from paint_widgets.engine.loading import load_clipseg, load_inpaint_pipeline
from paint_widgets.testing.__main__ import main

PIPELINES = {
    "sd-inpaint": "StableDiffusionInpaintPipeline",
    "sd": "StableDiffusionPipeline",
    "sdxl-inpaint": "StableDiffusionXLInpaintPipeline",
}


def test_cli_writes_every_model_and_prints_their_paths(tmp_path, capsys):
    started = time.perf_counter()
    assert main([str(tmp_path)]) == 0
    elapsed = time.perf_counter() - started
    printed = capsys.readouterr().out.split()
    from paint_widgets.testing import TINY_MODELS

    expected = [str(tmp_path / where) for where in TINY_MODELS.values()]
    assert printed == [p for p in expected if p in printed]  # in the table's order
    assert {"sd-inpaint", "sd", "clipseg", "sdxl-inpaint", "flux-fill", "sd3-inpaint"} <= {
        name for name, where in TINY_MODELS.items() if str(tmp_path / where) in printed}
    assert all(Path(p).exists() for p in printed)
    for name, class_name in PIPELINES.items():
        index = json.loads((tmp_path / name / "model_index.json").read_text())
        assert index["_class_name"] == class_name
        assert list((tmp_path / name / "unet").glob("*.safetensors"))
    assert list((tmp_path / "sdxl-inpaint" / "text_encoder_2").glob("*.safetensors"))
    assert (tmp_path / "sdxl-inpaint" / "tokenizer_2" / "tokenizer_config.json").is_file()
    assert list((tmp_path / "clipseg").glob("*.safetensors"))
    assert elapsed < 60  # all of them; a few seconds on a small CPU


def test_cli_usage_error(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_tiny_models_keep_the_real_geometry(tiny_models):
    import torch

    inpaint = load_inpaint_pipeline(str(tiny_models["sd-inpaint"]), dtype=torch.float32)
    plain = load_inpaint_pipeline(str(tiny_models["sd"]), dtype=torch.float32)
    assert inpaint.unet.config.in_channels == 9 and plain.unet.config.in_channels == 4
    assert inpaint.vae_scale_factor == 8  # four VAE blocks: x8 like the real one
    assert inpaint.tokenizer.model_max_length == 77
    ids = inpaint.tokenizer("a red barn " * 40, truncation=True, max_length=77).input_ids
    assert len(ids) == 77
    model, processor = load_clipseg(str(tiny_models["clipseg"]), dtype=torch.float32)
    assert model.config.vision_config.image_size == 352


def test_tiny_sdxl_keeps_sdxl_geometry(tiny_models):
    import torch

    pipe = load_inpaint_pipeline(str(tiny_models["sdxl-inpaint"]), dtype=torch.float32)
    assert type(pipe).__name__ == "StableDiffusionXLInpaintPipeline"
    unet, te1, te2 = pipe.unet.config, pipe.text_encoder.config, pipe.text_encoder_2.config
    assert type(pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert unet.in_channels == 9 and unet.sample_size * pipe.vae_scale_factor == 1024
    assert unet.addition_embed_type == "text_time"
    assert unet.cross_attention_dim == te1.hidden_size + te2.hidden_size
    assert unet.projection_class_embeddings_input_dim == 6 * unet.addition_time_embed_dim + te2.projection_dim
    assert pipe.vae_scale_factor == 8 and pipe.vae.config.force_upcast
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert pipe.tokenizer_2("a red barn " * 40, truncation=True, max_length=77).input_ids.__len__() == 77


def test_tiny_click_models_load_as_their_classes(tiny_models):
    import torch

    from paint_widgets.engine.loading import load_segment_model

    expected = {"sam": "SamModel", "sam2": "Sam2Model", "sam3-tracker": "Sam3TrackerModel"}
    for name, class_name in expected.items():
        if name not in tiny_models:
            continue  # this transformers lacks the class
        model, processor = load_segment_model(str(tiny_models[name]), dtype=torch.float32)
        assert type(model).__name__ == class_name
        if name != "sam":  # SAM 2's geometry: masks from maps at 4x, 2x, 1x the prompt grid
            last = model.prompt_encoder.image_embedding_size
            sizes = [tuple(s) for s in model.config.vision_config.backbone_feature_sizes]
            assert sizes == [(4 * last[0], 4 * last[1]), (2 * last[0], 2 * last[1]), tuple(last)]
            assert processor.target_size == processor.size[0]
