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
from . import storage
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

    def paths(self) -> list[str]:
        """Where the outputs go: local paths, or URLs for an fsspec ``outdir``."""
        return [storage.join(self.outdir, name) for name in self.outputs]

    def done(self, existing: set[str] | None = None) -> bool:
        """Whether every output of this job is already written (saves are atomic: a file is whole).

        ``existing``: the names in ``outdir`` from one listing (a remote folder), else each is looked up.
        """
        if not self.outputs:
            return False
        if existing is not None:
            return all(name in existing for name in self.outputs)
        if storage.is_url(self.outdir):
            return all(storage.exists(p) for p in self.paths())
        return all(Path(p).is_file() for p in self.paths())

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


def _split_folder(files: list[str]) -> Inputs:
    """A folder's files (sorted) as images and ignored ones; hidden files left out."""
    images: list[str] = []
    ignored: list[str] = []
    for entry in files:
        if storage.basename(entry).startswith("."):
            continue
        (images if storage.suffix(entry) in IMAGE_SUFFIXES else ignored).append(entry)
    return Inputs(images, ignored)


def _remote_inputs(url: str) -> Inputs:
    if storage.is_dir(url):
        return _split_folder(storage.list_files(url))
    if not storage.exists(url):
        raise InvalidInputError(f"batch input {storage.redact(url)} does not exist; give a folder of images, "
                                "a file or a list of files")
    return Inputs([url])


def list_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> Inputs:
    """The images to process: a folder's image files (sorted by name; hidden files and other
    suffixes left out), one file, or an explicit list (kept as given). Each may be a local
    path or an fsspec URL (see :mod:`.storage`)."""
    if isinstance(inputs, (str, os.PathLike)):
        where = storage.normalise(inputs, "batch input")
        if storage.is_url(where):
            return _remote_inputs(where)
        path = user_path(where, "batch input")
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
    return Inputs([storage.normalise(p, "batch input") for p in inputs])


def mask_index(masks: str | os.PathLike | None) -> dict[str, str] | str | None:
    """``{stem: path}`` of a masks folder, a single mask file (every image's), or None."""
    if masks is None:
        return None
    where = storage.normalise(masks, "masks")
    if storage.is_url(where):
        if storage.is_dir(where):
            found: dict[str, str] = {}
            for url in _split_folder(storage.list_files(where)).images:
                found.setdefault(storage.stem(url), url)
            return found
        if not storage.exists(where):
            raise InvalidInputError(f"masks {storage.redact(where)} does not exist; give a folder of masks named "
                                    "like the images (matched by file stem) or one mask file")
        return where
    path = user_path(where, "masks")
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
    if storage.is_url(path):
        return storage.digest(path)
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

    name = storage.stem(image)
    if recipe.operation != "inpaint":
        masks = None  # outcrop and outpaint paint the new area: no mask
    mask = masks.get(name) if isinstance(masks, dict) else masks
    job = Job(input=image, mask=mask, recipe=recipe.as_dict(), model=model, outdir=outdir)
    if isinstance(masks, dict) and mask is None:
        job.problem = f"no mask named {name}.* in the masks folder (masks are matched by file stem)"
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
    stem = safe_name(name, max_len=80)
    job.outputs = [f"{stem}.{seed}.{job.key[:12]}.png" for seed in job.seeds]
    return job


__all__ = ["IMAGE_SUFFIXES", "Inputs", "Job", "file_digest", "list_inputs", "mask_index", "plan"]
