"""Per-case DSC / IoU / HD95 on MONAI, and their summary over a test set.

Every method in the harness is scored by :func:`per_case_metrics`, so the numbers in every table
come from one definition. The heavy lifting is MONAI's (``DiceMetric``, ``MeanIoU``,
``HausdorffDistanceMetric``) on one-hot tensors, with every behaviour-changing flag passed
explicitly. What this module adds is a single, tested empty-mask policy:

==========================  =========  =========  =======
class c in a case           DSC        IoU        HD95
==========================  =========  =========  =======
absent in target and pred   1          1          NaN
absent in target, predicted 0          0          NaN
present in target, missed   0          0          NaN
present in both             overlap    overlap    HD95
==========================  =========  =========  =======

DSC/IoU follow MONAI's ``ignore_empty=False`` (checked against the installed version in
``tests/test_metrics.py``, and re-imposed here so a MONAI change cannot move the numbers). HD95 is
undefined when either surface is missing; it is NaN, and :func:`summarize` averages it with a
nan-aware mean and reports how many cases were defined (``n_hd95_<name>``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric, MeanIoU
from torch import Tensor

from ldseg.model import one_hot  # (B, 1, *spatial) -> (B, C, *spatial)

__all__ = ["per_case_metrics", "summarize", "one_hot"]


def _as_label_map(x: Tensor, name: str) -> Tensor:
    """(B, 1, *spatial) or (B, *spatial) integer labels -> (B, *spatial) int64."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer labels, got {type(x).__name__}")
    if x.is_floating_point() or x.is_complex():
        raise TypeError(
            f"{name} must hold integer class labels (got dtype {x.dtype}); "
            "take argmax over the class channel (or threshold) before scoring"
        )
    if x.ndim in (4, 5) and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be (B, 1, *spatial) or (B, *spatial) with 2 or 3 spatial dims, "
            f"got shape {tuple(x.shape)}"
        )
    return x.long()


def _presence(onehot: Tensor) -> Tensor:
    """(B, C, *spatial) one-hot -> (B, C) bool: does class c occur in case b?"""
    return onehot.flatten(2).any(dim=2)


def _dice_iou(pred_oh: Tensor, target_oh: Tensor) -> tuple[Tensor, Tensor]:
    """Per-case, per-foreground-class DSC and IoU, shape (B, C-1), with the empty-mask policy."""
    dice = DiceMetric(
        include_background=False,
        reduction="none",
        get_not_nans=False,
        ignore_empty=False,
        num_classes=None,  # channels are read from the one-hot input
        return_with_label=False,
        per_component=False,
        ignore_index=None,
    )(pred_oh, target_oh)
    iou = MeanIoU(
        include_background=False,
        reduction="none",
        get_not_nans=False,
        ignore_empty=False,
        ignore_index=None,
    )(pred_oh, target_oh)
    # Re-impose the policy: both empty -> 1 (MONAI >= 1.x does this with ignore_empty=False;
    # one empty -> 0 follows from the formulas since the overlap is then 0).
    both_empty = ~(_presence(pred_oh) | _presence(target_oh))[:, 1:]
    one = torch.ones((), dtype=dice.dtype, device=dice.device)
    return torch.where(both_empty, one, dice), torch.where(both_empty, one, iou)


def _hd95(pred_oh: Tensor, target_oh: Tensor, spacing) -> Tensor:
    """Per-case, per-foreground-class symmetric HD95 (B, C-1); NaN where either mask is empty.

    MONAI's definition: surfaces are the mask edges (mask XOR its erosion), distances are
    Euclidean in ``spacing`` units, and the result is the max of the two directed 95th
    percentiles (linear interpolation).
    """
    with warnings.catch_warnings():
        # MONAI warns for every empty class; we handle empties explicitly below.
        warnings.filterwarnings("ignore", message=r".*is all 0.*", category=UserWarning)
        # MONAI's own internal call to a deprecated argument (monai 1.5/1.6); nothing to act on.
        warnings.filterwarnings(
            "ignore", message=r".*always_return_as_numpy.*", category=FutureWarning
        )
        hd = HausdorffDistanceMetric(
            include_background=False,
            distance_metric="euclidean",
            percentile=95,
            directed=False,
            reduction="none",
            get_not_nans=False,
            ignore_index=None,
        )(pred_oh, target_oh, spacing=spacing)
    defined = (_presence(pred_oh) & _presence(target_oh))[:, 1:]
    return torch.where(defined, hd, torch.full_like(hd, float("nan")))


