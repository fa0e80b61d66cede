"""What a sweep will cost before it runs: ``bench plan EXPERIMENT --profile P``.

For every train job of a planned sweep (method x dataset x seed, deduplicated by the training
hash the runner uses), one training forward pass at the profile's image size is run with batch 1
and counted — on the ``meta`` device where the method's code allows it (shapes only: seconds even
at 512^2), else on the CPU (the diffusion methods, whose schedules index buffers by value):

* ``flops``: forward FLOPs of one training batch (``torch.utils.flop_counter``, counted at batch
  1 and scaled by the batch size; convolutions, matmuls and attention are linear in the batch);
* ``peak_memory_bytes``: the memory one optimiser step holds at its peak — parameters, their
  gradients, the optimiser state (Adam/AdamW: 2 tensors per parameter, SGD: 1) and every tensor
  autograd saves for the backward pass (counted with ``torch.autograd.graph.saved_tensors_hooks``,
  storages deduplicated; scaled by the batch size). This is what the step keeps alive, not the
  allocator's high-water mark, which adds short-lived temporaries. On meta, attention runs as
  its math decomposition and saves the attention matrix; fused kernels (CUDA flash/efficient,
  the CPU's flash kernel) keep only q, k, v, the output and the log-sum-exp: for attention
  layers the count is an upper bound;
* ``infer_flops``: FLOPs to segment one image with the row's sampler settings: ``f(K=1)`` plus
  ``K - 1`` times the per-step cost ``f(K=2) - f(K=1)``, times ``num_samples`` (K forward
  passes are not run: K = 1000 would take minutes);
* ``est_hours``: ``(3 * flops * train_steps + infer_flops * test_cases) / throughput``, the
  usual 3x of forward FLOPs for forward + backward. The throughput is a setting (``--tflops``):
  the default, 50 TFLOP/s, is ~16 % of an A100's 312 TFLOP/s dense bf16 peak (~5 % of an H100
  SXM's 989), a realistic utilisation for U-Nets of this size; it is an estimate, labelled so.

Nothing here is measured again by the runner; it only informs the user (the report's cost
columns are measured on the trained models).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from benchmarks.experiments import get_experiment, settings_for
from benchmarks.kinds import get_kind, plan
from benchmarks.methods import build_method, get_spec
from benchmarks.pipeline import JobSpec, resolve_job
from benchmarks.profiles import Profile
from benchmarks.timing import count_flops, count_params, flop_counter
from benchmarks.trained import train_hash

log = logging.getLogger(__name__)

DEFAULT_TFLOPS = 50.0
# test cases per dataset when nothing is known (GlaS's official test split has 80)
DEFAULT_TEST_CASES = {"glas": 80, "knee3d": 1, "knee2d": 40, "echo-synth": 16}


@dataclass(frozen=True)
class JobCost:
    method: str
    dataset: str
    seed: int
    config_hash: str
    size: str
    batch_size: int
    sampler: str
    num_inference_steps: int
    num_samples: int
    params: int
    flops: int  # forward FLOPs of one training batch
    infer_flops: int  # FLOPs to segment one image at the row's sampler settings
    train_steps: int
    peak_memory_bytes: int
    est_hours: float
    measured_on: str  # "meta" (shapes only) or "cpu"

    def row(self) -> dict[str, Any]:
        return asdict(self)


class _Counter:
    """FLOPs (PyTorch's flop counter: matmul/conv/attention) and the distinct storages autograd
    saves for the backward pass, counted in one run of ``fn()``."""

    def __init__(self) -> None:
        self.flops = 0
        self._saved: dict[int, int] = {}

    @property
    def saved_bytes(self) -> int:
        return sum(self._saved.values())

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        # StorageImpl identity (views share it; works for meta tensors, whose data_ptr is 0)
        try:
            key, n = t.untyped_storage()._cdata, t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):  # sparse or exotic tensors
            key, n = id(t), t.numel() * t.element_size()
        self._saved[key] = max(self._saved.get(key, 0), n)
        return t

    def run(self, fn: Callable[[], Any]) -> _Counter:
        with flop_counter() as counter:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
                fn()
        self.flops += int(counter.get_total_flops())
        return self


def saved_activation_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the distinct storages autograd saves while ``fn()`` runs (its backward memory)."""
    return _Counter().run(fn).saved_bytes


def optimizer_state_factor(optimizer: str) -> int:
    return {"adam": 2, "adamw": 2, "sgd": 1}.get(optimizer, 2)


def synthetic_batch(info, size: tuple[int, ...], batch: int, generator: torch.Generator) -> dict:
    """A batch of the dataset's shape: random image in [0, 1], random labels of its classes."""
    image = torch.rand((batch, info.in_channels, *size), generator=generator)
    label = torch.randint(0, info.num_classes, (batch, 1, *size), generator=generator)
    return {"image": image, "label": label}


def measure_job(spec: JobSpec, profile: Profile) -> dict[str, Any]:
    """Params, per-batch training FLOPs / step memory and per-image inference FLOPs of one job.

    Shapes are all FLOP counting and saved-tensor sizes need, so the passes run on the ``meta``
    device (no arithmetic, seconds even at 512^2); a method whose code needs real values
    (diffusion schedules index buffers with sampled timesteps) is measured on the CPU instead.
    """
    job = resolve_job(spec, profile)
    info, mcfg = job.info, job.method_config
    train = profile.train_config(spec.method, seed=spec.seed, dataset=spec.dataset)
    ev = profile.eval_config(spec.method)
    size = tuple(profile.dataset(spec.dataset).size)
    torch.manual_seed(spec.seed)
    method = build_method(spec.method, mcfg, info)
    params = count_params(method)
    weights = sum(p.numel() * p.element_size() for p in method.parameters())
    trainable = sum(p.numel() * p.element_size() for p in method.parameters() if p.requires_grad)
    samples = get_spec(spec.method).samples
    try:
        out = _passes(to_meta(method), info, size, ev, samples, "meta")
    except (RuntimeError, NotImplementedError) as err:
        log.debug("%s: meta pass failed (%s); measuring on the CPU", spec.method, err)
        torch.manual_seed(spec.seed)
        out = _passes(build_method(spec.method, mcfg, info), info, size, ev, samples, "cpu")
    flops_1, saved_1, infer_flops, device = out
    peak = weights + trainable * (1 + optimizer_state_factor(train.optimizer))
    return {
        "params": params,
        "flops": flops_1 * train.batch_size,
        "infer_flops": infer_flops,
        "peak_memory_bytes": peak + saved_1 * train.batch_size,
        "measured_on": device,
    }


def to_meta(method: torch.nn.Module) -> torch.nn.Module:
    """``method`` on the meta device, except its integer/bool buffers (training-stage counters,
    flags), which stay real CPU scalars: code may branch on them (``int(self.step)``), and
    those branches decide which modules a training step runs."""
    keep = {
        (mod, name): buf.clone()
        for mod in method.modules()
        for name, buf in mod._buffers.items()
        if buf is not None and not (buf.is_floating_point() or buf.is_complex())
    }
    method = method.to("meta")
    for (mod, name), buf in keep.items():
        mod._buffers[name] = buf
    return method


def _passes(method, info, size, ev, samples: bool, device: str) -> tuple[int, int, int, str]:
    """(training FLOPs, saved bytes) of one batch-1 loss pass, then inference FLOPs per image."""
    g = torch.Generator().manual_seed(0)
    batch = synthetic_batch(info, size, 1, g)
    batch = {k: v.to(device) for k, v in batch.items()}
    method.train()
    train = _Counter().run(lambda: method.loss(batch, generator=torch.Generator().manual_seed(0)))
    if not samples:  # a plain network: inference is the same forward pass
        return train.flops, train.saved_bytes, train.flops, device
    method.eval()

    def infer(k: int) -> int:
        kwargs = dict(num_inference_steps=k, sampler=ev.sampler, num_samples=1)
        with torch.inference_mode():
            return count_flops(
                lambda: method.predict(
                    batch["image"], generator=torch.Generator().manual_seed(0), **kwargs
                )
            )

    f1, f2 = infer(1), infer(2)  # f(K) = f(1) + (K - 1) * per-step cost
    infer_flops = (f1 + (ev.num_inference_steps - 1) * max(f2 - f1, 0)) * ev.num_samples
    return train.flops, train.saved_bytes, infer_flops, device


def plan_costs(
    experiment: str,
    profile: Profile,
    *,
    methods: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    tflops: float = DEFAULT_TFLOPS,
    on_job: Callable[[str, int, int], None] | None = None,
) -> list[JobCost]:
    """One :class:`JobCost` per train job of the sweep, in plan order."""
    if not (tflops > 0 and math.isfinite(tflops)):
        from benchmarks.errors import ConfigError

        raise ConfigError(f"--tflops must be a positive number, got {tflops}")
    exp = get_experiment(experiment)
    settings = settings_for(profile)
    sweep = plan(exp, settings, methods=methods, seeds=seeds)
    kind = get_kind(exp.kind)
    jobs: dict[str, tuple[JobSpec, Profile]] = {}
    for child in sweep.children:
        if not child.trained:
            continue
        s = child.settings  # a fold, when the sweep cross-validates
        spec = JobSpec(child.method, child.dataset, profile.name, child.seed)
        spec = replace(spec, fold=s.get("fold"), num_folds=s.get("num_folds"))
        job_profile = kind.job_profile(child, profile, kind.view(settings))  # budget: longest
        h = train_hash(spec, job_profile)
        jobs.setdefault(h, (spec, job_profile))
    measured: dict[tuple[str, str], dict[str, Any]] = {}  # seeds share the architecture
    out: list[JobCost] = []
    for i, (h, (spec, prof)) in enumerate(jobs.items()):
        if on_job is not None:
            on_job(f"{spec.method} on {spec.dataset}", i, len(jobs))
        key = (spec.method, spec.dataset)
        if key not in measured:
            measured[key] = measure_job(spec, prof)
        m = measured[key]
        train = prof.train_config(spec.method, seed=spec.seed, dataset=spec.dataset)
        ev = prof.eval_config(spec.method)
        samples = get_spec(spec.method).samples
        cases = DEFAULT_TEST_CASES.get(spec.dataset, 1)
        total = 3 * m["flops"] * train.steps + m["infer_flops"] * cases
        out.append(
            JobCost(
                method=spec.method,
                dataset=spec.dataset,
                seed=spec.seed,
                config_hash=h,
                size="x".join(str(s) for s in prof.dataset(spec.dataset).size),
                batch_size=train.batch_size,
                sampler=ev.sampler if samples else "none",
                num_inference_steps=ev.num_inference_steps if samples else 0,
                num_samples=ev.num_samples if samples else 1,
                params=m["params"],
                flops=m["flops"],
                infer_flops=m["infer_flops"],
                train_steps=train.steps,
                peak_memory_bytes=m["peak_memory_bytes"],
                est_hours=total / (tflops * 1e12) / 3600.0,
                measured_on=m["measured_on"],
            )
        )
    if on_job is not None:
        on_job("done", len(jobs), len(jobs))
    return out
