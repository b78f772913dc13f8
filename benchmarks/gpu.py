"""GPU benchmarks: full-size SD1.5-inpainting, SDXL-inpainting and FLUX.1 Fill with random weights.

Nothing is downloaded. Each model is built from its published configuration (the
values are written out below), with random weights, saved to a temporary folder
in fp16 safetensors and loaded back through the same ``from_pretrained`` path real
weights take. Random weights compute exactly as much as trained ones, so the
timings are those of the real models (the images are noise).

Per model, side by side in one run (every call: same prompt, size, steps, sampler,
guidance 7.5, strength 1.0, so both sides run all the steps):

- the plain diffusers pipeline call vs ``paint_widgets.inpaint`` on the resident
  manager (warm), ``fast=True`` and ``fast="compile"`` (after its warm-up);
- the "reload the pipeline in every cell" pattern vs the resident manager;
- cold load from the local folder (the files are in the OS page cache: a fresh
  disk read adds the disk's time);
- VAE encode + decode as a share of the call; peak GPU memory;
- loads counted: no model is reloaded after the first call;
- a 4096x4096 image with a 200 px mask (auto -> crop) vs a native-size image;
- CLIPSeg (``CIDAS/clipseg-rd64-refined``'s configuration) per ``text_mask`` call;
- ``sam`` (:mod:`gpu_segment`, issue #16): SAM ViT-B's embedding of a 1024² picture and a
  click's mask after it (``pw.segment``, <= 15 ms), SAM 3's ``pw.text_mask`` per call
  (<= 250 ms) and its threshold slide (< 20 ms);
- ``live`` (:mod:`gpu_live`, issue #17): stroke -> preview (``pw.preview`` with the SD1.5
  model above and an LCM-LoRA-shaped random adapter, 512² crop, + the crop's PNG) for
  ``fast=False``/``True``/``"compile"`` (<= 80 ms on an H100/H200 with compile).

FLUX.1 Fill (``black-forest-labs/FLUX.1-Fill-dev``'s configuration: the 12B MMDiT with
384 input channels, CLIP-L and T5-XXL, 16-channel VAE) runs 1024² at 28 steps in bf16,
its own ``FlowMatchEulerDiscreteScheduler`` (``k_euler``), without the ``fast`` modes
(they tune UNets) and without the reload-per-cell row (34 GB per reload).

``--gpu-dry-run`` runs this whole section on the CPU with the same code but
scaled-down configurations, to check the plumbing on machines without a GPU (its
numbers mean nothing).
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import Row, format_table, median_ms, note

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Log = Callable[[str], None]

# --------------------------------------------------------------------------- published configurations

#: stable-diffusion-v1-5/stable-diffusion-inpainting, unet/config.json
SD15_UNET: dict[str, Any] = {
    "sample_size": 64, "in_channels": 9, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 768, "attention_head_dim": 8, "norm_num_groups": 32, "norm_eps": 1e-5,
    "act_fn": "silu", "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0,
    "mid_block_scale_factor": 1, "center_input_sample": False,
}
#: vae/config.json (no ``force_upcast`` key: diffusers' default, True, applies)
SD15_VAE: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512), "norm_num_groups": 32, "act_fn": "silu",
    "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4,
    "sample_size": 512,
}
#: text_encoder/config.json: CLIP ViT-L/14's text tower
SD15_TEXT: dict[str, Any] = {
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
    "projection_dim": 768, "layer_norm_eps": 1e-5,
}
#: scheduler/scheduler_config.json
SD15_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
}

#: diffusers/stable-diffusion-xl-1.0-inpainting-0.1, unet/config.json
SDXL_UNET: dict[str, Any] = {
    "sample_size": 128, "in_channels": 9, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10), "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048, "use_linear_projection": True, "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32, "norm_eps": 1e-5, "act_fn": "silu", "flip_sin_to_cos": True, "freq_shift": 0,
}
SDXL_VAE: dict[str, Any] = {**SD15_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}
#: text_encoder: CLIP ViT-L/14 text (as SD1.5's)
SDXL_TEXT: dict[str, Any] = dict(SD15_TEXT)
#: text_encoder_2: OpenCLIP ViT-bigG/14 text, with projection
SDXL_TEXT_2: dict[str, Any] = {
    "vocab_size": 49408, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
    "num_attention_heads": 20, "max_position_embeddings": 77, "hidden_act": "gelu",
    "projection_dim": 1280, "layer_norm_eps": 1e-5,
}
SDXL_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "steps_offset": 1, "timestep_spacing": "leading", "interpolation_type": "linear",
    "prediction_type": "epsilon", "use_karras_sigmas": False,
}

#: black-forest-labs/FLUX.1-Fill-dev, transformer/config.json
FLUX_TRANSFORMER: dict[str, Any] = {
    "patch_size": 1, "in_channels": 384, "out_channels": 64, "num_layers": 19, "num_single_layers": 38,
    "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 4096,
    "pooled_projection_dim": 768, "guidance_embeds": True, "axes_dims_rope": (16, 56, 56),
}
#: vae/config.json (16 latent channels, no quant convs)
FLUX_VAE: dict[str, Any] = {
    **SD15_VAE, "latent_channels": 16, "sample_size": 1024, "scaling_factor": 0.3611, "shift_factor": 0.1159,
    "use_quant_conv": False, "use_post_quant_conv": False, "force_upcast": True,
}
#: text_encoder: CLIP ViT-L/14 text (pooled output)
FLUX_TEXT: dict[str, Any] = dict(SD15_TEXT)
#: text_encoder_2: T5 v1.1 XXL's encoder
FLUX_T5: dict[str, Any] = {
    "vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": True,
    "layer_norm_epsilon": 1e-6, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
}
FLUX_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5,
    "max_shift": 1.15, "base_image_seq_len": 256, "max_image_seq_len": 4096,
}

#: CIDAS/clipseg-rd64-refined, config.json (ViT-B/16 vision, CLIP text, 64-d decoder)
CLIPSEG: dict[str, Any] = {
    "projection_dim": 512, "extract_layers": [3, 6, 9], "reduce_dim": 64, "decoder_num_attention_heads": 4,
    "decoder_intermediate_size": 2048, "conditional_layer": 0, "use_complex_transposed_convolution": True,
}
CLIPSEG_VISION: dict[str, Any] = {
    "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
    "image_size": 224, "patch_size": 16, "hidden_act": "quick_gelu",
}
CLIPSEG_TEXT: dict[str, Any] = {
    "vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
    "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
}

# Scaled-down stand-ins for --gpu-dry-run (same code, CPU-sized models).
_DRY: dict[str, dict[str, Any]] = {
    "SD15_UNET": {"block_out_channels": (32, 32, 64, 64), "layers_per_block": 1, "cross_attention_dim": 32,
                  "norm_num_groups": 16},
    "SD15_VAE": {"block_out_channels": (8, 16, 16, 16), "layers_per_block": 1, "norm_num_groups": 8},
    "SD15_TEXT": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "projection_dim": 32},
    "SDXL_UNET": {"block_out_channels": (32, 64, 64), "layers_per_block": 1, "transformer_layers_per_block": (1, 1, 1),
                  "attention_head_dim": (2, 4, 4), "cross_attention_dim": 64, "addition_time_embed_dim": 8,
                  "projection_class_embeddings_input_dim": 80, "norm_num_groups": 16},
    "SDXL_VAE": {"block_out_channels": (8, 16, 16, 16), "layers_per_block": 1, "norm_num_groups": 8},
    "SDXL_TEXT": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "projection_dim": 32},
    "SDXL_TEXT_2": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "projection_dim": 32},
    "FLUX_TRANSFORMER": {"num_layers": 1, "num_single_layers": 1, "attention_head_dim": 16, "num_attention_heads": 2,
                         "joint_attention_dim": 32, "pooled_projection_dim": 32, "axes_dims_rope": (4, 6, 6)},
    "FLUX_VAE": {"block_out_channels": (8, 16, 16, 16), "layers_per_block": 1, "norm_num_groups": 8},
    "FLUX_TEXT": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "projection_dim": 32},
    "FLUX_T5": {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4},
    "CLIPSEG_VISION": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 3, "num_attention_heads": 4,
                       "patch_size": 32},
    "CLIPSEG_TEXT": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4},
    "CLIPSEG": {"projection_dim": 32, "extract_layers": [1, 2], "reduce_dim": 16, "decoder_num_attention_heads": 2,
                "decoder_intermediate_size": 32},
}


def config(name: str, dry: bool) -> dict[str, Any]:
    """The published configuration ``name`` (a module constant), shrunk for a dry run."""
    base = dict(globals()[name])
    if dry:
        base.update(_DRY.get(name, {}))
    return base


# --------------------------------------------------------------------------- building the models


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    from paint_widgets.testing import write_tiny_tokenizer

    write_tiny_tokenizer(folder)
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)


def _text_config(values: dict[str, Any], tokenizer: Any):
    """A CLIP text config with the published sizes (vocab 49408) and the tiny tokenizer's special ids."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(**values, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id)


