"""Native-resolution scoring: each test prediction is brought back to its case's file size and
scored there with the case's real spacing.

Training and prediction run at the profile's size (GlaS 775x522 -> 512x512 is anisotropic;
knee volumes are resized too), so the training-resolution numbers measure HD95 in resized pixels.
Here, per case:

1. **Resampling rule** (the same for every method): the class probabilities of
   ``Segmentation.probs`` (every method returns them; for N samples, their mean) are resampled to
   the native size by bilinear (2D) / trilinear (3D) interpolation, ``align_corners=False`` -- the
   pixel-centre geometry of the image resize -- with MONAI's ``Resize``, then the argmax is the
   native label map. Interpolating probabilities, rather than the label map by nearest
   neighbour, keeps boundaries sub-pixel and does not turn one resized pixel into a staircase of
   1-2 native pixels.
2. DSC / IoU / HD95 by :func:`benchmarks.metrics.per_case_metrics` (the same definitions and
   empty-mask policy) against the case's native label, HD95 with the case's spacing: NIfTI
   header voxel sizes in mm (knee, folder of NIfTI files), native pixels otherwise (GlaS, PNG,
   BMP, TIFF; the files carry no pixel size).

Columns: every training-resolution column ``X`` gets a native twin ``X_native``, and HD95 states
its unit: ``hd95_<class>_native_mm`` or ``hd95_<class>_native_px`` (one unit per dataset,
``DatasetInfo.spacing_unit``); the summary adds ``dsc_native`` / ``iou_native`` next to ``dsc`` /
``iou``. At identity resize (native size == training size) the native numbers equal the
training-resolution ones up to the spacing of HD95.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import torch
from monai.data import MetaTensor
from monai.transforms import Resize
from torch import Tensor

from benchmarks.metrics import per_case_metrics

__all__ = ["RESAMPLING", "native_columns", "native_name", "resample_probs", "score_native"]

RESAMPLING = "probabilities bilinear/trilinear (align_corners=False), then argmax"


def native_name(column: str, unit: str) -> str:
    """The native twin of a training-resolution column: ``dsc_gland`` -> ``dsc_gland_native``,
    ``hd95_gland`` -> ``hd95_gland_native_px`` (``unit`` is "px" or "mm")."""
    return f"{column}_native_{unit}" if column.startswith("hd95_") else f"{column}_native"


def native_columns(df: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Rename every metric column of a per-case table to its native twin (``case_id`` kept)."""
    return df.rename(columns={c: native_name(c, unit) for c in df.columns if c != "case_id"})


def resample_probs(probs: Tensor, shape: tuple[int, ...]) -> Tensor:
    """(C, *size) class probabilities -> (C, *shape) by (bi/tri)linear interpolation."""
    shape = tuple(int(s) for s in shape)
    if tuple(probs.shape[1:]) == shape:
        return probs
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    out = Resize(spatial_size=shape, mode=mode, align_corners=False)(probs.float())
    return out.as_tensor() if isinstance(out, MetaTensor) else out


def score_native(probs: Tensor, dataset, start: int, *, hd95: bool = True) -> pd.DataFrame:
    """Native-resolution per-case rows for cases ``start .. start + B - 1`` of ``dataset``.

    ``probs``: (B, C, *size) class probabilities predicted at the dataset's size; ``dataset`` a
    SegDataset that kept native labels (``dataset.native(i)``). Cases of one native shape are
    scored together (one MONAI call, one spacing per case). Columns as :func:`native_columns`.
    """
    info = dataset.info
    groups: dict[tuple[int, ...], list[tuple[int, Tensor, Tensor, tuple]]] = defaultdict(list)
    for j in range(probs.shape[0]):
        target, spacing = dataset.native(start + j)
        native = resample_probs(probs[j].float(), tuple(target.shape[1:]))
        pred = native.argmax(dim=0, keepdim=True).cpu()
        groups[tuple(target.shape[1:])].append((j, pred, target, spacing))
    frames = []
    for members in groups.values():
        df = per_case_metrics(
            torch.stack([m[1] for m in members]),
            torch.stack([m[2] for m in members]),
            num_classes=info.num_classes,
            case_ids=[dataset.case_ids[start + m[0]] for m in members],
            class_names=info.class_names,
            combined=info.combined,
            combined_name=info.combined_name,
            hd95=hd95,
            spacing=[list(m[3]) for m in members],
        )
        frames.append(df.assign(_order=[m[0] for m in members]))
    out = pd.concat(frames).sort_values("_order").drop(columns="_order").reset_index(drop=True)
    return native_columns(out, getattr(info, "spacing_unit", "px"))
