"""Models from the Hugging Face Hub: progress for whoever asked, quiet libraries, one-line errors.

A Hub id is fetched with huggingface_hub's ``snapshot_download`` (the real download code:
cache, resume, locks) and a progress-collecting stand-in for its tqdm bars, and only then
loaded from the local folder, so no library bar prints and the caller sees
:class:`LoadProgress` events instead (``with report_loads(fn): ...``, per thread/context).
Which files to fetch is the caller's choice (``select``: see ``loading.py``). Every way a
model cannot be had ends in one :class:`~paint_widgets.errors.ModelLoadError` line that
names the model, what was tried and the fix.

A repo whose main branch has its weights only as pickles (``select`` raises
:class:`PicklesOnly`) may have safetensors in the pull request the Hub's conversion bot
opened ("Adding `safetensors` variant of this model" by ``SFconvertbot``, as transformers
looks for it): if one is open and sits directly on main's head, the files come from its
``refs/pr/N`` instead. Nothing is ever converted, and no one else's pull request is taken.

No torch here, and nothing imported from diffusers/transformers at module top: installing
the log filter (:func:`quiet_import_warnings`) must happen before diffusers is imported.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class LoadProgress:
    """One step of getting a model ready: bytes downloaded, moving to the device, ready."""

    model: str  # the source as the user gave it (hub id or path)
    phase: str  # "download" (bytes) | "load" (reading the weights; with device: moving them there) | "ready"
    done: int = 0  # bytes downloaded so far (download phase)
    total: int = 0  # bytes to download in all (0 if unknown)
    device: str = ""  # "cuda", "cpu", ... for phase "load" ("" while the weights are read from disk)

    def describe(self) -> str:
        """One human line, e.g. ``Downloading org/name: 1.2 GB of 2.1 GB (57 %)``."""
        if self.phase == "download":
            if self.total > 0:
                percent = min(100, max(0, int(100 * self.done / self.total)))
                return f"Downloading {self.model}: {_size(self.done)} of {_size(self.total)} ({percent} %)"
            return f"Downloading {self.model}: {_size(self.done)}"
        if self.phase == "load":
            return f"Loading {self.model} to {self.device}…" if self.device else f"Loading {self.model}…"
        return f"{self.model} ready"


LoadProgressFn = Callable[[LoadProgress], None]

_REPORTER: contextvars.ContextVar[LoadProgressFn | None] = contextvars.ContextVar(
    "paint_widgets_load_progress", default=None)
_INTERVAL_S = 0.1  # at most ~10 download events a second (the first and the last always)
_log = logging.getLogger(__name__)


@contextlib.contextmanager
def report_loads(fn: LoadProgressFn | None) -> Iterator[None]:
    """Send the :class:`LoadProgress` of model loads started inside this block (this thread/context) to ``fn``.

    ``fn`` may be called from a download thread, never from two threads at once; an
    exception it raises is logged and ignored, never breaking the download or the load.
    An event equal to the one just before it (two steps saying the same) is not repeated.
    """
    token = _REPORTER.set(_Deduped(fn) if fn is not None else None)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def report(progress: LoadProgress, fn: LoadProgressFn | None = None) -> None:
    """Give ``progress`` to ``fn`` (default: the reporter of this context); errors in it are ignored."""
    fn = fn if fn is not None else _REPORTER.get()
    if fn is None:
        return
    try:
        fn(progress)
    except Exception:  # the reporter is someone else's code: it must not break a load
        _log.debug("load progress reporter failed", exc_info=True)


class _Deduped:
    """``fn``, but an event equal to the last one passed on is dropped."""

    def __init__(self, fn: LoadProgressFn) -> None:
        self.fn = fn
        self._last: LoadProgress | None = None
        self._lock = threading.Lock()

    def __call__(self, progress: LoadProgress) -> None:
        with self._lock:
            if progress == self._last:
                return
            self._last = progress
        self.fn(progress)


def _size(n: int) -> str:
    for factor, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


class _Downloads:
    """Bytes of one model's download, summed over files and threads, reported throttled."""

    def __init__(self, model: str, total: int, fn: LoadProgressFn | None) -> None:
        self.model, self.total, self.fn = model, total, fn
        self.done = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._last = time.monotonic()
            report(LoadProgress(self.model, "download", 0, self.total), self.fn)

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._last >= _INTERVAL_S and (self.total == 0 or self.done < self.total):
                self._last = now
                report(LoadProgress(self.model, "download", self.done, self.total), self.fn)

    def finish(self) -> None:
        with self._lock:
            total = max(self.total, self.done)
            report(LoadProgress(self.model, "download", total, total), self.fn)


