"""Models from a Hub: downloaded with progress, loaded quietly, or refused in one line with the fix.

The Hub is :class:`paint_widgets.testing.hub_server.HubServer` on 127.0.0.1, serving the
tiny models; huggingface_hub's real ``snapshot_download``/``hf_hub_download`` code talks
to it. huggingface_hub reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and the cache paths into
``huggingface_hub.constants`` when it is imported, so in-process tests patch those
constants (every read of them in the download path happens at call time); one subprocess
test sets the real environment variables instead. A socket guard fails any test that
tries to connect anywhere but 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pytest

import paint_widgets as pw
from paint_widgets.engine import hub as hubmod
from paint_widgets.engine.hub import LoadProgress, report_loads
from paint_widgets.engine.loading import describe_source, weights_available
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.testing.hub_server import HubServer, PullRequest, point_huggingface_hub_at

SD, CLIPSEG = "org/tiny-sd-inpaint", "org/tiny-clipseg"
# main has only pytorch_model.bin (a UNet .bin for SD_CONVERTED); see PULLS for their pull requests
CONVERTED, IMPOSTOR, STALE, SD_CONVERTED = ("org/clipseg-converted", "org/clipseg-impostor", "org/clipseg-stale",
                                            "org/sd-converted")
SD_FILES = {
    "model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
    "text_encoder/model.safetensors", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json",
    "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
}
CLIPSEG_FILES = {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json",
                 "tokenizer_config.json"}


# =========================================================================== the stand-in Hub


@pytest.fixture(scope="module")
def repos(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """The tiny models as Hub repos, plus files a download must leave alone."""
    root = tmp_path_factory.mktemp("hub-repos")
    sd = root / "sd"
    shutil.copytree(tiny_models["sd-inpaint"], sd)
    index = json.loads((sd / "model_index.json").read_text())
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]  # we pass None: skipped
    (sd / "model_index.json").write_text(json.dumps(index))
    (sd / "safety_checker").mkdir()
    (sd / "safety_checker" / "config.json").write_text("{}")
    (sd / "safety_checker" / "model.safetensors").write_bytes(b"\0" * 1000)
    (sd / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle" * 1000)
    (sd / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"\0" * 1000)
    (sd / "README.md").write_text("# tiny\n")
    clip = root / "clipseg"
    shutil.copytree(tiny_models["clipseg"], clip)
    (clip / "pytorch_model.bin").write_bytes(b"pickle" * 1000)
    (clip / "README.md").write_text("# tiny\n")
    (clip / "onnx").mkdir()
    (clip / "onnx" / "model.safetensors").write_bytes(b"\0" * 1000)
    pickles = root / "pickles-only"
    shutil.copytree(tiny_models["clipseg"], pickles)
    (pickles / "model.safetensors").unlink()
    (pickles / "pytorch_model.bin").write_bytes(b"pickle" * 1000)
    sd_bin = root / "sd-unet-bin"
    shutil.copytree(sd, sd_bin)
    (sd_bin / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (sd_bin / "unet" / "diffusion_pytorch_model.fp16.safetensors").unlink()
    return {SD: sd, CLIPSEG: clip, "org/gated-sd": sd, "org/gated-clipseg": clip, "org/pickles-only": pickles,
            CONVERTED: pickles, IMPOSTOR: pickles, STALE: pickles, SD_CONVERTED: sd_bin}


def _pulls(repos: dict[str, Path]) -> dict[str, list[PullRequest]]:
    """The conversion bot's pull requests, and look-alikes that must be ignored."""
    weights = {"model.safetensors": repos[CLIPSEG] / "model.safetensors"}
    unet = {"unet/diffusion_pytorch_model.safetensors": repos[SD] / "unet" / "diffusion_pytorch_model.safetensors"}
    return {
        CONVERTED: [PullRequest(5, weights), PullRequest(6, weights, parent="e" * 40),  # 6: on an older main
                    PullRequest(2, weights, status="closed"), PullRequest(3, weights, author="someone-else")],
        SD_CONVERTED: [PullRequest(1, unet)],
        IMPOSTOR: [PullRequest(2, weights, author="someone-else"), PullRequest(3, weights, status="closed"),
                   PullRequest(4, weights, title="Adding safetensors"), PullRequest(6, pull_request=False)],
        STALE: [PullRequest(4, weights, parent="f" * 40)],
    }


