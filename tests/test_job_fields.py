"""A method config declares what it takes from the job (``MethodInfo.from_job``) instead of the
pipeline guessing by field name: every declared field exists on the method's config class, and
``resolve_job`` sets it from the profile's image size / training budget."""

from __future__ import annotations

from dataclasses import fields

from benchmarks.method_catalog import JOB_SOURCES, catalog
from benchmarks.methods import get_spec
from benchmarks.pipeline import JobSpec, resolve_job
from benchmarks.profiles import load_profile


def test_declared_job_fields_exist_on_the_config_class():
    for name, info in catalog().items():
        assert get_spec(name).from_job == info.from_job  # the registry carries it
        names = {f.name for f in fields(get_spec(name).config_cls)}
        for field, source in info.from_job:
            assert field in names, (name, field)
            assert source in JOB_SOURCES, (name, source)


def test_resolve_job_fills_the_declared_fields_and_keeps_objects_out_of_the_dict():
    prof = load_profile("smoke")
    size = tuple(prof.dataset("synth2d").size)
    nn = resolve_job(JobSpec("nnunet", "synth2d", "smoke"), prof)
    assert nn.method_config.patch_size == size
    assert nn.configs["method"]["patch_size"] == size
    ls = resolve_job(JobSpec("lsegdiff", "synth2d", "smoke"), prof)
    steps = prof.train_config("lsegdiff", dataset="synth2d").steps
    assert ls.method_config.train_steps == steps == ls.configs["train"]["steps"]
    assert set(ls.configs) == {"job", "dataset", "method", "train", "eval", "code"}
