"""Choosing the device and dtype: cuda fp16 > mps > cpu fp32, overridable.

Only devices this machine has are accepted (``cpu``; ``cuda``/``cuda:N`` with a GPU N;
``mps`` on Apple silicon), and only the dtypes models run in on that device
(``float32``, ``float16``, ``bfloat16`` where the device has it): anything else is an
:class:`~paint_widgets.errors.InvalidInputError` at once, naming the choices, instead
of a failure at the first run.
"""

from __future__ import annotations

import torch

from ..errors import InvalidInputError

_DTYPES = {
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
}
_DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """The devices models can run on here: ``cpu``, then ``cuda`` and ``cuda:N`` per GPU, then ``mps``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names += ["cuda", *(f"cuda:{i}" for i in range(count))]
    if _mps_available():
        names.append("mps")
    return names


def _choices(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or the best available one; refuses one this machine does not have."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    choices = available_devices()
    if not isinstance(device, (str, torch.device)) or isinstance(device, bool):
        raise InvalidInputError(f"device must be a string such as 'cpu' or 'cuda:0', not {device!r}; "
                                f"use one of {_choices(choices)}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidInputError(f"unknown device {device!r}; use one of {_choices(choices)}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError(f"device {str(device)!r} asked for, but no CUDA GPU is available; "
                                    f"use one of {_choices(choices)}")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise InvalidInputError(f"device {str(device)!r} does not exist: this machine has {count} CUDA "
                                    f"GPU{'s' if count != 1 else ''}; use one of {_choices(choices)}")
        return dev
    if dev.type == "mps":
        if not _mps_available():
            raise InvalidInputError(f"device {str(device)!r} asked for, but MPS (Apple silicon) is not available; "
                                    f"use one of {_choices(choices)}")
    elif dev.type != "cpu":
        raise InvalidInputError(f"device {str(device)!r} cannot run models here; use one of {_choices(choices)}")
    if dev.index not in (None, 0):
        raise InvalidInputError(f"device {str(device)!r} does not exist (there is one {dev.type} device); "
                                f"use one of {_choices(choices)}")
    return torch.device(dev.type)


def supported_dtypes(device: torch.device) -> list[torch.dtype]:
    """The dtypes models run in on ``device``: float32 and float16 everywhere, bfloat16 where it has it."""
    dtypes = [torch.float32, torch.float16]
    if device.type == "cpu":
        dtypes.append(torch.bfloat16)
    elif device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        if torch.cuda.get_device_capability(index) >= (8, 0):  # Ampere and later compute in bf16
            dtypes.append(torch.bfloat16)
    elif device.type == "mps":
        newer = getattr(torch.backends.mps, "is_macos_or_newer", None)
        if newer is not None and newer(14, 0):
            dtypes.append(torch.bfloat16)
    return dtypes


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """fp16 on CUDA and MPS, fp32 on CPU (half precision is slow there); refuses one ``device`` lacks."""
    if dtype is None:
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    supported = supported_dtypes(device)
    names = [_DTYPE_NAMES[d] for d in supported]
    if isinstance(dtype, torch.dtype):
        chosen = dtype
    elif isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in _DTYPES:
        chosen = _DTYPES[dtype.lower().removeprefix("torch.")]
    else:
        raise InvalidInputError(f"unknown dtype {dtype!r}; use one of {_choices(names)}")
    if chosen not in supported:
        name = _DTYPE_NAMES.get(chosen, str(chosen).removeprefix("torch."))
        raise InvalidInputError(f"dtype {name!r} is not supported on {device}; use one of {_choices(names)}")
    return chosen


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
