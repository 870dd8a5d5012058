"""What the pictures show: names the user wrote, residency, site colours, a legend; Jupyter display."""

from __future__ import annotations

import gc
import re
import shutil
from pathlib import Path

import attrs
import pytest

from dfm.api import ForEach, Pipeline, Yield
from dfm.api.federation import FederationHandle
from dfm.compiler import compile_pipeline
from dfm.compiler.emitters import dot, text
from dfm.kernel.ir import display, serde
from dfm.kernel.ir.net import PreparedPipeline


@pytest.fixture
def api(synthfed):
    return FederationHandle(synthfed, Path("synthfed.dfm.yaml")).api


@pytest.fixture
def prepared(api, synthfed, manager):
    with Pipeline("study") as p:
        rows = api.records.Query(cohort="c")
        summary = api.stats.Summarize(data=rows)
        Yield(api.util.Echo(value=summary), place="echo")
        with ForEach(rows) as row:
            Yield(api.stats.Summarize(data=row), place="each", multiuse=True)
    return compile_pipeline(synthfed, p, manager=manager)


def node_line(dot_text: str, node: str) -> str:
    return next(line for line in dot_text.splitlines() if line.strip().startswith(f'"{node}" ['))


def test_nodes_are_labelled_with_the_variable_and_the_operation(prepared, synthfed):
    out = dot.emit(prepared, synthfed)

    assert 'label="summary\\nstats.Summarize"' in node_line(out, "n2")
    assert 'label="util.Echo"' in node_line(out, "n3")  # not assigned: the operation alone
    assert 'label="row\\nitem\\nstays at hospital"' in node_line(out, "n6")  # named by 'as row'
    assert 'tooltip="n2 (stats.Summarize) at hospital"' in node_line(out, "n2")  # the id, on hover


def test_resident_outputs_are_marked(prepared, synthfed):
    out = dot.emit(prepared, synthfed)

    rows = node_line(out, "n1")
    assert "peripheries=2" in rows
    assert 'label="rows\\nrecords.Query\\nstays at hospital"' in rows
    assert "peripheries=2" not in node_line(out, "n3")
    assert 'label="resident output: never leaves its site"' in out
    # without the federation the policy is unknown: no mark
    assert "peripheries=2" not in node_line(dot.emit(prepared), "n1")


def test_the_legend_explains_the_marks_used(prepared, synthfed):
    out = dot.emit(prepared, synthfed)
    legend = out[out.index('subgraph "cluster_legend"') :]

    assert 'label="data crossing sites (bytes, cost)"' in legend
    assert "color=firebrick, penwidth=2" in legend
    assert 'label="control (loop, branch)"' in legend
    assert 'label="Yield to the application"' in legend
    assert 'label="ForEach item"' in legend
    assert 'label="If"' not in legend  # no If in this pipeline


def test_a_site_has_one_colour_in_every_picture_of_its_federation(api, synthfed, manager, prepared):
    with Pipeline("other") as p:  # uses only two of the sites
        Yield(api.ml.Train(data=api.util.Echo(value=1), site="lab"), place="m")
    other = compile_pipeline(synthfed, p, manager=manager)

    def colours(out: str) -> dict[str, str]:
        pattern = r'subgraph "cluster_\d+_([\w-]+)" \{\n    label="[^"]*"; style=rounded; color="(#\w+)"'
        return dict(re.findall(pattern, out))

    first, second = colours(dot.emit(prepared, synthfed)), colours(dot.emit(other, synthfed))
    assert set(first) == {"home", "hospital"}
    assert set(second) == {"home", "lab"}
    assert first["home"] == second["home"]
    assert second["lab"] not in first.values()
    assert len(set(first.values())) == len(first)  # different sites, different colours
    assert dot.CROSSING not in dot.SITE_COLORS


def test_text_shows_names_and_residency(prepared, synthfed):
    lines = text.emit(prepared, synthfed).splitlines()

    assert lines[2].split() == ["node", "name", "kind", "operation", "site", "candidates"]
    assert lines[3].split() == ["n1", "rows", "call", "records.Query", "hospital", "hospital", "(resident)"]
    assert lines[5].split()[:2] == ["n3", "-"]


def test_labels_do_not_change_the_digest(api, synthfed, manager, prepared):
    with Pipeline("study") as p:  # the same program, other variable names
        a = api.records.Query(cohort="c")
        b = api.stats.Summarize(data=a)
        Yield(api.util.Echo(value=b), place="echo")
        with ForEach(a) as item:
            Yield(api.stats.Summarize(data=item), place="each", multiuse=True)
    renamed = compile_pipeline(synthfed, p, manager=manager)

    assert renamed.pipeline.labels != prepared.pipeline.labels
    assert renamed.digest == prepared.digest
    back = serde.from_data(serde.to_data(renamed), PreparedPipeline)
    assert back.pipeline.labels == {"n1": "a", "n2": "b", "n6": "item"}
    assert serde.digest(attrs.evolve(back, digest="")) == renamed.digest


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_jupyter_shows_svg_with_the_federations_details(prepared, manager, monkeypatch):
    monkeypatch.setattr("dfm.kernel.plugins.get_plugin_manager", lambda: manager)

    svg = prepared._repr_svg_()

    assert svg is not None and svg.lstrip().startswith("<?xml")
    assert "stays at hospital" in svg  # the compiler remembered the federation
    assert prepared._repr_html_() is None  # HTML would hide the SVG in Jupyter


def test_jupyter_without_graphviz_shows_the_table(prepared, manager, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)  # the svg emitter is not registered
    monkeypatch.setattr("dfm.kernel.plugins.get_plugin_manager", lambda: manager)

    assert prepared._repr_svg_() is None
    page = prepared._repr_html_()
    assert page is not None
    assert "<pre>pipeline &#x27;study&#x27; on federation synthfed" in page
    assert "Install Graphviz" in page


def test_jupyter_display_never_raises(prepared, monkeypatch):
    def broken():
        raise RuntimeError("no plugins today")

    monkeypatch.setattr("dfm.kernel.plugins.get_plugin_manager", broken)

    assert prepared._repr_svg_() is None
    assert "Install dfm-compiler" in (prepared._repr_html_() or "")


def test_the_remembered_federation_goes_with_the_prepared_pipeline(synthfed, prepared):
    copy = serde.from_data(serde.to_data(prepared), PreparedPipeline)
    display.remember_federation(copy, synthfed)
    key = id(copy)
    assert display.federation_of(copy) is synthfed

    del copy
    gc.collect()

    assert key not in display._federations
