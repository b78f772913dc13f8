"""The result of a generation: images, their seeds, and the command lines that reproduce them."""

from __future__ import annotations

import io as _io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import OutputError, OutputExistsError
from .io import MAX_NUMBER, claim_number, next_number, save_png_atomic, user_path


@dataclass
class Result:
    """What ``inpaint``/``outcrop``/``outpaint`` return.

    ``images[i]`` was made with ``seeds[i]``; ``commands[i]`` is the ``invoke>`` line
    that makes it again. ``paths`` lists files once :meth:`save` wrote them.
    """

    images: list[Image.Image]
    seeds: list[int]
    commands: list[str]
    request: Any = None
    metadata: list[dict[str, Any]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    #: True once the images were displayed (the ``%invoke`` magic sets it), so the
    #: cell's ``Out`` shows the one-line summary instead of the first image again.
    shown: bool = field(default=False, repr=False, compare=False)

    @property
    def image(self) -> Image.Image:
        """The first image (most calls make one)."""
        return self.images[0]

    def save(self, outdir: str | os.PathLike = "outputs/img-samples") -> list[Path]:
        """Write each image as ``NNNNNN.SEED.png`` with its command and parameters as metadata.

        ``outdir`` is read like every path a user gives (``~`` expanded; control
        characters and names that are not UTF-8 refused). Each number is claimed
        atomically, so other threads and processes writing to ``outdir`` never get it too.
        """
        outdir = user_path(outdir, "output folder", OutputError)
        saved = []
        for i, (image, seed, command) in enumerate(zip(self.images, self.seeds, self.commands, strict=False)):
            meta = dict(self.metadata[i]) if i < len(self.metadata) else {}
            meta.setdefault("command", command)
            meta.setdefault("seed", seed)
            saved.append(_save_numbered(image, outdir, seed, meta, command))
        self.paths.extend(saved)
        return saved

    def _repr_png_(self) -> bytes | None:
        if self.shown:
            return None  # already displayed (by %invoke): show the text summary instead
        buffer = _io.BytesIO()
        self.images[0].save(buffer, format="PNG")
        return buffer.getvalue()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{im.width}x{im.height}" for im in self.images)
        return f"Result({len(self.images)} image(s) [{sizes}], seeds={self.seeds})"


#: How many taken numbers :meth:`Result.save` skips before giving up.
SAVE_ATTEMPTS = 100


def _save_numbered(image: Image.Image, outdir: str | os.PathLike, seed: int,
                   meta: dict[str, Any], command: str) -> Path:
    """Save as the next free ``NNNNNN.SEED.png`` under a claim on the number
    (:func:`~paint_widgets.io.claim_number`); if another writer holds or took that
    number, take the next one. Never overwrites."""
    number = next_number(outdir)
    for _attempt in range(SAVE_ATTEMPTS):
        path = Path(outdir) / f"{number:06d}.{seed}.png"
        try:
            with claim_number(outdir, number):
                return save_png_atomic(image, path, metadata=meta, command=command)
        except OutputExistsError:
            pass  # held or taken by another writer
        except OutputError:
            if not path.exists():
                raise  # a real write error (read-only folder, full disk), not a clash
        number = max(number + 1, next_number(outdir))
        if number > MAX_NUMBER:  # stray names at the top of the range: back into six digits
            number = next_number(outdir)
    raise OutputError(f"could not find a free output number in {outdir}: other writers keep taking them")
