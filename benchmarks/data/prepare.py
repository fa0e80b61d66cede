"""`bench data prepare`: write a dataset's prepared arrays (``benchmarks.data.prepared``).

    prepare_dataset("glas", size=(128, 128), image_resize="area", intensity="auto", out=root)

Every case of the dataset (all splits) is decoded once by the same code as ``load_split``
(``decode_cases``), with its native-size label and spacing, and read back to check that the
file round-trips bit for bit before it is reported written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.data.prepared import PREPARED_DIR, PreparedSource, variant_file, write_variant
from benchmarks.data.registry import _check_size, decode_cases, open_source
from benchmarks.errors import DataError


def prepare_dataset(
    name: str,
    *,
    size: Sequence[int],
    image_resize: str,
    intensity: str,
    out: Path,
    root=None,
    path=None,
) -> Path:
    """Write ``<out>/prepared/<name>/<variant>.npz`` from the raw files; returns the file."""
    source = open_source(name, root=root, path=path)
    if isinstance(source, PreparedSource):
        raise DataError(f"{source.folder}: already prepared arrays; point at the raw files")
    size = _check_size(source.info, size)
    cases = source.cases()
    decoded = decode_cases(source, cases, size, image_resize, intensity, keep_native=True)
    folder = Path(out) / PREPARED_DIR / name
    file = write_variant(
        folder / variant_file(size, image_resize, intensity),
        source,
        cases,
        decoded,
        size=size,
        image_resize=image_resize,
        intensity=intensity,
    )
    _check_round_trip(folder, source, cases, decoded, size, image_resize, intensity)
    return file


def _check_round_trip(folder, source, cases, decoded, size, image_resize, intensity) -> None:
    import torch

    back = PreparedSource(folder, source.info).tensors(cases, size, image_resize, intensity, True)
    same = all(torch.equal(a, b) for a, b in zip(decoded[:2], back[:2], strict=True))
    same = same and all(
        (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
        for a, b in zip(decoded[2], back[2], strict=True)
    )
    if not same or list(map(tuple, decoded[3])) != list(map(tuple, back[3])):
        raise DataError(f"{folder}: prepared arrays do not read back bit for bit")
