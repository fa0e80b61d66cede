"""The quick profile's training identities are pinned: its jobs are a multi-hour CPU campaign
(reports/measured/quick/), and a refactor or a new config key that changes a hash silently throws
that cache away (or, worse, a changed meaning keeps an old hash). A new key must enter with its
neutral value in ``benchmarks.versions.NEUTRAL_ADDED``; a deliberate change regenerates the file:

    python -m tests.test_quick_hashes   # rewrites tests/data/quick_train_hashes.json
and says in its commit which hashes changed and why."""

import json
from pathlib import Path

from benchmarks.errors import ConfigError
from benchmarks.methods import registry
from benchmarks.pipeline import JobSpec
from benchmarks.profiles import load_profile
from benchmarks.trained import train_hash

PINNED = Path(__file__).parent / "data" / "quick_train_hashes.json"


def current() -> dict[str, str]:
    prof = load_profile("quick")
    out = {}
    for ds in ("glas", "knee3d"):
        for method in sorted(registry()):
            for seed in (0, 1, 2):
                try:
                    out[f"{method}/{ds}/s{seed}"] = train_hash(
                        JobSpec(method, ds, "quick", seed=seed), prof
                    )
                except ConfigError:  # a 2D-only method on knee3d
                    pass
    return out


def test_quick_training_hashes_are_unchanged():
    pinned = json.loads(PINNED.read_text())
    now = current()
    changed = sorted(k for k in pinned if k in now and now[k] != pinned[k])
    assert not changed, (
        f"quick-profile training hashes changed for {changed} (see module docstring)"
    )
    missing = sorted(set(pinned) - set(now))
    assert not missing, f"quick-profile jobs no longer built: {missing}"


if __name__ == "__main__":
    PINNED.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
