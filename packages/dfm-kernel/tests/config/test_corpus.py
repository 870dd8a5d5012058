"""Broken configs and the exact messages they produce.

Each ``corpus/NAME.dfm.yaml`` has a sibling ``NAME.expected``: one issue per line,
exactly as ``str(issue)`` prints it when the config is loaded from inside the
corpus folder. Other ``*.yaml`` files in the folder are ``$ref`` targets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dfm.kernel.config import load_config
from dfm.kernel.errors import ConfigError

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(path.name.removesuffix(".dfm.yaml") for path in CORPUS.glob("*.dfm.yaml"))


def test_the_corpus_is_complete() -> None:
    assert len(CASES) >= 45
    expected = sorted(path.stem for path in CORPUS.glob("*.expected"))
    assert expected == CASES, "every broken config needs its .expected file, and the other way round"


@pytest.mark.parametrize("name", CASES)
def test_broken_config_reports_exact_issues(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    expected = (CORPUS / f"{name}.expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as info:
        load_config(f"{name}.dfm.yaml")
    assert [str(issue) for issue in info.value.issues] == expected


def test_files_are_named_relative_to_the_path_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS.parent)
    with pytest.raises(ConfigError) as info:
        load_config(Path("corpus") / "ref-error-in-target.dfm.yaml")
    (issue,) = info.value.issues
    assert issue.file == str(Path("corpus") / "ref-error-in-target.providers.yaml")
    assert (issue.line, issue.column, issue.pointer) == (4, 3, "/team/interfce")
