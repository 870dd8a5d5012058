"""Runtime support of generated packages: checking a site's adapters."""

from __future__ import annotations

from dfm.api.generated import check_adapters
from dfm.kernel.records import import_target


def test_import_target_accepts_both_import_forms():
    assert import_target("pkg.mod.Cls") == "pkg.mod:Cls"
    assert import_target("pkg.mod:Cls") == "pkg.mod:Cls"
    assert import_target("pkg.mod:Outer.Inner") == "pkg.mod:Outer.Inner"


def test_check_adapters_resolves_dotted_and_colon_paths_and_reports_every_problem():
    operations = {
        "a.Dotted": {"adapter": "collections.OrderedDict"},
        "a.Colon": {"adapter": "collections:OrderedDict"},
        "a.Missing": {"adapter": "no_such_module_xyz.Thing"},
        "a.NoAttr": {"adapter": "collections:NoSuchThing"},
    }
    problems = check_adapters(operations)
    assert [p.split(":")[0] for p in problems] == ["a.Missing", "a.NoAttr"]
    assert "ModuleNotFoundError" in problems[0]
    assert "AttributeError" in problems[1]