def _save(pipe: Any, folder: Path, dtype: Any) -> None:
    import torch

    pipe.to(dtype=dtype)
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def write_sd15(folder: Path, *, device: str, dtype: Any, dry: bool = False) -> Path:
    """SD1.5-inpainting with random weights, saved as a diffusers folder."""
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    tokenizer = _tokenizer(folder.parent / f"{folder.name}-tokenizer")
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**config("SD15_UNET", dry))
        vae = AutoencoderKL(**config("SD15_VAE", dry))
        text = CLIPTextModel(_text_config(config("SD15_TEXT", dry), tokenizer))
    pipe = StableDiffusionInpaintPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=PNDMScheduler(**SD15_SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    _save(pipe, folder, dtype)
    return folder


def write_sdxl(folder: Path, *, device: str, dtype: Any, dry: bool = False) -> Path:
    """SDXL-inpainting with random weights (two text encoders), saved as a diffusers folder."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = _tokenizer(folder.parent / f"{folder.name}-tokenizer")
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**config("SDXL_UNET", dry))
        vae = AutoencoderKL(**config("SDXL_VAE", dry))
        text = CLIPTextModel(_text_config(config("SDXL_TEXT", dry), tokenizer))
        text_2 = CLIPTextModelWithProjection(_text_config(config("SDXL_TEXT_2", dry), tokenizer))
    pipe = StableDiffusionXLInpaintPipeline(
        vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
        scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER), requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )
    _save(pipe, folder, dtype)
    return folder


def write_flux_fill(folder: Path, *, device: str, dtype: Any, dry: bool = False) -> Path:
    """FLUX.1 Fill with random weights (CLIP-L + T5-XXL, 384-channel transformer), saved as a diffusers folder."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxFillPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    from paint_widgets.testing.tiny_flow import build_t5_tokenizer

    tokenizer = _tokenizer(folder.parent / f"{folder.name}-tokenizer")
    tokenizer_2 = build_t5_tokenizer(folder.parent / f"{folder.name}-t5", max_length=512)  # FLUX reads 512
    torch.manual_seed(0)
    with torch.device(device):
        transformer = FluxTransformer2DModel(**config("FLUX_TRANSFORMER", dry))
        vae = AutoencoderKL(**config("FLUX_VAE", dry))
        text = CLIPTextModel(_text_config(config("FLUX_TEXT", dry), tokenizer))
        text_2 = T5EncoderModel(T5Config(**config("FLUX_T5", dry)))
    pipe = FluxFillPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER), vae=vae, text_encoder=text, tokenizer=tokenizer,
        text_encoder_2=text_2, tokenizer_2=tokenizer_2, transformer=transformer,
    )
    _save(pipe, folder, dtype)
    return folder