def per_case_metrics(
    pred: Tensor,
    target: Tensor,
    *,
    num_classes: int,
    case_ids: Sequence[str],
    class_names: Sequence[str],
    combined: tuple[int, ...] | None = None,
    combined_name: str | None = None,
    hd95: bool = True,
    spacing=None,
) -> pd.DataFrame:
    """Score a batch of label maps, one row per case.

    Args:
        pred, target: integer label maps, (B, 1, *spatial) or (B, *spatial), 2D or 3D, values in
            ``[0, num_classes)``; class 0 is background and is never scored.
        num_classes: number of classes including background (2 for a binary task).
        case_ids: B identifiers, written to the ``case_id`` column.
        class_names: ``num_classes`` names, index 0 the background; foreground class c gives
            the columns ``dsc_<name>``, ``iou_<name>`` and (if ``hd95``) ``hd95_<name>``.
        combined: foreground class indices scored together as one region, e.g. ``(1, 2)`` for
            the paper's "LV+LA" or "FC+TC" column. The score is the DSC / IoU of the **union**
            of those classes (``dsc_combined``, ``iou_combined``), not the mean of their scores:
            the paper's Table I (LV .93, LA .87, LV+LA .92) is consistent with an area-weighted
            union and not with a mean (.90).
        combined_name: display name of the combined region (default: the class names joined by
            "+"); stored in ``df.attrs["combined_name"]``, columns keep the fixed suffix.
        hd95: also compute HD95 (the slow part: a distance transform per case and class).
        spacing: pixel/voxel spacing for HD95, as MONAI takes it (number, per-axis sequence, or
            one per case); ``None`` means unit spacing, i.e. HD95 in pixels.

    Returns:
        DataFrame with ``case_id``, the per-class columns, ``dsc_mean`` and ``iou_mean`` (mean
        over foreground classes; for a binary task the single class), and the combined columns
        when asked. Empty masks follow the policy in the module docstring.
    """
    pred_l, target_l = _as_label_map(pred, "pred"), _as_label_map(target, "target")
    if pred_l.shape != target_l.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    _check_inputs(pred_l, target_l, num_classes, case_ids, class_names, combined)

    pred_oh, target_oh = (
        one_hot(pred_l[:, None], num_classes),
        one_hot(target_l[:, None], num_classes),
    )
    dsc, iou = _dice_iou(pred_oh, target_oh)
    cols: dict[str, object] = {"case_id": [str(c) for c in case_ids]}
    fg_names = list(class_names[1:])
    for k, name in enumerate(fg_names):
        cols[f"dsc_{name}"] = dsc[:, k].double().cpu().numpy()
        cols[f"iou_{name}"] = iou[:, k].double().cpu().numpy()
    if hd95:
        hd = _hd95(pred_oh, target_oh, spacing)
        for k, name in enumerate(fg_names):
            cols[f"hd95_{name}"] = hd[:, k].double().cpu().numpy()
    cols["dsc_mean"] = dsc.double().mean(dim=1).cpu().numpy()
    cols["iou_mean"] = iou.double().mean(dim=1).cpu().numpy()

    if combined is not None:
        cols.update(_combined_columns(pred_l, target_l, combined))

    df = pd.DataFrame(cols)
    df.attrs["class_names"] = list(class_names)
    if combined is not None:
        df.attrs["combined"] = tuple(combined)
        df.attrs["combined_name"] = combined_name or "+".join(class_names[c] for c in combined)
    return df


def _check_inputs(
    pred_l: Tensor,
    target_l: Tensor,
    num_classes: int,
    case_ids: Sequence[str],
    class_names: Sequence[str],
    combined: tuple[int, ...] | None,
) -> None:
    """Refuse arguments :func:`per_case_metrics` cannot score (a ValueError naming which);
    ``pred_l`` and ``target_l`` are label maps of one shape."""
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background and must be >= 2, got {num_classes}")
    if len(class_names) != num_classes:
        raise ValueError(
            f"class_names needs {num_classes} names (background first), got {list(class_names)}"
        )
    if len(case_ids) != pred_l.shape[0]:
        raise ValueError(f"{len(case_ids)} case_ids for a batch of {pred_l.shape[0]}")
    for name, x in (("pred", pred_l), ("target", target_l)):
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_classes):
            raise ValueError(
                f"{name} has labels in [{int(x.min())}, {int(x.max())}], "
                f"expected [0, {num_classes - 1}]"
            )
    if combined is not None and (
        len(combined) == 0 or any(not 1 <= c < num_classes for c in combined)
    ):
        raise ValueError(
            f"combined must list foreground classes in [1, {num_classes - 1}], got {combined}"
        )


def _combined_columns(pred_l: Tensor, target_l: Tensor, combined: tuple[int, ...]) -> dict:
    """DSC / IoU of the union of the ``combined`` classes, per case."""
    idx = torch.tensor(combined, device=pred_l.device)
    union_p = torch.isin(pred_l, idx).long()
    union_t = torch.isin(target_l, idx).long()
    dsc_u, iou_u = _dice_iou(one_hot(union_p[:, None], 2), one_hot(union_t[:, None], 2))
    return {
        "dsc_combined": dsc_u[:, 0].double().cpu().numpy(),
        "iou_combined": iou_u[:, 0].double().cpu().numpy(),
    }


def summarize(df: pd.DataFrame) -> dict[str, float]:
    """Mean over cases of every metric column (NaN-aware), plus ``dsc``, ``iou`` and counts.

    ``dsc`` / ``iou`` are the means of ``dsc_mean`` / ``iou_mean`` (the headline numbers).
    ``n_cases`` is the number of rows; ``n_<col>`` is the number of cases where ``<col>`` is
    defined, reported for every HD95 column and any other column that holds NaN.
    """
    metrics = df.drop(columns=["case_id"], errors="ignore").select_dtypes("number")
    out: dict[str, float] = {col: float(metrics[col].mean(skipna=True)) for col in metrics.columns}
    for col in metrics.columns:
        if col.startswith("hd95_") or metrics[col].isna().any():
            out[f"n_{col}"] = int(metrics[col].notna().sum())
    out["dsc"] = out.get("dsc_mean", float("nan"))
    out["iou"] = out.get("iou_mean", float("nan"))
    out["n_cases"] = len(df)
    return out