@pytest.fixture
def hub(repos, tmp_path, monkeypatch):
    """A running stand-in Hub; huggingface_hub pointed at it, online, with an empty cache and no token."""
    server = HubServer(repos, gated=["org/gated-sd", "org/gated-clipseg"], pulls=_pulls(repos)).start()
    point_huggingface_hub_at(server, tmp_path / "hf-home", monkeypatch)
    yield server
    server.close()


def _offline(monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _loads(events: list[LoadProgress]) -> None:
    """Download events (bytes never going back, from 0 up to the total), then load (reading the
    weights from disk, then moving them to the device), then ready."""
    phases = [e.phase for e in events]
    assert phases[-3:] == ["load", "load", "ready"] and set(phases[:-3]) == {"download"}, phases
    done = [e.done for e in events[:-3]]
    assert done[0] == 0 and done == sorted(done) and done[-1] == events[0].total > 0
    assert all(e.total == events[0].total for e in events[:-3])
    assert [e.device for e in events[-3:-1]] == ["", "cpu"]


def _snapshot_file(server: HubServer, repo_id: str, path: str) -> Path:
    from huggingface_hub import constants

    folder = "models--" + repo_id.replace("/", "--")
    return Path(constants.HF_HUB_CACHE) / folder / "snapshots" / server.commit(repo_id) / path


# =========================================================================== downloads


def test_the_ids_used_here_are_hub_ids():
    assert {describe_source(i) for i in (SD, CLIPSEG, "org/gated-sd", "org/pickles-only", "org/missing")} == {"hub"}


def test_a_diffusion_model_downloads_with_progress_then_loads(hub, repos):
    events: list[LoadProgress] = []
    mgr = PipelineManager(device="cpu")
    with report_loads(events.append):
        pipe = mgr.pipeline(SD)
    assert type(pipe).__name__ == "StableDiffusionInpaintPipeline" and pipe.unet.config.in_channels == 9
    assert pipe.safety_checker is None and mgr.loads == 1
    _loads(events)
    assert set(hub.fetched(SD)) == SD_FILES  # no .bin, no fp16 variant, no safety checker, no README
    weights = SD_FILES - {"model_index.json"}
    assert events[0].total == sum((repos[SD] / f).stat().st_size for f in weights)
    assert events[0].describe().startswith(f"Downloading {SD}: 0 B of ")
    assert events[-4].describe().endswith("(100 %)")
    assert [e.describe() for e in events[-3:]] == [f"Loading {SD}…", f"Loading {SD} to cpu…", f"{SD} ready"]


def test_the_text_mask_model_downloads_the_same_way(hub):
    events: list[LoadProgress] = []
    mgr = PipelineManager(device="cpu")
    with report_loads(events.append):
        model, processor = mgr.clipseg(CLIPSEG)
    assert type(model).__name__ == "CLIPSegForImageSegmentation" and processor is not None
    _loads(events)
    assert set(hub.fetched(CLIPSEG)) == CLIPSEG_FILES  # top level only: no .bin, no onnx/, no README
    assert not any("/discussions" in r.path or "/commits/" in r.path for r in hub.requests)  # main has safetensors


def test_an_interrupted_download_resumes_where_it_stopped(hub, repos, monkeypatch):
    from huggingface_hub import constants

    # huggingface_hub resumes from the last whole chunk it wrote (10 MB): make chunks small
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    hub.drop_after(CLIPSEG, "model.safetensors", 200_000)
    events: list[LoadProgress] = []
    with report_loads(events.append):
        PipelineManager(device="cpu").clipseg(CLIPSEG)
    gets = [r for r in hub.requests if r.method == "GET" and r.path.endswith("/model.safetensors")]
    assert [g.range for g in gets] == [None, f"bytes={3 * 64 * 1024}-"]  # the three whole chunks kept
    source = (repos[CLIPSEG] / "model.safetensors").read_bytes()
    assert _snapshot_file(hub, CLIPSEG, "model.safetensors").read_bytes() == source
    _loads(events)  # the resumed bytes are not counted twice


def test_a_cached_model_loads_offline_without_asking_the_hub(hub, monkeypatch):
    PipelineManager(device="cpu").pipeline(SD)
    asked = len(hub.requests)
    _offline(monkeypatch)
    events: list[LoadProgress] = []
    with report_loads(events.append):
        PipelineManager(device="cpu").pipeline(SD)
    assert len(hub.requests) == asked
    assert [(e.phase, e.device) for e in events] == [("load", ""), ("load", "cpu"), ("ready", "cpu")]


def test_online_a_cached_model_costs_one_api_call_and_no_file(hub):
    PipelineManager(device="cpu").clipseg(CLIPSEG)
    hub.requests.clear()
    PipelineManager(device="cpu").clipseg(CLIPSEG)
    assert [r.path for r in hub.requests if r.path.startswith(("/api/models", f"/{CLIPSEG}/"))] == \
        [f"/api/models/{CLIPSEG}"]


def test_pickle_only_weights_are_refused_before_they_are_downloaded(hub):
    with pytest.raises(pw.ModelLoadError, match="no safetensors weights.*allow_pickle=True"):
        PipelineManager(device="cpu").clipseg("org/pickles-only")
    assert hub.fetched("org/pickles-only") == []


# =========================================================================== the conversion bot's pull request


def _api_paths(server: HubServer, repo_id: str) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith(f"/api/models/{repo_id}")]


