"""`bench data ...`: list the registered datasets, check one, draw one case.

The main app mounts it with `app.add_typer(data_app, name="data")`. Any BenchError (bad data,
unknown name) is printed as the one line `error: <message>` on stderr with exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from benchmarks.errors import BenchError, ConfigError

if TYPE_CHECKING:
    import numpy as np

# benchmarks.data (torch, MONAI) is imported inside the commands that need it: `bench data
# --help` and `bench data download` answer without it

data_app = typer.Typer(
    help="Datasets: list the registered ones, validate one, draw a case.", no_args_is_help=True
)

PATH_OPT = typer.Option(None, "--path", help="Dataset folder (folder datasets, GlaS .bmp release).")
ROOT_OPT = typer.Option(None, "--data-root", help="Data root (default: $LDSEG_DATA).")


def _fail(exc: BenchError) -> None:
    typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
    raise typer.Exit(code=2)


@data_app.command("list")
def list_datasets() -> None:
    """Table of the registered datasets."""
    from benchmarks.data import DATASETS

    table = Table(title="datasets")
    for col in ("name", "dims", "ch"):
        table.add_column(col, no_wrap=True)
    table.add_column("classes (combined)")
    table.add_column("synth", no_wrap=True)
    table.add_column("description")
    for name, entry in DATASETS.items():
        info = entry.info
        if info is None:  # classes depend on the files
            table.add_row(name, "2D/3D", "?", "from the masks", "no", entry.description)
            continue
        table.add_row(
            name,
            f"{info.spatial_dims}D",
            str(info.in_channels),
            ", ".join(info.class_names) + (f" ({info.combined_name})" if info.combined else ""),
            "yes" if info.synthetic else "no",
            info.description,
        )
    Console().print(table)


@data_app.command("check")
def check(
    name: str = typer.Argument(..., help="Dataset name (see `bench data list`)."),
    path: Path | None = PATH_OPT,
    data_root: Path | None = ROOT_OPT,
) -> None:
    """Validate every file of a dataset; print counts, image sizes, class frequencies, split."""
    from benchmarks.data import check_dataset

    try:
        report = check_dataset(name, root=data_root, path=path)
    except BenchError as exc:
        _fail(exc)
    console = Console()
    console.print(
        f"[bold]{report.name}[/]: {report.spatial_dims}D, {report.num_classes} classes, "
        f"{report.total} cases - valid"
    )
    splits = Table(title="cases per split")
    splits.add_column("split")
    splits.add_column("cases", justify="right")
    for split, n in report.counts.items():
        splits.add_row(split, str(n))
    sizes = Table(title="image sizes (native)")
    sizes.add_column("size")
    sizes.add_column("cases", justify="right")
    for shape, n in report.image_sizes.items():
        sizes.add_row("x".join(map(str, shape)), str(n))
    freqs = Table(title="class frequencies (fraction of pixels)")
    freqs.add_column("class")
    freqs.add_column("fraction", justify="right")
    for cls, f in report.class_frequencies.items():
        freqs.add_row(cls, f"{f:.4f}")
    for table in (splits, sizes, freqs):
        console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")


@data_app.command("show")
def show(
    name: str = typer.Argument(..., help="Dataset name."),
    case: str = typer.Option(..., "--case", help="Case id, e.g. train_1, case5, case3_s042."),
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    path: Path | None = PATH_OPT,
    data_root: Path | None = ROOT_OPT,
) -> None:
    """Draw one case (image and mask overlay, native resolution) to a PNG file."""
    from benchmarks.data import open_source

    try:
        source = open_source(name, root=data_root, path=path)
        cases = {c.case_id: c for c in source.cases()}
        if case not in cases:
            some = ", ".join(list(cases)[:5])
            raise ConfigError(f"{name}: no case {case!r} (cases look like: {some}, ...)")
        sample = next(iter(source.load([cases[case]], source.native_size)))
    except BenchError as exc:
        _fail(exc)
    draw_case(sample.image, sample.label, source.info.class_names, f"{name} / {case}", out)
    Console().print(f"wrote {out}")


@data_app.command("prepare")
def prepare(
    name: str = typer.Argument(..., help="Dataset with raw files (glas, knee3d, knee2d)."),
    out: Path = typer.Option(..., "--out", help="Data root to write DIR/prepared/NAME/ into."),
    profile: str = typer.Option("quick", "--profile", help="Whose size and preprocessing."),
    data_root: Path | None = ROOT_OPT,
) -> None:
    """Decode, resize and scale every case once into one array file (bit-identical to what
    training reads from the raw files), for machines that do not hold the raw data: point
    their data root at DIR."""
    from benchmarks.data import get_info
    from benchmarks.data.prepare import prepare_dataset
    from benchmarks.profiles import load_profile

    try:
        info = get_info(name)
        ds = load_profile(profile).for_dataset(name, info.spatial_dims).dataset(name)
        file = prepare_dataset(
            name,
            size=ds.size,
            image_resize=ds.image_resize,
            intensity=ds.intensity,
            out=out,
            root=data_root,
        )
    except BenchError as exc:
        _fail(exc)
    from benchmarks.data.prepared import PreparedSource

    note = PreparedSource(file.parent, info).notes[0]
    size_mb = file.stat().st_size / 1e6
    Console().print(f"wrote {file} ({size_mb:.1f} MB); {note}; use it with --data-root {out}")


@data_app.command("download")
def download(
    name: str = typer.Argument(..., help="Dataset to fetch: glas (the official Warwick archive)."),
    to: Path = typer.Option(..., "--to", help="Data root to unpack into (as DIR/glas)."),
    sha256: str | None = typer.Option(
        None, "--sha256", help="Expected SHA256 of the archive (else the project's constant)."
    ),
    url: str | None = typer.Option(
        None, "--url", help="Another address of the same archive (a mirror)."
    ),
    keep_archive: bool = typer.Option(False, "--keep-archive", help="Keep the .zip afterwards."),
) -> None:
    """Download a public dataset archive, verify its SHA256, unpack it for `bench data check`."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from benchmarks.data.download import download_dataset

    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with Progress(*columns, TransferSpeedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(f"download {name}", total=None)
        try:
            dest = download_dataset(
                name,
                to,
                url=url,
                sha256=sha256,
                keep_archive=keep_archive,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except BenchError as exc:
            bar.stop()
            _fail(exc)
    console.print(f"unpacked into {dest}; check it with: bench data check {name} --data-root {to}")


def draw_case(image: np.ndarray, label: np.ndarray, class_names, title: str, out: Path) -> None:
    """Image | image + mask overlay; for 3D the middle slice along each axis."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if label.ndim == 3:
        views = [
            (
                np.take(image, label.shape[a] // 2, axis=a + 1),
                np.take(label, label.shape[a] // 2, axis=a),
            )
            for a in range(3)
        ]
    else:
        views = [(image, label)]
    colours = plt.get_cmap("tab10").colors
    cmap = ListedColormap(
        [(0, 0, 0, 0)] + [(*colours[i % 10], 0.45) for i in range(len(class_names) - 1)]
    )
    fig, axes = plt.subplots(len(views), 2, figsize=(8, 4 * len(views)), squeeze=False)
    for row, (img, lab) in zip(axes, views, strict=True):
        shown = np.moveaxis(img, 0, -1) if img.shape[0] == 3 else img[0]
        for ax in row:
            ax.imshow(shown, cmap=None if img.shape[0] == 3 else "gray", vmin=0, vmax=1)
            ax.axis("off")
        row[1].imshow(lab, cmap=cmap, vmin=0, vmax=len(class_names) - 1, interpolation="nearest")
        for k in range(1, len(class_names)):
            if (lab == k).any():
                row[1].contour(lab == k, levels=[0.5], colors=[colours[(k - 1) % 10]], linewidths=1)
    handles = [Patch(color=colours[i % 10], label=n) for i, n in enumerate(class_names[1:])]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles))
    fig.suptitle(title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
