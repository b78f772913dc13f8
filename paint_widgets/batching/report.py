"""What a batch tells its caller: progress events while it runs, a report when it ends.

Every finished job is also appended to ``outdir/batch-manifest.jsonl`` (one JSON
object a line: input, status, outputs, reason, seconds), written by the process
that drives the batch only, so a record of each run survives a crash.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .work import Outcome

MANIFEST = "batch-manifest.jsonl"


@dataclass(frozen=True)
class BatchProgress:
    """One progress event: counts so far, and what just happened.

    ``kind``: ``"start"`` (the batch begins), ``"image"`` (one input finished: ``last``
    says how), ``"step"`` (a denoising step of ``current``, local engine only) or
    ``"end"``. ``seconds``: the last finished input's time.
    """

    kind: str
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    current: str | None = None
    last: Outcome | None = None
    seconds: float = 0.0
    step: int = 0
    steps: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped

    def describe(self) -> str:
        text = f"{self.finished}/{self.total} images: {self.done} done, {self.failed} failed, {self.skipped} skipped"
        if self.seconds:
            text += f" ({self.seconds:.1f} s/image)"
        return text


@dataclass
class BatchReport:
    """The summary of a batch: every outcome, the outputs written, the failures."""

    outcomes: list[Outcome] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files of the input folder that are not images
    seconds: float = 0.0
    engine: str = "local"
    outdir: str = ""

    def _with(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list[Outcome]:
        return self._with("done")

    @property
    def skipped(self) -> list[Outcome]:
        return self._with("skipped")

    @property
    def failures(self) -> list[Outcome]:
        return self._with("failed")

    @property
    def outputs(self) -> list[Path]:
        """Every output of the batch, written now or by an earlier run."""
        return [Path(p) for o in self.outcomes for p in o.outputs]

    @property
    def images_per_second(self) -> float:
        made = sum(len(o.outputs) for o in self.done)
        return made / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """A few lines: counts, time, then one line per failure (file: reason)."""
        lines = [f"batch ({self.engine}): {len(self.outcomes)} inputs: {len(self.done)} done, "
                 f"{len(self.skipped)} skipped (already written), {len(self.failures)} failed, "
                 f"in {self.seconds:.1f} s ({self.images_per_second:.2f} images/s) -> {self.outdir}"]
        if self.ignored:
            lines.append(f"ignored {len(self.ignored)} file(s) that are not images: "
                         + ", ".join(Path(p).name for p in self.ignored[:5]) + (" …" if len(self.ignored) > 5 else ""))
        lines += [f"failed: {o.input}: {o.reason}" for o in self.failures]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(self.summary())  # type: ignore[attr-defined]  # IPython's pretty printer


def record(outdir: str | os.PathLike, outcome: Outcome) -> None:
    """Append ``outcome`` to the batch manifest of ``outdir`` (one short line, one write)."""
    line = json.dumps({**outcome.as_dict(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, sort_keys=True)
    with open(Path(outdir) / MANIFEST, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def read_manifest(outdir: str | os.PathLike) -> list[dict[str, object]]:
    """Every record of ``outdir``'s manifest, oldest first (unreadable lines skipped)."""
    path = Path(outdir) / MANIFEST
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash
    return records


__all__ = ["MANIFEST", "BatchProgress", "BatchReport", "read_manifest", "record"]
