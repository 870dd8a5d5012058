"""Load ``*.dfm.yaml`` files into :class:`~dfm.kernel.config.models.Federation`.

Four stages, each collecting every issue it finds:

1. YAML, with the start mark of every node (:mod:`.yamlmarks`); a syntax
   error stops here, duplicate keys do not;
2. ``$ref`` resolution (:mod:`.refs`);
3. structuring with the one converter; its errors are walked into issues
   (:mod:`.errors_walk`), the parts they fall in are left out and the rest is
   structured again, so that
4. the semantic checks (:mod:`.validate`) still run on everything else.

:func:`inspect_config` adds the adapter check and returns warnings too.

Whatever went wrong, the caller gets one :class:`~dfm.kernel.errors.ConfigError`
listing all issues, each with file, line, column and JSON pointer; never a
traceback.

Limits (:class:`~dfm.kernel.config.files.Limits`) hold while reading, not after:
every file (the config and each ``$ref`` target) must be a regular file of at
most ``max_bytes`` (10 MiB; all files together 32 MiB), YAML composition stops
past ``max_nodes`` nodes (200 000, aliases expanded) or ``max_depth`` levels
(100), and ``$ref`` reads only inside the federation directory (the folder of
the top-level config) and the folders in ``ref_allow``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from typing import Any

import attrs

from dfm.kernel.config import pointers
from dfm.kernel.config.converter import converter
from dfm.kernel.config.errors_walk import structure_findings
from dfm.kernel.config.files import Limits, read_config_text, size_text
from dfm.kernel.config.locations import Locator, Source, issue_at, problem_issue
from dfm.kernel.config.models import Federation
from dfm.kernel.config.refs import ConfigTooLarge, RefResolver
from dfm.kernel.config.sources import remember_source
from dfm.kernel.config.validate import Skipped, adapter_findings, validate
from dfm.kernel.config.yamlmarks import YamlSyntaxError, parse_yaml
from dfm.kernel.errors import ConfigError, ConfigIssue
from dfm.kernel.names import name_problem

StrPath = str | os.PathLike[str]


def load_config(
    path: StrPath,
    *,
    limits: Limits | None = None,
    ref_allow: Iterable[StrPath] = (),
    max_bytes: int | None = None,
) -> Federation:
    """Load a federation config file; raise :class:`ConfigError` listing every problem.

    Issues name the file as given here; files pulled in through ``$ref`` are named
    relative to the same base (``configs/fed.dfm.yaml`` refers to ``schemas.yaml``:
    ``configs/schemas.yaml``).

    ``$ref`` reads files inside the config's folder only; ``ref_allow`` adds folders
    (so does the ``DFM_CONFIG_REF_ALLOW`` environment variable, ``os.pathsep``-separated).
    ``max_bytes`` caps the size of each file (default 10 MiB, or ``DFM_CONFIG_MAX_BYTES``);
    ``limits`` sets every cap at once.

    Relative paths in the sites' config resolve against the file's folder; the
    result remembers it (:func:`~dfm.kernel.config.sources.config_source`).
    """
    caps = Limits.make(limits, ref_allow=ref_allow, max_bytes=max_bytes)
    file = os.fspath(path)
    return remember_source(_finish(*_load(read_config_text(file, caps), file, caps)), file)


def load_config_text(
    text: str,
    file: str = "<string>",
    *,
    limits: Limits | None = None,
    ref_allow: Iterable[StrPath] = (),
    max_bytes: int | None = None,
) -> Federation:
    """Load a federation config from text; raise :class:`ConfigError` listing every problem.

    ``file`` names the text in issues, and relative ``$ref`` files are looked up beside it
    (in the current directory for the default ``"<string>"``), which is the federation
    directory. The limits are those of :func:`load_config`.
    """
    caps = Limits.make(limits, ref_allow=ref_allow, max_bytes=max_bytes)
    size = len(text) if len(text) * 4 <= caps.max_bytes else len(text.encode("utf-8", "surrogatepass"))
    if size > caps.max_bytes:
        raise ConfigError([_too_large(file, size, caps)])
    return _finish(*_load(text, file, caps))


def _too_large(file: str, size: int, limits: Limits) -> ConfigIssue:
    message = (
        f"cannot read the config: it is {size_text(size)}, over the limit of {size_text(limits.max_bytes)}"
    )
    return ConfigIssue(file, 0, 0, "", message)


def _finish(federation: Federation | None, issues: list[ConfigIssue]) -> Federation:
    if federation is None or issues:
        raise ConfigError(issues)
    return federation


@attrs.frozen
class ConfigReport:
    """Everything :func:`inspect_config` found: ``federation`` is None when it could not be built."""

    federation: Federation | None
    issues: list[ConfigIssue]
    warnings: list[ConfigIssue]
    # what could be structured (bad parts left out), for checks that need a Federation
    partial: Federation | None = None


def inspect_config(
    path: StrPath,
    *,
    adapter_names: Collection[str] | None = None,
    limits: Limits | None = None,
    ref_allow: Iterable[StrPath] = (),
    max_bytes: int | None = None,
) -> ConfigReport:
    """Every problem of a config in one run: YAML, references, structure, semantics and,
    when ``adapter_names`` (the installed adapter registry names) is given, adapters.

    Never raises for bad input; a part of the config that cannot be structured is
    reported and left out, and the rest is still checked.
    """
    caps = Limits.make(limits, ref_allow=ref_allow, max_bytes=max_bytes)
    file = os.fspath(path)
    try:
        text = read_config_text(file, caps)
    except ConfigError as exc:
        return ConfigReport(None, list(exc.issues), [])
    federation, issues, locator = _load_located(text, file, caps)
    if federation is not None and adapter_names is not None and locator is not None:
        issues = _unique(
            [*issues, *(locator.issue(f) for f in adapter_findings(federation, adapter_names, file))]
        )
    warnings = list(federation.warnings) if federation is not None else []
    built = federation if not issues else None
    return ConfigReport(built, sorted(issues, key=_position), warnings, federation)


def _position(issue: ConfigIssue) -> tuple[str, int, int, str, str]:
    return (issue.file, issue.line, issue.column, issue.pointer, issue.message)


def _load(text: str, file: str, limits: Limits) -> tuple[Federation | None, list[ConfigIssue]]:
    federation, issues, _ = _load_located(text, file, limits)
    return federation, issues


def _load_located(
    text: str, file: str, limits: Limits
) -> tuple[Federation | None, list[ConfigIssue], Locator | None]:
    try:
        doc = parse_yaml(text, max_nodes=limits.max_nodes, max_depth=limits.max_depth)
    except YamlSyntaxError as exc:
        line, column = exc.mark or (0, 0)
        return None, [ConfigIssue(file, line, column, "", exc.message)], None
    except RecursionError:
        return None, [ConfigIssue(file, 0, 0, "", "the config is nested too deeply")], None
    root = Source(file, doc)
    issues = [problem_issue(root, problem) for problem in doc.problems]
    if doc.data is None:
        issues.append(
            ConfigIssue(
                file, 0, 0, "", "the config is empty: expected a mapping with dfm, info, operations and sites"
            )
        )
        return None, issues, None

    resolver = RefResolver(root, limits=limits, used_bytes=len(text))
    try:
        data = resolver.resolve()
    except (ConfigTooLarge, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ConfigTooLarge) else "the config nests references too deeply"
        issues = _unique([*issues, *resolver.issues, issue_at(resolver.locator.origin(""), reason)])
        return None, issues, None
    issues.extend(resolver.issues)

    locator = resolver.locator
    data = _strip_site_domains(data, locator)
    skip = Skipped()
    federation = None
    for _ in range(_MAX_PRUNES):
        try:
            federation = converter.structure(data, Federation)
            break
        except Exception as exc:  # every structuring error, whatever its kind, becomes issues
            findings = structure_findings(exc, data, Federation)
            # Content of a reference that could not be resolved is not the user's content.
            issues.extend(locator.issue(f) for f in findings if not _under_any(f.pointer, resolver.failed))
            # Leave out what cannot be structured, and check the rest.
            pruned = _prune(data, [f.pointer for f in findings], skip)
            if pruned is None:
                return None, _unique(issues), locator
            data = pruned
    if federation is None:
        return None, _unique(issues), locator
    # Not the user's content (a reference that failed), or already reported (a YAML problem below it).
    problems = [problem.pointer for problem in doc.problems]
    findings = [
        f
        for f in validate(federation, skip)
        if not _under_any(f.pointer, resolver.failed)
        and not any(_under_any(p, [f.pointer]) for p in problems)
    ]
    issues.extend(locator.issue(f) for f in findings if not f.warning)
    warnings = tuple(locator.issue(f) for f in findings if f.warning)
    federation = attrs.evolve(federation, warnings=warnings)
    return federation, _unique(issues), locator


_MAX_PRUNES = 64


def _prune(data: Any, bad: list[str], skip: Skipped) -> Any:
    """``data`` without the parts the pointers in ``bad`` fall in (None: nothing left to prune).

    The parts are replaced by what keeps references to them valid: a bad operation or
    site becomes an empty one (and is not checked further), a bad interface entry or
    provider is dropped, a bad top-level key is dropped or replaced by a placeholder.
    """
    if not isinstance(data, dict):
        return None
    out = dict(data)
    progressed = False
    for pointer in bad:
        tokens = pointers.split(pointer)
        if not tokens:
            for key, placeholder in (("dfm", "1.0.0"), ("info", _PLACEHOLDER_INFO)):
                if key not in out:
                    out[key] = placeholder
                    skip.top.add(key)
                    progressed = True
            continue
        top = _key_for(out, tokens[0])
        if top is _NO_KEY:
            continue
        if top == "operations" and len(tokens) >= 2 and isinstance(out[top], dict):
            ops = dict(out[top])
            name = _key_for(ops, tokens[1])
            if name is not _NO_KEY and ops[name] != {}:
                ops[name] = {}
                skip.operations.add(str(name))
                out[top] = ops
                progressed = True
        elif top == "sites" and len(tokens) >= 2 and isinstance(out[top], dict):
            sites = dict(out[top])
            name = _key_for(sites, tokens[1])
            if name is _NO_KEY:
                continue
            skip.sites.add(str(name))
            site = sites[name]
            if len(tokens) >= 3 and isinstance(site, dict):
                site = dict(site)
                key = _key_for(site, tokens[2])
                if key is _NO_KEY:
                    continue
                inner = site[key]
                if len(tokens) >= 4 and key in ("interface", "providers") and isinstance(inner, dict):
                    inner = dict(inner)
                    entry = _key_for(inner, tokens[3])
                    if entry is not _NO_KEY:
                        del inner[entry]
                    site[key] = inner
                else:
                    del site[key]
                sites[name] = site
            elif site != {}:
                sites[name] = {}
            else:
                continue
            out[top] = sites
            progressed = True
        elif top == "info":
            if out[top] != _PLACEHOLDER_INFO:
                out[top] = _PLACEHOLDER_INFO
                skip.top.add("info")
                progressed = True
        elif top == "dfm":
            if out[top] != "1.0.0":
                out[top] = "1.0.0"
                skip.top.add("dfm")
                progressed = True
        else:
            del out[top]
            skip.top.add(str(top))
            progressed = True
    return out if progressed else None


_PLACEHOLDER_INFO = {"api-version": "0.0.0", "code-package": "_"}
_NO_KEY = object()


def _key_for(mapping: dict[Any, Any], token: str) -> Any:
    if token in mapping:
        return token
    for key in mapping:
        if pointers.segment(key) == token:
            return key
    return _NO_KEY


def _strip_site_domains(data: Any, locator: Locator) -> Any:
    """Site names written ``name@domain`` (the reference's form) are known by ``name``."""
    if not isinstance(data, dict) or not isinstance(data.get("sites"), dict):
        return data
    sites = data["sites"]
    if not any(isinstance(k, str) and "@" in k for k in sites):
        return data
    renamed: dict[str, str] = {}
    out: dict[Any, Any] = {}
    for key, value in sites.items():
        short = key.partition("@")[0] if isinstance(key, str) else key
        if short != key and name_problem("site", key) is None and short not in sites and short not in out:
            renamed[key] = short
            out[short] = value
            _remount(locator, pointers.join("/sites", key), pointers.join("/sites", short))
        else:
            out[key] = value
    for spec in out.values():  # send_cost names destination sites too
        costs = spec.get("send_cost") if isinstance(spec, dict) else None
        if isinstance(costs, dict) and any(k in renamed for k in costs):
            spec["send_cost"] = {renamed.get(k, k): v for k, v in costs.items()}
    data = {**data, "sites": out}
    home = data.get("homesite")
    if isinstance(home, str) and home in renamed:
        data["homesite"] = renamed[home]
    return data


def _remount(locator: Locator, old: str, new: str) -> None:
    node, key = locator.origin(old), locator.origin(old, at_key=True)
    for table in (locator.subtrees, locator.nodes, locator.keys):
        for pointer in [p for p in table if p == old or p.startswith(old + "/")]:
            table[new + pointer[len(old) :]] = table[pointer]
    locator.subtrees.setdefault(new, node)
    locator.keys.setdefault(new, key)


def _under_any(pointer: str, roots: list[str]) -> bool:
    return any(pointer == root or pointer.startswith(root + "/") for root in roots)


def _unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))
