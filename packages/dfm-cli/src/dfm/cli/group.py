"""Lazy click groups fed by ``dfm_cli_commands`` records.

The command table is built once per CLI run: the process-wide plugin manager
(with dfm-cli's hookspec added), the valid command records by path, and
placeholders for what cannot be offered (a plugin that failed to load, two
plugins claiming one command). Listing commands and printing help use only
the records' names and summaries; a command's target is imported by
:meth:`DfmGroup.get_command`, i.e. only when that command runs or shows its
own help.
"""

from __future__ import annotations

import traceback
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from dfm.cli.providers import provider_of

if TYPE_CHECKING:
    from dfm.cli.helpcache import CachedListing
    from dfm.kernel.plugins import DfmPluginManager
    from dfm.kernel.records import CliCommandEntry

    CLI_REGISTRY: type[CliCommandEntry]  # made on first use by the module's __getattr__

__all__ = [
    "CLI_REGISTRY",
    "BrokenCommand",
    "CommandTable",
    "DfmGroup",
    "cli_manager",
    "command_table",
    "reset_command_table",
]

CLI_DISTRIBUTION = "dfm-cli"

# Plain classes, not attrs: this module is imported by ``dfm --help``, which must not
# import attrs, pluggy or the kernel's records when the cached listing is valid
# (see dfm.cli.helpcache).


def __getattr__(name: str) -> Any:
    if name == "CLI_REGISTRY":  # imports pluggy and the kernel's registries
        from dfm.cli import hookspecs

        return hookspecs.DFM_REGISTRIES[0]
    raise AttributeError(f"module 'dfm.cli.group' has no attribute '{name}'")


class Broken:
    """Why a command path cannot be offered."""

    __slots__ = ("detail", "message", "summary")

    def __init__(self, summary: str, message: str, detail: str | None = None) -> None:
        self.summary = summary  # one line for the help listing
        self.message = message  # printed when invoked
        self.detail = detail  # a traceback, shown with --verbose

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Broken):
            return NotImplemented
        return (self.summary, self.message, self.detail) == (other.summary, other.message, other.detail)

    def __hash__(self) -> int:
        return hash((self.summary, self.message, self.detail))

    def __repr__(self) -> str:
        return f"Broken(summary={self.summary!r}, message={self.message!r}, detail={self.detail!r})"


class CommandTable:
    """Every command record and placeholder, by command path (``"fed validate"``)."""

    def __init__(
        self,
        manager: DfmPluginManager,
        entries: dict[str, CliCommandEntry],
        broken: dict[str, Broken],
        notes: list[str],
    ) -> None:
        self.manager = manager
        self.entries = entries
        self.broken = broken
        self.notes = notes  # warnings for stderr

    def children(self, path: str) -> dict[str, CliCommandEntry]:
        """Records mounted directly in the group at ``path`` ("" is the root), by command name."""
        return {e.name: e for e in self.entries.values() if (e.parent or "") == path}

    def broken_children(self, path: str) -> dict[str, Broken]:
        """Placeholders directly in the group at ``path``, by command name."""
        out = {}
        for key, broken in self.broken.items():
            parent, _, name = key.rpartition(" ")
            if parent == path:
                out[name] = broken
        return out


def _ensure_cli_plugin(manager: DfmPluginManager) -> None:
    """Register dfm-cli's own commands when its entry point is not installed (a source checkout)."""
    if CLI_DISTRIBUTION in manager.infos:
        return
    from importlib.metadata import PackageNotFoundError, version

    from dfm.cli import plugin

    try:
        cli_version = version(CLI_DISTRIBUTION)
    except PackageNotFoundError:
        cli_version = "0"
    manager.register_plugin(
        plugin, distribution=CLI_DISTRIBUTION, version=cli_version, entry_point=plugin.__name__
    )


