"""Hook implementations of dfm-adapter-{{ cookiecutter.hyphenated }} (the ``dfm.plugins`` entry point).

Only records here: each target is an import string resolved when a site
actually uses the adapter, so listing plugins never imports adapters.py or
the libraries it needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel import AdapterEntry, hookimpl


@hookimpl
def dfm_adapters() -> Iterator[AdapterEntry]:
    yield AdapterEntry(
        "{{ cookiecutter.operation_namespace }}.Hello",
        "dfm_adapter_{{ cookiecutter.underscored }}.adapters:Hello",
        summary="Greets a person by name.",
    )
{%- if cookiecutter.include_async_example == "y" %}
    yield AdapterEntry(
        "{{ cookiecutter.operation_namespace }}.HelloLater",
        "dfm_adapter_{{ cookiecutter.underscored }}.async_adapters:HelloLater",
        summary="Greets a person after a delay, without blocking the site (async).",
    )
{%- endif %}


# A hook whose spec lives in an optional distribution must be marked optional, so that
# sites without that distribution (dfm-cli is not installed on a FLARE site) still load
# this plugin. For example, a `dfm fed {{ cookiecutter.hyphenated }}` command:
#
# @hookimpl(optionalhook=True)
# def dfm_cli_commands():
#     from dfm.kernel.records import CliCommandEntry
#
#     yield CliCommandEntry(
#         "{{ cookiecutter.hyphenated }}",
#         "dfm_adapter_{{ cookiecutter.underscored }}.cli:main",
#         summary="...",
#         parent="fed",
#     )
