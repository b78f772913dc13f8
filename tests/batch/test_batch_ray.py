"""pw.batch(engine="ray") on a local Ray (two CPUs): the same pixels as local, bad files skipped.

Ray starts once for the module (slow on two shared cores); each test runs one batch.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import paint_widgets as pw

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install "paint-widgets[ray]"')


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                       "OMP_NUM_THREADS": "1"}})
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def test_ray_batch_matches_local_pixels_and_skips_the_bad_file(local_ray, mgr, folder, tmp_path):
    common = {"masks": folder["masks"], "prompt": "a cat", "steps": 2, "display": None}
    local = pw.batch(folder["inputs"], outdir=tmp_path / "local", **common)
    events = []
    on_ray = pw.batch(folder["inputs"], outdir=tmp_path / "ray", engine="ray", workers=2,
                      progress=events.append, **common)
    assert on_ray.engine == "ray" and len(on_ray.done) == 3
    (failure,) = on_ray.failures
    assert failure.input == str(folder["bad"]) and "not an image" in failure.reason
    assert sorted(p.name for p in on_ray.outputs) == sorted(p.name for p in local.outputs)
    for name in (p.name for p in local.outputs):
        a = np.asarray(Image.open(tmp_path / "local" / name))
        b = np.asarray(Image.open(tmp_path / "ray" / name))
        assert np.array_equal(a, b), name
    assert events[-1].done == 3 and events[-1].failed == 1
    # resume on Ray: everything is there already, nothing reaches the cluster
    again = pw.batch(folder["inputs"], outdir=tmp_path / "ray", engine="ray", **common)
    assert len(again.skipped) == 3 and not again.done


def test_ray_batch_reads_and_writes_urls_ftp_and_file(local_ray, mgr, folder, tmp_path, ftp):
    """Each actor reads its input from the FTP server and writes its output there; masks as file:// URLs."""
    import shutil

    url, root = ftp
    shutil.copytree(folder["inputs"], root / "in")
    common = {"prompt": "a cat", "steps": 2, "display": None}
    local = pw.batch(folder["inputs"], masks=folder["masks"], outdir=tmp_path / "local", **common)
    on_ray = pw.batch(f"{url}/in", masks=f"file://{folder['masks']}", outdir=f"{url}/out", engine="ray",
                      workers=2, **common)
    assert len(on_ray.done) == 3 and on_ray.failures[0].input == f"{url}/in/b_broken.png"
    assert sorted(on_ray.outputs) == sorted(f"{url}/out/{p.name}" for p in local.outputs)
    for made in local.outputs:
        assert np.array_equal(np.asarray(Image.open(made)), np.asarray(Image.open(root / "out" / made.name)))
    assert not [p for p in (root / "out").iterdir() if p.name.startswith(".tmp-")]