def _build_table() -> CommandTable:
    from dfm.cli import hookspecs
    from dfm.kernel.errors import PluginConflictError
    from dfm.kernel.plugins import DfmPluginWarning, get_plugin_manager
    from dfm.kernel.records import CliCommandEntry
    from dfm.kernel.suggest import did_you_mean

    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DfmPluginWarning)
        manager = get_plugin_manager()
        manager.add_specs(hookspecs)
        _ensure_cli_plugin(manager)
        collection = manager.gather(CliCommandEntry)
    for warning in caught:
        if issubclass(warning.category, DfmPluginWarning):
            if "failed to load" not in str(warning.message):  # those become placeholders below
                notes.append(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)

    broken: dict[str, Broken] = {}
    for key, records in collection.conflicts.items():
        sources = ", ".join(sorted(r.source for r in records))
        dists = ",".join(sorted({r.provenance.distribution for r in records if r.provenance}))
        broken[key] = Broken(
            summary=f"(unavailable) provided by more than one plugin: {sources}",
            message=(
                f"cli command 'dfm {key}' is provided by more than one plugin: {sources}. Uninstall one of "
                f"them, or disable one with DFM_DISABLE_PLUGINS (one of: {dists})."
            ),
        )
    for error in collection.errors:
        if not isinstance(error, PluginConflictError):
            notes.append(str(error))

    entries = dict(collection.entries)
    for info in manager.infos.values():
        if info.status == "failed" and info.plugin_name not in entries:
            broken[info.plugin_name] = Broken(
                summary=f"(failed to load) {info.error}", message=info.message, detail=info.traceback
            )

    roots = {key for key in entries if " " not in key}
    for key, entry in sorted(entries.items()):
        if entry.parent is None or entry.parent in entries:
            continue
        top = entry.parent.split(" ")[0]
        if top in roots and " " in entry.parent:
            continue  # mounted inside a subgroup defined by the plugin itself; checked when loaded
        hint = did_you_mean(entry.parent, (k for k in entries if k != key))
        notes.append(
            f"cli command '{entry.name}' from {entry.source} names parent '{entry.parent}', which no plugin "
            f"provides{' (' + hint + ')' if hint else ''}; it is not mounted"
        )
    return CommandTable(manager, entries, broken, notes)


_table: CommandTable | None = None


_help_only = False  # this run only prints the root help: a cached listing may stand in for the table


def command_table() -> CommandTable:
    """The command table of this CLI run (built on first use)."""
    from dfm.kernel.plugins import get_plugin_manager

    global _table
    if _table is None or _table.manager is not get_plugin_manager():
        _table = _build_table()
        for note in _table.notes:
            click.echo(f"warning: {note}", err=True)
    return _table


def reset_command_table(help_only: bool = False) -> None:
    """Forget the table (each CLI run starts with a fresh one).

    ``help_only``: this run only lists commands (``dfm --help``), so :func:`listing`
    may answer from the cache of :mod:`dfm.cli.helpcache`.
    """
    global _table, _help_only
    _table = None
    _help_only = help_only


def listing() -> CommandTable | CachedListing:
    """What help listings read: the cached listing in a help-only run when valid, else the table."""
    if _help_only and _table is None:
        from dfm.cli import helpcache

        cached = helpcache.load()
        if cached is not None:
            return cached
        table = command_table()
        helpcache.store(table)
        return table
    return command_table()


def _distribution(entry: Any) -> str:
    if hasattr(entry, "distribution"):  # helpcache.ListedCommand
        return str(entry.distribution)
    return entry.provenance.distribution if entry.provenance else ""


def cli_manager() -> DfmPluginManager:
    """The plugin manager of this CLI run, with the ``dfm_cli_commands`` spec and registry added."""
    return command_table().manager


def _verbose(ctx: click.Context | None) -> bool:
    return bool(ctx is not None and ctx.meta.get("dfm.verbose"))


class BrokenCommand(click.Command):
    """A placeholder that explains why a command is unavailable and exits 1."""

    def __init__(self, name: str, broken: Broken) -> None:
        super().__init__(
            name,
            help=broken.message,
            short_help=broken.summary,
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )
        self.broken = broken

    def invoke(self, ctx: click.Context) -> Any:
        """Print why the command is unavailable (with details under ``--verbose``) and exit with status 1."""
        if _verbose(ctx) and self.broken.detail:
            click.echo(self.broken.detail.rstrip(), err=True)
        click.echo(self.broken.message, err=True)
        ctx.exit(1)


