"""Provisioning: project.yml from the federation config, and the DFM builder's kit contents."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dfm.flare.cli import provision as gen_provision
from dfm.flare.layout import (
    SCHEME,
    SCHEMES,
    DeploymentState,
    FlareSetupError,
    client_names,
    flare_client_name,
)
from dfm.flare.provision import project_config, provision
from dfm.kernel.config import load_config

from .conftest import EXAMPLEFED, MATHFED, ROOT


def test_project_has_one_client_per_site_from_the_config():
    fed = load_config(EXAMPLEFED)
    project = project_config(fed, EXAMPLEFED, port=9100)
    by_type: dict[str, list[dict]] = {}
    for p in project["participants"]:
        by_type.setdefault(p["type"], []).append(p)
    (server,) = by_type["server"]
    assert server["fed_learn_port"] == server["admin_port"] == 9100
    assert [c["name"] for c in by_type["client"]] == [flare_client_name(s) for s in fed.sites]
    (admin,) = by_type["admin"]
    assert admin["role"] == "project_admin" and "@" in admin["name"]
    builder = next(b for b in project["builders"] if b["path"] == "dfm.flare.builder.DfmSiteBuilder")
    assert {spec["site"] for spec in builder["args"]["sites"].values()} == set(fed.sites)


def test_reserved_site_names_get_a_flare_name():
    fed = load_config(EXAMPLEFED)  # it has a site called "server", like FLARE's server cell
    names = client_names(fed)
    assert names["server"] == "site-server"
    assert names["concierge"] == "concierge"


def test_kits_carry_site_code_requirements_and_allow_list(tmp_path):
    state = provision(MATHFED, tmp_path / "out", port=9101, storage=tmp_path / "store")
    assert (tmp_path / "out" / "project.yml").is_file()
    assert DeploymentState.load(tmp_path / "out") == state
    prod = Path(state.prod_dir)
    for site, client in state.sites.items():
        custom = prod / client / "local" / "custom"
        descriptor = json.loads((custom / "dfm_site.json").read_text())
        assert descriptor["site"] == site and descriptor["federation"] == "mathfed"
        assert load_config(custom / descriptor["config"]).name == "mathfed"
        assert (custom / "dfm" / "mathfed_adapters.py").is_file()  # the federation's local adapter code
        requirements = (custom / "requirements.txt").read_text().split()
        names = {r.split("==")[0].split("[")[0] for r in requirements}  # alpha: dfm-runner[cache]
        assert names >= {"dfm-kernel", "dfm-runner", "dfm-flare"}
        resources = json.loads((prod / client / "local" / "resources.json.default").read_text())
        assert "dfm." in resources["class_allow_list"]
        assert (prod / client / "startup" / "client.crt").is_file()  # mTLS
    server_resources = json.loads((prod / "server" / "local" / "resources.json.default").read_text())
    assert "dfm." in server_resources["class_allow_list"]
    job_manager = next(c for c in server_resources["components"] if c["id"] == "job_manager")
    assert job_manager["args"]["uri_root"] == str(tmp_path / "store" / "jobs-storage")
    assert (prod / state.admin / "startup" / "fed_admin.json").is_file()


def test_gen_provision_command(dfm, tmp_path):
    out = tmp_path / "kits"
    result = dfm("fed", "gen", "provision", str(EXAMPLEFED), "--out", str(out), "--port", "9102")
    assert result.exit_code == 0, result.output
    assert "site-server" in result.stdout and "dfm-runner==" in result.stdout
    project = yaml.safe_load((out / "project.yml").read_text())
    assert project["participants"][0]["fed_learn_port"] == 9102
    again = dfm("fed", "gen", "provision", str(EXAMPLEFED), "--out", str(out), "--clean")
    assert again.exit_code == 0
    assert sorted(p.name for p in (out / "examplefed").iterdir() if p.name.startswith("prod")) == ["prod_00"]


def _schemes(prod: Path, state: DeploymentState) -> set[str]:
    """The wire scheme each kit of a deployment names (server, clients, admin)."""
    kits = [prod / "server" / "startup" / "fed_server.json"]
    kits += [prod / client / "startup" / "fed_client.json" for client in state.sites.values()]
    found = {json.loads(kit.read_text())["servers"][0]["service"]["scheme"] for kit in kits}
    admin = json.loads((prod / state.admin / "startup" / "fed_admin.json").read_text())["admin"]
    return found | {admin["scheme"] + "/" + admin["connection_security"]}


def test_kits_speak_tls_sockets_unless_told_otherwise(dfm, tmp_path):
    state = provision(MATHFED, tmp_path / "tcp", port=9103, storage=tmp_path / "store")
    assert _schemes(Path(state.prod_dir), state) == {"tcp", "tcp/mtls"}
    result = dfm("fed", "gen", "provision", str(MATHFED), "--out", str(tmp_path / "g"), "--scheme", "grpc")
    assert result.exit_code == 0, result.output
    grpc = DeploymentState.load(tmp_path / "g")
    assert _schemes(Path(grpc.prod_dir), grpc) == {"grpc", "grpc/mtls"}
    bad = dfm("fed", "gen", "provision", str(MATHFED), "--out", str(tmp_path / "b"), "--scheme", "udp")
    assert bad.exit_code == 2 and "'udp' is not one of 'tcp', 'grpc', 'http'" in bad.output
    assert not (tmp_path / "b").exists()
    with pytest.raises(FlareSetupError, match="unknown FLARE scheme 'udp'; use one of tcp, grpc, http"):
        project_config(load_config(MATHFED), MATHFED, scheme="udp")
    # the CLI spells the choices out (it loads before the models): they must stay layout's
    option = next(o for o in gen_provision.params if o.name == "scheme")
    assert tuple(option.type.choices) == SCHEMES and option.default == SCHEME


def test_gen_provision_of_a_broken_config_is_a_user_error(dfm, tmp_path):
    bad = tmp_path / "bad.dfm.yaml"
    bad.write_text(
        "dfm: 1.0.0\ninfo: {api-version: 1, code-package: bad}\nsites: {a: {interface: {}}}\nhomesite: zz\n"
    )
    result = dfm("fed", "gen", "provision", str(bad), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_cli_help_does_not_import_nvflare():
    code = (
        "import sys\n"
        "from dfm.cli.main import cli\n"
        "try:\n    cli.main(['--help'], prog_name='dfm', standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        "from dfm.kernel.plugins import get_plugin_manager\n"
        "get_plugin_manager().registry('transports')\n"
        "assert 'flare' in get_plugin_manager().registry('transports')\n"
        "print(sorted(m for m in sys.modules if m.startswith('nvflare')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_kits_carry_ref_files_runtime_module_and_config_digest(tmp_path):
    """A config using $ref: common.yaml gives kits whose config loads; the digest tells stale kits apart."""
    folder = tmp_path / "fed"
    folder.mkdir()
    data = yaml.safe_load(MATHFED.read_text())
    data["schemas"] = {"$ref": ["common.yaml"], **(data.get("schemas") or {})}
    (folder / "common.yaml").write_text("Pair:\n  type: object\n  properties: {a: {type: number}}\n")
    config = folder / MATHFED.name
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    for item in MATHFED.parent.iterdir():
        if item.suffix == ".py":
            (folder / item.name).write_text(item.read_text())

    state = provision(config, tmp_path / "out", port=9102, storage=tmp_path / "store")
    assert state.config_digest.startswith("sha256:") and state.out_of_date() is None
    prod = Path(state.prod_dir)
    sites = list(state.sites)
    for site, client in state.sites.items():
        custom = prod / client / "local" / "custom"
        descriptor = json.loads((custom / "dfm_site.json").read_text())
        assert (custom / "dfm" / "common.yaml").is_file()
        assert "Pair" in load_config(custom / descriptor["config"]).schemas  # the kit's config loads
        assert descriptor["config_digest"] == state.config_digest
        runtime = (custom / descriptor["runtime"]).read_text()
        assert f"SITE: Final = {site!r}" in runtime
        others = [s for s in sites if s != site]
        assert not any(f"SITE: Final = {o!r}" in runtime for o in others)
        modules = sorted(p.name for p in (custom / descriptor["runtime"]).parent.glob("*.py"))
        assert modules == sorted(["__init__.py", Path(descriptor["runtime"]).name])  # this site's only

    (folder / "common.yaml").write_text("Pair:\n  type: object\n")  # the config changes after provisioning
    stale = DeploymentState.load(tmp_path / "out").out_of_date()
    assert stale is not None and "made from another version of" in stale and "dfm poc prepare" in stale


CLINICS = ROOT / "federations" / "clinics"


def _clinics_copy(folder: Path) -> Path:
    """federations/clinics in ``folder``, with its synthetic databases (make_data.py) written there."""
    shutil.copytree(CLINICS, folder, ignore=shutil.ignore_patterns("__pycache__", "data"))
    done = subprocess.run(
        [sys.executable, str(folder / "make_data.py"), "--out", str(folder / "data")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return folder / "clinics.dfm.yaml"


def test_each_site_gets_its_own_data_and_nothing_else(tmp_path):
    """Each clinic gets its own database, never another clinic's; a folder a site names brings its files
    except those another site names, and never a secrets file."""
    from dfm.flare.sitedata import site_data_files

    config = _clinics_copy(tmp_path / "clinics")
    data = yaml.safe_load(config.read_text())
    data["sites"]["research"]["config"] = {"root": "data"}  # a folder holding the clinics' databases
    data["sites"]["research"]["secrets"] = {"file": "data/secrets.yaml"}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "clinics" / "data" / "cohorts.csv").write_text("cohort\ncontrol\n")
    (tmp_path / "clinics" / "data" / "secrets.yaml").write_text("token: do-not-ship\n")
    fed = load_config(config)
    assert {site: site_data_files(fed, config, site) for site in fed.sites} == {
        "research": ["data/cohorts.csv"],
        "clinic-a": ["data/clinic-a.sqlite"],
        "clinic-b": ["data/clinic-b.sqlite"],
        "clinic-c": ["data/clinic-c.sqlite"],
    }


def test_kits_carry_the_sites_data_beside_the_config(tmp_path):
    folder = tmp_path / "fed"
    shutil.copytree(MATHFED.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = folder / MATHFED.name
    data = yaml.safe_load(config.read_text())
    first, *others = list(data["sites"])
    data["sites"][first]["config"] = {"table": "tables/numbers.csv"}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "tables").mkdir()
    (folder / "tables" / "numbers.csv").write_text("n\n1\n")

    state = provision(config, tmp_path / "out", port=9103, storage=tmp_path / "store")
    prod = Path(state.prod_dir)
    for site, client in state.sites.items():
        custom = prod / client / "local" / "custom"
        descriptor = json.loads((custom / "dfm_site.json").read_text())
        carried = custom / "dfm" / "tables" / "numbers.csv"
        if site == first:
            assert descriptor["data"] == ["tables/numbers.csv"] and carried.read_text() == "n\n1\n"
        else:
            assert descriptor["data"] == [] and not carried.exists()
    assert others


def test_paths_outside_the_federation_folder_are_not_carried(tmp_path):
    config = _clinics_copy(tmp_path / "clinics")
    (tmp_path / "outside.sqlite").write_bytes(b"not the federation's")
    (tmp_path / "clinics" / "data" / "link.sqlite").symlink_to(tmp_path / "outside.sqlite")
    data = yaml.safe_load(config.read_text())
    data["sites"]["research"]["config"] = {
        "up": "../outside.sqlite",
        "absolute": str(tmp_path / "outside.sqlite"),
        "link": "data/link.sqlite",
        "url": "file:///etc/passwd",
    }
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    from dfm.flare.sitedata import site_data_files

    fed = load_config(config)
    assert site_data_files(fed, config, "research") == []
    assert site_data_files(fed, config, "clinic-b") == ["data/clinic-b.sqlite"]


def test_a_site_with_a_cache_config_requires_the_runner_with_its_cache_extra():
    from dfm.flare.provision import site_requirements
    from dfm.kernel.plugins import get_plugin_manager

    fed = load_config(MATHFED)  # alpha has a cache_config (TryFromCache needs fsspec there), beta none
    manager = get_plugin_manager()
    alpha = site_requirements(fed, MATHFED, "alpha", manager)
    beta = site_requirements(fed, MATHFED, "beta", manager)
    assert any(line.startswith("dfm-runner[cache]") for line in alpha), alpha
    assert not any("[cache]" in line for line in beta) and any(line.startswith("dfm-runner") for line in beta)