class _Bar:
    """Enough of tqdm's interface for huggingface_hub's bars; counts bytes into ``downloads``.

    ``snapshot_download`` makes three of these: "Downloading bytes" (network, ignored: its
    total is an estimate), "Reconstructing" (bytes written: counted) and "Fetching N files"
    (a file count: ignored); each file's download updates them from its own thread.
    In verbose mode each also shows a real tqdm bar.
    """

    downloads: _Downloads | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.desc = str(kwargs.get("desc") or "")
        self.total = kwargs.get("total") or 0
        self.n = kwargs.get("initial") or 0
        self._counts = kwargs.get("unit") == "B" and not self.desc.startswith("Downloading bytes")
        self._echo = None
        if is_verbose():
            from tqdm.auto import tqdm

            kwargs.pop("name", None)
            self._echo = tqdm(*args, **kwargs)
        if self._counts and self.n and self.downloads is not None:
            self.downloads.add(int(self.n))

    def update(self, n: int | float | None = 1) -> None:
        step = int(n or 0)
        self.n += step
        if self._counts and self.downloads is not None:
            self.downloads.add(step)
        if self._echo is not None:
            self._echo.total = self.total
            self._echo.update(step)

    @property
    def format_dict(self) -> dict[str, Any]:
        return {"n": self.n, "total": self.total, "rate": None}

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        if self._echo is not None:
            self._echo.total = self.total
            self._echo.refresh()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = str(desc or "")

    set_description_str = set_description

    def close(self) -> None:
        if self._echo is not None:
            self._echo.close()

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bar_class(downloads: _Downloads | None) -> type[_Bar]:
    return type("_PaintWidgetsBar", (_Bar,), {"downloads": downloads})


# --------------------------------------------------------------------------- quiet libraries

_verbose: bool | None = None


def set_verbose(flag: bool) -> None:
    """``True``: show the libraries' progress bars and import warnings again (``-v``); ``False``: quiet."""
    global _verbose
    _verbose = bool(flag)


def is_verbose() -> bool:
    """:func:`set_verbose` if it was called, else ``$PAINT_WIDGETS_VERBOSE`` (``1``/``true``/``yes``)."""
    if _verbose is not None:
        return _verbose
    return os.environ.get("PAINT_WIDGETS_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on")


class _TorchvisionFallbackFilter(logging.Filter):
    """Drops transformers' "`XImageProcessor` requires torchvision ...; falling back to ..." lines.

    They are logged while diffusers imports its pipelines, once per class, and say nothing
    a user of the PIL image processors can act on. Everything else passes.
    """

    paint_widgets = True  # marks ours, so re-imports (``%autoreload``) do not add a second one

    def filter(self, record: logging.LogRecord) -> bool:
        if is_verbose():
            return True
        message = str(record.msg)
        return not ("requires torchvision" in message and "falling back to" in message)


