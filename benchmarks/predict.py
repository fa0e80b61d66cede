"""``bench predict``: one image file -> label map (and SD map) with a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks.data.readers import read_array
from benchmarks.data.transforms import resize_image
from benchmarks.data.validate import as_image
from benchmarks.errors import ConfigError, DataError
from benchmarks.methods import get_spec
from benchmarks.native import resample_probs
from benchmarks.pipeline import checked_eval_config, job_size, load_trained
from benchmarks.validate_args import (
    LABEL_SUFFIXES_2D,
    SD_SUFFIXES_2D,
    VOLUME_SUFFIXES,
    check_output_file,
)


def predict_file(
    checkpoint: Path,
    image_path: Path,
    out: Path,
    *,
    steps: int | None = None,
    samples: int = 1,
    sampler: str | None = None,
    uncertainty: Path | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """Segment ``image_path``; the class probabilities are resampled back to the file's native
    size (bi/trilinear, as ``benchmarks.native`` scores), then argmax gives the label map.

    Everything that can be refused (the checkpoint's stored configs, the sampler settings, the
    output file types, the input image) is checked before sampling starts.
    """
    method, ckpt = load_trained(checkpoint, device=device)
    info = ckpt["dataset_info"]
    name = ckpt["method_name"]
    cfg = checked_eval_config(
        method, ckpt, checkpoint, num_inference_steps=steps, num_samples=samples, sampler=sampler
    )
    _check_outputs(out, uncertainty, info["spatial_dims"], cfg.num_samples, name)
    arr, dims = read_array(Path(image_path), role="image")
    if dims != info["spatial_dims"]:
        raise DataError(
            f"{image_path}: {dims}D image, but the checkpoint's model is {info['spatial_dims']}D"
        )
    image = torch.from_numpy(as_image(arr, Path(image_path)))
    if image.shape[0] != info["in_channels"]:
        if image.shape[0] == 3 and info["in_channels"] == 1:
            image = image.mean(0, keepdim=True)
        elif image.shape[0] == 1 and info["in_channels"] == 3:
            image = image.expand(3, *image.shape[1:])
        else:
            raise DataError(
                f"{image_path}: {image.shape[0]} channels, but the model in {checkpoint} "
                f"expects {info['in_channels']}"
            )
    native = tuple(image.shape[1:])
    size = job_size(ckpt, checkpoint) or native  # the size the model was trained at
    x = resize_image(image, size)[None].to(device)
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        seg = method.predict(
            x,
            num_inference_steps=cfg.num_inference_steps,
            sampler=cfg.sampler,
            num_samples=cfg.num_samples,
            generator=g,
        )
    # the rule the native-resolution metrics score with: probabilities resampled, then argmax
    labels = resample_probs(seg.probs[0].float(), native).argmax(dim=0)
    labels = labels.to(torch.uint8).cpu().numpy()
    _write(_write_labels, labels, Path(out), info["num_classes"])
    written = {
        "out": str(out),
        "size": list(native),
        "steps": cfg.num_inference_steps,
        "samples": cfg.num_samples,
        "sampler": cfg.sampler,
    }
    if uncertainty is not None:
        sd = torch.nn.functional.interpolate(
            seg.uncertainty.float(), size=native, mode="bilinear" if dims == 2 else "trilinear"
        )
        _write(_write_sd, sd[0, 0].cpu().numpy(), Path(uncertainty))
        written["uncertainty"] = str(uncertainty)
        written["max_sd"] = float(sd.max())
    return written


def _check_outputs(
    out: Path, uncertainty: Path | None, dims: int, num_samples: int, method: str
) -> None:
    """The file types the model's outputs can be written as (3D: NIfTI only), and an SD map
    only where there are several samples to take it from."""
    label_types = LABEL_SUFFIXES_2D if dims == 2 else VOLUME_SUFFIXES
    check_output_file(out, "--out", label_types)
    if uncertainty is None:
        return
    check_output_file(
        uncertainty, "--uncertainty", SD_SUFFIXES_2D if dims == 2 else VOLUME_SUFFIXES
    )
    if not get_spec(method).samples or num_samples < 2:
        raise ConfigError(
            f"--uncertainty {uncertainty}: an SD map needs --samples > 1 with a sampling method "
            f"({method}, {num_samples} sample{'s' if num_samples != 1 else ''})"
        )


def _write(writer, array: np.ndarray, out: Path, *args) -> None:
    try:
        writer(array, out, *args)
    except OSError as err:  # a full disk or a folder that went away after the checks
        raise DataError(f"{out}: cannot write ({err.strerror or err})") from None


def _write_labels(labels: np.ndarray, out: Path, num_classes: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if labels.ndim == 3 or out.name.lower().endswith((".nii", ".nii.gz")):
        import nibabel as nib

        nib.save(nib.Nifti1Image(labels.astype(np.uint8), np.eye(4)), str(out))
        return
    from PIL import Image

    # binary masks as {0, 255} (viewable); multi-class as class indices
    img = labels * 255 if num_classes == 2 else labels
    Image.fromarray(img.astype(np.uint8)).save(out)


def _write_sd(sd: np.ndarray, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if sd.ndim == 3 or out.name.lower().endswith((".nii", ".nii.gz")):
        import nibabel as nib

        nib.save(nib.Nifti1Image(sd.astype(np.float32), np.eye(4)), str(out))
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fmt = "tiff" if out.name.lower().endswith(".tif") else None  # matplotlib knows "tiff" only
    plt.imsave(out, sd, cmap="magma", vmin=0.0, vmax=max(float(sd.max()), 1e-6), format=fmt)
