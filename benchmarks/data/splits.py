"""Train / val / test selection, always by group (a volume for knee2d slices, else a case).

Rules, in order:
1. `fold`/`num_folds` given: the groups (natural sort) are cut into `num_folds` contiguous
   chunks; chunk `fold` is the test set, the rest the training pool (knee: fold k = case k+1).
2. Cases carry an official split (GlaS prefixes, folder train_/test_ prefixes, knee's last
   volume, synthetic train/test): use it.
3. Otherwise a seeded 80/20 split of the groups.
"val" is carved from the training pool with `val_fraction` (then "train" excludes it).
Every random choice uses SPLIT_SEED, never the training seed, so every method and every seed is
evaluated on the same cases.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.data.base import Case, natural_key
from benchmarks.errors import ConfigError

SPLITS = ("train", "val", "test")
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def _groups(cases: Sequence[Case]) -> list[str]:
    return sorted({c.group for c in cases}, key=natural_key)


def _shuffled(groups: list[str], salt: int) -> list[str]:
    rng = np.random.default_rng([SPLIT_SEED, salt])
    return [groups[i] for i in rng.permutation(len(groups))]


def partition(
    cases: Sequence[Case],
    *,
    val_fraction: float = 0.0,
    fold: int | None = None,
    num_folds: int | None = None,
) -> dict[str, list[Case]]:
    """All cases -> {"train": [...], "val": [...], "test": [...]} (disjoint groups)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = _groups(cases)
    official_val: set[str] = {c.group for c in cases if c.split == "val"}
    if (fold is None) != (num_folds is None):
        raise ConfigError("fold and num_folds go together (e.g. fold=0, num_folds=5)")
    if fold is not None:
        if num_folds < 2 or not 0 <= fold < num_folds:
            raise ConfigError(
                f"need num_folds >= 2 and 0 <= fold < num_folds, got {fold}/{num_folds}"
            )
        if len(groups) < num_folds:
            raise ConfigError(
                f"{num_folds} folds need at least {num_folds} cases/volumes, found {len(groups)}"
            )
        test = set(np.array_split(np.array(groups, dtype=object), num_folds)[fold].tolist())
        official_val = set()
    elif any(c.split is not None for c in cases):
        test = {c.group for c in cases if c.split == "test"}
    else:
        n_test = max(1, round(len(groups) * TEST_FRACTION)) if len(groups) > 1 else 0
        test = set(_shuffled(groups, 1)[:n_test])
    pool = [g for g in groups if g not in test and g not in official_val]
    val = set(official_val)
    if val_fraction > 0:
        n_val = max(1, round(len(pool) * val_fraction))
        if n_val >= len(pool):
            raise ConfigError(
                f"val_fraction={val_fraction} leaves no training cases ({len(pool)} in the pool)"
            )
        val |= set(_shuffled(pool, 2)[:n_val])
    out: dict[str, list[Case]] = {s: [] for s in SPLITS}
    for case in cases:
        key = "test" if case.group in test else "val" if case.group in val else "train"
        out[key].append(case)
    for key in out:
        out[key].sort(key=lambda c: natural_key(c.case_id))
    return out


def select(
    cases: Sequence[Case],
    split: str,
    *,
    val_fraction: float = 0.0,
    fold: int | None = None,
    num_folds: int | None = None,
) -> list[Case]:
    """The cases of one split, sorted naturally by case id."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    parts = partition(cases, val_fraction=val_fraction, fold=fold, num_folds=num_folds)
    if split == "val" and not parts["val"]:
        raise ConfigError("split 'val' is empty: pass val_fraction > 0 to carve it from train")
    return parts[split]


def source_split_record(
    name: str,
    source,
    *,
    val_fraction: float = 0.0,
    limit: int | None = None,
    fold: int | None = None,
    num_folds: int | None = None,
) -> dict:
    """The ``split.json`` record of dataset ``name`` from its opened ``source``
    (:func:`benchmarks.data.registry.split_record` opens it by name)."""
    cases = source.cases()
    parts = partition(cases, val_fraction=val_fraction, fold=fold, num_folds=num_folds)
    if fold is not None:
        rule = f"fold {fold} of {num_folds} (contiguous groups, natural order) is the test set"
    elif any(c.split is not None for c in cases):
        rule = getattr(source, "split_rule", f"the official {name} split")
    else:
        rule = (
            f"seeded {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} train/test split "
            f"(split seed {SPLIT_SEED})"
        )
    if val_fraction > 0:
        rule += f"; val: {val_fraction:g} of the training pool (split seed {SPLIT_SEED})"
    return {
        "dataset": name,
        "rule": rule,
        "val_fraction": val_fraction,
        "limit": limit,
        **{s: [c.case_id for c in parts[s]][:limit] for s in SPLITS},
    }


def check_same_split(stored: Path, record: dict) -> None:
    """Refuse to resume or re-score a run directory whose ``split.json`` lists other cases (a
    folder's split.csv or files changed since it trained); a missing file passes."""
    try:
        old = json.loads(stored.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{stored}: unreadable ({type(err).__name__}); use another --out"
        ) from None
    changed = [s for s in SPLITS if old.get(s) != record[s]]
    if changed:
        raise ConfigError(
            f"{stored}: this run directory was trained on another split of {record['dataset']} "
            f"({', '.join(changed)} cases differ; now: {record['rule']}); use another --out"
        )
