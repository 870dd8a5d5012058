"""Build DFM's distributions into one flat wheelhouse and describe what installing from it needs.

Used by the ``build`` nox session (``python3 dev/nox.py -s build`` writes ``dist/``)
and by ``tests/test_first_hour.py``; standard library only, so it runs in nox's own
environment and in any test environment.

A wheelhouse holds every distribution's sdist and wheel side by side, so one
``--find-links`` names it. DFM's distributions are not on a package index yet:
installing them with ``--no-index --find-links dist`` takes them from the wheelhouse
only (a same-named distribution on an index can never win), which needs their
third-party dependencies installed first, from the index as usual. Those are
listed, per install set, in ``requirements-<set>.txt`` next to the wheels::

    pip install -r dist/requirements-all.txt
    pip install --no-index --find-links dist 'dfm-cli[all]'
"""

from __future__ import annotations

import email.message
import email.parser
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "INSTALL_SETS",
    "build",
    "build_wheelhouse",
    "check",
    "normalize",
    "stem",
    "third_party",
    "write_requirements",
]

# requirements-<set>.txt: the third-party dependencies of each install set the README documents
INSTALL_SETS = {"all": "dfm-cli[all]", "flare": "dfm-cli[flare]"}

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)$")
_EXTRA = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")
_EXTRA_CLAUSE = re.compile(r"""\s*(?:\band\s+)?\bextra\s*==\s*['"][^'"]+['"](?:\s+and\b)?\s*""")

Run = Callable[[list[str]], object]


def normalize(name: str) -> str:
    """A distribution name in its canonical form (PEP 503): ``dfm_Kernel`` -> ``dfm-kernel``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def stem(name: str) -> str:
    """The file-name prefix of a distribution's wheel and sdist: ``dfm-kernel`` -> ``dfm_kernel``."""
    return normalize(name).replace("-", "_")


def _clear(outdir: Path, names: Iterable[str]) -> None:
    """Remove earlier builds of ``names`` (any version), and the per-distribution folders of old."""
    for name in names:
        for old in (*outdir.glob(f"{stem(name)}-*.whl"), *outdir.glob(f"{stem(name)}-*.tar.gz")):
            old.unlink()
        if (outdir / name).is_dir():
            shutil.rmtree(outdir / name)


def build(
    sources: Mapping[str, Path], outdir: Path, run: Run, *, uv: str | None = None, python: str | None = None
) -> list[Path]:
    """Build each distribution's sdist, then its wheel from that sdist, into ``outdir`` (flat).

    ``sources`` maps distribution names to project folders. With ``uv`` the builds use
    ``uv build``; otherwise ``python -m build`` (the ``build`` package must be installed).
    Returns the wheels, after :func:`check`.
    """
    if uv is None and python is None:
        raise ValueError("build() needs uv or a python with the 'build' package")
    outdir.mkdir(parents=True, exist_ok=True)
    _clear(outdir, sources)
    for source in sources.values():
        if uv is not None:
            run([uv, "build", "--quiet", "--out-dir", str(outdir), str(source)])
        else:
            run([str(python), "-m", "build", "--outdir", str(outdir), str(source)])
    return check(outdir, sources)


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        return email.parser.Parser().parsestr(zf.read(name).decode())


def check(outdir: Path, names: Iterable[str]) -> list[Path]:
    """One wheel and one sdist per distribution, named as its metadata says; no ``dfm/__init__.py``."""
    wheels = []
    problems = []
    for name in names:
        found = sorted(outdir.glob(f"{stem(name)}-*.whl"))
        sdists = sorted(outdir.glob(f"{stem(name)}-*.tar.gz"))
        if len(found) != 1 or len(sdists) != 1:
            problems.append(
                f"{name}: expected one wheel and one sdist in {outdir}, found {len(found)} and {len(sdists)}"
            )
            continue
        wheel = found[0]
        metadata = _metadata(wheel)
        if normalize(metadata["Name"]) != normalize(name):
            problems.append(f"{wheel.name}: its metadata names {metadata['Name']!r}, not {name!r}")
        with zipfile.ZipFile(wheel) as zf:
            if "dfm/__init__.py" in zf.namelist():
                problems.append(f"{wheel.name} contains dfm/__init__.py; dfm must stay a namespace package")
        wheels.append(wheel)
    if problems:
        raise RuntimeError("\n".join(problems))
    return wheels


def _split(requirement: str) -> tuple[str, set[str], str, str]:
    """``name[extras] spec; marker`` -> (normalized name, extras, spec, marker)."""
    text, _, marker = requirement.partition(";")
    match = _NAME.match(text)
    if match is None:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    extras = {normalize(e) for e in (match[2] or "").split(",") if e.strip()}
    return normalize(match[1]), extras, match[3].strip(), marker.strip()


def third_party(outdir: Path, install: str) -> list[str]:
    """The third-party requirements of installing ``install`` (``dfm-cli[all]``) from the wheelhouse.

    Follows the wheels' ``Requires-Dist`` through every distribution of the wheelhouse
    (and the extras asked for); what is not in the wheelhouse is third-party. Environment
    markers are kept (``; python_version < '3.12'``), ``extra`` clauses are resolved here.
    Raises ``LookupError`` naming a wanted distribution that is not in the wheelhouse.
    """
    ours = {normalize(_metadata(w)["Name"]): w for w in outdir.glob("*.whl")}
    wanted: dict[str, set[str]] = {}
    found: set[str] = set()
    todo = [install]
    while todo:
        name, extras, _spec, _marker = _split(todo.pop())
        if name not in ours:
            raise LookupError(f"{name} is not in the wheelhouse {outdir}")
        done = wanted.get(name)
        if done is not None and extras <= done:
            continue
        wanted[name] = (done or set()) | extras
        for requirement in _metadata(ours[name]).get_all("Requires-Dist") or []:
            dep, dep_extras, spec, marker = _split(requirement)
            needs = {normalize(e) for e in _EXTRA.findall(marker)}
            if needs and not needs & wanted[name]:
                continue
            marker = _EXTRA_CLAUSE.sub(" ", marker).strip()
            if dep in ours:
                todo.append(f"{dep}[{','.join(sorted(dep_extras))}]")
                continue
            shown = dep + (f"[{','.join(sorted(dep_extras))}]" if dep_extras else "") + spec
            found.add(f"{shown}; {marker}" if marker else shown)
    return sorted(found)


def write_requirements(outdir: Path, sets: Mapping[str, str] = INSTALL_SETS) -> dict[str, Path]:
    """Write ``requirements-<set>.txt`` for each install set whose distributions are all built."""
    written = {}
    for key, install in sets.items():
        target = outdir / f"requirements-{key}.txt"
        try:
            lines = third_party(outdir, install)
        except LookupError:
            target.unlink(missing_ok=True)
            continue
        header = (
            f"# Third-party dependencies of {install}, installed from the package index as usual;\n"
            "# then DFM itself from this wheelhouse only:\n"
            f"#   pip install --no-index --find-links {outdir.name} '{install}'\n"
        )
        target.write_text(header + "".join(f"{line}\n" for line in lines))
        written[key] = target
    return written


def build_wheelhouse(
    sources: Mapping[str, Path], outdir: Path, run: Run, *, uv: str | None = None, python: str | None = None
) -> Sequence[Path]:
    """:func:`build` then :func:`write_requirements`: what ``-s build`` does."""
    wheels = build(sources, outdir, run, uv=uv, python=python)
    write_requirements(outdir)
    return wheels
