"""``paint_widgets.testing``: the tiny models load through the real loading code."""

from __future__ import annotations

import json

from paint_widgets.engine.loading import load_clipseg, load_inpaint_pipeline
from paint_widgets.testing.__main__ import main


def test_cli_writes_three_models_and_prints_their_paths(tmp_path, capsys):
    assert main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / name) for name in ("sd-inpaint", "sd", "clipseg")]
    for folder in printed[:2]:
        index = json.loads((tmp_path / folder / "model_index.json").read_text())
        assert index["_class_name"] in ("StableDiffusionInpaintPipeline", "StableDiffusionPipeline")
        assert list((tmp_path / folder / "unet").glob("*.safetensors"))
    assert list((tmp_path / "clipseg").glob("*.safetensors"))


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
