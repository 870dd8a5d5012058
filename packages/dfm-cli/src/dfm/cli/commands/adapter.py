"""``dfm adapter new``: start an adapter distribution from the cookiecutter template."""

from __future__ import annotations

from pathlib import Path

import click

from dfm.cli.scaffold import bake, template_options


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
@template_options
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
    given = {
        "adapter_name": name,
        "operation_namespace": namespace,
        "description": description,
        "author_name": author,
        "author_email": email,
        "license": license_,
        "dfm_kernel_spec": kernel_spec,
        "include_async_example": None if include_async is None else ("y" if include_async else "n"),
    }
    target, distribution = bake(
        "adapter",
        given,
        template=template,
        no_input=no_input or name is not None,
        output_dir=output_dir,
        force=force,
        # in the monorepo the folder is adapters-<name>; the distribution stays dfm-adapter-<name>
        in_monorepo=lambda root, dist: root / "packages" / f"adapters-{dist.removeprefix('dfm-adapter-')}",
    )
    click.echo(f"created {target} (distribution {distribution})")
    click.echo(f"next: pip install -e {target} && pytest {target / 'tests'}")
