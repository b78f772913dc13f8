"""pw.batch and ``paint-widgets batch`` on fsspec URLs: a real FTP server on 127.0.0.1, memory://, file://.

The FTP server (pyftpdlib, see the ``ftp`` fixture) serves a temporary folder, so a
test puts the inputs there and reads back what the batch wrote through the server.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

import paint_widgets as pw
from paint_widgets.batching import storage
from paint_widgets.batching.report import read_manifest
from paint_widgets.commands.cli import main
from paint_widgets.errors import InvalidInputError
from paint_widgets.io import read_metadata, read_png_text

QUICK = {"steps": 2, "display": None}


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_ftp_batch_matches_local_pixels_resumes_and_records_the_bad_file(mgr, folder, tmp_path, ftp, capsys):
    url, root = ftp
    shutil.copytree(folder["inputs"], root / "in")
    shutil.copytree(folder["masks"], root / "masks")
    common = {"prompt": "a cat", "seed": 5, **QUICK}
    local = pw.batch(folder["inputs"], masks=folder["masks"], outdir=tmp_path / "local", **common)
    remote = pw.batch(f"{url}/in", masks=f"{url}/masks", outdir=f"{url}/out", **common)

    assert [o.status for o in remote.outcomes] == ["done", "done", "failed", "done"]  # a, b, b_broken, c
    (failure,) = remote.failures
    assert failure.input == f"{url}/in/b_broken.png" and "not an image" in failure.reason
    assert remote.ignored == [f"{url}/in/README.txt"]
    assert remote.outputs == [f"{url}/out/{p.name}" for p in local.outputs]  # URLs, the local names
    for made in local.outputs:
        assert np.array_equal(pixels(made), pixels(root / "out" / made.name)), made.name
    assert not [p.name for p in (root / "out").iterdir() if p.name.startswith(".tmp-")]  # no half files
    # each output carries its command and batch record, naming the URLs it came from
    first = root / "out" / local.outputs[0].name
    command = read_png_text(first)["Dream"]
    assert command.startswith('"a cat" -s 2 -S 5 ') and f"-I {url}/in/a.png" in command
    assert f"-M {url}/masks/a.png" in command
    assert read_metadata(first)["batch"]["input"] == f"{url}/in/a.png"
    records = read_manifest(f"{url}/out")
    assert sorted(r["status"] for r in records) == ["done", "done", "done", "failed"]

    # resume from the shell: one output lost, the others are skipped, the lost one made again
    lost = root / "out" / local.outputs[1].name
    lost.unlink()
    before = mgr.generations
    status = main(["batch", "--input", f"{url}/in", "--masks", f"{url}/masks", "--outdir", f"{url}/out",
                   "a cat", "-s", "2", "-S", "5"])
    printed = capsys.readouterr().out
    assert status == 1 and "1 done, 2 skipped" in printed and f"failed: {url}/in/b_broken.png" in printed
    assert mgr.generations - before == 1
    assert np.array_equal(pixels(lost), pixels(local.outputs[1]))


def test_memory_outdir_and_file_url_inputs_on_the_local_engine(mgr, folder, tmp_path):
    image = folder["inputs"] / "a.png"
    local = pw.batch(image, masks=folder["masks"], prompt="x", outdir=tmp_path / "local", **QUICK)
    out = "memory://paint-widgets-test/out"
    try:
        made = pw.batch(f"file://{image}", masks=f"file://{folder['masks']}", prompt="x", outdir=out, **QUICK)
        (output,) = made.outputs
        assert output == f"{out}/{local.outputs[0].name}"
        data = storage.read_bytes(str(output))
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels(local.outputs[0]))
        again = pw.batch(f"file://{image}", masks=folder["masks"], prompt="x", outdir=out, **QUICK)
        assert len(again.skipped) == 1 and not again.done
    finally:
        import fsspec

        fsspec.filesystem("memory").rm("/paint-widgets-test", recursive=True)


def test_a_missing_fsspec_backend_says_what_to_pip_install(folder, capsys):
    pytest.importorskip("fsspec")
    with pytest.raises(storage.StorageUnavailableError, match="pip install s3fs"):
        pw.batch("s3://some-bucket/renders", prompt="x", display=None)
    status = main(["batch", "--input", str(folder["inputs"]), "--outdir", "gs://some-bucket/out", "x"])
    err = capsys.readouterr().err
    assert status == 2 and "pip install gcsfs" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(InvalidInputError, match="unknown storage protocol nosuch://"):
        pw.batch("nosuch://x/y", prompt="x", display=None)


def test_memory_urls_are_refused_on_ray(folder):
    with pytest.raises(InvalidInputError, match="Ray workers cannot reach"):
        pw.batch(folder["inputs"], prompt="x", outdir="memory://out", engine="ray", display=None)


def test_a_password_in_a_url_stays_out_of_what_is_written():
    assert storage.redact("ftp://me:secret@host:21/in/a.png") == "ftp://me@host:21/in/a.png"
    assert storage.redact("/local/a.png") == "/local/a.png"
    assert storage.normalise("file:///tmp/x/a.png", "input") == "/tmp/x/a.png"
