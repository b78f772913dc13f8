"""The Ray Data stage: a callable class whose instance (one per actor) holds one PipelineManager.

Imported by Ray on each worker. ``__init__`` builds the manager (the model loads
on the first job, once per actor); ``__call__`` runs a batch of jobs
(``{"job": [json, ...]}``) and returns ``{"outcome": [json, ...]}``, each naming the
node it ran on. Outputs are written by the actor to the shared output folder or
URL (the actor reads and writes fsspec URLs itself).
"""

from __future__ import annotations

import json
from typing import Any


class BatchWorker:
    """One actor: one manager, the batch's models, jobs in, outcomes out."""

    def __init__(self, model: str, textmask_model: str | None = None, device: str | None = None,
                 threads: int | None = None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from ..engine.manager import PipelineManager

        self.mgr = PipelineManager(device=device)
        self.mgr.configure(model=model, textmask_model=textmask_model)
        self.node = _node_id()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from .jobs import Job
        from .work import run_job

        outcomes = [run_job(Job.from_json(str(text)), self.mgr) for text in batch["job"]]
        for outcome in outcomes:
            outcome.node = self.node
        return {"outcome": [json.dumps(o.as_dict()) for o in outcomes]}


def _node_id() -> str:
    """This Ray node's id ("" outside Ray)."""
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # noqa: BLE001 - only a label in the manifest
        return ""


__all__ = ["BatchWorker"]
