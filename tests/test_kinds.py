"""Experiment kinds (``benchmarks/kinds/``): every registered kind has a renderer and declares
every setting it reads, checked two ways (the settings view refuses undeclared fields while
every experiment is planned and every planned child described; a static scan of each kind's
source); and a toy kind, registered here with a toy renderer, runs through ``bench run`` and
renders its report without touching any other file."""

from __future__ import annotations

import ast
import inspect
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks import experiments
from benchmarks.errors import ConfigError
from benchmarks.experiments import EXPERIMENTS, Experiment, ExperimentSettings, settings_for
from benchmarks.kinds import (
    COMMON_SETTINGS,
    KINDS,
    ExperimentKind,
    UndeclaredSetting,
    get_kind,
    plan,
    relevant_settings,
)
from benchmarks.trained import Cache, ChildContext, ChildOutput
from reports import render

SETTING_FIELDS = {f.name for f in fields(ExperimentSettings)}


# -- every kind: renderer and settings tuple ---------------------------------------------------
def test_every_experiment_names_a_registered_kind_with_a_renderer():
    for exp in EXPERIMENTS.values():
        assert get_kind(exp.kind).name == exp.kind
    for kind in KINDS.values():
        assert render.get_renderer(kind.renderer) is render.RENDERERS[kind.renderer]
        assert set(kind.settings) <= SETTING_FIELDS, kind.name
    with pytest.raises(ConfigError, match="unknown experiment kind 'nope'; valid: accuracy"):
        get_kind("nope")
    with pytest.raises(ConfigError, match="unknown renderer"):
        render.get_renderer("nope")


def test_the_settings_view_refuses_an_undeclared_field():
    view = get_kind("robustness").view(settings_for("smoke"))
    assert view.noise_seed == settings_for("smoke").noise_seed
    assert view.seeds == settings_for("smoke").seeds  # common to every kind
    with pytest.raises(UndeclaredSetting, match="'robustness' reads the setting 'steps'"):
        _ = view.steps
    # an executor may ship a child's context to another process (pickle), the view included
    import pickle

    again = pickle.loads(pickle.dumps(view))
    assert again == view and again.noise_seed == view.noise_seed
    with pytest.raises(UndeclaredSetting):
        _ = again.steps
    assert pickle.loads(pickle.dumps(get_kind("steps"))).name == "steps"


def test_the_sweep_identity_is_exactly_the_declared_settings():
    s = settings_for("smoke")
    for exp in EXPERIMENTS.values():
        kind = get_kind(exp.kind)
        assert set(relevant_settings(exp, s)) == {*COMMON_SETTINGS, *kind.settings}
    # accuracy children read the timing settings (cost columns): they are in its identity
    table2 = relevant_settings(EXPERIMENTS["table2"], s)
    assert table2["timing_repeats"] == s.timing_repeats
    assert "steps" not in table2


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_planning_and_describing_read_only_declared_settings(profile, tmp_path):
    """Plan every experiment and describe one child per (experiment, method, dataset) through
    the kind's settings view: an undeclared read raises UndeclaredSetting."""
    from benchmarks.profiles import load_profile

    prof = load_profile(profile)
    settings = settings_for(prof)
    for name, exp in EXPERIMENTS.items():
        kind = get_kind(exp.kind)
        p = (
            kind.check_plan(plan(exp, settings), prof)
            if profile == "smoke"
            else plan(exp, settings)
        )
        assert p.children, name
        ctx = ChildContext(prof, kind.view(settings), tmp_path, tmp_path, cache=Cache())
        seen = set()
        for child in p.children:
            if (child.method, child.dataset) in seen:
                continue
            seen.add((child.method, child.dataset))
            assert isinstance(kind.describe(child, ctx), dict)


