"""The files a config is made of, and one digest over them.

A config may pull other files in through ``$ref``; provisioning copies them
all into each site's kit, and records :func:`config_digest` there, so that a
kit made from another version of the config can be told apart.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dfm.kernel.config.files import Limits, read_config_text
from dfm.kernel.config.locations import Source
from dfm.kernel.config.refs import ConfigTooLarge, RefResolver
from dfm.kernel.config.yamlmarks import YamlSyntaxError, parse_yaml
from dfm.kernel.errors import ConfigError, ConfigIssue

__all__ = ["config_digest", "config_files"]

StrPath = str | os.PathLike[str]


def config_files(path: StrPath, *, limits: Limits | None = None) -> list[Path]:
    """The config file and every file its ``$ref`` entries read, as paths relative to its folder.

    Files that cannot be read are not listed (loading the config reports them).
    Only files inside the config's folder are ever read, so every path is relative.
    """
    caps = limits or Limits.make(None)
    file = os.fspath(path)
    text = read_config_text(file, caps)
    base = Path(os.path.realpath(file)).parent
    if "$ref" not in text:  # nothing pulled in: no need to parse
        return [Path(os.path.realpath(file)).relative_to(base)]
    try:
        doc = parse_yaml(text, max_nodes=caps.max_nodes, max_depth=caps.max_depth)
    except YamlSyntaxError as exc:
        line, column = exc.mark or (0, 0)
        raise ConfigError([ConfigIssue(file, line, column, "", exc.message)]) from None
    found = [Path(os.path.realpath(file))]
    if doc.data is not None:
        resolver = RefResolver(Source(file, doc), limits=caps, used_bytes=len(text))
        try:
            resolver.resolve()
        except (ConfigTooLarge, RecursionError):
            pass
        found += [Path(p) for p in resolver.files()]
    out = {p.relative_to(base) for p in found if p.is_relative_to(base)}
    return sorted(out, key=lambda p: p.as_posix())


def config_digest(path: StrPath, *, limits: Limits | None = None) -> str:
    """``sha256:<hex>`` over the config and its ``$ref`` files (names relative to its folder, and bytes)."""
    base = Path(os.path.realpath(os.fspath(path))).parent
    digest = hashlib.sha256()
    for rel in config_files(path, limits=limits):
        data = (base / rel).read_bytes()
        digest.update(rel.as_posix().encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return "sha256:" + digest.hexdigest()
