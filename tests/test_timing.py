"""Timing: warm-up excluded, repeats counted, medians sane, environment recorded."""

from __future__ import annotations

import time

import pytest
import torch

from benchmarks.timing import TimingResult, environment, ratio, time_callable


def test_sleep_median_and_counts():
    calls = []

    def fn():
        calls.append(torch.is_inference_mode_enabled())
        time.sleep(0.005)

    r = time_callable(fn, warmup=2, repeats=5)
    assert len(calls) == 2 + 5 and all(calls)  # every call under inference_mode
    assert r.repeats == 5 and r.warmup == 2 and len(r.times_s) == 5
    assert 0.005 <= r.median_s < 0.05  # sleep never returns early; generous upper slack for CI
    assert r.min_s <= r.median_s <= r.p90_s <= r.max_s
    assert r.device == "cpu"
    assert r.to_dict()["times_s"] == r.times_s


def test_warmup_calls_are_not_timed():
    n = 0

    def fn():  # slow only while warming up
        nonlocal n
        n += 1
        time.sleep(0.1 if n <= 3 else 0.001)

    r = time_callable(fn, warmup=3, repeats=4)
    assert n == 7
    assert r.max_s < 0.05


def test_memory_reported_on_cpu_and_optional():
    r = time_callable(lambda: torch.ones(256, 256).sum(), warmup=0, repeats=2)
    assert isinstance(r.peak_memory_bytes, int) and r.peak_memory_bytes > 0
    assert r.memory_source in {"cpu_peak_rss", "cpu_peak_rss_lifetime"}
    r = time_callable(lambda: None, warmup=0, repeats=1, measure_memory=False)
    assert r.peak_memory_bytes is None and r.memory_source == "none" and r.std_s == 0.0


def test_bad_counts_raise():
    with pytest.raises(ValueError, match="repeats"):
        time_callable(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        time_callable(lambda: None, warmup=-1)


def _result(median: float) -> TimingResult:
    return TimingResult(median, median, 0.0, median, median, median, 1, 0, None, "cpu", [median])


def test_ratio():
    assert ratio(_result(0.3), _result(0.1)) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        ratio(_result(0.3), _result(0.0))


def test_environment_keys():
    env = environment()
    expected = {"torch", "monai", "smp", "mlflow", "python", "platform", "cpu_count", "cpu"}
    assert expected | {"device", "cuda", "torch_threads", "git_sha"} <= set(env)
    assert all(isinstance(v, str) and v for v in env.values())
    assert env["torch"] == torch.__version__.split("+")[0]
    assert env["torch_threads"] == str(torch.get_num_threads())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_memory_and_sync():
    x = torch.randn(1024, 1024, device="cuda")
    r = time_callable(lambda: x @ x, warmup=1, repeats=3, device="cuda")
    assert r.memory_source == "cuda_max_allocated" and r.peak_memory_bytes >= x.nbytes
    assert r.device.startswith("cuda")


def test_cpu_attention_flops_are_counted():
    """F.scaled_dot_product_attention on a CPU runs a fused kernel that PyTorch's counter has no
    formula for (it counted 0); two matmuls of b*h x s x s x d: 4*b*h*s*s*d FLOPs forward."""
    import torch.nn.functional as F

    from benchmarks.timing import count_flops

    b, h, s, d = 2, 3, 16, 8
    q, k, v = (torch.randn(b, h, s, d, requires_grad=True) for _ in range(3))
    assert count_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == 4 * b * h * s * s * d
    fwd_bwd = count_flops(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    # backward (PyTorch's formula for the CUDA kernels): recompute the scores + 4 gradient
    # matmuls = 5 matmuls of 2*b*h*s*s*d
    assert fwd_bwd == (4 + 10) * b * h * s * s * d


def test_git_sha_from_environment_for_copies_without_git(monkeypatch) -> None:
    from benchmarks.timing import environment

    monkeypatch.setenv("LDSEG_GIT_SHA", "0123abcd")
    assert environment()["git_sha"] == "0123abcd"


def test_count_flops_and_ops_counts_what_one_call_dispatches():
    """relu(x @ w + 1): three ATen operators (mm, add, relu), 2*2*3*4 FLOPs (only the mm has a
    FLOP formula); the same under inference mode, where the harness counts."""
    from benchmarks.timing import count_flops, count_flops_and_ops

    x, w = torch.ones(2, 3), torch.ones(3, 4)

    def fn():
        return torch.relu(x @ w + 1)

    assert count_flops_and_ops(fn) == (2 * 2 * 3 * 4, 3)
    assert count_flops(fn) == 2 * 2 * 3 * 4  # the op counter does not change the FLOP count
    with torch.inference_mode():
        assert count_flops_and_ops(fn) == (48, 3)
