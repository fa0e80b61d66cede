"""Wall-clock timing with warm-up, repeats, device synchronisation and peak memory.

``time_callable(fn)`` runs ``fn`` ``warmup`` times untimed, then ``repeats`` times, each timed
with :func:`time.perf_counter` between two ``torch.cuda.synchronize`` calls on CUDA (so queued
kernels are counted), all under :func:`torch.inference_mode`. Report the median; the other
statistics and the raw times come along. :func:`environment` records what the numbers were
measured on and goes into every result.

Peak memory:

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, i.e. the peak of
  tensors allocated by PyTorch during the timed repeats (weights and inputs included, allocator
  cache excluded); ``peak_reserved_bytes`` is ``max_memory_reserved``, the peak the caching
  allocator held from the driver (what another process could not use).
* CPU: the process's peak resident set size during the timed repeats. On Linux the peak is reset
  just before the repeats (``/proc/self/clear_refs``) and read back from ``VmHWM``; where that is
  not possible it falls back to ``getrusage``'s lifetime ``ru_maxrss``. Either way it is a coarse
  **upper bound** on what ``fn`` needs: it counts the whole process (interpreter, libraries, data
  already loaded), and the fallback also counts anything earlier in the process' life.
  ``tracemalloc`` is not used because it does not see PyTorch's allocations.
  ``TimingResult.memory_source`` says which of these produced the number.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["TimingResult", "time_callable", "ratio", "environment"]

_REPO_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = {  # environment() key -> distribution name
    "torch": "torch",
    "monai": "monai",
    "smp": "segmentation-models-pytorch",
    "mlflow": "mlflow",
}
#: a distribution that provides the same import package where the first is not installed
_ALTERNATIVES = {"mlflow": "mlflow-skinny"}


@dataclass(frozen=True)
class TimingResult:
    """Statistics of ``repeats`` timed calls (seconds); ``times_s`` holds the raw times."""

    median_s: float
    mean_s: float
    std_s: float  # sample standard deviation (0 for a single repeat)
    min_s: float
    max_s: float
    p90_s: float
    repeats: int
    warmup: int
    peak_memory_bytes: int | None
    device: str
    times_s: list[float] = field(default_factory=list)
    memory_source: str = "none"  # cuda_max_allocated | cpu_peak_rss | cpu_peak_rss_lifetime | none
    peak_reserved_bytes: int | None = None  # CUDA only: torch.cuda.max_memory_reserved

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_cpu_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_peak_rss_bytes(reset_ok: bool) -> int:
    if reset_ok:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024  # kB
        except (OSError, ValueError, IndexError):
            pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024  # bytes vs KiB


def time_callable(
    fn: Callable[[], Any],
    *,
    warmup: int = 3,
    repeats: int = 10,
    device: torch.device | str = "cpu",
    measure_memory: bool = True,
) -> TimingResult:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    ``device`` is where ``fn`` runs; on CUDA each timed call is bracketed by
    ``torch.cuda.synchronize(device)``. See the module docstring for what the peak memory means.
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())

    times: list[float] = []
    peak: int | None = None
    reserved: int | None = None
    source = "none"
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        _sync(device)
        reset_ok = False
        if measure_memory and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        elif measure_memory and device.type == "cpu":
            reset_ok = _reset_cpu_peak_rss()
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - t0)
        if measure_memory and device.type == "cuda":
            peak, source = int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
            reserved = int(torch.cuda.max_memory_reserved(device))
        elif measure_memory and device.type == "cpu":
            peak = _cpu_peak_rss_bytes(reset_ok)
            source = "cpu_peak_rss" if reset_ok else "cpu_peak_rss_lifetime"

    return TimingResult(
        median_s=statistics.median(times),
        mean_s=statistics.fmean(times),
        std_s=statistics.stdev(times) if len(times) > 1 else 0.0,
        min_s=min(times),
        max_s=max(times),
        p90_s=float(np.percentile(times, 90)),
        repeats=repeats,
        warmup=warmup,
        peak_memory_bytes=peak,
        device=str(device),
        times_s=times,
        memory_source=source,
        peak_reserved_bytes=reserved,
    )


def count_params(module: torch.nn.Module) -> int:
    """Number of weights (every parameter, trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def flop_counter():
    """PyTorch's ``FlopCounterMode``, also counting the CPU's fused attention kernel.

    The counter has formulas for the CUDA attention kernels (flash / efficient / cuDNN) but not
    for ``_scaled_dot_product_flash_attention_for_cpu``, the kernel ``F.scaled_dot_product_attention``
    runs on a CPU: without this mapping every attention layer counted 0 FLOPs on the CPU (LDSeg's
    image encoder and denoiser, Swin-Unet, MedT, the pixel-diffusion U-Nets), while the meta
    device (which decomposes attention into matmuls) counted them. Same formulas as the CUDA
    kernels: the same arithmetic.
    """
    from torch.utils.flop_counter import (
        FlopCounterMode,
        sdpa_backward_flop_count,
        sdpa_flop_count,
    )

    aten = torch.ops.aten
    mapping = {  # shape formulas; FlopCounterMode passes the arguments' shapes to them
        aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *a, **kw: sdpa_flop_count(
            q, k, v
        ),
        aten._scaled_dot_product_flash_attention_for_cpu_backward: lambda g, q, k, v, *a, **kw: (
            sdpa_backward_flop_count(g, q, k, v)
        ),
        aten._native_multi_head_attention: _native_mha_flops,
    }
    return FlopCounterMode(display=False, custom_mapping=mapping)


def _native_mha_flops(q, k, v, embed_dim, num_head, *args, **kwargs) -> int:
    """``nn.MultiheadAttention``'s inference fast path (one fused op, eval + no grad, also
    uncounted by PyTorch): the input projection (3 E x E), attention, the output projection."""
    (b, s_q, e), s_k = q, k[-2]
    in_proj = 2 * b * s_q * e * e + 2 * 2 * b * s_k * e * e  # q from query; k, v from key/value
    attention = 4 * b * s_q * s_k * e  # scores and weighted sum over every head (h * d = e)
    return in_proj + attention + 2 * b * s_q * e * e


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` by PyTorch's own counter (matmul/conv/attention; a
    multiply-add is 2 FLOPs, element-wise ops count 0)."""
    with flop_counter() as counter:
        fn()
    return int(counter.get_total_flops())


def count_flops_and_ops(fn: Callable[[], Any]) -> tuple[int, int]:
    """(FLOPs as :func:`count_flops`, number of ATen operators dispatched) of one call of ``fn``.

    The operator count is what a GPU at small batch pays for: each operator costs tens of
    microseconds of Python dispatch and kernel launch whatever its size, so a model with many
    small operators (LDSeg's denoiser: ~570 per call at 128^2) is launch-bound where its FLOPs
    say it should be fast. Views and reshapes count too (they dispatch, launch nothing), so it
    is an operator count, not a kernel count. Written here because neither PyTorch's
    ``FlopCounterMode`` nor its profiler reports a plain per-call count without tracing.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Ops(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += 1
            return func(*args, **(kwargs or {}))

    with flop_counter() as counter, _Ops() as ops:
        fn()
    return int(counter.get_total_flops()), ops.n


def ratio(a: TimingResult, b: TimingResult) -> float:
    """How many times slower ``a`` is than ``b``: ``a.median_s / b.median_s``."""
    if b.median_s <= 0:
        raise ValueError(f"cannot divide by a median of {b.median_s} s")
    return a.median_s / b.median_s


def _version(dist: str) -> str:
    for name in (dist, _ALTERNATIVES.get(dist)):
        try:
            return importlib.metadata.version(name) if name else "absent"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "absent"


def _git_sha() -> str:
    # a copy of the code without .git (a container, a lent machine) says its commit in
    # $LDSEG_GIT_SHA
    if os.environ.get("LDSEG_GIT_SHA"):
        return os.environ["LDSEG_GIT_SHA"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=_REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment() -> dict[str, str]:
    """What a result was measured on: versions, platform, device, threads and git sha."""
    env = {name: _version(dist) for name, dist in _PACKAGES.items()}
    cuda = torch.cuda.is_available()
    env.update(
        python=platform.python_version(),
        platform=platform.platform(),
        cpu_count=str(os.cpu_count()),
        cpu=_cpu_name(),
        device=torch.cuda.get_device_name() if cuda else "cpu",
        cuda=str(torch.version.cuda) if cuda else "absent",
        torch_threads=str(torch.get_num_threads()),
        git_sha=_git_sha(),
    )
    return env