def write_clipseg(folder: Path, *, device: str, dtype: Any, dry: bool = False) -> Path:
    """CLIPSeg rd64-refined with random weights and a 352x352 processor, saved."""
    import torch
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPSegTextConfig,
        CLIPSegVisionConfig,
        ViTImageProcessor,
    )

    tokenizer = _tokenizer(folder.parent / f"{folder.name}-tokenizer")
    text = CLIPSegTextConfig(**config("CLIPSEG_TEXT", dry), bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    cfg = CLIPSegConfig(text_config=text.to_dict(), vision_config=CLIPSegVisionConfig(**config("CLIPSEG_VISION", dry)).to_dict(),
                        **config("CLIPSEG", dry))
    torch.manual_seed(0)
    with torch.device(device):
        model = CLIPSegForImageSegmentation(cfg).eval()
    model.to(dtype=dtype).save_pretrained(folder, safe_serialization=True)
    processor = CLIPSegProcessor(
        image_processor=ViTImageProcessor(do_resize=True, size={"height": 352, "width": 352}, do_normalize=True,
                                          image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
                                          resample=2),
        tokenizer=tokenizer,
    )
    processor.save_pretrained(folder)
    return folder


def parameter_counts(dry: bool = False) -> dict[str, int]:
    """Parameters of each full-size module, built on the meta device (no memory, no time)."""
    import torch
    from diffusers import AutoencoderKL, FluxTransformer2DModel, UNet2DConditionModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        T5Config,
        T5EncoderModel,
    )

    counts = {}
    with torch.device("meta"):
        for name, build in {
            "SD15_UNET": lambda: UNet2DConditionModel(**config("SD15_UNET", dry)),
            "SD15_VAE": lambda: AutoencoderKL(**config("SD15_VAE", dry)),
            "SD15_TEXT": lambda: CLIPTextModel(CLIPTextConfig(**config("SD15_TEXT", dry))),
            "SDXL_UNET": lambda: UNet2DConditionModel(**config("SDXL_UNET", dry)),
            "SDXL_TEXT_2": lambda: CLIPTextModelWithProjection(CLIPTextConfig(**config("SDXL_TEXT_2", dry))),
            "FLUX_TRANSFORMER": lambda: FluxTransformer2DModel(**config("FLUX_TRANSFORMER", dry)),
            "FLUX_T5": lambda: T5EncoderModel(T5Config(**config("FLUX_T5", dry))),
        }.items():
            counts[name] = sum(p.numel() for p in build().parameters())
    return counts


