"""Reject names that would make a broken or confusing adapter distribution (runs before generation)."""

import json
import keyword
import re
import sys

# The answers, as JSON (jinja's tojson escapes quotes, so the raw string always stays closed).
CONTEXT = json.loads(r"""{{ cookiecutter|tojson }}""")
ADAPTER_NAME = CONTEXT["adapter_name"]
DESCRIPTION = CONTEXT["description"]
AUTHOR_EMAIL = CONTEXT["author_email"]
HYPHENATED = CONTEXT["hyphenated"]
UNDERSCORED = CONTEXT["underscored"]
NAMESPACE = CONTEXT["operation_namespace"]
KERNEL_SPEC = CONTEXT["dfm_kernel_spec"]

SPECIFIER = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*[0-9][0-9A-Za-z.*+!-]*\s*$")


def problems():
    if not ADAPTER_NAME.strip():
        yield "adapter_name must not be empty"
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", HYPHENATED):
        yield (
            f"hyphenated name {HYPHENATED!r} must be lowercase letters and digits in words joined by '-', "
            "starting with a letter (it becomes the distribution name dfm-adapter-<hyphenated>)"
        )
    if HYPHENATED.startswith(("dfm", "adapter")):
        yield (
            f"name {HYPHENATED!r} starts with 'dfm' or 'adapter': name it after what it adapts "
            f"(the template adds the prefix itself, so this would give dfm-adapter-{HYPHENATED})"
        )
    if not re.fullmatch(r"[a-z][a-z0-9_]*", UNDERSCORED) or keyword.iskeyword(UNDERSCORED):
        yield f"underscored name {UNDERSCORED!r} is not a valid PEP 8 module name suffix"
    elif HYPHENATED.replace("-", "_") != UNDERSCORED:
        yield f"underscored name {UNDERSCORED!r} must be the hyphenated name with '_' for '-'"
    parts = NAMESPACE.split(".")
    if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        yield f"operation namespace {NAMESPACE!r} must be identifiers joined by dots"
    if "\n" in DESCRIPTION or not DESCRIPTION.strip():
        yield "description must be one non-empty line"
    if AUTHOR_EMAIL and not re.fullmatch(r"[^@\s]+@[^@\s]+", AUTHOR_EMAIL):
        yield f"author_email {AUTHOR_EMAIL!r} is not an email address"
    if not all(SPECIFIER.match(part) for part in KERNEL_SPEC.split(",")):
        yield f"dfm_kernel_spec {KERNEL_SPEC!r} is not a version range such as '>=0.1,<0.2'"


found = list(problems())
if found:
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    sys.exit(1)
