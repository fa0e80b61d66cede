"""Where a report row's configuration differs from the paper profile, generated from the configs.

Every accuracy row was produced by one resolved configuration (the child run's params: the
flattened dataset / method / train / eval sections). The paper profile resolves the same method
on the same dataset to another configuration; this module lists, per row, every key whose value
differs, so a reader sees exactly how far a "paper" table is from the paper — nothing is
hand-written, and a new config key shows up here by itself.

Keys that cannot change a number (where checkpoints are written, how often curves are drawn,
the seeds that a table varies on purpose) are left out: :data:`BOOKKEEPING`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache

from benchmarks.configs import flatten
from benchmarks.errors import ConfigError

log = logging.getLogger(__name__)

SECTIONS = ("dataset.", "method.", "train.", "eval.")
# keys that never change a reported number (see the module docstring)
BOOKKEEPING = frozenset(
    {
        "train.checkpoint_every",
        "train.curve_every",
        "train.seed",  # the row's seeds are listed in their own column
        "eval.batch_size",  # evaluation batches only group test cases
        "dataset.limit",
    }
)
REFERENCE_PROFILE = "paper"


def _text(v: object) -> str:
    """A config value as MLflow stores it (``benchmarks.tracking`` turns lists into JSON)."""
    import json

    if isinstance(v, list | tuple):
        return json.dumps(list(v), default=str)
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    return str(v)


@lru_cache(maxsize=64)
def reference_params(method: str, dataset: str, profile: str = REFERENCE_PROFILE) -> dict[str, str]:
    """The flattened resolved config of ``method`` on ``dataset`` under ``profile`` (as params)."""
    from benchmarks.pipeline import JobSpec
    from benchmarks.profiles import load_profile
    from benchmarks.trained import resolved_config

    cfg = resolved_config(JobSpec(method, dataset, profile, 0), load_profile(profile))
    return {
        k: _text(v)
        for k, v in flatten({s.rstrip("."): cfg[s.rstrip(".")] for s in SECTIONS}).items()
    }


def row_deviations(
    params: Mapping[str, str], method: str, dataset: str, profile: str = REFERENCE_PROFILE
) -> dict[str, tuple[str, str]]:
    """``{key: (row value, paper value)}`` for every result-changing key that differs; a key
    that only one side has is listed with ``"(absent)"`` on the other."""
    try:
        ref = reference_params(method, dataset, profile)
    except ConfigError as err:  # e.g. a dataset the paper profile has no settings for
        return {"(paper profile)": (str(err), "")}
    row = {k: str(v) for k, v in params.items() if k.startswith(SECTIONS)}
    out: dict[str, tuple[str, str]] = {}
    for key in sorted(set(row) | set(ref)):
        if key in BOOKKEEPING:
            continue
        a, b = row.get(key, "(absent)"), ref.get(key, "(absent)")
        if a != b:
            out[key] = (a, b)
    return out


def deviations_section(
    params: Mapping[str, Mapping[str, str]],
    rows: Iterable[tuple[str, str, str]],
    *,
    label: callable = str,
    profile: str = REFERENCE_PROFILE,
) -> list[str]:
    """Markdown lines: per (method, dataset), the keys where its runs differ from ``profile``.

    ``rows`` are (method, dataset, run_id) triples; runs of one row (its seeds) must agree,
    a key whose value varies between them is shown with every value.
    """
    grouped: dict[tuple[str, str], list[str]] = {}
    for method, dataset, run_id in rows:
        grouped.setdefault((method, dataset), []).append(run_id)
    lines = [
        f"## Where each row differs from the `{profile}` profile",
        "",
        f"Generated from the configs: every resolved key of the row's runs whose value is not "
        f"the one the `{profile}` profile resolves for the same method and dataset "
        f"(row value → {profile} value). Bookkeeping keys that change no number are left out.",
        "",
    ]
    for (method, dataset), run_ids in sorted(grouped.items()):
        merged: dict[str, tuple[list[str], str]] = {}
        for rid in run_ids:
            for key, (_, b) in row_deviations(
                params.get(rid, {}), method, dataset, profile
            ).items():
                merged.setdefault(key, ([], b))
        for key, (vals, _) in merged.items():  # every run's value, paper-equal ones included
            for rid in run_ids:
                v = str(params.get(rid, {}).get(key, "(absent)"))
                if v not in vals:
                    vals.append(v)
        head = f"- **{label(method)}** on {dataset}"
        if not merged:
            lines.append(f"{head}: none — the row ran the `{profile}` profile's configuration")
            continue
        cells = [f"`{k}` = {' / '.join(v)} → {b}" for k, (v, b) in merged.items()]
        lines.append(f"{head} ({len(cells)} keys): " + "; ".join(cells))
    return [*lines, ""]
