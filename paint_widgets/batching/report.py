"""What a batch tells its caller: progress events while it runs, a report when it ends.

Every finished job is also appended to ``outdir/batch-manifest.jsonl`` (one JSON
object a line: input, status, outputs, reason, seconds, node), written by the
process that drives the batch only, so a record of each run survives a crash.
fsspec storage cannot append everywhere (FTP's and object stores' files are
written whole), so a URL ``outdir`` gets one ``batch-manifest-<run>.jsonl`` per
run instead, rewritten every :data:`FLUSH_SECONDS` and when the batch ends.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import storage
from .work import Outcome

MANIFEST = "batch-manifest.jsonl"
#: How often a URL outdir's manifest of the running batch is rewritten (and once at the end).
FLUSH_SECONDS = 30.0


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
    def outputs(self) -> list[Path | str]:
        """Every output of the batch, written now or by an earlier run: a Path in a local
        folder, the URL string on fsspec storage."""
        return [p if storage.is_url(p) else Path(p) for o in self.outcomes for p in o.outputs]

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
        lines += [f"failed: {storage.redact(o.input)}: {o.reason}" for o in self.failures]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(self.summary())  # type: ignore[attr-defined]  # IPython's pretty printer


def _line(outcome: Outcome) -> str:
    data = {**outcome.as_dict(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    data["input"] = storage.redact(outcome.input)
    data["mask"] = storage.redact(outcome.mask) if outcome.mask else outcome.mask
    data["outputs"] = [storage.redact(p) for p in outcome.outputs]
    return json.dumps(data, sort_keys=True)


def record(outdir: str | os.PathLike, outcome: Outcome) -> None:
    """Append ``outcome`` to the batch manifest of local folder ``outdir`` (one short line, one write)."""
    with open(Path(outdir) / MANIFEST, "a", encoding="utf-8") as handle:
        handle.write(_line(outcome) + "\n")


class Manifest:
    """The batch's record in ``outdir``: appended per outcome locally, this run's file rewritten on a URL."""

    def __init__(self, outdir: str) -> None:
        self.outdir = outdir
        self.remote = storage.is_url(outdir)
        run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.target = storage.join(outdir, f"batch-manifest-{run}.jsonl") if self.remote else ""
        self.lines: list[str] = []
        self.flushed = time.monotonic()
        self.dirty = False

    def add(self, outcome: Outcome) -> None:
        if not self.remote:
            record(self.outdir, outcome)
            return
        self.lines.append(_line(outcome))
        self.dirty = True
        if time.monotonic() - self.flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.remote and self.dirty:
            storage.write_text(self.target, "".join(line + "\n" for line in self.lines))
            self.dirty, self.flushed = False, time.monotonic()

    def close(self) -> None:
        """Write what is not written yet (a failure to write is said, not raised: the outputs are there)."""
        try:
            self.flush()
        except Exception as err:  # noqa: BLE001 - never lose a finished batch to its log
            import sys

            print(f"batch: cannot write the manifest {storage.redact(self.target)}: {err}", file=sys.stderr)


def _parse_lines(text: str) -> list[dict[str, object]]:
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash
    return records


def read_manifest(outdir: str | os.PathLike) -> list[dict[str, object]]:
    """Every record of ``outdir``'s manifest (local folder or URL), oldest first (unreadable lines skipped)."""
    folder = os.fspath(outdir)
    if storage.is_url(folder):
        files = sorted(u for u in storage.list_files(folder)
                       if storage.basename(u).startswith("batch-manifest") and u.endswith(".jsonl"))
        return [r for u in files for r in _parse_lines(storage.read_text(u) or "")]
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return []
    return _parse_lines(path.read_text(encoding="utf-8"))


__all__ = ["FLUSH_SECONDS", "MANIFEST", "BatchProgress", "BatchReport", "Manifest", "read_manifest", "record"]
