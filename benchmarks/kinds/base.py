"""The base class of an experiment kind, the planner it fills, and the settings view it reads.

See the package docstring (``benchmarks/kinds/__init__.py``) for how to add a kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from benchmarks.errors import ConfigError
from benchmarks.experiments import Child, Experiment, ExperimentSettings, Skip

# Read for every sweep, whatever its kind: the seeds it plans and the runner's torch threads.
COMMON_SETTINGS: tuple[str, ...] = ("seeds", "torch_threads")


class UndeclaredSetting(AttributeError):
    """A kind read an ExperimentSettings field that is missing from its ``settings`` tuple (the
    field would be left out of the sweep hash, and a stale parent run reused)."""


@dataclass(frozen=True)
class SettingsView:
    """:class:`ExperimentSettings` as one kind sees it: only the fields it declares (plus
    :data:`COMMON_SETTINGS`) can be read; any other field raises :class:`UndeclaredSetting`.

    The planner and the runner hand kinds this view, so a kind that reads a setting it does not
    declare fails in every test that plans or runs it, instead of silently reusing a stale sweep.
    """

    settings: ExperimentSettings
    fields: tuple[str, ...]
    kind: str

    def __getattr__(self, name: str) -> Any:  # only called for names not set on the view
        if name.startswith("__") or name in ("settings", "fields", "kind"):
            raise AttributeError(name)  # (copy / pickle probing a half-built view)
        if name in self.fields:
            return getattr(self.settings, name)
        raise UndeclaredSetting(
            f"experiment kind {self.kind!r} reads the setting {name!r} but does not declare it "
            f"in its `settings` tuple (benchmarks/kinds/); declared: {', '.join(self.fields)}"
        )


@dataclass
class Planner:
    """What :meth:`ExperimentKind.plan_children` fills: children and skipped cells.

    ``methods`` are the chosen methods (the kind's candidates, or the ``--methods`` subset),
    ``seeds`` the seeds of the sweep.
    """

    experiment: Experiment
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    trained: bool = True  # the default of add(): the kind's ``trained``
    children: list[Child] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def add(
        self, method: str, dataset: str, seed: int, trained: bool | None = None, **setting: Any
    ) -> None:
        """One child; ``setting`` = what varies besides method/dataset/seed (e.g. ``sigma``)."""
        exp = self.experiment
        self.children.append(
            Child(
                exp.name,
                exp.kind,
                method,
                dataset,
                seed,
                tuple(sorted(setting.items())),
                self.trained if trained is None else trained,
            )
        )

    def fits(self, method: str, dataset: str) -> bool:
        """Can ``method`` run on ``dataset``? If not, the cell is recorded as skipped."""
        reason = unfit_reason(method, dataset)
        if reason:
            self.skipped.append(Skip(method, dataset, reason))
        return reason is None

    def cells(self, datasets: Iterable[str]) -> list[tuple[str, str]]:
        """(method, dataset) for every chosen method on every dataset it can run on."""
        return [(m, d) for d in datasets for m in self.methods if self.fits(m, d)]


def unfit_reason(method: str, dataset: str) -> str | None:
    """Why ``method`` cannot run on ``dataset`` (None when it can)."""
    from benchmarks.data import get_info
    from benchmarks.methods import get_spec

    spec, info = get_spec(method), get_info(dataset)
    if info.spatial_dims not in spec.dims:
        return f"n/a ({'/'.join(f'{d}D' for d in spec.dims)} only)"
    if spec.binary_only and info.num_classes != 2:
        return "n/a (binary only)"
    return None


KINDS: dict[str, ExperimentKind] = {}


def register(cls: type[ExperimentKind]) -> type[ExperimentKind]:
    """Class decorator: ``KINDS[cls.name] = cls()`` (a name already taken is an error)."""
    kind = cls()
    kind.check_declared()
    if cls.name in KINDS and type(KINDS[cls.name]) is not cls:
        raise ValueError(f"experiment kind {cls.name!r} is registered twice")
    KINDS[cls.name] = kind
    return cls


class ExperimentKind:
    """One kind of experiment: how it plans its children, what one child logs and does.

    Subclasses set the class attributes and implement the four methods below; everything they
    read from the experiment settings must be named in ``settings`` (it is hashed into the sweep
    identity, and :class:`SettingsView` refuses any other field).
    """

    name: ClassVar[str]  # the Experiment.kind string of the experiments of this kind
    renderer: ClassVar[str]  # the reports.render.RENDERERS entry that draws its report
    settings: ClassVar[tuple[str, ...]] = ()  # ExperimentSettings fields read (+ COMMON)
    trained: ClassVar[bool] = True  # children train (or reuse) one model per seed

    # -- planning -----------------------------------------------------------------------------
    def candidates(self, exp: Experiment, settings: SettingsView) -> tuple[str, ...]:
        """Every method the experiment runs by default (before ``--methods`` narrows it)."""
        raise NotImplementedError

    def plan_children(self, exp: Experiment, settings: SettingsView, p: Planner) -> None:
        """Add the children (``p.add``) for ``p.methods`` x datasets x ``p.seeds`` x setting."""
        raise NotImplementedError

    def job_profile(self, child: Child, profile, settings: SettingsView):
        """The profile the child's train job is built under: the sweep's (default), or one
        with the kind's training overrides (budget: the longest budget, with snapshots). The
        runner (``train`` / ``trained_config`` below) and ``bench plan`` both ask here."""
        return profile

    def check_plan(self, plan, profile):
        """The plan after looking at the profile's method configs (default: unchanged); may
        turn cells into skipped ones or refuse the sweep (ConfigError)."""
        return plan

    # -- one child ----------------------------------------------------------------------------
    def describe(self, child: Child, ctx) -> dict[str, Any]:
        """The child's full resolved config: logged as params, hashed into its cache key."""
        raise NotImplementedError

    def run(self, child: Child, ctx):
        """Do the child's work; returns a ``benchmarks.trained.ChildOutput``."""
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------
    @classmethod
    def all_settings(cls) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*COMMON_SETTINGS, *cls.settings)))

    def view(self, settings: ExperimentSettings | SettingsView) -> SettingsView:
        if isinstance(settings, SettingsView):
            settings = settings.settings
        return SettingsView(settings, self.all_settings(), self.name)

    def check_declared(self) -> None:
        """Every declared setting is an ExperimentSettings field (ConfigError otherwise)."""
        known = set(ExperimentSettings.__dataclass_fields__)
        unknown = [s for s in self.settings if s not in known]
        if unknown:
            raise ConfigError(
                f"experiment kind {self.name!r} declares unknown setting(s) {unknown}; "
                f"ExperimentSettings has: {', '.join(sorted(known))}"
            )


