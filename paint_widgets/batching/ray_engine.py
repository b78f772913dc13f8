"""The Ray engine: Ray Data's batch inference over the batch's jobs.

``ray.data.from_items`` over the jobs (one block each), ``map_batches`` with the
class-based stage :class:`~.ray_worker.BatchWorker` on an actor pool
(``ActorPoolStrategy(size=workers)``): each actor holds one manager, so the model
loads once per actor; ``num_gpus=1`` per actor when the cluster has GPUs, one CPU
per actor otherwise. The pool starts every actor before the first job and sends
each actor one job at a time, so the jobs spread over every node's actors (a job is
a whole diffusion run; queueing several on the first actor up, next to its data,
would leave the others idle). Inputs and outputs are paths on storage every node
reaches (a shared folder) or fsspec URLs, which each actor reads and writes itself
(Ray Data's own readers are not used: a job carries its input's path, not its
pixels). The driver plans the jobs (skipping those already written) and records
the outcomes as they stream back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from ..errors import PaintError
from .jobs import Job
from .work import Outcome

INSTALL_HINT = 'engine="ray" needs Ray Data: pip install "paint-widgets[ray]"'
#: How long the pool may take to start all its actors before the batch gives up (seconds).
ACTOR_START_SECONDS = 600


class RayUnavailableError(PaintError, ImportError):
    """Ray (with Ray Data) is not installed."""


def import_ray() -> Any:
    """``ray`` with ``ray.data``, or a :class:`RayUnavailableError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is the part we use
    except ImportError as err:
        raise RayUnavailableError(f"{INSTALL_HINT} (import failed: {err})") from None
    return ray


def connect(address: str | None) -> Any:
    """Join the cluster at ``address`` (None: ``$RAY_ADDRESS``, else a local one), once per process."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, log_to_driver=False,
                 ignore_reinit_error=True)
    return ray


def run_ray(jobs: list[Job], on_outcome: Callable[[Outcome], None], *, model: str,
            textmask_model: str | None, address: str | None = None, workers: int | None = None,
            device: str | None = None) -> int:
    """Run ``jobs`` on the Ray cluster; each outcome goes to ``on_outcome`` as it arrives.

    ``workers``: actors in the pool (default: one per GPU, else one per two CPUs, at
    least one, never more than the jobs). Returns the number of workers used.
    """
    if not jobs:
        return 0
    ray = connect(address)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    size = workers or (gpus if gpus else max(1, cpus // 2))
    size = max(1, min(size, len(jobs)))
    from .ray_worker import BatchWorker

    context = ray.data.DataContext.get_current()
    saved = context.wait_for_min_actors_s
    context.wait_for_min_actors_s = ACTOR_START_SECONDS  # all actors up before the first job
    try:
        dataset = ray.data.from_items([{"job": job.to_json()} for job in jobs], override_num_blocks=len(jobs))
        dataset = dataset.map_batches(
            BatchWorker,
            fn_constructor_kwargs={"model": model, "textmask_model": textmask_model,
                                   "device": device if device else None, "threads": None if gpus else 1},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
            num_gpus=1 if gpus else 0,
            num_cpus=1,
        )
        try:
            for row in dataset.iter_rows():
                on_outcome(Outcome(**json.loads(str(row["outcome"]))))
        except ray.exceptions.GetTimeoutError:
            need = "GPU" if gpus else "CPU"
            raise PaintError(f"the Ray cluster could not start {size} actors (one {need} each) within "
                             f"{ACTOR_START_SECONDS} s; give fewer workers (--workers / workers=)") from None
    finally:
        context.wait_for_min_actors_s = saved
    return size


__all__ = ["INSTALL_HINT", "RayUnavailableError", "connect", "import_ray", "run_ray"]
