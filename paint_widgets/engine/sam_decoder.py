"""SAM's mask decoder for one click at a time, rearranged to cost half as much on a CPU.

transformers' :class:`~transformers.SamModel` runs the prompt encoder and the mask
decoder in about 110 ms per click on one CPU thread for ViT-B (64x64 image tokens,
256 channels). Profiling it (``benchmarks/bench_segment.py``) shows where it goes:
the image-sized projections of the two-way transformer, element-wise ops on
transposed (non-contiguous) ``(4096, 256)`` views, the flash-attention kernel on 4096
queries against 7 keys, the image-wide positional embedding recomputed every call,
and all four masks upscaled when one is kept. This module computes the same masks
from the same weights, differently:

- per image, once (:class:`DecoderCache`, kept with the embedding): the image tokens
  and the positional embedding in a contiguous ``(N, C)`` layout, and layer 0's
  token-to-image key and value projections (layer 0's image tokens do not depend on
  the prompts);
- per click: attention between the ~7 prompt tokens and the ``N`` image tokens is
  folded through the projection weights (``q W_k x`` instead of ``q (W_k x)``), so the
  image side is multiplied by ``C x heads*tokens`` matrices, not ``C x C/2`` ones;
  the key bias, constant along the softmax, drops out exactly;
- the IoU head picks the mask first, and only that one is upscaled; the two
  transposed convolutions (kernel 2, stride 2) are matrix products in
  channels-last order with the pixel shuffle applied once, to the final mask.

All of this is exact algebra: the masks are those of ``SamModel.forward`` up to
float rounding (``tests/engine/test_segment.py`` checks the same bool masks).
SAM 2 and SAM 3 tracker models take transformers' own forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

#: What :func:`decode` reads from a ``SamModel``: checked once, so a transformers release
#: that reshapes the decoder falls back to its own forward instead of failing a click.
_DECODER_PARTS = (
    "iou_token", "mask_tokens", "num_mask_tokens", "transformer.layers", "transformer.final_attn_token_to_image",
    "transformer.layer_norm_final_attn", "upscale_conv1", "upscale_conv2", "upscale_layer_norm", "activation",
    "output_hypernetworks_mlps", "iou_prediction_head",
)
_LAYER_PARTS = ("self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token", "mlp", "layer_norm1",
                "layer_norm2", "layer_norm3", "layer_norm4", "skip_first_layer_pe")
_ATTENTION_PARTS = ("q_proj", "k_proj", "v_proj", "out_proj", "num_attention_heads", "scaling")


def _has(obj: Any, path: str) -> bool:
    for name in path.split("."):
        if not hasattr(obj, name):
            return False
        obj = getattr(obj, name)
    return True


def supports(net: Any) -> bool:
    """Whether ``net`` is a transformers ``SamModel`` whose decoder this module can run."""
    decoder = getattr(net, "mask_decoder", None)
    if type(net).__name__ != "SamModel" or decoder is None or not _has(net, "prompt_encoder.no_mask_embed"):
        return False
    if not all(_has(decoder, p) for p in _DECODER_PARTS) or not hasattr(net, "get_image_wide_positional_embeddings"):
        return False
    layers = list(decoder.transformer.layers)
    attentions = [getattr(layer, a) for layer in layers for a in ("cross_attn_token_to_image", "cross_attn_image_to_token")]
    attentions.append(decoder.transformer.final_attn_token_to_image)
    return (bool(layers) and all(_has(layer, p) for layer in layers for p in _LAYER_PARTS)
            and all(_has(a, p) for a in attentions if a is not None for p in _ATTENTION_PARTS)
            and all(isinstance(c, torch.nn.ConvTranspose2d) and c.kernel_size == (2, 2) and c.stride == (2, 2)
                    for c in (decoder.upscale_conv1, decoder.upscale_conv2)))


@dataclass(eq=False)
class DecoderCache:
    """What the mask decoder computes from the image alone: reused by every click on it.

    ``keys`` are the image tokens plus the no-mask dense embedding, ``pos`` the
    image-wide positional embedding, both ``(N, C)``; ``k0``/``v0`` layer 0's
    token-to-image key and value projections, ``(heads, N, head_dim)``.
    """

    keys: Tensor
    pos: Tensor
    keys_pos: Tensor
    k0: Tensor
    v0: Tensor
    size: tuple[int, int]


def _heads(x: Tensor, heads: int) -> Tensor:
    """``(T, D)`` → ``(heads, T, D / heads)``, head-major as transformers splits them."""
    return x.view(x.shape[0], heads, -1).transpose(0, 1)


def prepare(net: Any, image_embeddings: Tensor) -> DecoderCache:
    """The per-image part of the decoder for ``image_embeddings`` ``(1, C, h, w)``."""
    _, c, h, w = image_embeddings.shape
    dense = net.prompt_encoder.no_mask_embed.weight.reshape(1, c)
    keys = (image_embeddings[0].reshape(c, h * w).t() + dense).contiguous()
    pos = net.get_image_wide_positional_embeddings()[0].reshape(c, h * w).t().contiguous()
    keys_pos = keys + pos
    attn = net.mask_decoder.transformer.layers[0].cross_attn_token_to_image
    heads = attn.num_attention_heads
    k0 = _heads(attn.k_proj(keys_pos), heads).contiguous()
    v0 = _heads(attn.v_proj(keys), heads).contiguous()
    return DecoderCache(keys, pos, keys_pos, k0, v0, (h, w))


def _out(attn: Any, heads_out: Tensor) -> Tensor:
    """``(heads, T, d)`` → the attention's output projection ``(T, C)``."""
    return attn.out_proj(heads_out.transpose(0, 1).reshape(heads_out.shape[1], -1))


