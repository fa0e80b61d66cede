"""Where a sweep's bytes live: each training state stored once, and the footprint reported.

* **Training state** (weights, EMA, optimiser and LR-schedule state, RNG, curve) lives only in the
  train job's directory, ``<out_root>/jobs/<train hash>/checkpoint.pt`` (``benchmarks.trained``):
  the job cache a rerun, a second sweep or a worker on another node resumes from. On a cluster
  ``--out`` / ``LDSEG_OUT`` is the path every node sees (README "Running on a cluster").
* **MLflow** holds per accuracy child only the **inference weights**, ``model/weights.pt``: the
  weights ``predict`` uses (EMA applied where the method trains one), no optimiser state, in the
  checkpoint format ``bench predict`` / ``bench evaluate`` read; the child's ``bench.train_dir``
  tag names the job directory that holds the training state.
* The sweep's **footprint** (:func:`sweep_footprint`): the bytes of its job directories and of
  its children's MLflow artifacts, logged on the parent run (``disk_*_mb``) and in sweep.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WEIGHTS_NAME = "weights.pt"
WEIGHTS_FOLDER = "model"
TRAIN_DIR_TAG = "bench.train_dir"
# what only resuming a training run needs; the inference weights leave them out
TRAINING_ONLY = ("optimizer", "lr_schedule", "rng_cpu", "curve")
MB = 2**20


def inference_weights(method, ckpt: dict[str, Any], path: Path | str) -> Path:
    """Write the weights ``method`` predicts with (as ``load_trained`` built it from ``ckpt``:
    EMA applied) with ``ckpt``'s configs, without training-only state."""
    from benchmarks.checkpoint import save_checkpoint

    payload = {
        k: v for k, v in ckpt.items() if k not in (*TRAINING_ONLY, "format", "version", "model")
    }
    payload["model"] = {k: v.detach().cpu().clone() for k, v in method.state_dict().items()}
    payload["ema"] = None  # already applied to "model"
    save_checkpoint(path, payload)
    return Path(path)


def dir_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (0 when it is missing)."""
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def artifact_bytes(client, run_id: str, path: str | None = None) -> int:
    """Bytes of a run's artifacts (through the tracking client, so a server's proxy works)."""
    total = 0
    for info in client.list_artifacts(run_id, path):
        total += artifact_bytes(client, run_id, info.path) if info.is_dir else info.file_size or 0
    return total


def sweep_footprint(tracker, out_root: Path, run_ids: list[str]) -> dict[str, float]:
    """MB on disk of a sweep's children: their train job directories (each counted once) and
    their MLflow artifacts."""
    jobs: set[str] = set()
    artifacts = 0
    for run_id in run_ids:
        run = tracker.client.get_run(run_id)
        if run.data.tags.get("train_hash"):
            jobs.add(run.data.tags["train_hash"])
        artifacts += artifact_bytes(tracker.client, run_id)
    job_bytes = sum(dir_bytes(Path(out_root) / "jobs" / h) for h in sorted(jobs))
    return {
        "disk_jobs_mb": job_bytes / MB,
        "disk_artifacts_mb": artifacts / MB,
        "disk_total_mb": (job_bytes + artifacts) / MB,
    }