# --------------------------------------------------------------------------- measuring


@dataclass
class Spec:
    """One model family to measure."""

    label: str
    write: Callable[..., Path]
    pipeline_class: str
    size: int
    steps: int
    sampler: str  # the paint_widgets sampler that is the pipeline's own scheduler
    min_memory_gb: float
    bf16: bool = False  # run in bfloat16 (FLUX: fp16 overflows in T5 and the MMDiT)
    tuned: bool = True  # measure fast=True / fast="compile" and the reload-per-cell pattern (UNet families)
    rows: list[Row] = field(default_factory=list)


def _cuda_sync(device: str) -> Callable[[], None] | None:
    if device != "cuda":
        return None
    import torch

    return torch.cuda.synchronize


def _free() -> None:
    """Give memory back once the caller dropped its references."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _inputs(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    img = np.stack([xx * 255 // size, yy * 255 // size, ((xx // 32 + yy // 32) % 2) * 200], -1).astype(np.uint8)
    mask = np.zeros((size, size), bool)
    mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    return img, mask


def measure(spec: Spec, folder: Path, *, device: str, dtype: Any, repeats: int, compile: bool, huge: int,
            log: Log) -> list[Row]:
    """Every figure for one model family; the models are already written to ``folder``."""
    import diffusers
    import torch
    from PIL import Image

    import paint_widgets as pw
    from paint_widgets.engine.denoise import decode_latents
    from paint_widgets.engine.manager import PipelineManager

    cuda = device == "cuda"
    sync = _cuda_sync(device)
    tag = f"{spec.label} {spec.size}² {spec.steps} steps"
    prompt = "a photo of a red barn"
    img, mask = _inputs(spec.size)
    pil, pil_mask = Image.fromarray(img), Image.fromarray((mask * 255).astype(np.uint8))
    rows: list[Row] = [note(f"{spec.label}: {spec.size}x{spec.size}, {spec.steps} steps, {str(dtype).replace('torch.', '')}, "
                            f"guidance 7.5, sampler {spec.sampler}, random weights from the published config")]

    # ---- cold load from a local folder, then warm calls on the resident manager
    mgr = PipelineManager(device=device, dtype=dtype)
    mgr.configure(model=str(folder))
    log(f"{spec.label}: cold load")
    start = time.perf_counter()
    pipe = mgr.pipeline()
    if sync:
        sync()
    cold_s = time.perf_counter() - start
    kw = {"steps": spec.steps, "strength": 1.0, "cfg": 7.5, "sampler": spec.sampler, "seed": 1, "mgr": mgr}

    def managed() -> None:
        pw.inpaint(img, mask, prompt, **kw)

    log(f"{spec.label}: paint_widgets warm calls")
    managed()  # first call
    loads_after_first = mgr.status()["loads"]
    if cuda:
        torch.cuda.synchronize()
        resident = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    pw_ms = median_ms(managed, repeats, warmup=0, sync=sync)
    peak = torch.cuda.max_memory_allocated() if cuda else None
    loads_after_all = mgr.status()["loads"]

    # ---- VAE encode / decode share
    vae = pipe.vae
    x = torch.from_numpy(img).permute(2, 0, 1)[None].to(device=device, dtype=vae.dtype) / 127.5 - 1.0
    with torch.no_grad():
        latents = vae.encode(x).latent_dist.sample() * vae.config.scaling_factor

        def encode() -> None:
            with torch.no_grad():
                vae.encode(x).latent_dist.sample()

        enc_ms = median_ms(encode, repeats, sync=sync)
    dec_ms = median_ms(lambda: decode_latents(pipe, latents), repeats, sync=sync)

    # ---- a huge image with a small mask (auto -> crop) vs a native-size image
    log(f"{spec.label}: {huge}² with a 200 px mask")
    himg = np.tile(img, (huge // spec.size + 1, huge // spec.size + 1, 1))[:huge, :huge].copy()
    hmask = np.zeros((huge, huge), bool)
    hmask[huge // 2 : huge // 2 + 200, huge // 3 : huge // 3 + 200] = True
    huge_ms = median_ms(lambda: pw.inpaint(himg, hmask, prompt, **kw), repeats, sync=sync)

    # ---- the plain diffusers pipeline, resident, interleaved with paint_widgets
    log(f"{spec.label}: plain diffusers pipeline")
    cls = getattr(diffusers, spec.pipeline_class)
    load_kw: dict[str, Any] = {"torch_dtype": dtype, "use_safetensors": True}
    if spec.pipeline_class == "StableDiffusionInpaintPipeline":
        load_kw.update(safety_checker=None, requires_safety_checker=False)
    start = time.perf_counter()
    plain = cls.from_pretrained(str(folder), **load_kw).to(device)
    if sync:
        sync()
    plain_load_s = time.perf_counter() - start
    plain.set_progress_bar_config(disable=True)

    def direct() -> None:
        plain(prompt=prompt, image=pil, mask_image=pil_mask, height=spec.size, width=spec.size,
              num_inference_steps=spec.steps, strength=1.0, guidance_scale=7.5,
              generator=torch.Generator("cpu").manual_seed(1)).images[0]

    direct()
    plain_times, pw_times = [], []
    for _ in range(repeats):
        plain_times.append(median_ms(direct, 1, warmup=0, sync=sync))
        pw_times.append(median_ms(managed, 1, warmup=0, sync=sync))
    plain_ms, pw_ms_paired = float(np.median(plain_times)), float(np.median(pw_times))

    # ---- "reload the pipeline in every cell"
    log(f"{spec.label}: reload-per-cell pattern")
    plain = None  # drop it before the reload pattern loads its own copies
    _free()

    def reload_cell() -> None:
        p = cls.from_pretrained(str(folder), **load_kw).to(device)
        p.set_progress_bar_config(disable=True)
        p(prompt=prompt, image=pil, mask_image=pil_mask, height=spec.size, width=spec.size,
          num_inference_steps=spec.steps, strength=1.0, guidance_scale=7.5).images[0]
        del p
        _free()

    reload_ms = median_ms(reload_cell, max(1, repeats // 2), warmup=0, sync=sync) if spec.tuned else None

    # ---- fast=True and fast="compile"
    fast_ms = compile_ms = warm_s = None
    if spec.tuned:
        log(f"{spec.label}: fast=True")
        mgr.configure(fast=True)
        managed()
        fast_ms = median_ms(managed, repeats, warmup=0, sync=sync)
    if compile and spec.tuned:
        log(f"{spec.label}: fast='compile' (compiling: minutes)")
        mgr.configure(fast="compile")
        warm_s = mgr.warm_up(spec.size, spec.size)
        managed()
        compile_ms = median_ms(managed, repeats, warmup=0, sync=sync)
    mgr.release()
    pipe = vae = latents = None
    _free()

    # ---- the rows
    h100 = cuda and "H100" in torch.cuda.get_device_name()
    native_s = pw_ms_paired / 1000
    rows += [
        Row(f"{tag}: plain diffusers pipeline call (resident)", plain_ms / 1000, "s"),
        Row(f"{tag}: paint_widgets.inpaint, warm", native_s, "s", pw_ms_paired / plain_ms, "plain",
            "<= 1.02x plain", pw_ms_paired / plain_ms <= 1.02),
    ]
    if fast_ms is not None:
        rows.append(Row(f"{tag}: paint_widgets fast=True", fast_ms / 1000, "s", fast_ms / plain_ms, "plain",
                        "<= 0.77x plain (1.3x faster)", fast_ms / plain_ms <= 1 / 1.3))
    if compile_ms is not None:
        rows += [
            Row(f"{tag}: paint_widgets fast='compile', after warm-up", compile_ms / 1000, "s",
                compile_ms / plain_ms, "plain", "<= 0.77x plain (1.3x faster)", compile_ms / plain_ms <= 1 / 1.3),
            Row("  fast='compile' warm-up (compiles UNet + VAE decoder for this size)", warm_s, "s"),
        ]
    else:
        rows.append(note(f"  {tag}: fast='compile' not measured (--no-compile or dry run)"))
    if spec.label.startswith("SD1.5"):
        best = min(v for v in (pw_ms_paired, fast_ms, compile_ms) if v is not None) / 1000
        rows.append(Row(f"{tag}: best paint_widgets mode", best, "s", target="< 0.6 s on an H100",
                        ok=(best < 0.6) if h100 else None))
    if reload_ms is not None:
        rows.append(Row(f"{tag}: reload the pipeline in every cell", reload_ms / 1000, "s", reload_ms / pw_ms_paired,
                        "resident", target="resident manager avoids this"))
    rows += [
        Row(f"{spec.label}: cold load from a local folder (manager, first call)", cold_s, "s"),
        Row(f"{spec.label}: cold load, plain from_pretrained().to()", plain_load_s, "s"),
        Row(f"{spec.label}: VAE encode {spec.size}²", enc_ms, "ms", enc_ms / pw_ms, "call"),
        Row(f"{spec.label}: VAE decode {spec.size}² (as paint_widgets decodes)", dec_ms, "ms", dec_ms / pw_ms, "call"),
        Row(f"{spec.label}: {huge}² image, 200 px mask (auto -> crop)", huge_ms / 1000, "s", huge_ms / pw_ms,
            f"{spec.size}²", "about 1x (<= 1.25x)", huge_ms / pw_ms <= 1.25),
        Row(f"{spec.label}: models loaded for {repeats + 1} warm calls", loads_after_all, "loads",
            target="no reload after the first call", ok=loads_after_all == loads_after_first == 1),
    ]
    if peak is not None:
        rows += [
            Row(f"{spec.label}: peak GPU memory in a paint_widgets call", peak / 2**30, "GiB"),
            Row("  of which weights resident before the call", resident / 2**30, "GiB"),
        ]
    return rows


def clipseg_rows(folder: Path, *, device: str, dtype: Any, repeats: int, log: Log) -> list[Row]:
    """One ``text_mask`` call (pre-processing, model, heatmap back to the image) at full size."""
    from paint_widgets.engine import textmask
    from paint_widgets.engine.manager import PipelineManager

    log("CLIPSeg text_mask calls")
    mgr = PipelineManager(device=device, dtype=dtype)
    mgr.configure(textmask_model=str(folder))
    img, _ = _inputs(512)
    sync = _cuda_sync(device)
    ms = median_ms(lambda: textmask.text_mask(img, "hair", manager=mgr), repeats * 4, warmup=2, sync=sync)
    ms3 = median_ms(lambda: textmask.text_mask(img, "face|hair|eyes", manager=mgr), repeats * 2, sync=sync)
    loads = mgr.status()["loads"]
    mgr.release()
    return [
        Row("CLIPSeg rd64-refined (full size): text_mask() on 512x512, 1 prompt", ms, "ms",
            target="< 15 ms on a GPU", ok=(ms < 15) if device == "cuda" else None),
        Row("CLIPSeg rd64-refined: 3 prompts in one batched call", ms3, "ms", ms3 / ms, "1 prompt"),
        Row(f"CLIPSeg: models loaded for {repeats * 6 + 3} calls", loads, "loads", target="1", ok=loads == 1),
    ]


# --------------------------------------------------------------------------- entry point


def skip_reason() -> str | None:
    """Why the GPU section cannot run here, or None."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device"
    return None