def _tokens_to_cached_image(attn: Any, query: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Prompt tokens ``(T, C)`` attending to already projected image keys/values."""
    q = _heads(attn.q_proj(query), attn.num_attention_heads)
    weights = torch.softmax(torch.matmul(q, k.transpose(1, 2)) * attn.scaling, dim=-1)
    return _out(attn, torch.matmul(weights, v))


def _tokens_to_image(attn: Any, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """Prompt tokens ``(T, C)`` attending to image tokens ``(N, C)``, projections folded in.

    Head h's scores are ``q_h (W_k,h x + b_k,h)``: the bias term is the same for every
    image token, so the softmax ignores it; ``q_h W_k,h`` is a ``(T, C)`` matrix.
    Its output ``p_h (W_v,h x + b_v,h)`` is ``(p_h x) W_v,h^T + b_v,h`` (rows of p sum to 1).
    """
    heads, t = attn.num_attention_heads, query.shape[0]
    c = key.shape[1]
    q = _heads(attn.q_proj(query), heads)  # (H, T, d)
    folded = torch.bmm(q, attn.k_proj.weight.view(heads, -1, c)).reshape(heads * t, c) * attn.scaling
    weights = torch.softmax(folded @ key.t(), dim=-1)  # (H*T, N)
    mixed = (weights @ value).view(heads, t, c)  # (H, T, C)
    out = torch.bmm(mixed, attn.v_proj.weight.view(heads, -1, c).transpose(1, 2))
    return _out(attn, out + attn.v_proj.bias.view(heads, 1, -1))


def _image_to_tokens(attn: Any, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """Image tokens ``(N, C)`` attending to prompt tokens ``(T, C)``, projections folded in.

    Scores ``(W_q,h x + b_q,h) k_h`` are ``x (W_q,h^T k_h) + b_q,h k_h``; the output
    ``sum_h p_h v_h W_o,h^T + b_o`` is one product with the ``(H*T, C)`` matrix of
    ``v_h W_o,h^T``. Scores are laid out ``(H, T, N)``: a softmax over 7 contiguous
    values per row is several times slower on a CPU than one across rows.
    """
    heads, t = attn.num_attention_heads, key.shape[0]
    c = query.shape[1]
    k = _heads(attn.k_proj(key), heads)  # (H, T, d)
    v = _heads(attn.v_proj(value), heads)
    fold = torch.bmm(k, attn.q_proj.weight.view(heads, -1, c)).reshape(heads * t, c) * attn.scaling
    shift = torch.bmm(k, attn.q_proj.bias.view(heads, -1, 1)).reshape(heads * t, 1) * attn.scaling
    scores = torch.addmm(shift, fold, query.t())  # (H*T, N)
    weights = torch.softmax(scores.view(heads, t, -1), dim=1).view(heads * t, -1)
    wo = attn.out_proj.weight.view(c, heads, -1).permute(1, 2, 0)  # (H, d, C)
    values = torch.bmm(v, wo).reshape(heads * t, c)
    return torch.addmm(attn.out_proj.bias, weights.t(), values)


def _layer_norm(norm: Any, x: Tensor) -> Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _tokens(net: Any, sparse: Tensor) -> Tensor:
    decoder = net.mask_decoder
    return torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight, sparse.reshape(-1, sparse.shape[-1])],
                     dim=0).to(decoder.iou_token.weight.dtype)


def _two_way(net: Any, cache: DecoderCache, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """SamTwoWayTransformer on ``(T, C)`` prompt tokens: ``(queries, image keys)``."""
    transformer = net.mask_decoder.transformer
    queries, keys, keys_pos = tokens, cache.keys, cache.keys_pos
    for index, layer in enumerate(transformer.layers):
        if index:
            keys_pos = keys + cache.pos
        q4 = queries[None, None]
        if layer.skip_first_layer_pe:
            queries = layer.self_attn(query=q4, key=q4, value=q4)[0][0, 0]
        else:
            query = (queries + tokens)[None, None]
            queries = queries + layer.self_attn(query=query, key=query, value=q4)[0][0, 0]
        queries = _layer_norm(layer.layer_norm1, queries)
        query = queries + tokens
        if index == 0:
            attn_out = _tokens_to_cached_image(layer.cross_attn_token_to_image, query, cache.k0, cache.v0)
        else:
            attn_out = _tokens_to_image(layer.cross_attn_token_to_image, query, keys_pos, keys)
        queries = _layer_norm(layer.layer_norm2, queries + attn_out)
        queries = _layer_norm(layer.layer_norm3, queries + layer.mlp(queries))
        attn_out = _image_to_tokens(layer.cross_attn_image_to_token, keys_pos, queries + tokens, queries)
        keys = _layer_norm(layer.layer_norm4, keys + attn_out)
    attn_out = _tokens_to_image(transformer.final_attn_token_to_image, queries + tokens, keys + cache.pos, keys)
    return _layer_norm(transformer.layer_norm_final_attn, queries + attn_out), keys


def _upscale(conv: torch.nn.ConvTranspose2d, x: Tensor) -> Tensor:
    """A kernel-2 stride-2 transposed convolution on channels-last rows: ``(P, Cin)`` → ``(4P, Cout)``.

    Output rows are ``(pixel, i, j)``: sub-pixel ``(i, j)`` of input pixel ``pixel``.
    """
    cin, cout = conv.weight.shape[:2]
    weight = conv.weight.permute(0, 2, 3, 1).reshape(cin, 4 * cout)
    bias = conv.bias.repeat(4) if conv.bias is not None else torch.zeros(4 * cout, dtype=x.dtype, device=x.device)
    return torch.addmm(bias, x, weight).view(-1, cout)


def _mask(net: Any, cache: DecoderCache, keys: Tensor, hyper: Tensor) -> Tensor:
    """The ``(4h, 4w)`` low-resolution logits of one mask token's hypernetwork output."""
    decoder = net.mask_decoder
    x = decoder.activation(_layer_norm(decoder.upscale_layer_norm, _upscale(decoder.upscale_conv1, keys)))
    x = decoder.activation(_upscale(decoder.upscale_conv2, x))  # rows (y, x, i, j, i2, j2)
    h, w = cache.size
    logits = (x @ hyper).view(h, w, 2, 2, 2, 2)
    return logits.permute(0, 2, 4, 1, 3, 5).reshape(4 * h, 4 * w)


def decode(net: Any, cache: DecoderCache, sparse: Tensor, *, multimask: bool) -> tuple[Tensor, Tensor]:
    """``(logits (4h, 4w), score)`` of the best mask for ``sparse`` prompt embeddings ``(1, 1, P, C)``.

    With ``multimask`` the best of SAM's three proposals by predicted IoU, else its
    single-mask output, as ``SamModel(..., multimask_output=multimask)`` then argmax.
    """
    decoder = net.mask_decoder
    tokens = _tokens(net, sparse)
    queries, keys = _two_way(net, cache, tokens)
    iou = decoder.iou_prediction_head(queries[0])
    first = 1 if multimask else 0
    last = decoder.num_mask_tokens if multimask else 1
    best = first + int(torch.argmax(iou[first:last]))
    hyper = decoder.output_hypernetworks_mlps[best](queries[1 + best])
    return _mask(net, cache, keys, hyper), iou[best]
