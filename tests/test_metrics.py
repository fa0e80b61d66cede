"""DSC / IoU / HD95: hand-computed cases, the empty-mask policy, and a numpy oracle."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from monai.metrics import DiceMetric, HausdorffDistanceMetric, MeanIoU

from benchmarks.metrics import one_hot, per_case_metrics, summarize

BINARY = ["background", "fg"]
THREE = ["background", "a", "b"]


def _labels(*rows: str) -> torch.Tensor:
    """Label map from strings of digits, e.g. _labels("0110", "0000") -> (1, 1, 2, 4)."""
    return torch.tensor([[int(ch) for ch in row] for row in rows])[None, None]


def _score(pred, target, names=BINARY, **kw) -> pd.DataFrame:
    ids = [f"c{i}" for i in range(pred.shape[0])]
    return per_case_metrics(
        pred, target, num_classes=len(names), case_ids=ids, class_names=names, **kw
    )


# --- hand-computed -------------------------------------------------------------------------


def test_binary_dsc_iou_by_hand():
    # |A| = 3, |B| = 3, overlap 2  ->  DSC = 2*2/(3+3) = 2/3, IoU = 2/(3+3-2) = 2/4
    pred = _labels("1110", "0000", "0000", "0000")
    target = _labels("0110", "0100", "0000", "0000")
    row = _score(pred, target).iloc[0]
    assert row["dsc_fg"] == pytest.approx(2 / 3, abs=1e-6)
    assert row["iou_fg"] == pytest.approx(2 / 4, abs=1e-6)
    assert row["dsc_mean"] == pytest.approx(2 / 3, abs=1e-6)
    assert row["iou_mean"] == pytest.approx(2 / 4, abs=1e-6)


def test_multiclass_and_combined_union_by_hand():
    pred = _labels("1110", "2100", "0000", "0000")
    target = _labels("1111", "2200", "0000", "0000")
    df = _score(pred, target, THREE, combined=(1, 2), combined_name="a+b")
    row = df.iloc[0]
    # class a: |P| = 4, |T| = 4, overlap 3  ->  DSC 6/8, IoU 3/5
    assert row["dsc_a"] == pytest.approx(6 / 8, abs=1e-6)
    assert row["iou_a"] == pytest.approx(3 / 5, abs=1e-6)
    # class b: |P| = 1, |T| = 2, overlap 1  ->  DSC 2/3, IoU 1/2
    assert row["dsc_b"] == pytest.approx(2 / 3, abs=1e-6)
    assert row["iou_b"] == pytest.approx(1 / 2, abs=1e-6)
    assert row["dsc_mean"] == pytest.approx((6 / 8 + 2 / 3) / 2, abs=1e-6)
    assert row["iou_mean"] == pytest.approx((3 / 5 + 1 / 2) / 2, abs=1e-6)
    # union a|b: |P| = 5, |T| = 6, overlap 5  ->  DSC 10/11, IoU 5/6 (not the mean of a and b)
    assert row["dsc_combined"] == pytest.approx(10 / 11, abs=1e-6)
    assert row["iou_combined"] == pytest.approx(5 / 6, abs=1e-6)
    assert df.attrs["combined_name"] == "a+b"


def _square(shift: int = 0) -> torch.Tensor:
    x = torch.zeros(1, 1, 10, 10, dtype=torch.long)
    x[..., 2:6, 2 + shift : 6 + shift] = 1
    return x


def test_hd95_shifted_square_by_hand():
    # 4x4 squares, one shifted right by 2. Their edges are 12-pixel rings. From the shifted ring
    # the distances to the other ring are 0,0,1,1 (left column), 2,2,2,2 (right column) and
    # 0,0,1,1 (top/bottom middles); the 95th percentile (linear) of the sorted 12 values is 2,
    # and by symmetry so is the other direction.
    row = _score(_square(2), _square(0)).iloc[0]
    assert row["hd95_fg"] == pytest.approx(2.0, abs=1e-6)
    assert _score(_square(0), _square(0)).iloc[0]["hd95_fg"] == pytest.approx(0.0)
    # spacing is honoured: columns 0.5 units apart halve the distance
    row = _score(_square(2), _square(0), spacing=(1.0, 0.5)).iloc[0]
    assert row["hd95_fg"] == pytest.approx(1.0, abs=1e-6)


# --- empty-mask policy ---------------------------------------------------------------------


def test_empty_mask_policy():
    a = _labels("1100", "1100", "0000", "0000")
    b = _labels("2200", "2200", "0000", "0000")
    z = torch.zeros_like(a)
    pred = torch.cat([a, b, z, z])
    target = torch.cat([a, a, b, z])
    df = _score(pred, target, THREE, combined=(1, 2))
    # case 0: a perfect, b absent from both -> 1
    assert df.loc[0, ["dsc_a", "iou_a", "dsc_b", "iou_b"]].tolist() == [1, 1, 1, 1]
    assert df.loc[0, "hd95_a"] == 0 and math.isnan(df.loc[0, "hd95_b"])
    # case 1: a in target but missed -> 0; b predicted but absent from target -> 0
    assert df.loc[1, ["dsc_a", "iou_a", "dsc_b", "iou_b"]].tolist() == [0, 0, 0, 0]
    assert df.loc[1, ["hd95_a", "hd95_b"]].isna().all()
    assert df.loc[1, "dsc_combined"] == 1  # same union region
    # case 2: nothing predicted; a absent from both (1), b missed (0)
    assert df.loc[2, ["dsc_a", "dsc_b"]].tolist() == [1, 0]
    assert df.loc[2, ["hd95_a", "hd95_b"]].isna().all()
    # case 3: everything empty -> perfect agreement, HD95 undefined
    assert df.loc[3, ["dsc_mean", "iou_mean", "dsc_combined", "iou_combined"]].tolist() == [1] * 4
    assert df.loc[3, ["hd95_a", "hd95_b"]].isna().all()

    s = summarize(df)
    assert s["n_cases"] == 4
    assert s["n_hd95_a"] == 1 and s["hd95_a"] == 0.0  # nan-aware mean over the one defined case
    assert s["n_hd95_b"] == 0 and math.isnan(s["hd95_b"])
    assert s["dsc"] == pytest.approx(df["dsc_mean"].mean())


def test_installed_monai_empty_behaviour_matches_policy():
    """Documents what MONAI itself returns (we also re-impose the policy in metrics.py)."""
    z = one_hot(torch.zeros(1, 1, 4, 4, dtype=torch.long), 2)
    sq = one_hot(_labels("1100", "1100", "0000", "0000"), 2)
    kw = dict(include_background=False, reduction="none", ignore_empty=False)
    for p, t, expected in [(z, z, 1.0), (sq, z, 0.0), (z, sq, 0.0)]:
        assert DiceMetric(**kw)(p, t).item() == expected
        assert MeanIoU(**kw)(p, t).item() == expected
        with pytest.warns(UserWarning):
            hd = HausdorffDistanceMetric(include_background=False, percentile=95, reduction="none")
            assert math.isnan(hd(p, t).item())


# --- independent numpy oracle --------------------------------------------------------------


def _np_edges(mask: np.ndarray) -> np.ndarray:
    """Mask XOR its erosion by the face-connected cross, outside the image counted as 0."""
    padded = np.pad(mask, 1)
    core = tuple(slice(1, -1) for _ in mask.shape)
    eroded = padded[core].copy()
    for axis in range(mask.ndim):
        for step in (-1, 1):
            eroded &= np.roll(padded, step, axis=axis)[core]
    return mask & ~eroded


def _np_hd95(p: np.ndarray, t: np.ndarray) -> float:
    if not p.any() or not t.any():
        return float("nan")
    ep, et = np.argwhere(_np_edges(p)), np.argwhere(_np_edges(t))
    d = np.sqrt(((ep[:, None, :] - et[None, :, :]) ** 2).sum(-1))
    return max(np.percentile(d.min(1), 95), np.percentile(d.min(0), 95))


def _np_reference(pred: np.ndarray, target: np.ndarray, num_classes: int) -> dict:
    out: dict[str, list[float]] = {"dsc": [], "iou": [], "hd95": []}
    for c in range(1, num_classes):
        p, t = pred == c, target == c
        inter, sp, st = (p & t).sum(), p.sum(), t.sum()
        out["dsc"].append(1.0 if sp + st == 0 else 2 * inter / (sp + st))
        out["iou"].append(1.0 if sp + st == 0 else inter / (sp + st - inter))
        out["hd95"].append(_np_hd95(p, t))
    return out


def _blobby_labels(shape, num_classes, seed) -> torch.Tensor:
    """Random label maps with regions (nearest-upsampled coarse noise), so edges differ."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(
        0, num_classes, (shape[0], 1, *[max(2, s // 4) for s in shape[2:]]), generator=g
    )
    return F.interpolate(coarse.float(), size=shape[2:], mode="nearest").long()


@pytest.mark.parametrize("shape", [(4, 1, 33, 29), (2, 1, 9, 10, 11)], ids=["2d", "3d"])
def test_matches_numpy_reference(shape):
    num_classes = 3
    pred = _blobby_labels(shape, num_classes, seed=0)
    target = _blobby_labels(shape, num_classes, seed=1)
    pred[0][pred[0] == 2] = 0  # one case with class 2 missing from the prediction
    df = _score(pred, target, THREE)
    for b in range(shape[0]):
        ref = _np_reference(pred[b, 0].numpy(), target[b, 0].numpy(), num_classes)
        for k, name in enumerate(THREE[1:]):
            assert df.loc[b, f"dsc_{name}"] == pytest.approx(ref["dsc"][k], abs=1e-6)
            assert df.loc[b, f"iou_{name}"] == pytest.approx(ref["iou"][k], abs=1e-6)
            assert df.loc[b, f"hd95_{name}"] == pytest.approx(ref["hd95"][k], abs=1e-5, nan_ok=True)
        assert df.loc[b, "dsc_mean"] == pytest.approx(np.mean(ref["dsc"]), abs=1e-6)
    assert math.isnan(df.loc[0, "hd95_b"])


# --- table shape and input checks ----------------------------------------------------------


def test_dataframe_columns_and_case_ids():
    pred = torch.randint(0, 3, (3, 8, 8))  # (B, *spatial) is accepted too
    df = per_case_metrics(
        pred,
        pred.clone(),
        num_classes=3,
        case_ids=["x", "y", "z"],
        class_names=["bg", "LV", "LA"],
        combined=(1, 2),
    )
    assert list(df.columns) == [
        "case_id",
        *["dsc_LV", "iou_LV", "dsc_LA", "iou_LA", "hd95_LV", "hd95_LA"],
        *["dsc_mean", "iou_mean", "dsc_combined", "iou_combined"],
    ]
    assert df["case_id"].tolist() == ["x", "y", "z"]
    assert df.attrs["combined_name"] == "LV+LA"
    assert (df["dsc_mean"] == 1).all()

    no_hd = _score(pred[:, None], pred[:, None], ["bg", "LV", "LA"], hd95=False)
    assert not any(c.startswith("hd95") for c in no_hd.columns)
    s = summarize(no_hd)
    assert s["dsc"] == 1 and s["iou"] == 1 and s["n_cases"] == 3
    assert set(s) == {"dsc_LV", "iou_LV", "dsc_LA", "iou_LA", "dsc_mean", "iou_mean"} | {
        "dsc",
        "iou",
        "n_cases",
    }


def test_bad_inputs_raise():
    x = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    with pytest.raises(TypeError, match="argmax"):
        _score(x.float(), x)
    with pytest.raises(ValueError, match="labels in"):
        _score(x + 2, x)
    with pytest.raises(ValueError, match="class_names"):
        per_case_metrics(x, x, num_classes=3, case_ids=["a"], class_names=BINARY)
    with pytest.raises(ValueError, match="case_ids"):
        per_case_metrics(x, x, num_classes=2, case_ids=["a", "b"], class_names=BINARY)
    with pytest.raises(ValueError, match="combined"):
        _score(x, x, combined=(0,))