def test_a_pickle_only_repo_loads_the_safetensors_of_the_bots_pull_request(hub, monkeypatch):
    from huggingface_hub import constants

    hub.discussions_per_page = 1  # the client pages through the discussions (the bot's open 6 and 5)
    events: list[LoadProgress] = []
    with report_loads(events.append):
        model, processor = PipelineManager(device="cpu").clipseg(CONVERTED)
    assert type(model).__name__ == "CLIPSegForImageSegmentation" and processor is not None
    _loads(events)
    assert events[0].model == CONVERTED
    assert set(hub.fetched(CONVERTED, "refs/pr/5")) == set(hub.fetched(CONVERTED)) == CLIPSEG_FILES  # no .bin
    api = _api_paths(hub, CONVERTED)
    assert api.count(f"/api/models/{CONVERTED}/discussions") == 2
    commits = [p for p in api if "/commits/" in p]  # the newest first; 3 (not the bot's) and 2 (closed) never
    assert commits == [f"/api/models/{CONVERTED}/commits/refs/pr/6", f"/api/models/{CONVERTED}/commits/refs/pr/5"]
    # huggingface_hub keeps the pull request's ref in the cache as refs/refs/pr/5
    storage = Path(constants.HF_HUB_CACHE) / ("models--" + CONVERTED.replace("/", "--"))
    assert (storage / "refs" / "refs" / "pr" / "5").read_text() == hub.commit(CONVERTED, "refs/pr/5")

    hub.requests.clear()  # online, cached: the pull request is checked again, nothing is fetched
    PipelineManager(device="cpu").clipseg(CONVERTED)
    assert hub.fetched(CONVERTED) == []

    _offline(monkeypatch)  # offline: the same pull request, no request at all
    hub.requests.clear()
    events.clear()
    with report_loads(events.append):
        model, _ = PipelineManager(device="cpu").clipseg(CONVERTED)
    assert hub.requests == [] and type(model).__name__ == "CLIPSegForImageSegmentation"
    assert [e.phase for e in events] == ["load", "load", "ready"]
    assert weights_available(CONVERTED, kind="textmask") == (True, "")


