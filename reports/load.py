"""Read a finished sweep back from MLflow (never trains, never predicts).

A sweep is a parent run (tag ``bench.role=sweep``) whose ``sweep.json`` artifact lists its
children's run ids (cached ones included) and the cells it skipped. Only FINISHED children are
read; failed ones are listed so the report can say what is missing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.errors import ConfigError
from benchmarks.tracking import ROLE_TAG, Tracker


@dataclass
class SweepData:
    experiment: str
    parent_run_id: str
    profile: str
    tags: dict[str, str]  # the parent's tags (environment, device, git sha)
    runs: pd.DataFrame  # one row per FINISHED child: run_id, method, dataset, seed, setting.*,
    # metrics (by name) and the tags weights / train_hash
    params: dict[str, dict[str, str]]  # run_id -> params
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    tracker: Tracker | None = None
    disk: dict[str, float] = field(default_factory=dict)  # footprint (benchmarks.storage)

    def artifact(self, run_id: str, path: str, dst: Path | None = None) -> Path | None:
        """Download one artifact of a child (None when it is missing)."""
        dst = dst or Path(tempfile.mkdtemp(prefix="bench-report-"))
        try:
            return self.tracker.download(run_id, path, dst)
        except Exception:  # noqa: BLE001 - an absent artifact only costs a figure
            return None

    def per_case_frames(self, runs: pd.DataFrame) -> dict[str, list[pd.DataFrame]]:
        """method -> the ``per_case.csv`` tables of ``runs`` (one per run that has one): the
        input of :func:`reports.stats.paired_comparison`."""
        frames: dict[str, list[pd.DataFrame]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for r in runs.itertuples():
                p = self.artifact(r.run_id, "per_case.csv", Path(tmp) / r.run_id)
                if p is not None:
                    frames.setdefault(r.method, []).append(pd.read_csv(p))
        return frames


def _num(v: str) -> Any:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() and "." not in str(v) else f


def latest_parent(parents: list) -> Any:
    """The sweep run last: the parent whose latest start or end is the newest. A sweep run
    again with the same spec reopens its old parent (``benchmarks.runner``), which keeps its
    first start time, so start time alone picks an older, other sweep (e.g. one method's
    lane) over the full sweep just re-assembled."""

    def last_activity(run) -> int:
        return max(run.info.start_time or 0, run.info.end_time or 0)

    return max(parents, key=last_activity)


def load_sweep(
    experiment: str,
    *,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    profile: str | None = None,
    out_root: str | Path | None = None,
) -> SweepData:
    tracker = Tracker(tracking_uri, out_root)
    exp_id = tracker.experiment_id(experiment, create=False)
    if exp_id is None:
        raise ConfigError(
            f"no MLflow experiment {experiment!r} in {tracker.uri}; run "
            f"`bench run {experiment}` first"
        )
    if parent_run_id is None:
        flt = f"tags.`{ROLE_TAG}` = 'sweep'"
        if profile:
            flt += f" and tags.profile = '{profile}'"
        parents = tracker.search(exp_id, flt, order_by=["attributes.start_time DESC"])
        if not parents:
            raise ConfigError(
                f"no sweep of {experiment!r}"
                f"{f' with profile {profile!r}' if profile else ''} in "
                f"{tracker.uri}; run `bench run {experiment}` first"
            )
        parent = latest_parent(parents)
    else:
        parent = tracker.client.get_run(parent_run_id)
    pid = parent.info.run_id
    try:
        sweep = tracker.load_json(pid, "sweep.json")
    except Exception as err:  # noqa: BLE001
        raise ConfigError(
            f"sweep run {pid} of {experiment!r} has no sweep.json (interrupted "
            f"before it finished?); rerun `bench run {experiment}`"
        ) from err
    wanted = {c["run_id"] for c in sweep["children"] if c.get("run_id")}
    finished = tracker.search(
        exp_id, f"attributes.status = 'FINISHED' and tags.`{ROLE_TAG}` = 'child'"
    )
    rows, params = [], {}
    for r in finished:
        if r.info.run_id not in wanted:
            continue
        t = r.data.tags
        row = {
            "run_id": r.info.run_id,
            "method": t.get("method"),
            "dataset": t.get("dataset"),
            "seed": int(t.get("seed", 0)),
            "weights": t.get("weights", ""),
            "train_hash": t.get("train_hash", ""),
            "device": t.get("device", ""),
            "env.device": t.get("env.device", ""),
            "env.cpu": t.get("env.cpu", ""),
            "env.git_sha": t.get("env.git_sha", ""),
        }
        row.update({k: _num(v) for k, v in t.items() if k.startswith("setting.")})
        row.update(r.data.metrics)
        rows.append(row)
        params[r.info.run_id] = dict(r.data.params)
    # MISSING: a --cached-only sweep's child that was not in the store (never run)
    failed = [c for c in sweep["children"] if c["status"] in ("FAILED", "MISSING")]
    return SweepData(
        experiment,
        pid,
        parent.data.tags.get("profile", "?"),
        dict(parent.data.tags),
        pd.DataFrame(rows),
        params,
        sweep.get("skipped", []),
        failed,
        tracker,
        sweep.get("disk", {}),
    )
