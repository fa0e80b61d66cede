"""A real browser on `bench ui` (Playwright for Python driving the system's Debian ``chromium``;
no browser is ever downloaded): on a store made by a tiny smoke sweep, the experiment's runs
table lists the child with its DSC, the child's page draws a training-loss curve with more than
one point, and the qualitative figure artifact renders. Screenshots go to the test's tmp dir
and, when ``LDSEG_TEST_ARTIFACTS`` is set, are copied there.

Skipped (with the reason) where ``chromium`` or ``playwright`` is missing: ``.ci/run`` installs
both (apt ``chromium``, the ``[ui-test]`` extra)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no system chromium (apt-get install chromium)"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="playwright is not installed (pip install -e '.[ui-test]')",
    ),
]
START_TIMEOUT_S = 120
LAUNCH = "import sys; from benchmarks.cli import main; sys.argv = ['bench', *sys.argv[1:]]; main()"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A smoke sweep of one tiny method on synth2d (30 steps), as `bench run` writes it."""
    from test_train_curves import CurveConfig, Curvy

    from benchmarks import experiments, methods
    from benchmarks.experiments import Experiment
    from benchmarks.runner import RunOptions, run_experiment

    root = tmp_path_factory.mktemp("uistore")
    mp = pytest.MonkeyPatch()
    methods.registry()
    mp.setitem(
        methods._REGISTRY,
        "curvy",
        methods.MethodSpec(
            "curvy", "test fake", (2,), False, CurveConfig, lambda cfg, info: Curvy(cfg)
        ),
    )
    mp.setitem(
        experiments.EXPERIMENTS,
        "uitest",
        Experiment("uitest", "accuracy", "ui test", "none", datasets=("synth2d",), dims=2),
    )
    try:
        res = run_experiment(
            "uitest",
            RunOptions(
                profile="smoke",
                out_root=str(root),
                tracking_uri=f"sqlite:///{root}/mlflow.db",
                methods=("curvy",),
                settings={"qualitative_cases": 1},
            ),
        )
    finally:
        mp.undo()
    assert res.ok, [r.error for r in res.results]
    return root, res


def _answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@pytest.fixture(scope="module")
def ui(store):
    from test_ui_lifecycle import free_port

    root, _ = store
    port = free_port()
    env = {**os.environ, "LDSEG_OUT": str(root)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answering(f"{base}/health"):
            assert proc.poll() is None and time.monotonic() < deadline, "bench ui did not start"
            time.sleep(0.5)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        yield page
        browser.close()


def shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("LDSEG_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


def test_runs_table_lists_the_child_with_its_dsc(store, ui, page, tmp_path):
    from benchmarks.cli_ui import runs_url
    from benchmarks.tracking import Tracker

    root, res = store
    child = res.results[0]
    dsc = Tracker(None, root).client.get_run(child.run_id).data.metrics["dsc"]
    page.goto(runs_url(ui, res.experiment_id))
    parent = page.locator("[role=gridcell]", has_text="uitest-smoke").first
    parent.wait_for(timeout=60_000)
    # the sweep's children are nested under it (MLflow keeps the expansion in the browser)
    parent.locator("button[data-component-id*='runnamecellrenderer']").click()
    name = page.locator("[role=gridcell]", has_text=child.child.run_name).first
    name.wait_for(timeout=30_000)
    row = name.locator("xpath=ancestor::*[@role='row'][1]").get_attribute("row-index")
    cell = page.locator(f"[role=row][row-index='{row}'] [col-id='metrics.`dsc`']").first
    cell.wait_for(timeout=30_000)
    assert float(cell.inner_text().strip()) == pytest.approx(dsc, abs=5e-3)
    shot(page, tmp_path, "runs-table")


def test_child_page_draws_a_loss_curve(store, ui, page, tmp_path):
    _, res = store
    run_id = res.results[0].run_id
    page.goto(
        f"{ui}/#/experiments/{res.experiment_id}/runs/{run_id}/model-metrics?workflowType=machine_learning"
    )
    page.get_by_text("train/loss").first.wait_for(timeout=60_000)
    # a line chart: plotly draws each trace as an SVG path; more than one point = an "L" segment
    paths = page.locator(".js-line, .scatterlayer .trace path")
    paths.first.wait_for(timeout=60_000)
    assert any("L" in (paths.nth(i).get_attribute("d") or "") for i in range(paths.count()))
    shot(page, tmp_path, "loss-curve")


def test_qualitative_figure_renders(store, ui, page, tmp_path):
    _, res = store
    run_id = res.results[0].run_id
    page.goto(
        f"{ui}/#/experiments/{res.experiment_id}/runs/{run_id}/artifacts/figures?workflowType=machine_learning"
    )
    page.get_by_text(".jpg").first.click(timeout=60_000)
    img = page.locator("img[alt='figures/qualitative.jpg']").first  # the artifact preview
    img.wait_for(timeout=60_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    assert img.evaluate("img => img.naturalWidth") > 100  # the figure itself, not an icon
    shot(page, tmp_path, "qualitative-figure")