def quiet_import_warnings() -> None:
    """Install the torchvision-fallback filter on ``transformers.utils.import_utils`` (once)."""
    logger = logging.getLogger("transformers.utils.import_utils")
    if not any(getattr(f, "paint_widgets", False) for f in logger.filters):
        logger.addFilter(_TorchvisionFallbackFilter())


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Turn diffusers' and transformers' progress bars off inside; each back on only if it was on."""
    if is_verbose():
        yield
        return
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was = {lib: lib.is_progress_bar_enabled() for lib in (diffusers_logging, transformers_logging)}
    for lib in was:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, enabled in was.items():
            if enabled:
                lib.enable_progress_bar()


# --------------------------------------------------------------------------- downloads

Select = Callable[[Mapping[str, int], Callable[[str], str]], list[str]]
"""``select(files, fetch) -> names``: ``files`` maps each file of the repo to its size;
``fetch(name)`` gives the local path of one small file (e.g. ``model_index.json``).
It raises :class:`PicklesOnly` when weights it needs are there only as pickles."""

CONVERSION_TITLE = "Adding `safetensors` variant of this model"  # the bot's title, as transformers checks it
CONVERSION_BOT = "SFconvertbot"
_CONVERSION_RECORD = "paint_widgets_conversion.json"  # in the repo's cache folder, next to refs/ and snapshots/


class PicklesOnly(ModelLoadError):
    """Raised by a ``select``: weights it needs are only pickle files (and pickles are not allowed).

    :func:`download` then looks for the conversion bot's pull request before giving up
    with this error's line.
    """


def download(repo_id: str, select: Select, *, env_var: str) -> str:
    """The local folder of ``repo_id`` holding the files ``select`` picks, downloaded if needed.

    Online: one API call lists the files; only those missing from the cache are fetched,
    with progress. Offline (``HF_HUB_OFFLINE=1``), or when the Hub cannot be reached, the
    cached copy is used if complete. Raises :class:`ModelLoadError` (one line) otherwise.
    """
    from huggingface_hub import constants

    cache = str(constants.HF_HUB_CACHE)
    if constants.HF_HUB_OFFLINE:
        try:
            return _from_cache(repo_id, select, cache)
        except ModelLoadError:
            raise
        except Exception as err:
            raise _explain(repo_id, err, env_var, offline=True) from err
    try:
        return _from_hub(repo_id, select, cache)
    except ModelLoadError:
        raise
    except Exception as err:
        if _disk_full(err):
            raise _explain(repo_id, err, env_var) from err
        first = err
    try:  # the Hub failed us: a complete cached copy still does
        return _from_cache(repo_id, select, cache)
    except ModelLoadError:
        raise
    except Exception:
        raise _explain(repo_id, first, env_var) from first


def is_cached(repo_id: str, select: Select, *, env_var: str) -> tuple[bool, str]:
    """Whether a complete copy of ``repo_id`` (the files ``select`` picks) is in the cache, and the
    offline error line if not. No network."""
    from huggingface_hub import constants

    try:
        _from_cache(repo_id, select, str(constants.HF_HUB_CACHE))
    except ModelLoadError as err:
        return False, str(err)
    except Exception as err:
        return False, str(_explain(repo_id, err, env_var, offline=True))
    return True, ""


def _from_hub(repo_id: str, select: Select, cache: str) -> str:
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download, try_to_load_from_cache

    api = HfApi()
    info = api.model_info(repo_id, files_metadata=True)
    quiet = _bar_class(None)

    def choose(info: Any) -> tuple[dict[str, int], list[str]]:
        files = {s.rfilename: int((s.lfs.size if s.lfs else s.size) or 0) for s in info.siblings or []}

        def fetch(name: str) -> str:
            return hf_hub_download(repo_id, name, revision=info.sha, cache_dir=cache, tqdm_class=quiet)

        return files, sorted(set(select(files, fetch)))

    branch: str | None = None  # main
    main = str(info.sha)
    try:
        files, names = choose(info)
    except PicklesOnly as refused:
        found = _conversion_pr(api, repo_id, main)
        if found is None:
            _forget_conversion(repo_id, cache)
            raise
        branch, commit = found
        info = api.model_info(repo_id, revision=commit, files_metadata=True)  # exactly the commit checked
        try:
            files, names = choose(info)
        except PicklesOnly:
            raise refused from None
        _log.info("%s: main has only pickle weights; using the safetensors of %s", repo_id, branch)
    missing = [n for n in names if not isinstance(try_to_load_from_cache(repo_id, n, cache, info.sha), str)]
    total = sum(files.get(n, 0) for n in missing)
    if total:
        _check_free_space(total, cache)
    downloads = _Downloads(repo_id, total, _REPORTER.get())
    if missing:
        downloads.start()
    # A branch (not the commit) when downloading, so refs/main (refs/refs/pr/N for a pull request)
    # is written and offline use finds it; the commit when all is cached, which makes
    # snapshot_download skip the network entirely.
    folder = snapshot_download(repo_id, revision=branch if missing else info.sha, cache_dir=cache,
                               allow_patterns=[_literal(n) for n in names], tqdm_class=_bar_class(downloads))
    if missing:
        downloads.finish()
    if branch is not None:
        if Path(folder).name != info.sha:  # the pull request moved on since we checked it (rare)
            raise ModelLoadError(f"the safetensors pull request {branch} of {repo_id} changed while it "
                                 "was downloaded: try again")
        _remember_conversion(repo_id, cache, main=main, revision=branch, commit=str(info.sha))
    return folder


def _conversion_pr(api: Any, repo_id: str, main: str) -> tuple[str, str] | None:
    """``("refs/pr/N", its commit)`` of the conversion bot's open pull request that is one commit on
    top of ``main`` (main's head commit), the newest if several; None if there is none."""
    candidates = [
        d for d in api.get_repo_discussions(repo_id, author=CONVERSION_BOT, discussion_type="pull_request",
                                            discussion_status="open")
        if d.is_pull_request and d.status == "open" and d.title == CONVERSION_TITLE and d.author == CONVERSION_BOT
    ]
    for discussion in sorted(candidates, key=lambda d: -d.num):
        commits = api.list_repo_commits(repo_id, revision=discussion.git_reference)
        if len(commits) >= 2 and commits[1].commit_id == main:  # newest first: its parent is main's head
            return discussion.git_reference, commits[0].commit_id
    return None


def _record_path(repo_id: str, cache: str) -> Path:
    from huggingface_hub.file_download import repo_folder_name

    return Path(cache) / repo_folder_name(repo_id=repo_id, repo_type="model") / _CONVERSION_RECORD


def _remember_conversion(repo_id: str, cache: str, *, main: str, revision: str, commit: str) -> None:
    """Note which pull request stands in for main, so an offline load takes the same one (and only it)."""
    record = {"main": main, "revision": revision, "commit": commit, "author": CONVERSION_BOT}
    path = _record_path(repo_id, cache)
    try:
        if path.is_file() and json.loads(path.read_text(encoding="utf-8")) == record:
            return
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError):  # a read-only cache: the online load still works
        _log.debug("cannot write %s", path, exc_info=True)


