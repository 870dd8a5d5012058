"""Sessions for the DFM monorepo.

Packages are discovered from ``packages/*/pyproject.toml``; nothing here lists
them by hand. Each package's local dependencies (declared dependencies that
are also distributions in this repository) are installed from their paths in
the same install command, so the resolver picks the local copies.

    python3 dev/nox.py        # CI: lint, typecheck, tests, integration, docs, flare, containers
    python3 dev/nox.py -s demo         # the examplefed demo on the embedded target
    python3 dev/nox.py -s "tests(dfm-kernel)"
    python3 dev/nox.py -t adapters
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "dev"))
import wheelhouse  # noqa: E402  (dev/wheelhouse.py: also used by tests/test_first_hour.py)

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True
RUFF = "ruff==0.14.3"
nox.options.sessions = ["lint", "typecheck", "tests", "integration", "docs", "flare", "containers"]

_NAME_SPLIT = re.compile(r"[\s<>=!~;\[(]")


@dataclass(frozen=True)
class Package:
    name: str
    path: Path
    kind: str  # core | adapter | flare
    dependencies: tuple[str, ...]
    test_group: tuple[str, ...]

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def _req_name(requirement: str) -> str:
    return _NAME_SPLIT.split(requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _discover() -> dict[str, Package]:
    found: dict[str, dict] = {}
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        data = nox.project.load_toml(pyproject)
        found[data["project"]["name"]] = {"path": pyproject.parent, "data": data}
    packages = {}
    for name, item in found.items():
        deps = tuple(
            sorted({_req_name(r) for r in item["data"]["project"].get("dependencies", [])} & found.keys())
        )
        kind = "adapter" if name.startswith("dfm-adapter-") else "flare" if name == "dfm-flare" else "core"
        group = tuple(item["data"].get("dependency-groups", {}).get("test", []))
        packages[name] = Package(name, item["path"], kind, deps, group)
    return packages


PACKAGES = _discover()


def _closure(names: list[str]) -> list[Package]:
    seen: dict[str, Package] = {}

    def visit(name: str) -> None:
        if name in seen:
            return
        seen[name] = PACKAGES[name]
        for dep in PACKAGES[name].dependencies:
            visit(dep)

    for name in names:
        visit(name)
    return list(seen.values())


def _params(kinds: tuple[str, ...] = ("core", "adapter", "flare")) -> list:
    return [
        nox.param(pkg.name, id=pkg.name, tags=[pkg.kind if pkg.kind != "adapter" else "adapters"])
        for pkg in PACKAGES.values()
        if pkg.kind in kinds
    ]


def _install_local(session: nox.Session, names: list[str], *extra: str, test_groups: bool = True) -> None:
    if test_groups:  # local distributions a test group names are installed from their paths too
        names = [
            *names,
            *(_req_name(r) for n in names for r in PACKAGES[n].test_group if _req_name(r) in PACKAGES),
        ]
    pkgs = _closure(names)
    groups = [req for pkg in pkgs if test_groups for req in pkg.test_group if _req_name(req) not in PACKAGES]
    # uv caches builds of local folders by their metadata, not their sources: force fresh local builds.
    fresh = []
    if session.venv_backend == "uv":
        fresh = [arg for pkg in pkgs for arg in ("--reinstall-package", pkg.name)]
    session.install(*fresh, *(pkg.rel for pkg in pkgs), *sorted(set(groups)), *extra)


# Debian packages some tests need, by the package whose tests need them: {package: {binary: debian package}}
SYSTEM_NEEDS = {
    "dfm-compiler": {"dot": "graphviz"},
    "dfm-adapter-sql": {"pg_ctlcluster": "postgresql"},  # a throwaway server for the PostgreSQL tests
}


def _ensure_system_packages(session: nox.Session, package: str) -> None:
    """Install missing Debian packages a package's tests use (root + apt only; tests skip otherwise)."""
    needs = SYSTEM_NEEDS.get(package, {})
    missing = sorted({deb for binary, deb in needs.items() if not shutil.which(binary)})
    if not missing or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env, success_codes=[0, 100])
    session.run("apt-get", "install", "-y", "-qq", *missing, external=True, env=env, success_codes=[0, 100])


def _pytest_args(session: nox.Session, default: str) -> list[str]:
    """``default`` plus the posargs, unless the posargs name test paths themselves."""
    if any(Path(arg.split("::")[0]).exists() for arg in session.posargs):
        return list(session.posargs)
    return [default, *session.posargs]


