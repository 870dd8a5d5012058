"""Baking DFM's cookiecutter templates: ``dfm adapter new`` and ``dfm fed new``.

A template is found in the monorepo checkout around the current folder
(``templates/<kind>``), else in the copy the dfm-cli wheel ships
(``dfm/cli/templates/<kind>``, put there by ``hatch_build.py``). It is baked
into a scratch folder, then moved to its destination: ``--output-dir``, the
monorepo's folder for that kind, or the current folder. cookiecutter is an
optional dependency (``dfm-cli[templates]``), imported only here.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from dfm.kernel.errors import DfmError

F = TypeVar("F", bound=Callable[..., Any])

PACKAGED = Path(__file__).resolve().parent / "templates"  # in the wheel


def template_options(command: F) -> F:
    """The options every template command takes: --output-dir, --template, --no-input, --force."""
    for option in reversed(
        (
            click.option(
                "--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Where to create it."
            ),
            click.option(
                "--template", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Template."
            ),
            click.option(
                "--no-input", is_flag=True, help="Do not prompt; use defaults for what is not given."
            ),
            click.option("--force", is_flag=True, help="Replace an existing destination folder."),
        )
    ):
        command = option(command)
    return command


def find_template(kind: str, start: Path) -> Path | None:
    """``templates/<kind>`` of the first monorepo above ``start``, else the packaged one."""
    marker = Path("templates") / kind / "cookiecutter.json"
    for folder in (start, *start.parents):
        if (folder / marker).is_file():
            return folder / marker.parent
    if (PACKAGED / kind / "cookiecutter.json").is_file():
        return PACKAGED / kind
    return None


def monorepo_of(template: Path) -> Path | None:
    """The checkout a template belongs to (None for the packaged copy)."""
    root = template.parent.parent
    return root if (root / "packages").is_dir() and (root / "templates").is_dir() else None


def bake(
    kind: str,
    context: Mapping[str, Any],
    *,
    template: Path | None,
    no_input: bool,
    output_dir: Path | None,
    force: bool,
    in_monorepo: Callable[[Path, str], Path],
) -> tuple[Path, str]:
    """Bake template ``kind`` with ``context`` (answers given) and move it into place.

    Returns where it went and the name of the folder the template made (for an
    adapter, the distribution name).

    ``in_monorepo(root, baked_name)`` is the destination when run inside a
    checkout without ``output_dir``.
    """
    try:
        from cookiecutter.exceptions import CookiecutterException, FailedHookException
        from cookiecutter.main import cookiecutter
    except ImportError:
        command = "dfm adapter new" if kind == "adapter" else "dfm fed new"
        raise DfmError(f"'{command}' needs cookiecutter: pip install 'dfm-cli[templates]'") from None
    cwd = Path.cwd()
    template = template or find_template(kind, cwd)
    if template is None:
        raise DfmError(f"no {kind} template found; pass --template PATH (DFM's templates/{kind})")
    answers = {key: value for key, value in context.items() if value is not None}
    cc_log = logging.getLogger("cookiecutter")
    level = cc_log.level
    cc_log.setLevel(logging.CRITICAL)  # cookiecutter logs hook failures with a traceback; the hook said why
    with tempfile.TemporaryDirectory(prefix=f"dfm-{kind}-new-") as scratch:
        try:
            made = cookiecutter(str(template), no_input=no_input, extra_context=answers, output_dir=scratch)
            baked = Path(made)
        except FailedHookException:
            raise DfmError("the template refused these values (see the messages above)") from None
        except CookiecutterException as exc:
            raise DfmError(f"cannot create the {kind}: {exc}") from None
        finally:
            cc_log.setLevel(level)
        for cache in sorted(baked.rglob("__pycache__")):  # from a template pip byte-compiled
            shutil.rmtree(cache)
        root = monorepo_of(template)
        if output_dir is not None:
            target = output_dir / baked.name
        elif root is not None and cwd.resolve().is_relative_to(root.resolve()):
            target = in_monorepo(root, baked.name)
        else:
            target = cwd / baked.name
        if target.exists():
            if not force:
                raise DfmError(f"{target} already exists; pass --force to replace it")
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(baked), str(target))
    return target, baked.name
