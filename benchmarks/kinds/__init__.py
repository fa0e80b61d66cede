"""Experiment kinds: one registered class per kind, one file each.

An :class:`~benchmarks.experiments.Experiment` (an ``EXPERIMENTS`` entry: one MLflow parent run)
names its kind; the kind owns everything that differs between experiments:

* ``settings`` — the :class:`~benchmarks.experiments.ExperimentSettings` fields it reads. They
  (plus ``seeds`` and ``torch_threads``) are the sweep identity's settings: hashed, so a changed
  value starts a new parent run, and logged on it. Kinds only ever see a
  :class:`~benchmarks.kinds.base.SettingsView`, which refuses any field not declared here.
* ``candidates()`` / ``plan_children()`` — which methods it runs and which children
  (method x dataset x seed x setting) it plans; ``check_plan()`` may drop cells a profile's
  method configs cannot take (runtime: image sizes).
* ``describe()`` — a child's full resolved config (its params and cache key);
* ``run()`` — a child's work, returning a ``benchmarks.trained.ChildOutput``;
* ``renderer`` — the name of the ``reports.render.RENDERERS`` entry that draws its report
  (rendering stays in ``reports/``); ``trained`` — children train one model per seed.

==================  ==========================  ============================================
file                kind(s)                     experiments
==================  ==========================  ============================================
``accuracy.py``     accuracy                    Tables I, II, III, V
``steps.py``        steps                       Fig. 5 / 6a
``runtime.py``      table4, runtime             Table IV, Fig. 6b
``robustness.py``   robustness                  Fig. 8a
``uncertainty.py``  uncertainty                 Fig. 10
``budget.py``       budget                      DSC vs optimiser steps (issue 12, not in the paper)
==================  ==========================  ============================================

Adding a figure = one kind file + one ``EXPERIMENTS`` entry + one renderer::

    # benchmarks/kinds/budget.py            (and add it to the import list below)
    from benchmarks.kinds.base import ExperimentKind, register, train, trained_config

    @register
    class Budget(ExperimentKind):
        name, renderer = "budget", "budget"
        settings = ("budget_steps", "budget_datasets")  # new ExperimentSettings fields

        def candidates(self, exp, settings):
            return ("ldseg",)

        def plan_children(self, exp, settings, p):
            for m, d in p.cells(settings.budget_datasets):  # unfit cells become skips
                for s in p.seeds:
                    for n in settings.budget_steps:
                        p.add(m, d, s, train_steps=n)

        def describe(self, child, ctx):
            return {**trained_config(child, ctx), "budget": child.settings["train_steps"]}

        def run(self, child, ctx):
            ...  # -> ChildOutput(metrics, artifacts, tags)

    # benchmarks/experiments.py: Experiment("budget", "budget", "DSC vs training steps", "-")
    # reports/render.py: RENDERERS["budget"] = a function (sweep, exp, out, tables) ->
    #                    (markdown lines, long DataFrame)

Module-level functions here are the look-ups the planner, runner, CLI and reports use.
"""

from __future__ import annotations

from typing import Any

from benchmarks.errors import ConfigError
from benchmarks.experiments import Experiment, ExperimentSettings, Plan, get_experiment
from benchmarks.kinds import (  # noqa: F401
    accuracy,
    budget,
    robustness,
    runtime,
    steps,
    uncertainty,
)
from benchmarks.kinds.base import (
    COMMON_SETTINGS,
    KINDS,
    ExperimentKind,
    Planner,
    SettingsView,
    UndeclaredSetting,
    register,
)

__all__ = [
    "COMMON_SETTINGS",
    "KINDS",
    "ExperimentKind",
    "Planner",
    "SettingsView",
    "UndeclaredSetting",
    "candidates",
    "get_kind",
    "plan",
    "register",
    "relevant_settings",
    "select_methods",
]


def get_kind(name: str) -> ExperimentKind:
    """The registered kind ``name``; an unknown name is a ConfigError listing the valid ones."""
    if name not in KINDS:
        raise ConfigError(f"unknown experiment kind {name!r}; valid: {', '.join(sorted(KINDS))}")
    return KINDS[name]


def candidates(exp: Experiment, settings: ExperimentSettings) -> tuple[str, ...]:
    """Every method the experiment runs by default (before ``--methods`` narrows it)."""
    kind = get_kind(exp.kind)
    return tuple(kind.candidates(exp, kind.view(settings)))


def select_methods(
    exp: Experiment, settings: ExperimentSettings, methods: tuple[str, ...] | None
) -> tuple[str, ...]:
    """The experiment's candidates, or the ``--methods`` subset of them (checked)."""
    from benchmarks.methods import get_spec

    allowed = candidates(exp, settings)
    if not methods:
        return allowed
    for m in methods:
        get_spec(m)  # unknown name -> ConfigError listing the registered methods
        if m not in allowed:
            raise ConfigError(
                f"method {m!r} is not part of {exp.name}; its methods: {', '.join(allowed)}"
            )
    return tuple(dict.fromkeys(methods))


def plan(
    exp: Experiment | str,
    settings: ExperimentSettings,
    methods: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
) -> Plan:
    """Expand an experiment into its children (and the cells it skips, with reasons)."""
    exp = get_experiment(exp) if isinstance(exp, str) else exp
    kind = get_kind(exp.kind)
    chosen = select_methods(exp, settings, methods)
    planner = Planner(exp, chosen, tuple(seeds) if seeds else settings.seeds, kind.trained)
    kind.plan_children(exp, kind.view(settings), planner)
    return Plan(exp, settings, tuple(planner.children), tuple(planner.skipped))


def relevant_settings(exp: Experiment, settings: ExperimentSettings) -> dict[str, Any]:
    """The settings that change an experiment's children: the kind's declared ones plus
    ``seeds`` and ``torch_threads`` (hashed into the sweep identity, logged on the parent)."""
    return {name: getattr(settings, name) for name in get_kind(exp.kind).all_settings()}
