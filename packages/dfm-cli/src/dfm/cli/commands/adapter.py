"""``dfm adapter new``: start an adapter distribution from the cookiecutter template."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

from dfm.kernel.errors import DfmError

TEMPLATE_MARKER = Path("templates") / "adapter" / "cookiecutter.json"


PACKAGED_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "adapter"  # in the wheel


def find_template(start: Path) -> Path | None:
    """The first monorepo ``templates/adapter`` above ``start``, else the packaged one."""
    for folder in (start, *start.parents):
        if (folder / TEMPLATE_MARKER).is_file():
            return folder / TEMPLATE_MARKER.parent
    if (PACKAGED_TEMPLATE / "cookiecutter.json").is_file():
        return PACKAGED_TEMPLATE
    return None


def destination(baked_name: str, hyphenated: str, output_dir: Path | None, template: Path, cwd: Path) -> Path:
    """Where the baked project goes: --output-dir, the monorepo's packages/, or the current folder."""
    if output_dir is not None:
        return output_dir / baked_name
    monorepo = template.parent.parent
    if (monorepo / "packages").is_dir() and cwd.resolve().is_relative_to(monorepo.resolve()):
        # In the monorepo the folder is adapters-<name>; the distribution stays dfm-adapter-<name>.
        return monorepo / "packages" / f"adapters-{hyphenated}"
    return cwd / baked_name


@click.group("adapter")
def adapter() -> None:
    """Create adapter packages."""


@adapter.command("new")
@click.argument("name", required=False)
@click.option("--namespace", help="Namespace of the example operations (<namespace>.Hello).")
@click.option("--description", help="One-line description.")
@click.option("--author", help="Author name.")
@click.option("--email", help="Author email.")
@click.option("--license", "license_", type=click.Choice(["Apache-2.0", "MIT", "BSD-3-Clause"]))
@click.option("--async/--no-async", "include_async", default=None, help="Include an async adapter example.")
@click.option("--kernel-spec", help="dfm-kernel version range the package depends on.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Where to create it.")
@click.option("--template", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Template.")
@click.option("--no-input", is_flag=True, help="Do not prompt; use defaults for what is not given.")
@click.option("--force", is_flag=True, help="Replace an existing destination folder.")
def new(
    name: str | None,
    namespace: str | None,
    description: str | None,
    author: str | None,
    email: str | None,
    license_: str | None,
    include_async: bool | None,
    kernel_spec: str | None,
    output_dir: Path | None,
    template: Path | None,
    no_input: bool,
    force: bool,
) -> None:
    """Create the adapter distribution dfm-adapter-NAME (e.g. NAME "Weather GFS")."""
    try:
        from cookiecutter.exceptions import CookiecutterException, FailedHookException
        from cookiecutter.main import cookiecutter
    except ImportError:
        raise DfmError("'dfm adapter new' needs cookiecutter: pip install 'dfm-cli[templates]'") from None
    cwd = Path.cwd()
    template = template or find_template(cwd)
    if template is None:
        raise DfmError("no adapter template found; pass --template PATH (DFM's templates/adapter)")
    given: dict[str, Any] = {
        "adapter_name": name,
        "operation_namespace": namespace,
        "description": description,
        "author_name": author,
        "author_email": email,
        "license": license_,
        "dfm_kernel_spec": kernel_spec,
        "include_async_example": None if include_async is None else ("y" if include_async else "n"),
    }
    context = {key: value for key, value in given.items() if value is not None}
    cc_log = logging.getLogger("cookiecutter")
    level = cc_log.level
    cc_log.setLevel(logging.CRITICAL)  # cookiecutter logs hook failures with a traceback; the hook said why
    with tempfile.TemporaryDirectory(prefix="dfm-adapter-new-") as scratch:
        try:
            quiet = no_input or name is not None
            made = cookiecutter(str(template), no_input=quiet, extra_context=context, output_dir=scratch)
            baked = Path(made)
        except FailedHookException:
            raise DfmError("the template refused these values (see the messages above)") from None
        except CookiecutterException as exc:
            raise DfmError(f"cannot create the adapter package: {exc}") from None
        finally:
            cc_log.setLevel(level)
        hyphenated = baked.name.removeprefix("dfm-adapter-")
        target = destination(baked.name, hyphenated, output_dir, template, cwd)
        if target.exists():
            if not force:
                raise DfmError(f"{target} already exists; pass --force to replace it")
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(baked), str(target))
    click.echo(f"created {target} (distribution {baked.name})")
    click.echo(f"next: pip install -e {target} && pytest {target / 'tests'}")
