"""The figures drawn while a run is open, as artifacts of its child run: the qualitative overlays
(Fig. 4 / 9: false negatives dark red, false positives light red) of the accuracy runs and the
uncertainty maps (Fig. 10: image, ground truth, mean map, SD map). They live below ``reports/``
(which re-exports them, :mod:`reports.figures`) so the experiments never import the reports.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from benchmarks.method_catalog import display  # noqa: E402

FN_COLOUR = np.array([0.55, 0.0, 0.0])  # dark red: missed
FP_COLOUR = np.array([1.0, 0.55, 0.55])  # light red: extra
TP_COLOUR = np.array([0.2, 0.8, 0.3])


def _theme() -> None:
    sns.set_theme(context="paper", style="whitegrid")


def _save(fig, path: Path, **savefig_kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, **savefig_kwargs)
    plt.close(fig)
    return path


def _rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, 3) for display."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[None]
    if image.shape[0] == 1:
        image = np.repeat(image, 3, axis=0)
    return np.clip(image[:3].transpose(1, 2, 0), 0, 1)


def overlay(image: np.ndarray, label: np.ndarray, pred: np.ndarray | None = None) -> np.ndarray:
    """The image with the segmentation drawn over it (pred None: the ground truth in green)."""
    rgb = _rgb(image).copy()
    if pred is None:
        fg = label > 0
        rgb[fg] = 0.5 * rgb[fg] + 0.5 * TP_COLOUR
        return rgb
    tp = (pred == label) & (label > 0)
    fn = (label > 0) & (pred != label)
    fp = (label == 0) & (pred > 0)
    rgb[tp] = 0.5 * rgb[tp] + 0.5 * TP_COLOUR
    rgb[fn] = FN_COLOUR
    rgb[fp] = FP_COLOUR
    return rgb


def qualitative_grid(cases: dict[str, dict[str, np.ndarray]], path: Path, title: str) -> Path:
    """Fig. 4 / 9: rows = test cases, columns = image, GT, then one per method.

    ``cases[method]`` is the content of a ``qualitative.npz`` (image, label, pred, case_id).
    Give ``path`` a ``.jpg`` suffix: a grid of photographs is ~5x smaller as JPEG than as PNG
    (the quick Table II grid: 0.5 MB vs 2.4 MB).
    """
    _theme()
    methods = list(cases)
    first = cases[methods[0]]
    n = len(first["case_id"])
    ncol = 2 + len(methods)
    fig, axes = plt.subplots(n, ncol, figsize=(1.9 * ncol, 1.9 * n + 0.4), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(_rgb(first["image"][i]))
        axes[i, 1].imshow(overlay(first["image"][i], first["label"][i]))
        for j, m in enumerate(methods):
            d = cases[m]
            if i < len(d["pred"]):
                axes[i, 2 + j].imshow(overlay(d["image"][i], d["label"][i], d["pred"][i]))
        axes[i, 0].set_ylabel(str(first["case_id"][i]), fontsize=7)
    for j, name in enumerate(["image", "GT", *[display(m) for m in methods]]):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(f"{title}  (dark red: false negative, light red: false positive)", fontsize=8)
    jpeg = Path(path).suffix.lower() in (".jpg", ".jpeg")
    return _save(fig, path, **({"pil_kwargs": {"quality": 85}} if jpeg else {}))


def uncertainty_figure(npz, path: Path, title: str = "") -> Path:
    """Fig. 10: per case the image, ground truth, mean segmentation map and SD map."""
    _theme()
    d = dict(np.load(npz, allow_pickle=False))
    n = len(d["sd"])
    fig, axes = plt.subplots(n, 4, figsize=(8, 2.1 * n + 0.4), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(_rgb(d["image"][i]))
        axes[i, 1].imshow(overlay(d["image"][i], d["label"][i]))
        axes[i, 2].imshow(d["mean"][i].astype(np.float32), cmap="viridis", vmin=0, vmax=1)
        im = axes[i, 3].imshow(d["sd"][i].astype(np.float32), cmap="magma")
        fig.colorbar(im, ax=axes[i, 3], fraction=0.046)
    for j, name in enumerate(["image", "GT", "mean P(foreground)", "SD (uncertainty)"]):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