class DfmGroup(click.Group):
    """A click group whose subcommands also come from ``dfm_cli_commands`` records.

    Records whose ``parent`` equals this group's command path (``"fed"``) are
    listed from their names and summaries and imported only in
    :meth:`get_command`. Commands added with ``@group.command`` work as usual.
    """

    def __init__(self, *args: Any, mount_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mount_path = mount_path

    def _path(self) -> str:
        if self.mount_path is not None:
            return self.mount_path
        return self.name or ""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The group's own commands plus those the plugins mount here (unavailable ones included), sorted."""
        table = listing()
        path = self._path()
        names = set(super().list_commands(ctx)) | set(table.children(path)) | set(table.broken_children(path))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The group's own command ``cmd_name``, else a plugin's (imported now), a stand-in for an
        unavailable one, or None.
        """
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        table = command_table()
        path = self._path()
        key = f"{path} {cmd_name}" if path else cmd_name
        if key in table.broken:
            return BrokenCommand(cmd_name, table.broken[key])
        entry = table.entries.get(key)
        if entry is None:
            return None
        return _load_command(entry, table)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Like click's, but an unknown command's error says which distribution provides it, or the
        nearest name.
        """
        name = args[0] if args else ""
        if (
            name
            and not name.startswith("-")
            and not ctx.resilient_parsing
            and ctx.token_normalize_func is None
            and self.get_command(ctx, name) is None
        ):
            raise click.UsageError(_missing(self._path(), name, self.list_commands(ctx)), ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands in sections: the group's own, those of each plugin, then the unavailable ones."""
        table = listing()
        path = self._path()
        sections: dict[str, list[tuple[str, str]]] = defaultdict(list)
        static = "Commands"
        for name in super().list_commands(ctx):
            command = self.commands[name]
            if not command.hidden:
                sections[static].append((name, command.get_short_help_str(limit=formatter.width)))
        order: dict[str, tuple[int, str]] = {static: (0, "")}
        for name, entry in table.children(path).items():
            if name in self.commands:
                continue
            dist = _distribution(entry)
            title = f"Commands from {entry.source}"
            order[title] = (1 if dist == CLI_DISTRIBUTION else 2, dist)
            sections[title].append((name, entry.summary))
        unavailable = "Unavailable (run 'dfm plugins list' for details)"
        order[unavailable] = (3, "")
        for name, broken in table.broken_children(path).items():
            sections[unavailable].append((name, broken.summary))
        for title in sorted(sections, key=lambda t: order[t]):
            rows = sorted(sections[title])
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _missing(path: str, name: str, known: list[str]) -> str:
    """Why ``dfm <path> <name>`` is not a command: the distribution to install, or the nearest name."""
    dist = provider_of(f"{path} {name}".strip())
    if dist is not None and provider_of(path) != dist:
        infos = command_table().manager.infos.values()
        info = next((i for i in infos if i.distribution == dist), None)
        where = f"No such command '{name}': '{name}' is provided by {dist}"
        if info is not None and info.status != "active":
            return f"{where}, installed but {info.status}. {info.message}"
        return f"{where}: pip install {dist}"
    from dfm.kernel.suggest import did_you_mean

    message = f"No such command '{name}'."
    hint = did_you_mean(name, known)
    if hint:
        message += f" {hint[0].upper()}{hint[1:]}"
    return message


def _load_command(entry: CliCommandEntry, table: CommandTable) -> click.Command:
    from dfm.kernel.errors import PluginError

    try:
        command = entry.load()
    except PluginError as exc:
        return BrokenCommand(entry.name, Broken(f"(unavailable) {exc}", str(exc), traceback.format_exc()))
    except Exception as exc:
        message = (
            f"cli command 'dfm {entry.key}' from {entry.source} failed to load: {type(exc).__name__}: {exc}"
        )
        return BrokenCommand(entry.name, Broken(f"(unavailable) {message}", message, traceback.format_exc()))
    if not isinstance(command, click.Command):
        message = (
            f"cli command 'dfm {entry.key}' from {entry.source}: {entry.target!r} is a "
            f"{type(command).__name__}, not a click command; please report this to the plugin's authors"
        )
        return BrokenCommand(entry.name, Broken(f"(unavailable) {message}", message))
    if isinstance(command, DfmGroup):
        command.mount_path = entry.key
    elif isinstance(command, click.Group):
        for name, child in table.children(entry.key).items():
            if name not in command.commands:
                command.add_command(_load_command(child, table), name)
    return command


def echo_rows(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain left-aligned table (no colours, stable for scripts and tests)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        line = "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo(line.rstrip())
