"""``dfm fed gen provision`` and ``dfm poc ...``: FLARE deployments from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from dfm.kernel.errors import DfmError


def _resolve(name: str) -> Path:
    from dfm.kernel.fedlist import resolve_federation

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
@click.option(  # layout.SCHEMES, spelled out: this module loads for 'dfm --help', before the models
    "--scheme",
    type=click.Choice(["tcp", "grpc", "http"]),
    default="tcp",
    show_default=True,
    help="FLARE's wire protocol, mTLS in every case (grpc or http for networks that pass only those).",
)
def provision(
    federation: str,
    out_dir: Path | None,
    clean: bool,
    port: int,
    host: str,
    storage: Path | None,
    scheme: str,
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
    from dfm.runner import Steps

    fed = load_config(config)
    out = out_dir or Path.cwd() / f"{fed.name}-flare"
    with Steps() as steps:
        steps(f"provisioning {len(fed.sites)} site kit(s) and the server's with FLARE (certificates, code)")
        state = run(config, out, port=port, host=host, clean=clean, storage=storage, scheme=scheme)
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
    """Start the server, one client per site and the DFM service job; return when every site is ready."""
    from dfm.runner import Steps

    deployment = _deployment(federation)
    stale = deployment.state.out_of_date()
    if stale:
        click.echo(f"warning: {stale}", err=True)
    with Steps() as steps:
        steps("starting the FLARE server and clients")
        state = deployment.start(timeout=timeout, progress=steps)
    click.echo(
        f"started {state.federation}: server, {len(state.sites)} client(s) and the DFM service on port "
        f"{state.port} (logs in {deployment.workspace / 'logs'})"
    )


@poc.command("stop")
@click.argument("federation")
def poc_stop(federation: str) -> None:
    """Shut the deployment down and leave none of its processes behind."""
    from dfm.runner import Steps

    deployment = _deployment(federation)
    with Steps() as steps:
        steps("stopping the FLARE server and clients")
        deployment.stop()
    left = deployment.leftover_pids()
    if left:
        raise DfmError(f"processes still alive after stop: {left}")
    click.echo(f"stopped {deployment.state.federation}")


@poc.command("status")
@click.argument("federation")
def poc_status(federation: str) -> None:
    """Show the deployment's processes and connected clients.

    Exits with 1 when it is not running or not every client is connected.
    """
    from dfm.flare.poc import _alive

    deployment = _deployment(federation)
    state = deployment.state
    click.echo(f"federation {state.federation}, port {state.port}, workspace {deployment.workspace}")
    if not state.pids:
        click.echo("not running")
        raise SystemExit(1)
    for name, pid in state.pids.items():
        click.echo(f"  {name:<24} pid {pid:<8} {'running' if _alive(pid) else 'gone'}")
    if not deployment.running():
        click.echo("not running (every process is gone)")
        raise SystemExit(1)
    connected = deployment.connected_clients()
    expected = set(state.sites.values())
    click.echo(f"connected clients: {', '.join(connected) or 'none'}")
    missing = sorted(expected - set(connected))
    if missing:
        click.echo(f"not connected: {', '.join(missing)}")
        raise SystemExit(1)
    click.echo(f"DFM service: {deployment.service_status()}")


@poc.command("clean")
@click.argument("federation")
def poc_clean(federation: str) -> None:
    """Stop the deployment if it runs and remove its workspace."""
    deployment = _deployment(federation)
    if deployment.workspace.exists():
        deployment.stop()
        shutil.rmtree(deployment.workspace)
    click.echo(f"removed {deployment.workspace}")


@click.group("deploy")
def deploy() -> None:
    """A federation's FLARE deployment, wherever it runs (other machines, other organisations)."""


@deploy.command("status")
@click.argument("federation")
@click.option(
    "--kit",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The deployment's admin startup kit.",
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A deployment folder (dfm-flare.json), as 'dfm fed gen provision --out' writes.",
)
@click.option("--poc", is_flag=True, help="The deployment 'dfm poc start' runs on this machine.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the server."
)
def deploy_status(
    federation: str, kit: Path | None, workspace: Path | None, poc: bool, as_json: bool, timeout: float
) -> None:
    """Which sites of FEDERATION are connected, the DFM versions their kits pin, their config digests.

    The deployment is the one --kit, --workspace or --poc names, else the one
    registered with 'dfm fed config set NAME ... --project-path DIR/project.yml'.
    A site whose config digest differs from this machine's config is marked.
    Exits with 1 unless every site is connected with the same config.
    """
    import json

    from dfm.flare.deploy import deployment_options, local_digest, status
    from dfm.kernel.config import load_config

    config = _resolve(federation)
    fed = load_config(config)
    project = None
    if not (kit or workspace or poc):
        from dfm.kernel.fedlist import read_fedlist

        if not Path(federation).is_file():
            project = (read_fedlist().get(federation) or {}).get("project_path")
    options = deployment_options(fed, kit=kit, workspace=workspace, poc=poc, project_path=project)
    server, rows = status(fed, options, timeout=timeout)
    mine = local_digest(config)
    missing = [r.site for r in rows if not r.connected]
    differing = [r.site for r in rows if r.connected and r.config_digest and r.config_digest != mine]
    if as_json:
        report = {
            "federation": fed.name,
            "server": server,
            "config_digest": mine,
            "sites": {
                r.site: {
                    "client": r.client,
                    "connected": r.connected,
                    "versions": r.versions,
                    "config_digest": r.config_digest or None,
                    **({"detail": r.detail} if r.detail else {}),
                }
                for r in rows
            },
        }
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"federation {fed.name}, server {server}, config {mine[:12]}")
        for r in rows:
            state = "connected" if r.connected else "NOT CONNECTED"
            versions = " ".join(f"{k}=={v}" for k, v in sorted(r.versions.items())) or "-"
            digest = r.config_digest[:12] if r.config_digest else "-"
            mark = "  (config differs)" if r.site in differing else ""
            detail = f"  {r.detail}" if r.detail else ""
            click.echo(f"  {r.site:<20} {state:<14} config {digest:<12} {versions}{mark}{detail}")
    if missing or differing:
        problems = []
        if missing:
            problems.append(f"not connected: {', '.join(missing)}")
        if differing:
            problems.append(f"config differs: {', '.join(differing)}")
        click.echo("; ".join(problems), err=True)
        raise SystemExit(1)
