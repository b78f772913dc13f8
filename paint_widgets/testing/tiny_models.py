"""Builders for the tiny models (see the package docstring)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

TEXT_DIM = 32
CLIPSEG_SIZE = 352
#: SDXL's second text encoder: a hidden size and a projection that differ from the first
#: encoder's, so a wrong sum in the UNet's ``cross_attention_dim`` or added conditioning fails.
TEXT2_DIM = 48
TEXT2_PROJECTION = 40
#: SDXL's added time conditioning: original size (2) + crop top-left (2) + target size (2).
SDXL_TIME_IDS = 6
SDXL_TIME_EMBED_DIM = 8


def _byte_chars() -> list[str]:
    """GPT-2/CLIP's reversible byte-to-unicode alphabet (256 printable characters)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_tiny_tokenizer(folder: str | Path) -> Path:
    """Write a byte-level CLIP BPE vocabulary (514 tokens, a few merges) to ``folder``.

    Every string tokenises (single bytes are in the vocabulary), the 77-token
    limit and padding behave as with the real tokenizer.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    merges = ["h a", "ha i", "hai r</w>", "o r", "a n", "an g", "ang e</w>"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return folder


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    write_tiny_tokenizer(folder)
    # from_pretrained reads vocab.json + merges.txt in every transformers version
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)


def _text_config(vocab_size: int, hidden: int = TEXT_DIM, projection: int = TEXT_DIM):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=projection,
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
    )


def _tiny_vae(**config):
    """A VAE that downsamples x8 like the real one (four blocks of tiny width)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8, **config,
    )


def build_tiny_sd(*, in_channels: int = 9, seed: int = 0, workdir: str | Path | None = None):
    """A tiny ``StableDiffusionInpaintPipeline`` (9 UNet input channels) or plain SD (4)."""
    import tempfile

    from diffusers import (
        LMSDiscreteScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=TEXT_DIM,
        attention_head_dim=8, norm_num_groups=16,
    )
    vae = _tiny_vae(sample_size=512)
    tok_dir = Path(workdir or tempfile.mkdtemp(prefix="pw-tok-"))
    tokenizer = _tokenizer(tok_dir)
    text_encoder = CLIPTextModel(_text_config(len(tokenizer)))
    scheduler = LMSDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        steps_offset=1,
    )
    cls = StableDiffusionInpaintPipeline if in_channels == 9 else StableDiffusionPipeline
    return cls(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def build_tiny_sdxl(*, seed: int = 0, workdir: str | Path | None = None):
    """A tiny ``StableDiffusionXLInpaintPipeline`` with SDXL's geometry.

    Two CLIP text encoders (``CLIPTextModel`` and ``CLIPTextModelWithProjection``, each
    with the byte-level tokenizer), a 9-channel UNet with SDXL's added ``text_time``
    conditioning (``cross_attention_dim`` = the sum of both hidden sizes; the added
    embedding takes the six time ids plus the second encoder's pooled projection),
    ``sample_size`` 128 (1024 pixels, SDXL's native size), a x8 VAE with SDXL's
    scaling factor and ``force_upcast``, and SDXL's ``EulerDiscreteScheduler``.
    """
    import tempfile

    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=128, in_channels=9, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), transformer_layers_per_block=(1, 1),
        attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=16,
        cross_attention_dim=TEXT_DIM + TEXT2_DIM, addition_embed_type="text_time",
        addition_time_embed_dim=SDXL_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=SDXL_TIME_IDS * SDXL_TIME_EMBED_DIM + TEXT2_PROJECTION,
    )
    vae = _tiny_vae(sample_size=1024, scaling_factor=0.13025, force_upcast=True)
    tok_dir = Path(workdir or tempfile.mkdtemp(prefix="pw-tok-"))
    tokenizer = _tokenizer(tok_dir)
    tokenizer_2 = _tokenizer(tok_dir)
    text_encoder = CLIPTextModel(_text_config(len(tokenizer)))
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(len(tokenizer_2), TEXT2_DIM, TEXT2_PROJECTION))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        steps_offset=1, timestep_spacing="leading", interpolation_type="linear", prediction_type="epsilon",
        use_karras_sigmas=False,
    )
    return StableDiffusionXLInpaintPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler, requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )


def build_tiny_clipseg(*, seed: int = 0, workdir: str | Path | None = None):
    """A tiny ``CLIPSegForImageSegmentation`` at 352x352 and its ``CLIPSegProcessor``."""
    import tempfile

    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPSegVisionConfig,
        ViTImageProcessor,
    )

    torch.manual_seed(seed)
    tok_dir = Path(workdir or tempfile.mkdtemp(prefix="pw-tok-"))
    tokenizer = _tokenizer(tok_dir)
    text = _text_config(len(tokenizer)).to_dict()
    vision = CLIPSegVisionConfig(
        hidden_size=TEXT_DIM, intermediate_size=37, num_hidden_layers=3, num_attention_heads=4,
        image_size=CLIPSEG_SIZE, patch_size=32, projection_dim=TEXT_DIM,
    ).to_dict()
    config = CLIPSegConfig(
        text_config=text, vision_config=vision, projection_dim=TEXT_DIM, reduce_dim=16,
        extract_layers=[1, 2], decoder_num_attention_heads=2, decoder_intermediate_size=32,
    )
    model = CLIPSegForImageSegmentation(config).eval()
    image_processor = ViTImageProcessor(
        do_resize=True, size={"height": CLIPSEG_SIZE, "width": CLIPSEG_SIZE}, do_normalize=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], resample=2,
    )
    processor = CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return model, processor


def write_tiny_lora(model_folder: str | Path, path: str | Path, *, seed: int = 4, rank: int = 4) -> Path:
    """A LoRA for the UNet of the tiny model in ``model_folder`` (SD 1.x or SDXL), made
    with peft, saved as diffusers saves LoRAs.

    Random A and B (not peft's zero B), so it visibly changes the pixels at weight 1.0
    and less at lower weights. The SD one fits every tiny SD 1.x UNet (the attention
    layers are the same with 4 or 9 input channels), not the SDXL one.
    """
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(Path(model_folder) / "unet")
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    index = json.loads((Path(model_folder) / "model_index.json").read_text(encoding="utf-8"))
    xl = str(index["_class_name"]).startswith("StableDiffusionXL")
    (StableDiffusionXLPipeline if xl else StableDiffusionPipeline).save_lora_weights(save_directory=str(path.parent), weight_name=path.name,
                                              unet_lora_layers=get_peft_model_state_dict(unet))
    return path