def test_a_closed_pull_request_is_not_taken_offline_either(hub, monkeypatch):
    PipelineManager(device="cpu").clipseg(CONVERTED)
    hub.pulls[CONVERTED] = [dataclasses.replace(pr, status="closed") for pr in hub.pulls[CONVERTED]]
    with pytest.raises(pw.ModelLoadError, match="no safetensors weights.*allow_pickle=True"):
        PipelineManager(device="cpu").clipseg(CONVERTED)
    _offline(monkeypatch)
    with pytest.raises(pw.ModelLoadError):
        PipelineManager(device="cpu").clipseg(CONVERTED)
    assert not weights_available(CONVERTED, kind="textmask")[0]


def test_a_diffusion_component_with_only_pickles_comes_from_the_bots_pull_request(hub, monkeypatch):
    events: list[LoadProgress] = []
    with report_loads(events.append):
        pipe = PipelineManager(device="cpu").pipeline(SD_CONVERTED)
    assert pipe.unet.config.in_channels == 9
    _loads(events)
    assert hub.fetched(SD_CONVERTED, "main") == ["model_index.json"]  # read to choose the files: no .bin
    # the same model_index.json of the pull request is a blob already in the cache: not sent again
    assert set(hub.fetched(SD_CONVERTED, "refs/pr/1")) == SD_FILES - {"model_index.json"}
    asked = len(hub.requests)
    _offline(monkeypatch)
    PipelineManager(device="cpu").pipeline(SD_CONVERTED)
    assert len(hub.requests) == asked


@pytest.mark.parametrize("repo_id", [IMPOSTOR, STALE])
def test_no_pull_request_but_the_bots_open_one_on_mains_head_is_taken(hub, repo_id):
    """Another author's, a closed one, another title, a plain discussion, one on an older main: refused."""
    with pytest.raises(pw.ModelLoadError, match=f"^{repo_id} has no safetensors weights.*allow_pickle=True"):
        PipelineManager(device="cpu").clipseg(repo_id)
    assert hub.fetched(repo_id) == []
    asked = [p for p in _api_paths(hub, repo_id) if "/commits/" in p]
    assert asked == ([f"/api/models/{STALE}/commits/refs/pr/4"] if repo_id == STALE else [])


def test_a_reporter_that_raises_never_breaks_a_load(hub):
    def broken(progress: LoadProgress) -> None:
        raise RuntimeError("widget bug")

    with report_loads(broken):
        PipelineManager(device="cpu").clipseg(CLIPSEG)
    assert set(hub.fetched(CLIPSEG)) == CLIPSEG_FILES


# =========================================================================== one line with the fix

FIXES = {  # case -> (source for the diffusion model, for the text-mask model), what the line must say
    "not found": (("org/missing", "org/missing"), ["was not found at {url}/{source}", "check the id"]),
    "gated": (("org/gated-sd", "org/gated-clipseg"),
              ["at {url}/{source} is gated", "accept its terms", "hf auth login", "HF_TOKEN"]),
    "offline, not cached": ((SD, CLIPSEG), ["is not downloaded", "local cache", r"offline \(HF_HUB_OFFLINE=1\)"]),
    "hub unreachable": ((SD, CLIPSEG), ["cannot download {source} from {url}", "not in the local cache",
                                        "HF_ENDPOINT"]),
}


@pytest.mark.parametrize("kind", ["diffusion", "textmask"])
@pytest.mark.parametrize("case", FIXES)
def test_a_model_that_cannot_be_had_is_one_line_with_the_fix(hub, monkeypatch, case, kind):
    sources, patterns = FIXES[case]
    source = sources[kind == "textmask"]
    url = hub.url
    if case == "offline, not cached":
        _offline(monkeypatch)
    if case == "hub unreachable":
        hub.close()  # nothing listens on that port any more
    mgr = PipelineManager(device="cpu")
    with pytest.raises(pw.ModelLoadError) as caught:
        mgr.pipeline(source) if kind == "diffusion" else mgr.clipseg(source)
    message = str(caught.value)
    assert "\n" not in message and source in message
    env = "PAINT_WIDGETS_MODEL" if kind == "diffusion" else "PAINT_WIDGETS_TEXTMASK_MODEL"
    assert f"set {env}=/local/folder" in message
    for pattern in patterns:
        assert re.search(pattern.replace("{url}", re.escape(url)).replace("{source}", source), message), message
    assert mgr.loads == 0
    if case == "offline, not cached":
        assert hub.requests == []


