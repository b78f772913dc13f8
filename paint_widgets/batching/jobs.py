"""Planning a batch: which inputs, which mask for each, and what each output is called.

Each (input, recipe) pair is one :class:`Job`. Its key hashes what makes the
pixels: the input's bytes, the mask's bytes, the recipe and the model. The
output names come from the key (``<stem>.<seed>.<key12>.png``), so a rerun with
the same inputs and parameters finds its outputs already there and skips them,
and a changed parameter makes new ones next to the old. Without a seed in the
recipe, the seed is drawn from the key: reruns, and the local and the Ray
engines, make the same pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..io import check_input_file, safe_name, user_path
from .recipe import Recipe

#: File suffixes a folder's images may have (others in the folder are ignored and counted).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
#: Bump when the key recipe changes, so old outputs are not taken for new ones.
KEY_VERSION = 1
_CHUNK = 1 << 20


@dataclass
class Job:
    """One input image with one recipe: where it comes from and where its outputs go."""

    input: str
    mask: str | None
    recipe: dict[str, Any]
    model: str
    outdir: str
    key: str = ""
    seeds: list[int] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # file names in outdir
    problem: str | None = None  # found while planning: the job fails without running

    def paths(self) -> list[Path]:
        return [Path(self.outdir) / name for name in self.outputs]

    def done(self) -> bool:
        """Whether every output of this job is already written (saves are atomic: a file is whole)."""
        return bool(self.outputs) and all(p.is_file() for p in self.paths())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


@dataclass
class Inputs:
    """The images of a batch, and the files of its folder that are not images."""

    images: list[str]
    ignored: list[str] = field(default_factory=list)


def list_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> Inputs:
    """The images to process: a folder's image files (sorted by name; hidden files and other
    suffixes left out), one file, or an explicit list (kept as given)."""
    if isinstance(inputs, (str, os.PathLike)):
        path = user_path(inputs, "batch input")
        if path.is_dir():
            images: list[str] = []
            ignored: list[str] = []
            for entry in sorted(path.iterdir(), key=lambda p: p.name):
                if entry.name.startswith("."):
                    continue
                (images if entry.suffix.lower() in IMAGE_SUFFIXES else ignored).append(str(entry))
            return Inputs(images, ignored)
        if not path.exists():
            raise InvalidInputError(f"batch input {path} does not exist; give a folder of images, a file "
                                    "or a list of files")
        return Inputs([str(path)])
    if isinstance(inputs, bytes):
        raise InvalidInputError("batch inputs must be a folder, a file or a list of files, not bytes")
    return Inputs([str(user_path(p, "batch input")) for p in inputs])


def mask_index(masks: str | os.PathLike | None) -> dict[str, str] | str | None:
    """``{stem: path}`` of a masks folder, a single mask file (every image's), or None."""
    if masks is None:
        return None
    path = user_path(masks, "masks")
    if path.is_dir():
        index: dict[str, str] = {}
        for entry in sorted(path.iterdir(), key=lambda p: p.name):
            if not entry.name.startswith(".") and entry.suffix.lower() in IMAGE_SUFFIXES:
                index.setdefault(entry.stem, str(entry))
        return index
    if not path.exists():
        raise InvalidInputError(f"masks {path} does not exist; give a folder of masks named like the "
                                "images (matched by file stem) or one mask file")
    return str(path)


def file_digest(path: str) -> str:
    """sha256 of a regular file's bytes (a FIFO, a device or a folder is refused by ``os.stat``)."""
    checked = check_input_file(path)
    digest = hashlib.sha256()
    with open(checked, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def plan(image: str, masks: dict[str, str] | str | None, recipe: Recipe, model: str, outdir: str) -> Job:
    """The job for ``image`` with ``recipe``: its key, seeds and output names.

    A problem found now (no mask for it, an unreadable file) is kept in ``problem``.
    """
    from ..commands.runner import one_line

    mask = masks.get(Path(image).stem) if isinstance(masks, dict) else masks
    job = Job(input=image, mask=mask, recipe=recipe.as_dict(), model=model, outdir=outdir)
    if isinstance(masks, dict) and mask is None:
        job.problem = f"no mask named {Path(image).stem}.* in the masks folder (masks are matched by file stem)"
        return job
    try:
        parts = {"v": KEY_VERSION, "input": file_digest(image), "mask": file_digest(mask) if mask else None,
                 "recipe": json.loads(recipe.canonical()), "model": model}
    except Exception as err:  # noqa: BLE001 - an unreadable input is recorded, not raised
        job.problem = one_line(str(err)) or type(err).__name__
        return job
    job.key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    params = recipe.generation_params()
    first = params.seed if params.seed is not None else int(job.key[:8], 16)
    job.seeds = [(first + i) % 2**32 for i in range(params.iterations)]
    stem = safe_name(Path(image).stem, max_len=80)
    job.outputs = [f"{stem}.{seed}.{job.key[:12]}.png" for seed in job.seeds]
    return job


__all__ = ["IMAGE_SUFFIXES", "Inputs", "Job", "file_digest", "list_inputs", "mask_index", "plan"]
