"""nox sessions: tests, lint, smoke (each in its own venv built from the repo's files)."""

import nox

nox.options.sessions = ["lint", "tests"]
INSTALL = ["-c", "constraints.txt", "-e", ".[dev]"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install(*INSTALL)
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def smoke(session: nox.Session) -> None:
    """The smoke profile end to end: train + predict LDSeg and the table2 sweep on tiny data."""
    session.install(*INSTALL)
    session.run(
        "bench",
        "train",
        "ldseg",
        "--dataset",
        "synth2d",
        "--profile",
        "smoke",
        "--out",
        ".bench/smoke-ldseg",
    )
    session.run("bench", "run", "table2", "--profile", "smoke")
