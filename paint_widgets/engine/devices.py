"""Choosing the device and dtype: cuda fp16 > mps > cpu fp32, overridable."""

from __future__ import annotations

import torch

from ..errors import InvalidInputError

_DTYPES = {
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
}


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or the best available one."""
    if device is not None:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise InvalidInputError(f"unknown device {device!r}; use 'cuda', 'mps' or 'cpu'") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InvalidInputError("device 'cuda' asked for, but no CUDA GPU is available; use device='cpu'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """fp16 on CUDA and MPS, fp32 on CPU (half precision is slow or unsupported there)."""
    if dtype is not None:
        if isinstance(dtype, torch.dtype):
            return dtype
        if dtype not in _DTYPES:
            raise InvalidInputError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
        return _DTYPES[dtype]
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


def empty_cache(device: torch.device) -> None:
    """Give cached allocator blocks back after an error or an eviction."""
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures, whatever class torch raised."""
    oom_cls = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_cls is not None and isinstance(error, oom_cls):
        return True
    text = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(error, MemoryError)
    )
