"""Reject names that would make a broken federation (runs before generation)."""

import json
import keyword
import re
import sys

# The answers, as JSON (jinja's tojson escapes quotes, so the raw string always stays closed).
CONTEXT = json.loads(r"""{{ cookiecutter|tojson }}""")
PACKAGE = CONTEXT["package"]
SITES = [site.strip() for site in CONTEXT["sites"].split(",")]
NAMESPACE = CONTEXT["operation_namespace"]
DESCRIPTION = CONTEXT["description"]


def problems():
    if not re.fullmatch(r"[a-z][a-z0-9_]*", PACKAGE) or keyword.iskeyword(PACKAGE):
        yield (
            f"package {PACKAGE!r} must be a lowercase Python name (letters, digits, '_'): "
            "it names the config file, the code-package and the local adapter package"
        )
    if PACKAGE in ("dfm", "test", "tests") or PACKAGE.startswith("dfm_"):
        yield f"package {PACKAGE!r} would shadow another module; name it after the federation"
    if not all(SITES):
        yield "sites must be names separated by commas, none empty"
    for site in SITES:
        if site and not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", site):
            yield f"site {site!r} must be lowercase letters and digits, words joined by '-'"
    if len(set(SITES)) != len(SITES):
        yield "site names must be unique"
    if not NAMESPACE.isidentifier() or keyword.iskeyword(NAMESPACE):
        yield f"operation namespace {NAMESPACE!r} must be a Python identifier"
    if "\n" in DESCRIPTION or not DESCRIPTION.strip():
        yield "description must be one non-empty line"


found = list(problems())
if found:
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    sys.exit(1)
