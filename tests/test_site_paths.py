"""Relative paths in a site's config resolve against the config file's folder, not the working directory.

The same federation (a files adapter root and a SQLite database, both relative)
runs from its own folder and from anywhere else, on the in-process and the
process targets, whether the session gets the path, a handle or the loaded config.
"""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.config import config_source, load_config, load_config_text
from dfm.runner import JobStatus, Session

CONFIG = """
dfm: 1.0.0
info: {api-version: 1.0.0, code-package: paths}
homesite: home
operations:
  lab.Read:
    parameters: {path: {type: string}}
    required: [path]
    returns: string
  lab.Count:
    returns: array
sites:
  home:
    interface:
      "#/operations/lab.Read":
        adapter: files.Read
        args:
          path: {from-param: path}
          root: {from-site: root}
      "#/operations/lab.Count":
        adapter: sql.Query
        args:
          query: {const: count}
          database: {from-site: database}
    config:
      root: data
      database: db/lab.sqlite
      queries:
        count: {sql: "SELECT COUNT(*) AS n FROM t"}
"""


@pytest.fixture
def federation(tmp_path):
    folder = tmp_path / "fed"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "note.txt").write_text("hello from the data folder")
    (folder / "db").mkdir()
    with sqlite3.connect(folder / "db" / "lab.sqlite") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    db.close()
    config = folder / "paths.dfm.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return config, elsewhere


def run(target, fed, transport):
    with Pipeline() as pipeline:
        Yield(fed.api.lab.Read(path=PlaceParam("path")), place="note")
        Yield(fed.api.lab.Count(), place="count")
    with Session(target, transport=transport) as session:
        job = session.execute(session.prepare(pipeline), {"path": "note.txt"})
        results = {r.place: r.value for r in job.results(timeout=60)}
    assert job.status is JobStatus.FINISHED, job.error if hasattr(job, "error") else job.status
    return results


@pytest.mark.parametrize("transport", ["inproc", "process"])
@pytest.mark.parametrize("given", ["path", "relative path", "handle", "config"])
def test_site_paths_resolve_against_the_config_folder(federation, monkeypatch, transport, given):
    config, elsewhere = federation
    monkeypatch.chdir(elsewhere)  # nothing of the federation is here
    fed = load_federation(config)
    target = {
        "path": str(config),
        "relative path": "../fed/paths.dfm.yaml",
        "handle": fed,
        "config": load_config("../fed/paths.dfm.yaml"),
    }[given]
    assert run(target, fed, transport) == {"note": "hello from the data folder", "count": [{"n": 2}]}


def test_loaded_configs_remember_their_file(federation, monkeypatch):
    config, elsewhere = federation
    monkeypatch.chdir(elsewhere)
    assert config_source(load_config("../fed/paths.dfm.yaml")) == config.resolve()
    assert config_source(load_config_text(config.read_text())) is None
