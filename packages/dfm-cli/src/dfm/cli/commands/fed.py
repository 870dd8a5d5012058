"""``dfm fed``: validate federation configs and keep the list of named federations.

Other distributions mount more commands here with ``parent="fed"``
(``dfm fed submit`` from dfm-runner, ``dfm fed gen ...``).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dfm.cli.completion import complete_federation
from dfm.cli.group import DfmGroup, cli_manager, echo_rows
from dfm.cli.scaffold import bake, template_options
from dfm.kernel.errors import ConfigError, ConfigIssue, DfmError, PluginVersionError
from dfm.kernel.records import EmitterEntry

if TYPE_CHECKING:
    from dfm.kernel.config import Federation


@click.group("fed", cls=DfmGroup)
def fed() -> None:
    """Work with federations: validate configs, register them by name, and more from plugins."""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _adapter_checker() -> Any:
    """``dfm.kernel.config.validate.check_adapters`` when this kernel has it, else None."""
    try:
        module = importlib.import_module("dfm.kernel.config.validate")
    except ModuleNotFoundError as exc:
        if exc.name in ("dfm.kernel.config.validate", "dfm.kernel.config"):
            return None
        raise
    return getattr(module, "check_adapters", None)


@click.command("validate")
@click.argument("config_file", metavar="FILE", shell_complete=complete_federation)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the problems as a JSON list of {file, line, column, pointer, message, severity}.",
)
def validate(config_file: str, as_json: bool) -> None:
    """Check a federation config FILE (or the name of a registered federation).

    Prints every problem with its file, line, column and JSON pointer, and
    exits 1 if there is any: YAML, references, structure, meaning, adapter
    names (against the installed adapter plugins) and the config's plugin pins,
    all in one run. Warnings (forms the reference tolerates) do not fail.
    """
    from dfm.kernel.config.loader import inspect_config
    from dfm.kernel.fedlist import resolve_federation

    path = resolve_federation(config_file)
    report = inspect_config(path)
    issues: list[ConfigIssue] = list(report.issues)
    others: list[DfmError] = []
    federation = report.partial
    manager = cli_manager()
    check_adapters = _adapter_checker()
    if check_adapters is not None and federation is not None:
        known = set(manager.registry("adapters"))
        try:
            found = list(check_adapters(federation, known, str(path)) or [])
        except ConfigError as exc:
            found = list(exc.issues)
        issues.extend(item for item in found if isinstance(item, ConfigIssue) and item not in issues)
        rest = [item for item in found if not isinstance(item, ConfigIssue)]
        if rest:
            others.append(DfmError("\n".join(str(item) for item in rest)))
    pins = dict(federation.plugins) if federation is not None else {}
    if pins:
        try:
            manager.check_pins(pins)
        except PluginVersionError as exc:
            others.append(exc)
    if as_json:
        rows = [_issue_row(issue, "error") for issue in ConfigError(issues).issues]
        rows += [_issue_row(issue, "warning") for issue in report.warnings]
        rows += [
            {"file": str(path), "line": 0, "column": 0, "pointer": "", "message": str(e), "severity": "error"}
            for e in others
        ]
        click.echo(json.dumps(rows, indent=2))
        if issues or others:
            raise SystemExit(1)
        return
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    errors: list[DfmError] = ([ConfigError(issues)] if issues else []) + others
    if errors:
        raise errors[0] if len(errors) == 1 else DfmError("\n".join(str(e) for e in errors))
    assert federation is not None
    parts = [
        f"federation '{federation.name}'",
        _plural(len(federation.sites), "site"),
        _plural(len(federation.operations), "operation"),
    ]
    if pins:
        parts.append(f"{_plural(len(pins), 'plugin pin')} met")
    click.echo(f"OK {path}: " + ", ".join(parts))


def _issue_row(issue: ConfigIssue, severity: str) -> dict[str, Any]:
    message = issue.message + (f"; {issue.hint}" if issue.hint else "")
    return {
        "file": issue.file,
        "line": issue.line,
        "column": issue.column,
        "pointer": issue.pointer,
        "message": message,
        "severity": severity,
    }


@click.command("new")
@click.argument("name", required=False)
@click.option("--sites", help="Site names, comma-separated; the first is the homesite [hub,lab-a,lab-b].")
@click.option("--package", help="Python name of the config file, code-package and local adapters.")
@click.option("--description", help="One-line description.")
@click.option("--namespace", help="Namespace of the example operation (<namespace>.Greet).")
@template_options
def new(
    name: str | None,
    sites: str | None,
    package: str | None,
    description: str | None,
    namespace: str | None,
    output_dir: Path | None,
    template: Path | None,
    no_input: bool,
    force: bool,
) -> None:
    """Create a federation NAME (e.g. "Weather Mesh"): config, local adapters, demo and test."""
    given = {
        "federation_name": name,
        "package": package,
        "description": description,
        "sites": sites,
        "operation_namespace": namespace,
    }
    target, package_name = bake(
        "federation",
        given,
        template=template,
        no_input=no_input or name is not None,
        output_dir=output_dir,
        force=force,
        in_monorepo=lambda root, baked: root / "federations" / baked,
    )
    config = target / f"{package_name}.dfm.yaml"
    click.echo(f"created {target}")
    click.echo(f"next: dfm fed validate {config} && python {target / 'demo.py'}")


def federation_emitters() -> dict[str, EmitterEntry]:
    """Emitters that take a federation, by their ``dfm fed gen`` subcommand name."""
    registry = cli_manager().registry("emitters")
    out: dict[str, EmitterEntry] = {}
    for entry in registry.values():
        if isinstance(entry, EmitterEntry) and entry.takes == "federation":
            out[entry.command_name] = entry
    return dict(sorted(out.items()))


class GenGroup(DfmGroup):
    """``dfm fed gen``: one subcommand per federation emitter of the ``dfm_emitters`` registry.

    Each emitter becomes ``dfm fed gen <kind> NAME [--output-dir DIR] [its options]``;
    commands that plugins mount here through ``dfm_cli_commands`` (``provision``)
    are listed too and win over an emitter of the same name.
    """

    def _emitters(self) -> dict[str, EmitterEntry]:
        try:
            return federation_emitters()
        except DfmError as exc:
            click.echo(f"warning: {exc}", err=True)
            return {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The group's own commands plus every installed federation emitter, sorted."""
        return sorted(set(super().list_commands(ctx)) | set(self._emitters()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The group's own command ``cmd_name``, else the command of the federation emitter so named, else
        None.
        """
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self._emitters().get(cmd_name)
        return emitter_command(entry) if entry is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the group's own commands, then the other emitters in one section per plugin."""
        super().format_commands(ctx, formatter)
        taken = set(super().list_commands(ctx))
        by_source: dict[str, list[tuple[str, str]]] = {}
        for name, entry in self._emitters().items():
            if name not in taken:
                by_source.setdefault(entry.source, []).append((name, entry.summary))
        for source, rows in sorted(by_source.items()):
            with formatter.section(f"Emitters from {source}"):
                formatter.write_dl(rows)


def emitter_command(entry: EmitterEntry) -> click.Command:
    """The ``dfm fed gen`` command of a federation emitter: its options come from its record."""

    def run(federation: str, output_dir: Path | None, **options: Any) -> None:
        from dfm.kernel.config import load_config
        from dfm.kernel.fedlist import resolve_federation

        path = Path(resolve_federation(federation)).resolve()
        config = load_config(path)
        emit = entry.load()
        written = emit(config, config_path=path, output_dir=output_dir, **options)
        files = sorted(Path(f) for f in written or [])
        root = _common_root(files)
        click.echo(
            f"{entry.command_name}: wrote {_plural(len(files), 'file')}" + (f" under {root}" if root else "")
        )

    params: list[click.Parameter] = [
        click.Argument(["federation"], metavar="NAME", shell_complete=complete_federation),
        click.Option(
            ["--output-dir", "output_dir"],
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where to write [the emitter's default, named above].",
        ),
    ]
    for option in entry.options:
        params.append(
            click.Option(
                [option.name, option.keyword],
                is_flag=option.flag,
                multiple=option.multiple,
                metavar=option.metavar,
                help=option.help,
            )
        )
    help_text = f"{entry.summary}.\n\nNAME is a federation config file or a registered name. Emitter " + (
        f"'{entry.name}' from {entry.source}" + (f"; writes {entry.writes}." if entry.writes else ".")
    )
    return click.Command(
        entry.command_name, callback=run, params=params, help=help_text, short_help=entry.summary
    )


def _common_root(files: list[Path]) -> Path | None:
    if not files:
        return None
    import os

    try:
        return Path(os.path.commonpath([str(f.parent) for f in files]))
    except ValueError:
        return None


@click.group("gen", cls=GenGroup)
def gen() -> None:
    """Generate code and deployment artifacts for a federation.

    Each kind is an emitter of the dfm_emitters registry ('code' is the
    python-api emitter); plugins add more, and dfm-flare adds 'provision'
    (FLARE's project.yml and startup kits).
    """


@click.group("config", cls=DfmGroup)
def config() -> None:
    """Your list of named federations (in $DFM_CONFIG_HOME, else the XDG config folder)."""


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_all(as_json: bool) -> None:
    """List registered federations and their config files ('list-all' is the same command)."""
    from dfm.kernel.fedlist import fedlist_path, list_federations

    federations = list_federations()
    if as_json:
        click.echo(json.dumps({name: str(path) for name, path in federations.items()}, indent=2))
        return
    if not federations:
        click.echo(
            f"no federations registered in {fedlist_path()}; add one with 'dfm fed config set NAME PATH'"
        )
        return
    rows = [
        [name, str(path) + ("" if path.is_file() else "  (missing)")] for name, path in federations.items()
    ]
    echo_rows(["NAME", "CONFIG"], rows)


config.add_command(  # NVIDIA DFM's name for 'list'
    click.Command(
        "list-all",
        callback=list_all.callback,
        params=list_all.params,
        help="Same as 'list' (NVIDIA DFM's name).",
    ),
)


@config.command("set")
@click.argument("name")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--federation-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The federation's directory (its workspace); relative paths below are looked up in it first.",
)
@click.option(
    "--config-path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The config file (instead of PATH).",
)
@click.option(
    "--project-path", type=click.Path(dir_okay=False, path_type=Path), help="The FLARE project file."
)
def set_federation(
    name: str,
    path: Path | None,
    federation_dir: Path | None,
    config_path: Path | None,
    project_path: Path | None,
) -> None:
    """Register the federation config at PATH under NAME (replacing an earlier one).

    \b
    dfm fed config set examplefed federations/examplefed/examplefed.dfm.yaml
    dfm fed config set weather_fed --federation-dir weather_fed \\
        --config-path configs/federation.dfm.yaml --project-path configs/project.yaml
    """
    from dfm.kernel.fedlist import register_federation

    if path is not None and config_path is not None:
        raise click.UsageError("give the config file as PATH or as --config-path, not both")
    config_file = path if path is not None else config_path
    if config_file is None:
        raise click.UsageError("missing the config file: give PATH or --config-path FILE")
    stored, previous = register_federation(
        name, config_file, federation_dir=federation_dir, project_path=project_path
    )
    if previous is not None and previous != stored:
        click.echo(f"{name}: {stored} (was {previous})")
    else:
        click.echo(f"{name}: {stored}")


def _describe(federation: Federation) -> list[str]:
    lines = []
    if federation.info.description:
        lines.append(f"  description: {federation.info.description}")
    lines.append(f"  api version: {federation.info.api_version}")
    operations = sorted(federation.operations)
    lines.append(f"  operations ({len(operations)}): {', '.join(operations) or '-'}")
    home = federation.home() if federation.sites else None
    lines.append(f"  sites ({len(federation.sites)}):")
    for site in federation.sites:
        offered = [
            f"{op} [{provider}]" if provider else op
            for op, (provider, _entry) in sorted(federation.offers(site).items())
        ]
        label = f"{site} (homesite)" if site == home else site
        lines.append(f"    {label}: {', '.join(offered) or '-'}")
    if federation.plugins:
        pins = ", ".join(f"{dist} {spec}" for dist, spec in sorted(federation.plugins.items()))
        lines.append(f"  plugin pins: {pins}")
    return lines


def _summary(federation: Federation) -> dict[str, Any]:
    home = federation.home() if federation.sites else None
    return {
        "description": federation.info.description,
        "api_version": federation.info.api_version,
        "operations": sorted(federation.operations),
        "homesite": home,
        "sites": {
            site: {
                "operations": sorted(federation.offers(site)),
                "providers": sorted({p for p, _e in federation.offers(site).values() if p}),
            }
            for site in federation.sites
        },
        "plugins": dict(sorted(federation.plugins.items())),
    }


@config.command("show")
@click.argument("name", shell_complete=complete_federation)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def show(name: str, as_json: bool) -> None:
    """Show where federation NAME is registered and what it contains."""
    from dfm.kernel.config import load_config
    from dfm.kernel.fedlist import federation_entry

    entry = federation_entry(name)
    path = entry["path"]
    if as_json:
        if not path.is_file():
            raise DfmError(f"{path}: no such file (fix it with 'dfm fed config set {name} PATH')")
        extra = {k: str(entry[k]) for k in ("federation_dir", "project_path") if k in entry}
        summary = _summary(load_config(path))
        click.echo(json.dumps({"name": name, "config": str(path), **extra, **summary}, indent=2))
        return
    click.echo(f"{name}: {path}")
    for key, label in (("federation_dir", "federation dir"), ("project_path", "project file")):
        if key in entry:
            click.echo(f"  {label}: {entry[key]}")
    if not path.is_file():
        raise DfmError(f"{path}: no such file (fix it with 'dfm fed config set {name} PATH')")
    for line in _describe(load_config(path)):
        click.echo(line)


@config.command("delete")
@click.argument("name", shell_complete=complete_federation)
def delete(name: str) -> None:
    """Remove federation NAME from the list (the config file itself is kept)."""
    from dfm.kernel.fedlist import unregister_federation

    path = unregister_federation(name)
    click.echo(f"removed {name} ({path})")
