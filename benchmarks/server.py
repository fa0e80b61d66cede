"""A shared MLflow tracking server on PostgreSQL, for sweeps spread over several processes or
machines (``bench server``; the command is in ``benchmarks/cli_server.py``).

Layout (README "Running on a cluster"):

* **Backend store**: a PostgreSQL database (``postgresql://USER[:PASSWORD]@HOST:PORT/DB``),
  reached through psycopg2 (the ``[server]`` extra). The driver is named in the URI we hand to
  MLflow (``postgresql+psycopg2://``) because SQLAlchemy 2.1 maps a bare ``postgresql://`` to
  psycopg 3. MLflow creates and migrates the tables once, in the server process, before its
  workers start: clients never migrate a shared database.
* **Artifacts**: the server proxies them (``--serve-artifacts``) into ``--artifacts-destination``
  (default ``<LDSEG_OUT>/mlartifacts`` on the server's machine), so workers on other machines
  upload through HTTP and need no shared mount for artifacts. Training state (checkpoints, the
  job cache) lives in ``<LDSEG_OUT>/jobs`` on the path every node sees (``benchmarks.trained``).
* **Clients**: ``--tracking-uri http://HOST:PORT`` (or ``MLFLOW_TRACKING_URI``) on every command
  that logs; :func:`check_tracking_server` refuses one that does not answer, in one line.

The server binds 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.errors import ConfigError, StoreError

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
DRIVER_URI_SCHEME = "postgresql+psycopg2"
SERVER_EXTRA = 'pip install -e ".[server]"'
DEFAULT_PORT = 5000
HEALTH_TIMEOUT_S = 5.0


def backend_uri(uri: str) -> str:
    """The PostgreSQL URI as MLflow should get it (driver named); anything else is refused in
    one line saying what is expected."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in POSTGRES_SCHEMES or not rest:
        raise ConfigError(
            f"--backend-store-uri {mask(uri)!r}: expected a PostgreSQL URI "
            f"postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE"
        )
    return f"{DRIVER_URI_SCHEME}://{rest}"


def mask(uri: str) -> str:
    """``uri`` with its password (if any) replaced by ``***``, for messages and logs."""
    scheme, sep, rest = uri.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return uri
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def check_driver() -> None:
    """psycopg2 must be importable (one line naming the extra when it is not)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"the PostgreSQL driver psycopg2 is not installed; install the server extra: "
            f"{SERVER_EXTRA}"
        ) from None


def check_database(uri: str, timeout_s: int = 5) -> None:
    """Connect once (``SELECT 1``): a database that is down, missing or refuses us is one line
    naming it (StoreError), not MLflow's ten engine retries."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": timeout_s})
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as err:  # noqa: BLE001 - every failure is the same one-line refusal
        orig = getattr(err, "orig", None) or err
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        raise StoreError(f"{mask(uri)}: cannot connect to the backend store ({first})") from None
    finally:
        engine.dispose()


def server_command(
    uri: str,
    artifacts: str,
    host: str,
    port: int,
    workers: int,
    allowed_hosts: str | None = None,
) -> list[str]:
    """The ``mlflow server`` command line (``uri`` as :func:`backend_uri` returns it)."""
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if allowed_hosts:
        cmd += ["--allowed-hosts", allowed_hosts]
    return cmd


def artifacts_destination(value: str | None, out_root: Path | str | None = None) -> str:
    """``--artifacts-destination`` as a URI: a given URI as is, a path made absolute, the
    default ``<LDSEG_OUT>/mlartifacts``."""
    from benchmarks.settings import out_root as resolve_out_root
    from benchmarks.settings import require_writable

    if value and "://" in value:
        return value
    path = Path(value) if value else resolve_out_root(out_root) / "mlartifacts"
    require_writable(path, "artifacts destination")
    return path.expanduser().resolve().as_uri()


# -- clients -----------------------------------------------------------------------------------
def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def health(uri: str, timeout_s: float = HEALTH_TIMEOUT_S) -> str | None:
    """None when the tracking server at ``uri`` answers its health check, else why not."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - http(s) only
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return str(getattr(reason, "strerror", None) or reason)


def check_tracking_server(uri: str) -> None:
    """Refuse (StoreError, one line) a tracking server that does not answer, instead of MLflow
    retrying every request for minutes."""
    why = health(uri)
    if why is not None:
        raise StoreError(
            f"{uri}: the MLflow tracking server does not answer ({why}); start it with "
            f"`bench server` or check --tracking-uri"
        )


def wait_ready(uri: str, timeout_s: float, proc=None) -> None:
    """Wait until the server at ``uri`` answers (StoreError after ``timeout_s``, or at once when
    ``proc``, the server's process, has exited)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if health(uri, timeout_s=2.0) is None:
            return
        if proc is not None and proc.poll() is not None:
            raise StoreError(f"{uri}: the tracking server exited with code {proc.returncode}")
        time.sleep(0.3)
    raise StoreError(f"{uri}: the tracking server did not answer within {timeout_s:.0f} s")


def describe(uri: str, artifacts: str, url: str) -> str:
    """One JSON line saying what runs where (printed by ``bench server``)."""
    return json.dumps({"tracking_uri": url, "backend_store": mask(uri), "artifacts": artifacts})
