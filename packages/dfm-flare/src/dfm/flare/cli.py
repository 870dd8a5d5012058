"""``dfm fed gen provision`` and ``dfm poc ...``: FLARE deployments from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from dfm.kernel.errors import DfmError


def _resolve(name: str) -> Path:
    from dfm.kernel.fedregistry import resolve_federation

    return Path(resolve_federation(name)).resolve()


@click.command("provision")
@click.argument("federation")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Output folder [./NAME-flare]."
)
@click.option("--clean", is_flag=True, help="Remove the output folder first (else FLARE adds a new prod_NN).")
@click.option("--port", type=int, default=8002, show_default=True, help="The server's port (fed and admin).")
@click.option(
    "--host", default="localhost", show_default=True, help="The server's host name, as clients reach it."
)
@click.option(
    "--storage",
    type=click.Path(path_type=Path),
    default=None,
    help="The server's job store folder [FLARE's default, /tmp/nvflare].",
)
def provision(
    federation: str, out_dir: Path | None, clean: bool, port: int, host: str, storage: Path | None
) -> None:
    """Write FLARE's project.yml for FEDERATION and provision its mTLS startup kits.

    The server is the federation's controller; each site becomes a FLARE
    client whose kit carries, in local/custom/, the distributions it needs
    (requirements.txt), a site descriptor (dfm_site.json) and the federation
    config with its local adapter code. FEDERATION is a config path or a
    registered name.
    """
    from dfm.flare.provision import provision as run

    config = _resolve(federation)
    from dfm.kernel.config import load_config

    fed = load_config(config)
    out = out_dir or Path.cwd() / f"{fed.name}-flare"
    state = run(config, out, port=port, host=host, clean=clean, storage=storage)
    click.echo(f"project file: {out / 'project.yml'}")
    click.echo(f"startup kits: {state.prod_dir}")
    click.echo(f"  {state.server:<24} server (controller), port {state.port}")
    for site, client in state.sites.items():
        requirements = (
            (Path(state.prod_dir) / client / "local" / "custom" / "requirements.txt").read_text().split()
        )
        click.echo(f"  {client:<24} site {site}: {' '.join(requirements)}")
    click.echo(f"  {state.admin:<24} project admin")


@click.group("poc")
def poc() -> None:
    """Run a federation on FLARE on this machine (provisioned kits, loopback, mTLS).

    Deployments live in $DFM_FLARE_HOME/NAME (default ~/.dfm/flare/NAME);
    'dfm fed submit NAME --target flare --poc ...' uses the one started here.
    """


def _deployment(name: str):  # type: ignore[no-untyped-def]
    from dfm.flare.poc import Deployment

    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        from dfm.kernel.config import load_config

        name = load_config(_resolve(name)).name
    return Deployment.for_federation(name)


@poc.command("prepare")
@click.argument("federation")
@click.option("--port", type=int, default=None, help="The server's port [a free one].")
def poc_prepare(federation: str, port: int | None) -> None:
    """Provision FEDERATION's kits for a local deployment on a free loopback port."""
    from dfm.flare.poc import Deployment

    deployment = Deployment.prepare(_resolve(federation), None, port=port)
    state = deployment.state
    click.echo(f"prepared {state.federation} in {deployment.workspace} (port {state.port})")


@poc.command("start")
@click.argument("federation")
@click.option(
    "--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for all clients."
)
def poc_start(federation: str, timeout: float) -> None:
    """Start the server and one client per site; return when all clients are connected."""
    deployment = _deployment(federation)
    stale = deployment.state.out_of_date()
    if stale:
        click.echo(f"warning: {stale}", err=True)
    state = deployment.start(timeout=timeout)
    click.echo(
        f"started {state.federation}: server and {len(state.sites)} client(s) on port {state.port} "
        f"(logs in {deployment.workspace / 'logs'})"
    )


@poc.command("stop")
@click.argument("federation")
def poc_stop(federation: str) -> None:
    """Shut the deployment down and leave none of its processes behind."""
    deployment = _deployment(federation)
    deployment.stop()
    left = deployment.leftover_pids()
    if left:
        raise DfmError(f"processes still alive after stop: {left}")
    click.echo(f"stopped {deployment.state.federation}")


@poc.command("status")
@click.argument("federation")
def poc_status(federation: str) -> None:
    """Show the deployment's processes and connected clients."""
    from dfm.flare.poc import _alive

    deployment = _deployment(federation)
    state = deployment.state
    click.echo(f"federation {state.federation}, port {state.port}, workspace {deployment.workspace}")
    if not state.pids:
        click.echo("not running")
        return
    for name, pid in state.pids.items():
        click.echo(f"  {name:<24} pid {pid:<8} {'running' if _alive(pid) else 'gone'}")
    if deployment.running():
        connected = deployment.connected_clients()
        expected = set(state.sites.values())
        click.echo(f"connected clients: {', '.join(connected) or 'none'}")
        missing = sorted(expected - set(connected))
        if missing:
            click.echo(f"not connected: {', '.join(missing)}")


@poc.command("clean")
@click.argument("federation")
def poc_clean(federation: str) -> None:
    """Stop the deployment if it runs and remove its workspace."""
    deployment = _deployment(federation)
    if deployment.workspace.exists():
        deployment.stop()
        shutil.rmtree(deployment.workspace)
    click.echo(f"removed {deployment.workspace}")