# -- shared by the kinds whose children use a trained model ----------------------------------------
def child_spec(child: Child, ctx):
    """The train job of ``child``: its method, dataset and seed, and its fold when the sweep
    cross-validates (``fold`` / ``num_folds`` in the child's setting, see the accuracy kind)."""
    s = child.settings
    return ctx.job_spec(child.method, child.dataset, child.seed, s.get("fold"), s.get("num_folds"))


def child_job(child: Child, ctx):
    """(JobSpec, Profile) of the child's train job (its kind's :meth:`job_profile`)."""
    profile = KINDS[child.kind].job_profile(child, ctx.profile, ctx.settings)
    return child_spec(child, ctx), profile


def trained_config(child: Child, ctx) -> dict[str, Any]:
    """The resolved config of the child's train job plus its ``train_hash``."""
    from benchmarks.trained import resolved_config, train_hash

    spec, profile = child_job(child, ctx)
    cfg = resolved_config(spec, profile)
    cfg["train_hash"] = train_hash(spec, profile)
    return cfg


def train(child: Child, ctx):
    """Train, resume or read back the child's shared train job (``benchmarks.trained``)."""
    from benchmarks.trained import ensure_trained

    spec, profile = child_job(child, ctx)
    return ensure_trained(
        spec, profile, ctx.out_root, progress=ctx.hooks.train if ctx.hooks else None
    )


def score_checkpoint(ctx, job, checkpoint, label: str, **eval_overrides: Any):
    """Evaluate the weights in ``checkpoint`` (of train job ``job``) on its test split with the
    stored eval config (``eval_overrides`` replacing some keys), reporting progress as
    ``label``; writes ``per_case.csv`` in the child's workdir.
    Returns (method, checkpoint dict, eval config, per-case csv path, summary)."""
    from benchmarks.evaluate import evaluate
    from benchmarks.pipeline import eval_config_from

    method, ckpt = ctx.cache.model(checkpoint, ctx.device)
    cfg = eval_config_from(ckpt, **eval_overrides)
    test = ctx.cache.test_split(job.spec, ctx.profile)
    done = [0]

    def on_batch(b: int) -> None:
        done[0] += b
        if ctx.hooks:
            ctx.hooks.work(label, done[0], len(test))

    df, summary = evaluate(method, test, cfg, device=ctx.device, on_batch=on_batch)
    path = ctx.workdir / "per_case.csv"
    df.to_csv(path, index=False)
    return method, ckpt, cfg, path, summary
