"""Code versions recorded with every training job and part of its identity (hash).

The config hash alone cannot see code changes: bump a version when a code change alters what an
unchanged config trains, or the job cache would hand back weights the code no longer produces.

* ``data`` 2: labels resized at pixel centres ("nearest-exact"), aligned with their images.
* ``method``: each method's own version, ``register(..., version=N)`` (default 1).

Configs written before versions existed carry none and read as :data:`LEGACY`.
"""

from __future__ import annotations

CODE_VERSIONS = {"data": 2}
LEGACY = {"data": 1, "method": 1}


def code_versions(method: str) -> dict[str, int]:
    from benchmarks.methods import get_spec

    return {**CODE_VERSIONS, "method": getattr(get_spec(method), "version", 1)}