def test_a_download_that_cannot_fit_is_refused_before_it_starts(hub, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(hubmod.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(pw.ModelLoadError, match=r"^not enough disk space to download org/tiny-clipseg into .*"
                       r"1.0 kB free\): free disk space, or set HF_HOME .*PAINT_WIDGETS_TEXTMASK_MODEL"):
        PipelineManager(device="cpu").clipseg(CLIPSEG)
    assert hub.fetched(CLIPSEG) == []


def test_a_disk_that_fills_up_while_downloading_is_one_line(hub, monkeypatch):
    real_open = pathlib.Path.open

    class Full:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def fake_open(self, mode="r", *args, **kwargs):
        file = real_open(self, mode, *args, **kwargs)
        return Full(file) if self.name.endswith(".incomplete") and "w" in mode else file

    monkeypatch.setattr(pathlib.Path, "open", fake_open)
    with pytest.raises(pw.ModelLoadError) as caught:
        PipelineManager(device="cpu").pipeline(SD)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"not enough disk space to download {SD} into ")
    assert "No space left on device" in message and "set HF_HOME" in message and "PAINT_WIDGETS_MODEL" in message


def test_weights_available_tells_a_complete_cached_copy_from_a_missing_one(hub, monkeypatch):
    assert weights_available(SD) == (True, f"{SD} will be downloaded on first use")
    _offline(monkeypatch)
    ok, why = weights_available(SD)
    assert not ok and "is not downloaded" in why and "PAINT_WIDGETS_MODEL" in why
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    PipelineManager(device="cpu").pipeline(SD)
    _offline(monkeypatch)
    assert weights_available(SD) == (True, "")
    assert not weights_available(CLIPSEG, kind="textmask")[0]
    _snapshot_file(hub, SD, "vae/diffusion_pytorch_model.safetensors").unlink()  # a broken cache is not complete
    ok, why = weights_available(SD)
    assert not ok and "is only partly downloaded" in why


# =========================================================================== progress, quiet, verbose


def test_load_progress_describes_itself_in_one_line():
    assert LoadProgress("org/name", "download", 1_200_000_000, 2_100_000_000).describe() == \
        "Downloading org/name: 1.2 GB of 2.1 GB (57 %)"
    assert LoadProgress("org/name", "download", 4_500).describe() == "Downloading org/name: 4.5 kB"
    assert LoadProgress("org/name", "load", device="cuda").describe() == "Loading org/name to cuda…"
    assert LoadProgress("org/name", "ready").describe() == "org/name ready"


def test_an_event_equal_to_the_one_before_is_not_repeated():
    events: list[LoadProgress] = []
    reading, moving, ready = LoadProgress("m", "load"), LoadProgress("m", "load", device="cpu"), LoadProgress("m", "ready")
    with report_loads(events.append):
        for event in (reading, reading, moving, moving, ready, ready):
            hubmod.report(event)
    assert events == [reading, moving, ready]
    assert reading.describe() == "Loading m…"


def test_download_progress_is_throttled_keeping_the_first_and_the_last():
    events: list[LoadProgress] = []
    downloads = hubmod._Downloads("org/name", 100_000, events.append)
    downloads.start()
    started = time.monotonic()
    for _ in range(100_000):
        downloads.add(1)
    downloads.finish()
    seconds = time.monotonic() - started
    assert events[0].done == 0 and events[-1].done == events[-1].total == 100_000
    assert len(events) <= 2 + seconds / hubmod._INTERVAL_S + 1


def test_reports_go_to_the_reporter_of_this_context_only():
    import threading

    mine: list[LoadProgress] = []
    theirs: list[LoadProgress] = []

    def other_thread() -> None:
        hubmod.report(LoadProgress("b", "ready"))  # no reporter in this thread

    with report_loads(mine.append):
        hubmod.report(LoadProgress("a", "ready"))
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        with report_loads(theirs.append):
            hubmod.report(LoadProgress("c", "ready"))
    hubmod.report(LoadProgress("d", "ready"))
    assert [p.model for p in mine] == ["a"] and [p.model for p in theirs] == ["c"]


@pytest.fixture
def verbosity(monkeypatch):
    """Restores paint_widgets' verbose setting after the test."""
    monkeypatch.delenv("PAINT_WIDGETS_VERBOSE", raising=False)
    before = hubmod._verbose
    hubmod._verbose = None  # as in a fresh process: the environment decides
    yield
    hubmod._verbose = before


def test_only_the_torchvision_fallback_lines_are_dropped_unless_verbose(verbosity, monkeypatch):
    logger = logging.getLogger("transformers.utils.import_utils")
    fallback = logger.makeRecord(logger.name, logging.WARNING, __file__, 1,
                                 "`CLIPImageProcessor` requires torchvision (not installed); falling back to "
                                 "`CLIPImageProcessorPil` for backward compatibility.", (), None)
    other = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "something else", (), None)
    hubmod.quiet_import_warnings()
    hubmod.quiet_import_warnings()  # once only
    assert sum(getattr(f, "paint_widgets", False) for f in logger.filters) == 1
    assert not logger.filter(fallback) and logger.filter(other)
    monkeypatch.setenv("PAINT_WIDGETS_VERBOSE", "1")
    assert logger.filter(fallback)
    hubmod.set_verbose(False)  # the call wins over the environment
    assert not logger.filter(fallback)
    hubmod.set_verbose(True)
    assert logger.filter(fallback)