def _forget_conversion(repo_id: str, cache: str) -> None:
    """The Hub has no such pull request (any more): an offline load must not take the cached one."""
    with contextlib.suppress(OSError):
        _record_path(repo_id, cache).unlink(missing_ok=True)


def _remembered_conversion(repo_id: str, cache: str) -> dict[str, str] | None:
    try:
        record = json.loads(_record_path(repo_id, cache).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("revision", "commit")):
        return None
    return record


def _from_cache(repo_id: str, select: Select, cache: str) -> str:
    try:
        return _cached_revision(repo_id, select, cache, None)
    except Exception:
        record = _remembered_conversion(repo_id, cache)
        if record is None:
            raise
    # main is not cached or has only pickles; the conversion pull request we checked online is cached
    return _cached_revision(repo_id, select, cache, record["commit"])


def _cached_revision(repo_id: str, select: Select, cache: str, revision: str | None) -> str:
    from huggingface_hub import get_cached_repo_tree, hf_hub_download, snapshot_download
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    def fetch(name: str) -> str:
        return hf_hub_download(repo_id, name, revision=revision, cache_dir=cache, local_files_only=True)

    try:
        files = {f.path: int(f.size or 0) for f in get_cached_repo_tree(repo_id, revision=revision, cache_dir=cache)}
    except CachedRepoTreeNotFoundError:  # cached by a tool that keeps no file list: what is on disk
        folder = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=True))
        files = {p.relative_to(folder).as_posix(): 0 for p in folder.rglob("*") if p.is_file()}
    names = sorted(set(select(files, fetch)))
    return snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=True,
                             allow_patterns=[_literal(n) for n in names])


def _literal(name: str) -> str:
    """``name`` as an fnmatch pattern that matches only itself."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def _check_free_space(needed: int, cache: str) -> None:
    """Refuse up front (as ENOSPC) a download that cannot fit, rather than fail at 90 %."""
    path = Path(cache)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return
    if free < needed:
        raise OSError(errno.ENOSPC, f"it needs {_size(needed)}, {path} has {_size(free)} free")


def _disk_full(err: BaseException | None) -> OSError | None:
    """The ENOSPC error in ``err``'s chain, if any."""
    for _ in range(10):
        if err is None:
            break
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return err
        err = err.__cause__ or err.__context__
    return None


def _explain(repo_id: str, err: Exception, env_var: str, *, offline: bool = False) -> ModelLoadError:
    """The one line for a model that cannot be had: which, what was tried, the fix."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    page = f"{constants.ENDPOINT}/{repo_id}"
    local = f"or set {env_var}=/local/folder to use a copy on disk"
    full = _disk_full(err)
    if full is not None:
        return ModelLoadError(
            f"not enough disk space to download {repo_id} into {constants.HF_HUB_CACHE} ({full.strerror}): "
            f"free disk space, or set HF_HOME to a folder on a bigger disk, {local}")
    if offline:
        partly = "only partly downloaded" if "incomplete" in type(err).__name__.lower() else "not downloaded"
        return ModelLoadError(
            f"model {repo_id} is {partly} (looked in the local cache {constants.HF_HUB_CACHE}) and the Hugging "
            f"Face Hub is offline (HF_HUB_OFFLINE=1): download it once with a network (unset HF_HUB_OFFLINE), {local}")
    if isinstance(err, GatedRepoError):
        return ModelLoadError(
            f"model {repo_id} at {page} is gated: accept its terms on that page and log in "
            f"(`hf auth login` or set HF_TOKEN), {local}")
    if isinstance(err, RepositoryNotFoundError):
        return ModelLoadError(
            f"model {repo_id} was not found at {page}: check the id (a private model needs "
            f"`hf auth login` or HF_TOKEN), {local}")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return ModelLoadError(
            f"cannot download {repo_id}: {constants.ENDPOINT} answered HTTP {err.response.status_code} "
            f"and it is not in the local cache: try again later, {local}")
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ModelLoadError(
        f"cannot download {repo_id} from {constants.ENDPOINT} ({type(err).__name__}: {reason}) and it is not "
        f"in the local cache: check the network, HF_ENDPOINT or the id, {local}")
