"""`bench plan`: hand-computed FLOP / saved-memory counts and the JSON rows of a smoke sweep."""

import json

import pytest
import torch
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.plan_costs import count_flops, plan_costs, saved_activation_bytes
from benchmarks.profiles import load_profile


def test_flops_of_a_matmul_are_2mnk():
    x, w = torch.randn(2, 4), torch.randn(4, 3)
    assert count_flops(lambda: x @ w) == 2 * 2 * 4 * 3


def test_saved_bytes_count_each_storage_once():
    x = torch.randn(2, 4, requires_grad=True)
    w = torch.randn(4, 3, requires_grad=True)

    def step():
        y = x @ w  # saves x (8 floats) and w (12 floats)
        return (y.sin() * y.sin()).sum()  # sin saves y (6 floats) — twice, one storage

    # x, w, y, and the two sin outputs multiplied together (6 floats each)
    assert saved_activation_bytes(step) == 4 * (8 + 12 + 6 + 6 + 6)


def test_meta_and_cpu_measurements_agree():
    """The meta-device pass (shapes only) counts what a real CPU pass counts."""
    from benchmarks.methods import build_method
    from benchmarks.pipeline import JobSpec, resolve_job
    from benchmarks.plan_costs import _passes, synthetic_batch  # noqa: F401

    prof = load_profile("smoke")
    job = resolve_job(JobSpec("unet", "synth2d", "smoke"), prof)
    info, mcfg = job.info, job.method_config
    ev = prof.eval_config("unet")
    torch.manual_seed(0)
    on_cpu = _passes(build_method("unet", mcfg, info), info, (32, 32), ev, False, "cpu")
    on_meta = _passes(
        build_method("unet", mcfg, info).to("meta"), info, (32, 32), ev, False, "meta"
    )
    assert on_cpu[:3] == on_meta[:3]
    assert on_cpu[0] > 0 and on_cpu[1] > 0


def test_plan_rows_follow_the_profile():
    prof = load_profile("smoke")
    rows = plan_costs("table2", prof, methods=("unet", "ldseg", "medsegdiff"), seeds=(0, 1))
    by = {(r.method, r.seed): r for r in rows}
    assert set(by) == {(m, s) for m in ("unet", "ldseg", "medsegdiff") for s in (0, 1)}
    # per-method K from [method_eval.X]; a plain network has none
    assert (by["ldseg", 0].sampler, by["ldseg", 0].num_inference_steps) == ("ddim", 2)
    assert by["medsegdiff", 0].num_inference_steps == 5
    assert by["unet", 0].sampler == "none" and by["unet", 0].num_inference_steps == 0
    # seeds change the hash, not the architecture
    assert by["unet", 0].config_hash != by["unet", 1].config_hash
    assert by["unet", 0].flops == by["unet", 1].flops
    # more sampling steps cost more inference FLOPs
    ldseg = by["ldseg", 0]
    assert ldseg.infer_flops > 0 and ldseg.train_steps == prof.train.steps
    # est_hours is (3 * train FLOPs * steps + test inference) / throughput
    unet = by["unet", 0]
    assert unet.est_hours >= 3 * unet.flops * unet.train_steps / 50e12 / 3600


def test_bench_plan_json(monkeypatch, tmp_path):
    monkeypatch.setenv("LDSEG_OUT", str(tmp_path))
    res = CliRunner().invoke(
        app, ["plan", "table2", "--profile", "smoke", "--methods", "unet,ldseg", "--json"]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    keys = {
        "method",
        "dataset",
        "seed",
        "config_hash",
        "sampler",
        "num_inference_steps",
        "params",
        "flops",
        "train_steps",
        "peak_memory_bytes",
        "est_hours",
    }
    assert {r["method"] for r in rows} == {"unet", "ldseg"}
    for r in rows:
        assert keys <= set(r)
        assert r["params"] > 0 and r["flops"] > 0 and r["peak_memory_bytes"] > 0


@pytest.mark.parametrize("bad", [["--tflops", "0"], ["--profile", "nope"]])
def test_bench_plan_bad_input_is_one_line(bad, monkeypatch, tmp_path):
    monkeypatch.setenv("LDSEG_OUT", str(tmp_path))
    res = CliRunner().invoke(app, ["plan", "table2", *bad])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


@pytest.mark.parametrize("method", ["ldseg", "lsegdiff", "medsegdiff", "sdfddpm"])
def test_diffusion_methods_are_counted_on_meta_like_on_the_cpu(method):
    """Diffusion methods run their plan passes on meta too (seconds at the paper's 512^2 instead
    of minutes of CPU arithmetic), and count exactly what a CPU pass counts."""
    from benchmarks.methods import build_method
    from benchmarks.pipeline import JobSpec, resolve_job
    from benchmarks.plan_costs import _passes, to_meta

    prof = load_profile("smoke")
    job = resolve_job(JobSpec(method, "synth2d", "smoke"), prof)
    info, mcfg = job.info, job.method_config
    ev = prof.eval_config(method)
    torch.manual_seed(0)
    on_cpu = _passes(build_method(method, mcfg, info), info, (32, 32), ev, True, "cpu")
    torch.manual_seed(0)
    on_meta = _passes(to_meta(build_method(method, mcfg, info)), info, (32, 32), ev, True, "meta")
    assert on_meta[3] == "meta"
    flops, saved, infer_flops = 0, 1, 2
    assert on_cpu[flops] == on_meta[flops] > 0
    assert on_cpu[infer_flops] == on_meta[infer_flops] > 0
    # meta runs attention by its math decomposition, which saves the attention matrix for the
    # backward; the CPU's fused kernel keeps only q, k, v, the output and the log-sum-exp: the
    # meta count is an upper bound, equal where a method has no attention
    assert on_meta[saved] >= on_cpu[saved] > 0
