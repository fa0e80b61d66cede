"""Where a sweep's children run: ``local`` (one after another in this process, the default) or
``ray`` (each child a Ray task on a Ray cluster). The plan, the cache and every MLflow write are
the runner's (``benchmarks/runner.py``); an executor only decides where ``run_one(child, i,
total)`` is called, so no experiment or method code knows which executor runs it.

Ray (``pip install -e ".[ray]"``, ``bench run ... --executor ray [--ray-address auto|HOST:PORT]``):

* The driver (``bench run``) has already created the MLflow experiment and the parent run
  before any task starts (creating and migrating a store from many processes at once races);
  workers log their child runs with ``parent_run_id`` into the same tracking URI.
* Each child is one task asking ``num_gpus=1`` on a CUDA sweep, else ``num_cpus`` = the
  profile's ``experiments.torch_threads`` (1 when unset); independent children run concurrently
  up to the cluster's resources. Children that share a train job wait for it on its job lock in
  ``<out_root>/jobs`` (the path every node sees), so the model is trained once.
* A worker process that dies (killed, out of memory, node lost) is retried up to ``retries``
  times by Ray (``max_retries``); after that the child is FAILED with the error and the sweep
  goes on. A child that raises is FAILED by the runner as with the local executor (no retry).
* Killed driver: its tasks end with it; a rerun finds the FINISHED children in MLflow and the
  trained jobs in ``<out_root>/jobs`` and resumes exactly as the local executor does.
* Progress: the driver reports each child as it finishes (one bar for the sweep).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.errors import ConfigError
from benchmarks.validate_args import EXECUTORS

log = logging.getLogger(__name__)

RAY_EXTRA = 'pip install -e ".[ray]"'


@dataclass(frozen=True)
class ExecutorOptions:
    name: str = "local"  # local | ray
    ray_address: str | None = None  # None: start a local Ray cluster; "auto" or HOST:PORT
    retries: int = 1  # Ray re-runs of a child whose worker process died
    num_cpus: int | None = None  # CPUs of a local Ray cluster (None: all of them)


def check_executor(opts: ExecutorOptions) -> None:
    """Unknown executor, negative retries, missing Ray: one line (ConfigError) up front."""
    if opts.name not in EXECUTORS:
        raise ConfigError(f"--executor {opts.name!r}: valid: {', '.join(EXECUTORS)}")
    if opts.retries < 0:
        raise ConfigError(f"--retries {opts.retries}: must be >= 0")
    if opts.name != "ray" and opts.ray_address:
        raise ConfigError("--ray-address is only read with --executor ray")
    if opts.name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError(f"--executor ray: Ray is not installed; {RAY_EXTRA}") from None


def run_local(children: Sequence, run_one: Callable, results: list) -> None:
    """Today's behaviour: every child in this process, in plan order."""
    for i, child in enumerate(children):
        results.append(run_one(child, i, len(children)))


def task_resources(device: str, torch_threads: int | None) -> dict[str, float]:
    """What one child asks of the cluster: a GPU on a CUDA sweep, else its CPU threads."""
    if device.startswith("cuda"):
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": torch_threads or 1}


def _in_worker(run_one: Callable, child, i: int, total: int, threads: int):
    """A Ray task: one child, with the sweep's torch threads."""
    import torch

    torch.set_num_threads(threads)
    return run_one(child, i, total)


def run_ray(
    children: Sequence,
    run_one: Callable,
    results: list,
    opts: ExecutorOptions,
    resources: dict[str, float],
    *,
    lost: Callable[[Any, str], Any],
    on_done: Callable[[Any, int, int], None] | None = None,
) -> None:
    """Submit every child as a Ray task and collect the results as they finish.

    ``run_one`` is pickled to the workers (a module-level function, or a partial of one with
    picklable arguments); ``lost(child, error)`` turns a child whose worker died past its
    retries into its FAILED result; ``on_done(result, done, total)`` reports progress."""
    import ray
    from ray.exceptions import RayError

    started = _connect(opts)
    threads = int(resources.get("num_cpus", 1)) if "num_gpus" not in resources else 1
    task = ray.remote(_in_worker).options(max_retries=opts.retries, **resources)
    pending = {
        task.remote(run_one, child, i, len(children), threads): child
        for i, child in enumerate(children)
    }
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                child = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except RayError as err:  # the worker died past its retries, or was cancelled
                    result = lost(child, _ray_error(err))
                results.append(result)
                if on_done is not None:
                    on_done(result, len(results), len(children))
    finally:
        for ref in pending:  # interrupted: nothing of ours keeps running
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _connect(opts: ExecutorOptions) -> bool:
    """Join the cluster at ``ray_address`` or start a local one; True when we started it."""
    import ray

    if ray.is_initialized():
        return False
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if opts.ray_address:
        ray.init(address=opts.ray_address, **kwargs)
    else:
        ray.init(num_cpus=opts.num_cpus, include_dashboard=False, **kwargs)
    log.info("ray cluster ready in %.1f s: %s", time.perf_counter() - t0, ray.cluster_resources())
    return True


def _ray_error(err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}"[:500]