@nox.session
@nox.parametrize("package", _params(("core", "adapter")))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's own tests against its local dependencies."""
    pkg = PACKAGES[package]
    _ensure_system_packages(session, package)
    _install_local(session, [package])
    session.env["DFM_STRICT_PLUGINS"] = "1"
    session.run("pytest", *_pytest_args(session, f"{pkg.rel}/tests"))


@nox.session
def integration(session: nox.Session) -> None:
    """Cross-package tests under tests/, against every package installed together."""
    names = [p.name for p in PACKAGES.values() if p.kind != "flare"]
    # ruff: the templates' tests lint what they bake
    # mypy: tests/test_codegen.py type-checks pipelines against generated packages
    _install_local(session, names, "pytest", "hypothesis", "build", "cookiecutter>=2.5", RUFF, "mypy==1.18.2")
    session.env["DFM_STRICT_PLUGINS"] = "1"
    session.run("pytest", *_pytest_args(session, "tests"))


@nox.session
def flare(session: nox.Session) -> None:
    """dfm-flare's tests: real FLARE server and clients on loopback (needs nvflare, a few minutes)."""
    _install_local(session, ["dfm-flare"])
    session.env["DFM_STRICT_PLUGINS"] = "1"
    session.run("pytest", *_pytest_args(session, "packages/dfm-flare/tests"))


CONTAINER_CACHE = (
    ROOT / ".nox" / "containers-cache"
)  # debootstrap base image and wheelhouse, kept between runs
CONTAINER_BASE = "localhost/dfm-test-base:bookworm"


