"""Code versions recorded with every training job and part of its identity (hash).

The config hash alone cannot see code changes: bump a version when a code change alters what an
unchanged config trains, or the job cache would hand back weights the code no longer produces.

* ``data`` 2: labels resized at pixel centres ("nearest-exact"), aligned with their images.
* ``method``: each method's own version, ``register(..., version=N)`` (default 1).

Configs written before versions existed carry none and read as :data:`LEGACY`.

Two rules keep the identity about the weights only, so that the job cache survives config
changes that do not alter training:

* :data:`EVAL_ONLY_METHOD_KEYS` (the method's own sampler settings) are never read by training:
  left out, so changing them re-evaluates instead of retraining.
* :data:`NEUTRAL_ADDED`: a key added to a config after jobs were cached, with the value that
  reproduces the code from before it, is left out while it has that value. A new switch whose
  default keeps today's behaviour therefore keeps every cached job; setting it retrains.
"""

from __future__ import annotations

CODE_VERSIONS = {"data": 2}
LEGACY = {"data": 1, "method": 1}

EVAL_ONLY_METHOD_KEYS = ("sampler",)

# (section, key path) -> the value that reproduces the code before the key existed.
# Values as in the JSON-normalised config (tuples are lists there).
NEUTRAL_ADDED: dict[tuple[str, ...], object] = {
    ("train", "snapshot_steps"): [],  # no snapshots (benchmarks/train.py)
    # reference-code switches of the LDSeg family (ldseg/config.py), each off
    ("method", "schedule", "train_timesteps"): "1..T",
    ("method", "label_encoder", "norm"): None,
    ("method", "label_encoder", "downsample"): "stride",
    ("method", "image_encoder", "norm"): None,
    ("method", "image_encoder", "dropout"): 0.0,
    ("method", "image_encoder", "head"): "conv",
    ("method", "label_decoder", "norm"): None,
    ("method", "label_decoder", "dropout"): 0.0,
    ("method", "label_decoder", "output_norm"): False,
    # preprocessing switches of a profile's dataset settings (benchmarks/data/transforms.py)
    ("dataset", "image_resize"): "area",
    ("dataset", "intensity"): "auto",
    ("dataset", "augmentation"): "flips_rot90",
}


def identity_sections(config: dict) -> dict:
    """``config``'s dataset/method/train sections as they enter the training identity."""
    out = {
        "dataset": _copy(config["dataset"]),
        "method": {
            k: v for k, v in _copy(config["method"]).items() if k not in EVAL_ONLY_METHOD_KEYS
        },
        "train": _copy(config["train"]),
    }
    for path, neutral in NEUTRAL_ADDED.items():
        parent = out
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent and parent[path[-1]] == neutral:
            del parent[path[-1]]
    return out


def _copy(obj):
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    return obj


def code_versions(method: str) -> dict[str, int]:
    from benchmarks.methods import get_spec

    return {**CODE_VERSIONS, "method": getattr(get_spec(method), "version", 1)}
