"""Load ``*.dfm.yaml`` files into :class:`~dfm.kernel.config.models.Federation`.

Four stages, each collecting every issue it finds:

1. YAML, with the start mark of every node (:mod:`.yamlmarks`); a syntax
   error stops here, duplicate keys do not;
2. ``$ref`` resolution (:mod:`.refs`);
3. structuring with the one converter; its errors are walked into issues
   (:mod:`.errors_walk`) and stop here;
4. semantic checks (:mod:`.validate`).

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
from collections.abc import Iterable

from dfm.kernel.config.converter import converter
from dfm.kernel.config.errors_walk import structure_findings
from dfm.kernel.config.files import Limits, read_config_text, size_text
from dfm.kernel.config.locations import Source, issue_at, problem_issue
from dfm.kernel.config.models import Federation
from dfm.kernel.config.refs import ConfigTooLarge, RefResolver
from dfm.kernel.config.sources import remember_source
from dfm.kernel.config.validate import validate
from dfm.kernel.config.yamlmarks import YamlSyntaxError, parse_yaml
from dfm.kernel.errors import ConfigError, ConfigIssue

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


def _load(text: str, file: str, limits: Limits) -> tuple[Federation | None, list[ConfigIssue]]:
    try:
        doc = parse_yaml(text, max_nodes=limits.max_nodes, max_depth=limits.max_depth)
    except YamlSyntaxError as exc:
        line, column = exc.mark or (0, 0)
        return None, [ConfigIssue(file, line, column, "", exc.message)]
    except RecursionError:
        return None, [ConfigIssue(file, 0, 0, "", "the config is nested too deeply")]
    root = Source(file, doc)
    issues = [problem_issue(root, problem) for problem in doc.problems]
    if doc.data is None:
        issues.append(
            ConfigIssue(
                file, 0, 0, "", "the config is empty: expected a mapping with dfm, info, operations and sites"
            )
        )
        return None, issues

    resolver = RefResolver(root, limits=limits, used_bytes=len(text))
    try:
        data = resolver.resolve()
    except (ConfigTooLarge, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ConfigTooLarge) else "the config nests references too deeply"
        return None, _unique([*issues, *resolver.issues, issue_at(resolver.locator.origin(""), reason)])
    issues.extend(resolver.issues)

    locator = resolver.locator
    try:
        federation = converter.structure(data, Federation)
    except Exception as exc:  # every structuring error, whatever its kind, becomes issues
        findings = structure_findings(exc, data, Federation)
        # Content of a reference that could not be resolved is not the user's content.
        issues.extend(locator.issue(f) for f in findings if not _under_any(f.pointer, resolver.failed))
        return None, _unique(issues)
    issues.extend(locator.issue(finding) for finding in validate(federation))
    return federation, _unique(issues)


def _under_any(pointer: str, roots: list[str]) -> bool:
    return any(pointer == root or pointer.startswith(root + "/") for root in roots)


def _unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))
