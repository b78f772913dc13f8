"""A real two-node Ray cluster on 127.0.0.1: pw.batch(engine="ray", address=...) spreads the jobs.

``ray.cluster_utils.Cluster`` (Ray's own multi-raylet test utility) starts a head
node and a second node, one CPU each, as separate raylets on this machine; the
batch connects by address, like a driver joining a real cluster. The cluster is
always torn down (fixture finaliser), and any Ray left by another module is shut
down first: one Ray per process at a time.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import paint_widgets as pw

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install "paint-widgets[ray]"')

pytestmark = [pytest.mark.multinode, pytest.mark.slow]


@pytest.fixture
def two_nodes():
    """A head node and one more node (1 CPU each); yields the cluster, removes it whatever happens."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_batch_on_two_nodes_uses_both_and_matches_local_pixels(two_nodes, mgr, folder, tmp_path):
    common = {"masks": folder["masks"], "prompt": "a cat", "steps": 2, "display": None}
    local = pw.batch(folder["inputs"], outdir=tmp_path / "local", **common)
    spread = pw.batch(folder["inputs"], outdir=tmp_path / "cluster", engine="ray", address=two_nodes.address,
                      workers=2, **common)
    assert len(spread.done) == 3 and len(spread.failures) == 1
    nodes = {o.node for o in spread.done}
    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2 and nodes <= alive  # actors on two different nodes made outputs
    assert sorted(p.name for p in spread.outputs) == sorted(p.name for p in local.outputs)
    for name in (p.name for p in local.outputs):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "local" / name)),
                              np.asarray(Image.open(tmp_path / "cluster" / name))), name