@nox.session
def containers(session: nox.Session) -> None:
    """Build the server and one site image from 'dfm fed gen docker' with buildah, and start FLARE in them.

    Needs root and apt (installs buildah and debootstrap); skips otherwise. The base image
    is made offline from Debian's packages (debootstrap, cached in .nox/containers-cache);
    third-party wheels are fetched into the cached wheelhouse on the host, never in a build.
    """
    if os.geteuid() != 0:
        session.skip("needs root (buildah storage, debootstrap, chroot isolation)")
    if not shutil.which("apt-get"):
        session.skip("needs apt-get (Debian's buildah and debootstrap packages)")
    missing = sorted(
        {
            deb
            for tool, deb in (("buildah", "buildah"), ("debootstrap", "debootstrap"))
            if not shutil.which(tool)
        }
    )
    if missing:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env, success_codes=[0, 100])
        session.run("apt-get", "install", "-y", "-qq", *missing, external=True, env=env)
    _install_local(session, ["dfm-flare"], "pip")
    CONTAINER_CACHE.mkdir(parents=True, exist_ok=True)
    # the base: Debian bookworm with python3 and its venv module, made from Debian's packages
    rootfs_tar = CONTAINER_CACHE / "base-bookworm.tar"
    if not rootfs_tar.is_file():
        rootfs = CONTAINER_CACHE / "rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        session.run(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv",
            "bookworm",
            str(rootfs),
            external=True,
            silent=True,
        )
        session.run(
            "tar", "--numeric-owner", "-C", str(rootfs), "-cf", f"{rootfs_tar}.part", ".", external=True
        )
        os.replace(f"{rootfs_tar}.part", rootfs_tar)
        shutil.rmtree(rootfs, ignore_errors=True)
    import subprocess

    known = subprocess.run(
        ["buildah", "inspect", "--type", "image", CONTAINER_BASE], capture_output=True, check=False
    )
    if known.returncode != 0:
        context = CONTAINER_CACHE / "base-context"
        context.mkdir(exist_ok=True)
        (context / "Containerfile").write_text('FROM scratch\nADD base-bookworm.tar /\nCMD ["/bin/bash"]\n')
        target = context / "base-bookworm.tar"
        if target.exists():
            target.unlink()
        os.link(rootfs_tar, target)
        session.run(
            "buildah",
            "build",
            "--isolation",
            "chroot",
            "--quiet",
            "-t",
            CONTAINER_BASE,
            str(context),
            external=True,
        )
        target.unlink()
    # the wheelhouse: our wheels (fresh) plus the third-party wheels they need (fetched on the host)
    wheels = CONTAINER_CACHE / "wheelhouse"
    sources = {pkg.name: pkg.path for pkg in _closure(["dfm-flare"])}
    uv = "uv" if session.venv_backend == "uv" else None
    if uv is None:
        session.install("build")
    built = wheelhouse.build(
        sources, wheels, lambda args: session.run(*args), uv=uv, python=None if uv else "python"
    )
    session.run(
        "python",
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--disable-pip-version-check",
        "--find-links",
        str(wheels),
        "--wheel-dir",
        str(wheels),
        *(str(w) for w in built),
    )
    session.env.update(
        {
            "DFM_STRICT_PLUGINS": "1",
            "DFM_CONTAINER_BASE": CONTAINER_BASE,
            "DFM_CONTAINER_WHEELHOUSE": str(wheels),
            "BUILDAH_ISOLATION": "chroot",
        }
    )
    session.run("pytest", *_pytest_args(session, "packages/dfm-flare/tests/test_containers.py"))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check over the whole tree."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def _import_name(pkg: Package) -> str:
    """The top-level import of a distribution: ``dfm.<name>``, or ``dfm_adapter_<name>`` for adapters."""
    if pkg.kind == "adapter":
        return "dfm_adapter_" + pkg.name.removeprefix("dfm-adapter-").replace("-", "_")
    return "dfm." + pkg.name.removeprefix("dfm-")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every distribution (dfm-kernel also ships dfm.api)."""
    _install_local(session, list(PACKAGES), "mypy==1.18.2", "types-PyYAML")  # test groups: pytest, drivers
    modules = ["dfm.api", *(_import_name(p) for p in PACKAGES.values())]
    session.run("mypy", "--strict", *(a for m in modules for a in ("-p", m)))


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: run examplefed's demo app on the embedded local target."""
    _install_local(session, [p.name for p in PACKAGES.values() if p.kind != "flare"], test_groups=False)
    session.chdir(ROOT / "federations" / "examplefed")
    session.run("python", "demo.py", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Every distribution's sdist and wheel into one flat wheelhouse, dist/.

    ``-- NAME ...`` builds only those distributions (into the same dist/). Also writes
    dist/requirements-<set>.txt, the third-party dependencies of each documented install
    set (README: "Install from the wheelhouse").
    """
    names = session.posargs or list(PACKAGES)
    unknown = sorted(set(names) - PACKAGES.keys())
    if unknown:
        session.error(f"unknown distribution(s) {', '.join(unknown)}; known: {', '.join(PACKAGES)}")
    sources = {name: PACKAGES[name].path for name in names}
    out = ROOT / "dist"
    if session.venv_backend == "uv":  # nox's own uv (dev/nox.py installs it): nothing to install
        uv, python = "uv", None
    else:
        session.install("build")
        uv, python = None, "python"
    wheels = wheelhouse.build_wheelhouse(sources, out, lambda args: session.run(*args), uv=uv, python=python)
    session.log(f"{len(wheels)} distributions (wheel + sdist) in {out}; README: Install from the wheelhouse")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks under bench/ (not tests); they print tables and write bench/out/*.json."""
    _install_local(session, list(PACKAGES), "numpy", "psutil", test_groups=False)
    scripts = session.posargs or sorted(str(p) for p in (ROOT / "bench").glob("*.py"))
    for script in scripts:
        session.run("python", script, env={"PYTHONHASHSEED": "0", **os.environ})


DOCS_REQUIREMENTS = (
    "mkdocs>=1.6,<2",
    "mkdocstrings[python]>=0.26",
    "pymdown-extensions>=10",
    # docs/notebooks/ executed on the inproc target
    "nbclient>=0.10",
    "ipykernel>=6",
    "pandas>=2",
    "pyarrow>=15",
    "pytest",
)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built strictly into site/, after running docs/notebooks/ (inproc).

    The API and hook references are generated from the docstrings of the sources
    (mkdocstrings; mkdocs.yml). ``-- serve`` serves the site instead of building it.
    """
    _install_local(
        session,
        [p.name for p in PACKAGES.values() if p.kind != "flare"],
        *DOCS_REQUIREMENTS,
        test_groups=False,
    )
    session.env["DFM_STRICT_PLUGINS"] = "1"
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
        return
    session.run("pytest", "tests/test_notebooks.py", *session.posargs)
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))
    _check_hook_reference(ROOT / "site")


def _check_hook_reference(site: Path) -> None:
    """Every hookspec has its generated section in the built hook reference."""
    page = (site / "plugins" / "hooks" / "index.html").read_text()
    for module in (
        "packages/dfm-kernel/src/dfm/kernel/hookspecs.py",
        "packages/dfm-cli/src/dfm/cli/hookspecs.py",
    ):
        dotted = module.split("/src/", 1)[1].removesuffix(".py").replace("/", ".")
        for name in re.findall(r"^def (dfm_\w+)\(", (ROOT / module).read_text(), flags=re.M):
            if f'id="{dotted}.{name}"' not in page:
                raise nox.command.CommandFailed(f"site/plugins/hooks/ lacks the generated section of {name}")