def _settings_read(node: ast.AST) -> set[str]:
    """ExperimentSettings fields read as ``<anything>.settings.<field>`` or ``settings.<field>``."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr in SETTING_FIELDS:
            base = n.value
            named = (isinstance(base, ast.Name) and base.id == "settings") or (
                isinstance(base, ast.Attribute) and base.attr == "settings"
            )
            if named:
                out.add(n.attr)
    return out


def test_static_scan_every_setting_a_kind_reads_is_declared():
    """Reads in a kind's class body (and its base classes in the same file) and in module-level
    functions of its file must be in its tuple; no other harness module reads a kind's setting
    (only the runner reads the common ones)."""
    for kind in KINDS.values():
        module = inspect.getmodule(type(kind))
        tree = ast.parse(inspect.getsource(module))
        classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
        read = set().union(
            *(_settings_read(f) for f in tree.body if isinstance(f, ast.FunctionDef))
        )
        for cls in type(kind).__mro__:
            if cls.__name__ in classes and cls.__module__ == module.__name__:
                read |= _settings_read(classes[cls.__name__])
        assert read <= set(kind.all_settings()), (kind.name, read - set(kind.all_settings()))
    root = Path(__file__).resolve().parents[1]
    for path in [*(root / "benchmarks").glob("*.py"), *(root / "reports").glob("*.py")]:
        if path.name in ("experiments.py", "runner.py"):
            continue  # the dataclass itself; the runner reads torch_threads
        read = _settings_read(ast.parse(path.read_text()))
        assert not read, f"{path.name} reads experiment settings {read}: pass them from a kind"


def test_a_kind_cannot_declare_an_unknown_setting():
    class Bad(ExperimentKind):
        name, renderer, settings = "bad", "accuracy", ("stepz",)

    with pytest.raises(ConfigError, match="'bad' declares unknown setting"):
        Bad().check_declared()


# -- a toy kind registered here runs through `bench run` and renders ---------------------------
class Toy(ExperimentKind):
    """Untrained, instant children: score = seed + noise_seed / 2 (hand-computable)."""

    name = "toy"
    renderer = "toy"
    settings = ("noise_seed",)
    trained = False

    def candidates(self, exp, settings):
        return ("unet",)

    def plan_children(self, exp, settings, p):
        for m, d in p.cells(exp.datasets):
            for s in p.seeds:
                p.add(m, d, s, level=settings.noise_seed)

    def describe(self, child, ctx):
        return {"toy": {"level": child.settings["level"], "noise_seed": ctx.settings.noise_seed}}

    def run(self, child, ctx):
        path = ctx.workdir / "toy.txt"
        path.write_text(f"{child.run_name}\n")
        score = child.seed + ctx.settings.noise_seed / 2
        return ChildOutput({"score": score}, [(path, None)], {"weights": "none"})


def render_toy(sweep, exp, out, tables):
    runs = sweep.runs.sort_values("seed")
    body = [f"- {r.method} seed {r.seed}: score {r.score:g}" for r in runs.itertuples()]
    return ["Toy scores:", *body], runs[["method", "seed", "score"]]


@pytest.fixture
def toy(monkeypatch):
    Toy().check_declared()
    monkeypatch.setitem(KINDS, "toy", Toy())
    monkeypatch.setitem(render.RENDERERS, "toy", render_toy)
    monkeypatch.setitem(
        experiments.EXPERIMENTS,
        "toyexp",
        Experiment("toyexp", "toy", "A toy figure", "none", datasets=("synth2d",)),
    )


def test_a_toy_kind_runs_through_bench_run_and_renders(toy, tmp_path):
    from benchmarks.cli import app

    env = {
        "LDSEG_OUT": str(tmp_path / "out"),
        "LDSEG_REPORTS": str(tmp_path / "reports"),
        "MLFLOW_TRACKING_URI": None,
    }
    args = ["run", "toyexp", "--profile", "smoke", "--seeds", "0,1", "--set", "noise_seed=4"]
    res = CliRunner().invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    md = (tmp_path / "reports" / "toyexp" / "report.md").read_text()
    assert md.startswith("# toyexp: A toy figure")
    assert "- unet seed 0: score 2\n- unet seed 1: score 3\n" in md  # 0 + 4/2, 1 + 4/2
    assert "95% CI over seeds" not in md  # the header's seed note follows kind.trained
    csv = (tmp_path / "reports" / "toyexp" / "toyexp.csv").read_text().splitlines()
    assert csv == ["method,seed,score", "unet,0,2.0", "unet,1,3.0"]
    again = CliRunner().invoke(app, args, env=env)  # same sweep identity and child hashes
    assert again.exit_code == 0 and "2 cached" in again.output.replace("\n", " "), again.output


class ReDressed(Toy):
    """A child whose native code turns the SIGTERM's KeyboardInterrupt into a RuntimeError (as
    torch.save's writer did on a lent GPU: 'unexpected pos ...')."""

    def run(self, child, ctx):
        import os
        import signal

        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        except KeyboardInterrupt:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos"
            ) from None
        raise AssertionError("SIGTERM was not delivered")


def test_an_interrupt_turned_into_another_error_ends_the_sweep_killed(toy, monkeypatch, tmp_path):
    from benchmarks.cli import app
    from benchmarks.tracking import Tracker

    monkeypatch.setitem(KINDS, "toy", ReDressed())
    env = {"LDSEG_OUT": str(tmp_path / "out"), "LDSEG_REPORTS": str(tmp_path / "r")}
    res = CliRunner().invoke(
        app, ["run", "toyexp", "--profile", "smoke", "--seeds", "0,1"], env=env
    )
    assert res.exit_code == 143, res.output  # interrupted, not "1 failed" and on to seed 1
    tracker = Tracker(None, tmp_path / "out")
    runs = tracker.search(tracker.experiment_id("toyexp", create=False))
    children = [r for r in runs if r.data.tags.get("bench.role") == "child"]
    assert [r.info.status for r in children] == ["KILLED"]
    assert "unexpected pos" in children[0].data.tags["error"]
