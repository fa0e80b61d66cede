"""`bench data download glas` (issue 14 item 8) against a fake Warwick archive served from a local
HTTP server on 127.0.0.1: checksum verified while streaming, refusal on a wrong or unknown
checksum (exit 2, one line, nothing unpacked), zip-slip members refused, and the unpacked layout
read by `bench data check glas --data-root DIR`."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.data import download
from benchmarks.errors import DataError

runner = CliRunner()
TOP = "Warwick QU Dataset (Released 2016_07_08)/"  # the release's folder inside the zip


def _bmp(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="BMP")
    return buf.getvalue()


def fake_release(path, extra=()):
    """A tiny zip in the Warwick naming: train_1, train_2, testA_1 (+ _anno with instance ids)."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for case in ("train_1", "train_2", "testA_1"):
            anno = np.zeros((12, 16), np.uint8)
            anno[2:5, 2:6], anno[7:10, 8:14] = 1, 2  # two glands
            zf.writestr(f"{TOP}{case}.bmp", _bmp(rng.integers(0, 255, (12, 16, 3), np.uint8)))
            zf.writestr(f"{TOP}{case}_anno.bmp", _bmp(anno))
        zf.writestr(
            f"{TOP}Grade.csv", "name,patient ID,GlaS,grade (Sirinukunwattana et al. 2015)\n"
        )
        zf.writestr(f"__MACOSX/{TOP}._train_1.bmp", b"resource fork")
        for name, data in extra:
            zf.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != "/cut.zip":
            return super().do_GET()
        self.send_response(200)  # promises 1,000 bytes, sends 10, hangs up
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"PK\x03\x04" + b"\0" * 6)
        self.close_connection = True


@pytest.fixture
def served(tmp_path):
    """(folder served, base URL): a ThreadingHTTPServer on 127.0.0.1, stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def _download(to, *args):
    return runner.invoke(app, ["data", "download", "glas", "--to", str(to), *args])


def test_download_verifies_unpacks_and_bench_data_check_reads_it(served, tmp_path):
    www, base = served
    digest = fake_release(www / "x.zip")
    to = tmp_path / "data"
    res = _download(to, "--url", f"{base}/x.zip", "--sha256", digest.upper())
    assert res.exit_code == 0, res.output
    assert (to / "glas" / TOP / "train_1_anno.bmp").is_file()
    assert not (to / "glas" / "__MACOSX").exists()
    assert sorted(p.name for p in to.iterdir()) == ["glas"]  # archive removed, no temp folder
    res = runner.invoke(app, ["data", "check", "glas", "--data-root", str(to)])
    assert res.exit_code == 0, res.output
    assert "3 cases - valid" in res.output and "Warwick" in res.output
    assert re.search(r"train\s*│\s*2", res.output) and re.search(r"test\s*│\s*1", res.output)
    # a second download into the same root is refused: nothing is overwritten
    res = _download(to, "--url", f"{base}/x.zip", "--sha256", digest)
    assert res.exit_code == 2 and "already exists" in res.stderr


def test_wrong_checksum_is_refused_and_nothing_unpacked(served, tmp_path):
    www, base = served
    digest = fake_release(www / "x.zip")
    wrong = "0" * 64
    res = _download(tmp_path / "d", "--url", f"{base}/x.zip", "--sha256", wrong)
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "SHA256 mismatch" in res.stderr
    assert digest in res.stderr and wrong in res.stderr
    assert list((tmp_path / "d").iterdir()) == []  # no archive, no .part, no glas/
    for bad in ("abc", "g" * 64):
        res = _download(tmp_path / "e", "--url", f"{base}/x.zip", "--sha256", bad)
        assert res.exit_code == 2 and "64 hexadecimal digits" in res.stderr


def test_unknown_checksum_refuses_then_reuses_the_kept_archive(served, tmp_path, monkeypatch):
    www, base = served
    digest = fake_release(www / "x.zip")
    assert download.GLAS_ARCHIVE_SHA256 is None  # never a made-up value (see download.py)
    to = tmp_path / "d"
    res = _download(to, "--url", f"{base}/x.zip")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert f"--sha256 {digest}" in res.stderr and not (to / "glas").exists()
    kept = to / download.ARCHIVES["glas"].filename
    assert kept.is_file()
    # rerun with the checksum: the kept archive is verified, not downloaded again (404 here)
    res = _download(to, "--url", f"{base}/gone.zip", "--sha256", digest, "--keep-archive")
    assert res.exit_code == 0, res.output
    assert kept.is_file() and (to / "glas" / TOP / "testA_1.bmp").is_file()
    # with the project's constant filled in, no --sha256 is needed
    monkeypatch.setitem(
        download.ARCHIVES, "glas", download.Archive("glas", f"{base}/x.zip", digest, "g.zip")
    )
    res = _download(tmp_path / "f")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "f" / "glas" / TOP / "train_2.bmp").is_file()


@pytest.mark.parametrize(
    "member",
    ["../evil.bmp", f"{TOP}../../evil.bmp", "/tmp/evil.bmp", "C:/evil.bmp", "a\\..\\..\\e"],
)
def test_zip_slip_members_refuse_the_archive(tmp_path, member):
    archive = tmp_path / "x.zip"
    fake_release(archive, extra=[(member, b"x")])
    dest = tmp_path / "root" / "glas"
    with pytest.raises(DataError, match="unsafe member"):
        download.unpack(archive, dest)
    assert not (tmp_path / "root").exists() and not (tmp_path / "evil.bmp").exists()


def test_zip_slip_through_the_cli_and_http_errors(served, tmp_path):
    www, base = served
    digest = fake_release(www / "x.zip", extra=[("../evil.bmp", b"x")])
    res = _download(tmp_path / "d", "--url", f"{base}/x.zip", "--sha256", digest)
    assert res.exit_code == 2 and "unsafe member '../evil.bmp'" in res.stderr
    assert not (tmp_path / "d" / "glas").exists() and not (tmp_path / "evil.bmp").exists()
    res = _download(tmp_path / "e", "--url", f"{base}/missing.zip", "--sha256", digest)
    assert res.exit_code == 2 and "HTTP 404" in res.stderr and res.stderr.count("\n") == 1
    res = _download(tmp_path / "c", "--url", f"{base}/cut.zip", "--sha256", digest)
    assert res.exit_code == 2 and "download" in res.stderr and res.stderr.count("\n") == 1
    assert list((tmp_path / "c").iterdir()) == []  # no .part left behind
    res = _download(tmp_path / "e", "--url", "file:///etc/passwd", "--sha256", digest)
    assert res.exit_code == 2 and "only http:// and https://" in res.stderr
    res = runner.invoke(app, ["data", "download", "knee3d", "--to", str(tmp_path)])
    assert res.exit_code == 2 and "downloadable: glas" in res.stderr