def _stderr(text: str) -> None:
    print(f"  [gpu] {text}", file=sys.stderr, flush=True)


def _quiet() -> None:
    """Only errors from diffusers and transformers (their info lines would drown the progress)."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _live(tmp: Path, *, device: str, dtype: Any, dry_run: bool, quick: bool, compile: bool, log: Log) -> list[Row]:
    """The live-preview rows (#17): SD1.5-inpainting (written by the sd15 part, or here) + the LCM-LoRA."""
    import torch
    from gpu_live import live_rows, write_lcm_lora

    folder = tmp / "sd15"
    if not (folder / "model_index.json").is_file():
        log("SD1.5-inpainting (for the live preview): building random weights from the published config")
        write_sd15(folder, device=device, dtype=dtype, dry=dry_run)
    log("LCM-LoRA (rank 4 dry, else 64): building random weights")
    lora_dir = write_lcm_lora(folder, tmp / "loras", device=device, dtype=dtype, rank=4 if dry_run else 64).parent
    try:
        return live_rows(folder, lora_dir, device=device, dtype=dtype, repeats=2 if dry_run else (10 if quick else 20),
                         compile=compile, size=128 if dry_run else None, rank=4 if dry_run else 64, log=log)
    except torch.OutOfMemoryError:
        return [note("live preview: out of GPU memory, not measured")]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


#: Every part of the GPU section, in the order it runs (``--only`` picks some).
PARTS = ("sd15", "sdxl", "flux", "clipseg", "sam", "live")


def run(*, quick: bool = False, dry_run: bool = False, only: tuple[str, ...] = PARTS,
        compile: bool = True, log: Log = _stderr) -> list[Row]:
    """The GPU rows; one line saying why when there is no CUDA device (unless ``dry_run``)."""
    import torch

    if not dry_run:
        reason = skip_reason()
        if reason:
            return [note(f"GPU: skipped ({reason})")]
    device = "cpu" if dry_run else "cuda"
    dtype = torch.float32 if dry_run else torch.float16
    repeats = 1 if dry_run else (2 if quick else 5)
    if dry_run:
        header = "GPU section, DRY RUN on the CPU with scaled-down models (plumbing check; numbers mean nothing)"
        compile = False
    else:
        props = torch.cuda.get_device_properties(0)
        header = (f"GPU section: {torch.cuda.get_device_name(0)}, {props.total_memory / 2**30:.0f} GiB, "
                  f"torch {torch.__version__}, CUDA {torch.version.cuda}")
    rows = [note(header)]
    _quiet()
    specs = {
        "sd15": Spec("SD1.5-inpainting", write_sd15, "StableDiffusionInpaintPipeline", 128 if dry_run else 512,
                     2 if dry_run else 50, "plms", 8),
        "sdxl": Spec("SDXL-inpainting", write_sdxl, "StableDiffusionXLInpaintPipeline", 128 if dry_run else 1024,
                     2 if dry_run else 30, "k_euler", 24),
        "flux": Spec("FLUX.1-Fill", write_flux_fill, "FluxFillPipeline", 128 if dry_run else 1024,
                     2 if dry_run else 28, "k_euler", 60, bf16=True, tuned=False),
    }
    tmp = Path(tempfile.mkdtemp(prefix="pw-bench-gpu-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # random weights decode to NaN-ish images; casts warn
            for key in ("sd15", "sdxl", "flux"):
                if key not in only:
                    continue
                spec = specs[key]
                if not dry_run:
                    total = torch.cuda.get_device_properties(0).total_memory / 2**30
                    if total < spec.min_memory_gb:
                        rows.append(note(f"{spec.label}: skipped (needs about {spec.min_memory_gb:.0f} GiB of GPU "
                                         f"memory, this GPU has {total:.0f})"))
                        continue
                log(f"{spec.label}: building random weights from the published config")
                start = time.perf_counter()
                spec_dtype = torch.bfloat16 if spec.bf16 and not dry_run else dtype
                folder = spec.write(tmp / key, device=device, dtype=spec_dtype, dry=dry_run)
                log(f"{spec.label}: written in {time.perf_counter() - start:.0f} s")
                try:
                    rows += measure(spec, folder, device=device, dtype=spec_dtype, repeats=repeats, compile=compile,
                                    huge=1024 if dry_run else 4096, log=log)
                except torch.OutOfMemoryError:
                    rows.append(note(f"{spec.label}: out of GPU memory, not measured"))
                _free()
                if not (key == "sd15" and "live" in only):  # the live rows reuse SD1.5
                    shutil.rmtree(folder, ignore_errors=True)
            if "clipseg" in only:
                folder = write_clipseg(tmp / "clipseg", device=device, dtype=dtype, dry=dry_run)
                rows += clipseg_rows(folder, device=device, dtype=dtype, repeats=repeats, log=log)
            threads = torch.get_num_threads()
            if dry_run:  # tiny models on a shared CPU: intra-op threads mostly wait on each other
                torch.set_num_threads(1)
            try:
                # SAM first (about a minute), then live (its compile takes minutes); each part's rows
                # also go to the log at once, so a run stopped by a time limit still shows them
                if "sam" in only:
                    from gpu_segment import segment_rows

                    part = segment_rows(tmp, device=device, dtype=dtype, dry=dry_run, log=log)
                    log("sam rows so far:\n" + format_table(part))
                    rows += part
                    _free()
                if "live" in only:
                    part = _live(tmp, device=device, dtype=dtype, dry_run=dry_run, quick=quick, compile=compile,
                                 log=log)
                    log("live rows so far:\n" + format_table(part))
                    rows += part
                    _free()
            finally:
                torch.set_num_threads(threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if dry_run:
        for row in rows:
            row.ok = None  # scaled-down models on a CPU: targets cannot be judged
    return rows
