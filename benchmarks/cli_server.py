"""``bench server``: the shared MLflow tracking server on PostgreSQL (``benchmarks/server.py``),
registered by ``benchmarks/cli.py`` (wrapped in ``cli_errors``: a bad URI or a database that
does not answer is one line, exit 2).

Like ``bench ui`` the server runs in a process group of its own and SIGINT / SIGTERM / any exit
stop all of it (``benchmarks.cli_ui.serve``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from benchmarks.cli_common import console


def server_cmd(
    backend_store_uri: Annotated[
        str,
        typer.Option(
            envvar="LDSEG_BACKEND_STORE_URI",
            help="PostgreSQL backend store: postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE "
            "(or $LDSEG_BACKEND_STORE_URI); needs psycopg2: the server extra",
        ),
    ],
    artifacts_destination: Annotated[
        str | None,
        typer.Option(
            help="where the server stores the artifacts it proxies: a directory or URI "
            "(default <LDSEG_OUT>/mlartifacts on this machine)"
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="interface (127.0.0.1 = this machine only; 0.0.0.0 = all)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port (1..65535)")] = 5000,
    workers: Annotated[int, typer.Option(min=1, help="server worker processes")] = 2,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(help="Host headers MLflow accepts (default: localhost and private IPs)"),
    ] = None,
) -> None:
    """Start a shared MLflow tracking server on PostgreSQL (Ctrl+C or SIGTERM stops all of it).

    Point every sweep at it with --tracking-uri http://HOST:PORT.
    """
    from benchmarks.cli_ui import check_port, serve
    from benchmarks.server import (
        artifacts_destination as resolve_artifacts,
    )
    from benchmarks.server import (
        backend_uri,
        check_database,
        check_driver,
        describe,
        server_command,
    )

    uri = backend_uri(backend_store_uri)
    check_driver()
    check_port(host, port)
    artifacts = resolve_artifacts(artifacts_destination)
    check_database(uri)
    url = f"http://{host}:{port}"
    console.print(describe(uri, artifacts, url), markup=False, highlight=False, soft_wrap=True)
    console.print(f"bench run ... --tracking-uri {url}  (Ctrl+C to stop)", markup=False)
    rc = serve(server_command(uri, artifacts, host, port, workers, allowed_hosts))
    if rc:
        raise typer.Exit(rc)
