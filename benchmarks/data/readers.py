"""Decode image files into channel-first numpy arrays: PNG / BMP / TIFF (Pillow, tifffile) and
NIfTI (nibabel). Any decoding failure becomes a one-line DataError naming the file.

Conventions:
- 2D files give (C, H, W): grey (1, H, W), grey+alpha (2, H, W), RGB (3, H, W), RGBA (4, H, W);
  palette PNGs keep their indices as masks and become RGB as images.
- NIfTI gives (C, X, Y, Z) in the file's voxel order (no reorientation); a (X, Y) or (X, Y, 1)
  NIfTI is 2D, a 4D NIfTI carries channels in its last axis.
- TIFF: (H, W), (H, W, C) with C in {1, 3, 4} are 2D; any other 3-axis stack is a 3D volume
  (D, H, W).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from benchmarks.errors import DataError

log = logging.getLogger(__name__)

SUFFIXES_2D = (".png", ".bmp", ".jpg", ".jpeg")
SUFFIXES_TIFF = (".tif", ".tiff")
SUFFIXES_NIFTI = (".nii", ".nii.gz")
SUFFIXES = SUFFIXES_2D + SUFFIXES_TIFF + SUFFIXES_NIFTI


def suffix_of(path: Path) -> str:
    """Lower-case suffix, with `.nii.gz` kept whole."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def stem_of(path: Path) -> str:
    """File name without its (possibly double) suffix: case1.nii.gz -> case1."""
    return path.name[: len(path.name) - len(suffix_of(path))]


def is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and suffix_of(path) in SUFFIXES


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def read_array(path: Path, role: str = "image") -> tuple[np.ndarray, int]:
    """Decode `path` into (array channel-first (C, *spatial), spatial_dims).

    `role` is "image" or "mask"; it only matters for palette PNGs (a mask keeps the indices).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = suffix_of(path)
    try:
        if suffix in SUFFIXES_NIFTI:
            return _read_nifti(path)
        if suffix in SUFFIXES_TIFF:
            return _read_tiff(path)
        if suffix in SUFFIXES_2D:
            return _read_pil(path, role)
    except DataError:
        raise
    except Exception as exc:  # any decoder error: truncated, corrupt, not an image at all
        raise DataError(f"{path}: unreadable or truncated file ({_one_line(exc)})") from exc
    raise DataError(f"{path}: unsupported file type {suffix!r} (use one of {', '.join(SUFFIXES)})")


def spatial_dims_of(path: Path) -> int:
    """Spatial dimensionality from the header where possible (NIfTI), else by decoding."""
    path = Path(path)
    if suffix_of(path) in SUFFIXES_2D:
        return 2
    if suffix_of(path) in SUFFIXES_NIFTI:
        try:
            import nibabel as nib

            shape = nib.load(str(path)).shape
        except Exception as exc:
            raise DataError(f"{path}: unreadable or truncated file ({_one_line(exc)})") from exc
        return _nifti_dims(shape)
    return read_array(path)[1]


#: NIfTI xyzt spatial units -> millimetres ("unknown" is read as mm, the NIfTI convention)
_TO_MM = {"mm": 1.0, "unknown": 1.0, "meter": 1000.0, "micron": 1e-3}


def nifti_spacing(path: Path) -> tuple[float, ...]:
    """Voxel size in mm of a NIfTI file's spatial axes, in read_array's axis order.

    Read from the header only (``get_zooms()``, scaled by the header's spatial unit), so it costs
    no decoding. A zero, negative or non-finite size is a DataError: a distance measured with it
    would be meaningless.
    """
    path = Path(path)
    try:
        import nibabel as nib

        header = nib.load(str(path)).header
        shape, zooms = header.get_data_shape(), header.get_zooms()
        unit = header.get_xyzt_units()[0]
    except Exception as exc:
        raise DataError(f"{path}: unreadable or truncated file ({_one_line(exc)})") from exc
    dims = _nifti_dims(tuple(shape))
    spacing = tuple(float(z) * _TO_MM.get(unit, 1.0) for z in zooms[:dims])
    if len(spacing) != dims or not all(np.isfinite(z) and z > 0 for z in spacing):
        raise DataError(f"{path}: invalid voxel size {tuple(map(float, zooms))} in the header")
    return spacing


def _read_pil(path: Path, role: str) -> tuple[np.ndarray, int]:
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        if img.mode == "P" and role == "mask":
            arr = np.asarray(img)  # palette masks (VOC style): the indices are the labels
        elif img.mode in ("P", "PA", "CMYK") or img.mode.startswith("YCbCr"):
            arr = np.asarray(img.convert("RGBA" if "A" in img.mode else "RGB"))
        elif img.mode == "1":
            arr = np.asarray(img.convert("L"))
        else:
            arr = np.asarray(img)
    arr = np.array(arr)  # own the memory (the file is closed)
    if arr.ndim == 2:
        return arr[None], 2
    return np.moveaxis(arr, -1, 0), 2


def _read_tiff(path: Path) -> tuple[np.ndarray, int]:
    import tifffile

    arr = np.asarray(tifffile.imread(path))
    arr = np.squeeze(arr) if arr.ndim > 3 else arr
    if arr.ndim == 2:
        return arr[None], 2
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        return np.moveaxis(arr, -1, 0), 2
    if arr.ndim == 3:
        return arr[None], 3
    raise DataError(f"{path}: TIFF with shape {arr.shape} is neither a 2D image nor a 3D volume")


def _nifti_dims(shape: tuple[int, ...]) -> int:
    if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
        return 2
    return 3


def _read_nifti(path: Path) -> tuple[np.ndarray, int]:
    import nibabel as nib

    img = nib.load(str(path))
    arr = np.asarray(img.dataobj)
    dims = _nifti_dims(arr.shape)
    if dims == 2:
        return arr.reshape(arr.shape[:2])[None], 2
    if arr.ndim == 3:
        return arr[None], 3
    if arr.ndim == 4:
        return np.moveaxis(arr, -1, 0), 3
    if arr.ndim == 5 and arr.shape[3] == 1:  # NIfTI puts time in axis 3, vectors in axis 4
        return np.moveaxis(arr[:, :, :, 0], -1, 0), 3
    raise DataError(f"{path}: NIfTI with shape {arr.shape} is not a 2D/3D image")
