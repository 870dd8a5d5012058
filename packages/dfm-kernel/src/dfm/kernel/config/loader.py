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
"""

from __future__ import annotations

import os
from pathlib import Path

from dfm.kernel.config.converter import converter
from dfm.kernel.config.errors_walk import structure_findings
from dfm.kernel.config.locations import Source, issue_at, problem_issue
from dfm.kernel.config.models import Federation
from dfm.kernel.config.refs import ConfigTooLarge, RefResolver
from dfm.kernel.config.validate import validate
from dfm.kernel.config.yamlmarks import YamlSyntaxError, parse_yaml
from dfm.kernel.errors import ConfigError, ConfigIssue


def load_config(path: str | os.PathLike[str]) -> Federation:
    """Load a federation config file; raise :class:`ConfigError` listing every problem.

    Issues name the file as given here; files pulled in through ``$ref`` are named
    relative to the same base (``configs/fed.dfm.yaml`` refers to ``schemas.yaml``:
    ``configs/schemas.yaml``).
    """
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(file, 0, 0, "", "config file not found")]) from None
    except UnicodeDecodeError:
        raise ConfigError(
            [ConfigIssue(file, 0, 0, "", "cannot read the config: it is not UTF-8 text")]
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(file, 0, 0, "", f"cannot read the config: {exc.strerror or exc}")]
        ) from None
    return load_config_text(text, file)


def load_config_text(text: str, file: str = "<string>") -> Federation:
    """Load a federation config from text; raise :class:`ConfigError` listing every problem.

    ``file`` names the text in issues, and relative ``$ref`` files are looked up beside it
    (in the current directory for the default ``"<string>"``).
    """
    federation, issues = _load(text, file)
    if federation is None or issues:
        raise ConfigError(issues)
    return federation


def _load(text: str, file: str) -> tuple[Federation | None, list[ConfigIssue]]:
    try:
        doc = parse_yaml(text)
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

    resolver = RefResolver(root)
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
