"""k-fold cross-validation by volume (Table III, issue 12 item 6): every knee volume is held out
exactly once, and the fold enters a job's identity only when folds are used."""

from __future__ import annotations

import json

import pytest

from benchmarks.data import open_source
from benchmarks.data.splits import partition, split_record
from benchmarks.pipeline import JobSpec
from benchmarks.profiles import load_profile
from benchmarks.trained import resolved_config, train_hash


@pytest.mark.realdata
def test_five_knee_folds_hold_out_every_volume_exactly_once(knee_dir):
    cases = open_source("knee3d", path=knee_dir).cases()
    volumes = [c.group for c in cases]
    assert volumes == ["case1", "case2", "case3", "case4", "case5"]  # the shared files
    held_out = []
    for k in range(5):
        parts = partition(cases, fold=k, num_folds=5)
        test = [c.case_id for c in parts["test"]]
        train = [c.case_id for c in parts["train"]]
        assert test == [f"case{k + 1}"]  # natural order: fold k holds out case k+1
        assert sorted(train + test) == volumes and parts["val"] == []
        held_out += test
    assert sorted(held_out) == volumes  # each once, none twice
    record = split_record("knee3d", path=knee_dir, fold=2, num_folds=5)
    assert record["test"] == ["case3"] and "fold 2 of 5" in record["rule"]


def test_the_fold_is_part_of_the_job_identity_only_when_used():
    prof = load_profile("smoke")
    plain = JobSpec("unet", "synth3d", "smoke")
    assert "fold" not in resolved_config(plain, prof)["job"]  # hashes from before folds
    f0 = JobSpec("unet", "synth3d", "smoke", fold=0, num_folds=2)
    f1 = JobSpec("unet", "synth3d", "smoke", fold=1, num_folds=2)
    job = resolved_config(f0, prof)["job"]
    assert (job["fold"], job["num_folds"]) == (0, 2)
    hashes = {train_hash(s, prof) for s in (plain, f0, f1)}
    assert len(hashes) == 3
    assert json.dumps(f0.fold_keys) == '{"fold": 0, "num_folds": 2}' and plain.fold_keys == {}