def test_library_progress_bars_are_off_inside_and_restored_only_if_they_were_on(verbosity):
    from diffusers.utils import logging as dl
    from transformers.utils import logging as tl

    assert dl.is_progress_bar_enabled() and tl.is_progress_bar_enabled()
    hubmod.set_verbose(False)
    with hubmod.quiet_progress_bars():
        assert not dl.is_progress_bar_enabled() and not tl.is_progress_bar_enabled()
    assert dl.is_progress_bar_enabled() and tl.is_progress_bar_enabled()
    dl.disable_progress_bar()
    try:
        with hubmod.quiet_progress_bars():
            pass
        assert not dl.is_progress_bar_enabled() and tl.is_progress_bar_enabled()
    finally:
        dl.enable_progress_bar()
    hubmod.set_verbose(True)
    with hubmod.quiet_progress_bars():
        assert dl.is_progress_bar_enabled() and tl.is_progress_bar_enabled()


def test_verbose_shows_the_download_bars_and_still_reports(hub, verbosity, capsys):
    hubmod.set_verbose(True)
    events: list[LoadProgress] = []
    with report_loads(events.append):
        PipelineManager(device="cpu").clipseg(CLIPSEG)
    _loads(events)
    assert "Reconstruct" in capsys.readouterr().err  # huggingface_hub's own bar, drawn by tqdm


def test_nothing_is_printed_while_models_download_and_load(hub, tiny_models, tmp_path):
    """In a fresh interpreter with the real environment variables: no bar, no warning, no log line."""
    script = (
        "import paint_widgets as pw\n"
        f"m = pw.manager(model={str(tiny_models['sd-inpaint'])!r}, device='cpu')\n"
        "m.pipeline()\n"
        f"m.pipeline({SD!r})\n"
        f"m.clipseg({CLIPSEG!r})\n"
        "assert m.loads == 3\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_", "PAINT_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_OFFLINE="0",
               HF_HUB_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert set(hub.fetched(SD)) == SD_FILES and set(hub.fetched(CLIPSEG)) == CLIPSEG_FILES
