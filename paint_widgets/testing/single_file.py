"""Single-file checkpoints in the original Stable Diffusion key layout, from a diffusers folder.

Users download one ``.safetensors`` file (CivitAI, the original Stability releases):
UNet, VAE and text encoders in the key layout of the CompVis/Stability code
(``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.*`` or SDXL's
``conditioner.embedders.{0,1}.*``). To test that such files load through the same
``from_single_file`` call real ones take, the tiny models are written in that layout
here: the inverse of diffusers' own conversion (``diffusers.loaders.single_file_utils``:
``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint``,
``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``), for any number of
blocks and layers per block, and checked against it by the tests (a round trip gives
every tensor back). Writing only: nothing here is used to load a model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD_CLIP_PREFIX = "cond_stage_model.transformer.text_model."
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer.text_model."
SDXL_OPENCLIP_PREFIX = "conditioner.embedders.1.model."

_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}
_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0",
                "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}


def _load(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(path)))
    return out


def _rename(rest: str, table: dict[str, str]) -> str:
    for new, old in table.items():
        rest = rest.replace(new, old)
    return rest


def unet_to_original(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """A diffusers UNet state dict in the original ``input_blocks``/``middle_block``/``output_blocks`` layout."""
    per = int(config["layers_per_block"]) + 1  # resnets (and attentions) per block, + its down/upsampler
    up_has_attention = ["CrossAttn" in t for t in config["up_block_types"]]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        new: str | None = None
        for prefix, old in _UNET_TOP.items():
            if key.startswith(prefix):
                new = old + key[len(prefix):]
        if new is None and parts[0] == "down_blocks":
            i, kind = int(parts[1]), parts[2]
            if kind == "downsamplers":  # down_blocks.i.downsamplers.0.conv.* -> input_blocks.N.0.op.*
                new = f"input_blocks.{(i + 1) * per}.0.op." + ".".join(parts[5:])
            else:
                j = int(parts[3])
                slot = 0 if kind == "resnets" else 1
                rest = ".".join(parts[4:])
                rest = _rename(rest, _UNET_RESNET) if kind == "resnets" else rest
                new = f"input_blocks.{1 + i * per + j}.{slot}.{rest}"
        elif new is None and parts[0] == "mid_block":
            kind, j, rest = parts[1], int(parts[2]), ".".join(parts[3:])
            new = (f"middle_block.{2 * j}.{_rename(rest, _UNET_RESNET)}" if kind == "resnets"
                   else f"middle_block.1.{rest}")
        elif new is None and parts[0] == "up_blocks":
            i, kind = int(parts[1]), parts[2]
            if kind == "upsamplers":  # after the block's last resnet (and attention)
                slot = 2 if up_has_attention[i] else 1
                new = f"output_blocks.{i * per + per - 1}.{slot}." + ".".join(parts[4:])
            else:
                j = int(parts[3])
                slot = 0 if kind == "resnets" else 1
                rest = ".".join(parts[4:])
                rest = _rename(rest, _UNET_RESNET) if kind == "resnets" else rest
                new = f"output_blocks.{i * per + j}.{slot}.{rest}"
        if new is None:
            raise ValueError(f"no original-layout name for UNet tensor {key}")
        out[UNET_PREFIX + new] = value
    return out


def vae_to_original(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """A diffusers AutoencoderKL state dict in the original ``encoder.down.N.block.M`` layout."""
    n = len(config["block_out_channels"])
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        side = parts[0]
        new = key.replace("conv_norm_out", "norm_out")
        if side in ("encoder", "decoder") and parts[1] in ("down_blocks", "up_blocks"):
            i, kind = int(parts[2]), parts[3]
            level = i if parts[1] == "down_blocks" else n - 1 - i  # up blocks count the other way
            name = "down" if parts[1] == "down_blocks" else "up"
            if kind == "resnets":
                rest = _rename(".".join(parts[5:]), _VAE_RESNET)
                new = f"{side}.{name}.{level}.block.{parts[4]}.{rest}"
            else:  # downsamplers.0.conv / upsamplers.0.conv
                new = f"{side}.{name}.{level}.{'downsample' if name == 'down' else 'upsample'}." + ".".join(parts[5:])
        elif side in ("encoder", "decoder") and parts[1] == "mid_block":
            if parts[2] == "resnets":
                rest = _rename(".".join(parts[4:]), _VAE_RESNET)
                new = f"{side}.mid.block_{int(parts[3]) + 1}.{rest}"
            else:
                rest = _rename(".".join(parts[4:]), _VAE_ATTENTION)
                new = f"{side}.mid.attn_1.{rest}"
                if value.ndim == 2:  # linear in diffusers, 1x1 convolution in the original
                    value = value.reshape(*value.shape, 1, 1)
        out[VAE_PREFIX + new] = value
    return out


def clip_to_original(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """A transformers ``CLIPTextModel`` state dict (``text_model.`` or flattened) under ``prefix``."""
    return {prefix + (k[len("text_model."):] if k.startswith("text_model.") else k): v for k, v in state.items()}


def openclip_to_original(state: dict[str, torch.Tensor], prefix: str = SDXL_OPENCLIP_PREFIX) -> dict[str, torch.Tensor]:
    """A ``CLIPTextModelWithProjection`` state dict in OpenCLIP's layout (``transformer.resblocks``,
    fused ``in_proj`` q/k/v, ``text_projection`` transposed), as SDXL checkpoints hold it."""
    state = {(k[len("text_model."):] if k.startswith("text_model.") else k): v for k, v in state.items()}
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        elif key == "embeddings.position_embedding.weight":
            out["positional_embedding"] = value
        elif key == "embeddings.token_embedding.weight":
            out["token_embedding.weight"] = value
        elif key.startswith("final_layer_norm."):
            out["ln_final." + key.split(".", 1)[1]] = value
        elif key.startswith("encoder.layers."):
            _, _, layer, *rest = key.split(".")
            name = ".".join(rest)
            base = f"transformer.resblocks.{layer}."
            if name.startswith("self_attn.") and name.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                fused.setdefault(f"{base}attn.in_proj_{name.split('.')[2]}", {})[name.split(".")[1][0]] = value
                continue
            name = (name.replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
                    .replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj").replace("self_attn.", "attn."))
            out[base + name] = value
        else:
            raise ValueError(f"no OpenCLIP name for text encoder tensor {key}")
    for key, qkv in fused.items():
        out[key] = torch.cat([qkv["q"], qkv["k"], qkv["v"]])
    return {prefix + k: v for k, v in out.items()}


def original_layout(folder: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a diffusers SD 1.x or SDXL folder as one original-layout checkpoint."""
    folder = Path(folder)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    unet_config = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    vae_config = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
    out = unet_to_original(_load(folder / "unet"), unet_config)
    out.update(vae_to_original(_load(folder / "vae"), vae_config))
    if str(index["_class_name"]).startswith("StableDiffusionXL"):
        out.update(clip_to_original(_load(folder / "text_encoder"), SDXL_CLIP_PREFIX))
        out.update(openclip_to_original(_load(folder / "text_encoder_2")))
    else:
        out.update(clip_to_original(_load(folder / "text_encoder"), SD_CLIP_PREFIX))
    return out


def write_single_file(folder: str | Path, path: str | Path) -> Path:
    """Write ``folder`` (a diffusers SD 1.x/SDXL pipeline) as one original-layout ``.safetensors``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in original_layout(folder).items()}, str(path))
    return path


__all__ = ["original_layout", "write_single_file"]
