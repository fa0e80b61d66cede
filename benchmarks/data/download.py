"""`bench data download NAME --to DIR`: fetch a public dataset archive, verify it, unpack it.

Only GlaS has a public archive (the knee volumes are OAI data; the echo set is private). The
archive is unpacked to ``DIR/<name>/`` in its original layout, which the dataset's reader takes
as it is (GlaS: the Warwick release's ``train_1.bmp`` + ``train_1_anno.bmp``), so afterwards
``bench data check glas --data-root DIR`` works. Nothing else in the harness ever downloads.

Order of work, so that a refused archive leaves nothing half-done: download to ``*.part`` (SHA256
computed while streaming), rename when complete, compare the checksum, check every member's
path (no absolute paths, no ``..``, no links: zip-slip), unpack into a hidden temporary folder,
check the reader finds the cases, then rename it to ``DIR/<name>``.

Standard library only (urllib, hashlib, zipfile): one GET and one zip need no new dependency
(pooch would do the same, but it is not installed and the harness must not grow one for this).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import shutil
import stat
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchmarks.errors import ConfigError, DataError, StoreError

log = logging.getLogger(__name__)

#: The official Warwick-QU GlaS release (MICCAI 2015 challenge), linked from
#: https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/
GLAS_ARCHIVE_URL = (
    "https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/download/"
    "warwick_qu_dataset_released_2016_07_08.zip"
)
#: SHA256 of that archive: NOT YET KNOWN TO THIS PROJECT. It was written on a machine without
#: internet access, so the real file could not be hashed, and a made-up value would be worse
#: than none. Fill it in from the official release (``sha256sum
#: warwick_qu_dataset_released_2016_07_08.zip`` on a copy you trust). Until then
#: ``bench data download glas`` downloads the archive, prints its SHA256 and refuses to unpack
#: it unless the user passes that checksum with ``--sha256 HEX``.
GLAS_ARCHIVE_SHA256: str | None = None

CHUNK = 1 << 20
TIMEOUT_S = 60  # per socket operation, not for the whole download
SKIPPED = ("__MACOSX/",)  # macOS resource forks some zips carry; never dataset files


@dataclass(frozen=True)
class Archive:
    name: str  # dataset name, and the folder under --to
    url: str
    sha256: str | None  # None: unknown to the project, the user must give --sha256
    filename: str


ARCHIVES = {
    "glas": Archive(
        "glas", GLAS_ARCHIVE_URL, GLAS_ARCHIVE_SHA256, "warwick_qu_dataset_released_2016_07_08.zip"
    ),
}

Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None)


def get_archive(name: str) -> Archive:
    if name not in ARCHIVES:
        raise ConfigError(
            f"no download for dataset {name!r}; downloadable: {', '.join(ARCHIVES)} (the others "
            f"are synthetic, private, or come with their own terms: see `bench data list`)"
        )
    return ARCHIVES[name]


def check_sha256(text: str | None) -> str | None:
    if text is None:
        return None
    hexdigest = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
        raise ConfigError(f"--sha256 {text!r}: expected 64 hexadecimal digits")
    return hexdigest


def download_dataset(
    name: str,
    to: Path,
    *,
    url: str | None = None,
    sha256: str | None = None,
    keep_archive: bool = False,
    on_progress: Progress | None = None,
) -> Path:
    """Fetch, verify and unpack dataset `name` into ``to/<name>``; returns that folder.

    url: another address of the same archive (a mirror); the checksum still decides.
    sha256: the expected checksum; defaults to the project's constant (see GLAS_ARCHIVE_SHA256).
    An archive already at ``to/<filename>`` (an earlier run) is verified instead of downloaded.
    """
    archive = get_archive(name)
    expected = check_sha256(sha256) or archive.sha256
    url = url or archive.url
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"--url {url!r}: only http:// and https:// addresses are fetched")
    to = Path(to).expanduser()
    dest = to / archive.name
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"{dest}: already exists and is not empty; remove it or use another --to")
    _mkdir(to)
    zip_path = to / archive.filename
    if zip_path.is_file():
        log.info("%s: found from an earlier run; verifying it instead of downloading", zip_path)
        digest = sha256_file(zip_path)
    else:
        digest = fetch(url, zip_path, on_progress)
    if expected is None:
        raise DataError(
            f"{zip_path}: downloaded, SHA256 {digest}; the project holds no reference checksum "
            f"for this archive, so nothing was unpacked: compare it with the official one and "
            f"rerun with --sha256 {digest} (the archive is kept and reused)"
        )
    if digest != expected:
        zip_path.unlink()
        raise DataError(
            f"{url}: SHA256 mismatch (got {digest}, expected {expected}); the download was "
            f"removed and nothing was unpacked"
        )
    unpack(zip_path, dest)
    if not keep_archive:
        zip_path.unlink()
    return dest


def fetch(url: str, out: Path, on_progress: Progress | None = None) -> str:
    """Stream `url` to `out` (via ``out.part``, renamed when complete); returns its SHA256."""
    part = out.with_name(out.name + ".part")
    sha = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:  # noqa: S310 (http(s) only)
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with part.open("wb") as fh:
                while chunk := resp.read(CHUNK):
                    fh.write(chunk)
                    sha.update(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)
        if total is not None and done != total:
            raise DataError(f"{url}: download incomplete ({done} of {total} bytes); rerun")
        part.replace(out)
    except urllib.error.HTTPError as err:
        raise DataError(f"{url}: download failed (HTTP {err.code} {err.reason})") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"{url}: download failed ({reason})") from None
    except OSError as err:  # writing `part`: full or read-only disk
        raise StoreError(f"{part}: cannot write the download ({err.strerror or err})") from None
    finally:  # any failure, Ctrl-C included, leaves no .part behind (renamed when complete)
        part.unlink(missing_ok=True)
    return sha.hexdigest()


def sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def safe_members(zf: zipfile.ZipFile, source: Path) -> list[zipfile.ZipInfo]:
    """The members to unpack; any absolute path, ``..`` component or link refuses the whole
    archive (zip-slip), before a single file is written."""
    out = []
    for info in zf.infolist():
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts or is_link:
            raise DataError(
                f"{source}: unsafe member {info.filename!r} (absolute path, '..' or link); "
                f"refusing the archive, nothing unpacked"
            )
        if not name.startswith(SKIPPED):
            out.append(info)
    return out


def unpack(zip_path: Path, dest: Path) -> None:
    """Unpack into a hidden sibling of `dest`, check the dataset's reader finds it, rename."""
    tmp = dest.with_name(f".{dest.name}.unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = safe_members(zf, zip_path)
            for info in members:
                zf.extract(info, tmp)
    except zipfile.BadZipFile as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{zip_path}: not a valid zip archive ({err})") from None
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreError(f"{tmp}: cannot unpack ({err.strerror or err})") from None
    except DataError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _check_layout(dest.name, tmp)
    except DataError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dest.exists():
        dest.rmdir()  # empty (checked before downloading)
    tmp.replace(dest)
    log.info("unpacked %d files of %s into %s", len(members), zip_path.name, dest)


def _check_layout(name: str, folder: Path) -> None:
    if name == "glas":
        from benchmarks.data.glas import open_glas

        source = open_glas(path=folder)
        if not source.pairs:
            raise DataError(f"{folder}: the archive holds no GlaS image/annotation pairs")


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"{path}: cannot create the folder ({err.strerror or err})") from None
