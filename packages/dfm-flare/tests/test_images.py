"""``dfm fed gen docker|compose|helm``: contents, determinism, no secrets, patches, schema validation."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dfm.flare.images import GenerateError, generate_compose, generate_docker, generate_helm, load_patch
from dfm.flare.images.common import merge_patch
from dfm.kernel.config import load_config

from .conftest import EXAMPLEFED

SITES = ("concierge", "site-server", "reception")


@pytest.fixture(scope="module")
def fed():
    return load_config(EXAMPLEFED)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _with_provision(tmp_path: Path, provision: dict) -> Path:
    """A copy of examplefed with ``provision:`` settings (and its local adapter code)."""
    import shutil

    folder = tmp_path / "fed"
    shutil.copytree(EXAMPLEFED.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = folder / EXAMPLEFED.name
    data = yaml.safe_load(config.read_text())
    data["provision"] = provision
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_docker_one_dockerfile_per_role_with_its_own_requirements(fed, tmp_path):
    files = generate_docker(fed, config_path=EXAMPLEFED, output_dir=tmp_path, wheelhouse=tmp_path / "wh")
    names = {p.relative_to(tmp_path).as_posix() for p in files}
    for role in ("server", *SITES, "admin"):
        assert f"{role}/Dockerfile" in names and f"{role}/requirements.txt" in names
    server = (tmp_path / "server/requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in server} == {"dfm-kernel", "dfm-runner", "dfm-flare"}
    admin = {r.split("==")[0] for r in (tmp_path / "admin/requirements.txt").read_text().split()}
    assert {"dfm-cli", "dfm-compiler"} <= admin
    site = (tmp_path / "concierge/Dockerfile").read_text()
    assert "--no-index" in site and "-r /tmp/requirements.txt" in site
    assert "USER 10001:10001" in site and "uid=concierge" in site
    assert "COPY kits/concierge/" not in site and "kits/concierge/ /opt/dfm/kit/" in site
    assert "ARG BASE_IMAGE=python:3.11-slim" in site
    assert (tmp_path / "admin/federation/examplefed.dfm.yaml").is_file()
    assert (tmp_path / "build.sh").stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(tmp_path / "build.sh")]).returncode == 0
    # secrets: names only, never the kits' keys in the generated folder
    assert "EXAMPLEFED_RECEPTION_BADGE_KEY" in (tmp_path / "reception/Dockerfile").read_text()
    assert not list(tmp_path.rglob("*.key")) and not list(tmp_path.rglob("*.crt"))


def test_build_script_reports_one_line_per_step_and_shows_a_failed_steps_output(fed, tmp_path):
    """Off a terminal build.sh prints one 'build: [i/n] ...' line per step; pip's output is kept and shown
    only when its step fails."""
    import sys

    from dfm.flare.provision import provision

    provision(EXAMPLEFED, tmp_path / "kits", port=9104, storage=tmp_path / "store")
    (tmp_path / "wh").mkdir()
    generate_docker(
        fed,
        config_path=EXAMPLEFED,
        output_dir=tmp_path / "out",
        kits=tmp_path / "kits",
        wheelhouse=tmp_path / "wh",
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DFM_OFFLINE": "1",
        "DFM_PIP_ARGS": "--no-such-option",  # pip fails at once (as does a Python without pip)
        "PYTHON": sys.executable,
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [str(tmp_path / "out/build.sh"), "server", "concierge"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "build: [1/4] staging the kit and the wheels of server"
    assert lines[-1].startswith("build: step 1 failed: ")
    shown = lines[1:-1]  # pip's own error, shown because its step failed
    assert shown and not any(line.startswith("build:") for line in shown)
    assert not (tmp_path / "out/kits").exists()  # the staged kit (a private key) is gone


def test_generation_is_deterministic_and_force_is_needed(fed, tmp_path):
    for kind, gen in (("docker", generate_docker), ("compose", generate_compose), ("helm", generate_helm)):
        a, b = tmp_path / f"{kind}-a", tmp_path / f"{kind}-b"
        gen(fed, config_path=EXAMPLEFED, output_dir=a, kits=tmp_path / "kits") if kind != "compose" else gen(
            fed, config_path=EXAMPLEFED, output_dir=a
        )
        gen(fed, config_path=EXAMPLEFED, output_dir=b, kits=tmp_path / "kits") if kind != "compose" else gen(
            fed, config_path=EXAMPLEFED, output_dir=b
        )
        assert _tree(a) == _tree(b), kind
        with pytest.raises(GenerateError, match="--force"):
            gen(fed, config_path=EXAMPLEFED, output_dir=a)
        (a / "mine.txt").write_text("keep me")
        gen(fed, config_path=EXAMPLEFED, output_dir=a, force=True)
        assert (a / "mine.txt").read_text() == "keep me"


def test_build_settings_engine_arch_save_push_with_env_credentials(tmp_path):
    config = _with_provision(
        tmp_path,
        {
            "docker": {
                "image": "registry.example/team/exfed",
                "tag": "2.0",
                "build": {
                    "engine": "podman",
                    "arch": "arm64",
                    "save": {"enabled": True, "file": "exfed.tar"},
                    "push": {
                        "enabled": True,
                        "registry": {
                            "url": "registry.example/team",
                            "username": "$REG_USER",
                            "password": "${REG_PASS}",
                        },
                    },
                },
            }
        },
    )
    fed = load_config(config)
    generate_docker(fed, config_path=config, output_dir=tmp_path / "out")
    script = (tmp_path / "out/build.sh").read_text()
    assert "ENGINE=${DFM_ENGINE:-podman}" in script and "ARCH=${DFM_ARCH-arm64}" in script
    assert "exfed-$role.tar" in script and '"$ENGINE" push "$remote"' in script
    assert "${REG_PASS:?" in script and "${REG_USER:?" in script and "--password-stdin" in script
    assert "registry.example/team/exfed-server:2.0" in script


def test_a_literal_registry_password_is_refused_and_never_written(tmp_path):
    config = _with_provision(
        tmp_path,
        {
            "docker": {
                "build": {"push": {"enabled": True, "registry": {"url": "r.example", "password": "hunter2"}}}
            }
        },
    )
    fed = load_config(config)
    with pytest.raises(GenerateError, match=r"must name an environment variable") as info:
        generate_docker(fed, config_path=config, output_dir=tmp_path / "out")
    assert "hunter2" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_unknown_settings_are_named(tmp_path):
    config = _with_provision(tmp_path, {"docker": {"build": {"engin": "podman"}}})
    with pytest.raises(GenerateError, match=r"unknown key.*engin"):
        generate_docker(load_config(config), config_path=config, output_dir=tmp_path / "out")


def _compose_schema() -> dict:
    pytest.importorskip("check_jsonschema")
    from importlib.resources import files

    return json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )


def test_compose_is_valid_for_n_sites_with_secret_names_only(fed, tmp_path, monkeypatch):
    jsonschema = pytest.importorskip("jsonschema")
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "s3cr3t-value")
    generate_compose(fed, config_path=EXAMPLEFED, output_dir=tmp_path, server_host="fl-server", port=9443)
    text = (tmp_path / "compose.yaml").read_text()
    assert "s3cr3t-value" not in text
    doc = yaml.safe_load(text)
    jsonschema.validate(doc, _compose_schema())
    services = doc["services"]
    assert set(services) == {"server", *SITES, "admin"}
    assert services["server"]["networks"]["dfm"]["aliases"] == ["fl-server"]
    assert services["server"]["ports"] == ["9443:9443"]
    assert services["reception"]["environment"] == ["EXAMPLEFED_RECEPTION_BADGE_KEY"]
    assert services["admin"]["profiles"] == ["app"]


def test_compose_patch_merges_and_deletes(fed, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    patch_file = tmp_path / "patch.yaml"
    patch_file.write_text(
        "compose:\n  services:\n    concierge:\n      restart: null\n      mem_limit: 1g\n"
        "provision:\n  docker:\n    tag: '9.9'\n"
    )
    generate_compose(fed, config_path=EXAMPLEFED, output_dir=tmp_path / "out", patch=load_patch(patch_file))
    doc = yaml.safe_load((tmp_path / "out/compose.yaml").read_text())
    jsonschema.validate(doc, _compose_schema())
    assert "restart" not in doc["services"]["concierge"] and doc["services"]["concierge"]["mem_limit"] == "1g"
    assert doc["services"]["server"]["image"] == "examplefed-server:9.9"


def test_patch_files_are_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("valuez: {}\n")
    with pytest.raises(GenerateError, match="unknown patch key"):
        load_patch(bad)
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == {
        "a": {"c": 2, "d": 3},
        "l": [2],
    }


def _render(chart: Path, values: dict | None = None) -> list[dict]:
    helm = pytest.importorskip("helm_python")
    with helm.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values or {}, name="fed", namespace="default")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def _validate_k8s(docs: list[dict]) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    for doc in docs:
        kv.validate(doc, "1.30", strict=True)


def test_helm_chart_renders_valid_manifests_for_every_site(fed, tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMPLEFED_RECEPTION_BADGE_KEY", "s3cr3t-value")
    generate_helm(fed, config_path=EXAMPLEFED, output_dir=tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cr3t-value" not in path.read_bytes()
    assert subprocess.run(["bash", "-n", str(tmp_path / "deploy.sh")]).returncode == 0
    helm = pytest.importorskip("helm_python")
    report = helm.lint(str(tmp_path / "examplefed"), strict=True)
    assert not report["errors"], report
    docs = _render(tmp_path / "examplefed")
    _validate_k8s(docs)
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == sorted(
        [("Deployment", "fed-server"), ("Service", "server")] + [("Deployment", f"fed-{s}") for s in SITES]
    )
    assert {d["metadata"]["namespace"] for d in docs} == {"examplefed"}
    service = next(d for d in docs if d["kind"] == "Service")
    assert [p["port"] for p in service["spec"]["ports"]] == [8002]
    reception = next(d for d in docs if d["metadata"]["name"] == "fed-reception")
    pod = reception["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["volumes"][0]["secret"]["secretName"] == "examplefed-kit-reception"
    assert pod["containers"][0]["envFrom"][0]["secretRef"]["name"] == "examplefed-secrets-reception"


def test_helm_values_per_site_and_patch(fed, tmp_path):
    patch = {
        "provision": {"helm": {"namespace": "fl-prod", "startup_package_source": "env"}},
        "values": {
            "server": {"adminPort": 8003, "resources": {"limits": {"cpu": "2"}}},
            "sites": {
                "concierge": {
                    "nodeSelector": {"disk": "ssd"},
                    "tolerations": [{"key": "gpu", "operator": "Exists"}],
                },
                "site-server": {"enabled": False},
            },
        },
    }
    generate_helm(fed, config_path=EXAMPLEFED, output_dir=tmp_path, patch=patch)
    values = yaml.safe_load((tmp_path / "examplefed/values.yaml").read_text())
    assert values["namespace"] == "fl-prod" and values["startupPackageSource"] == "env"
    docs = _render(tmp_path / "examplefed")
    _validate_k8s(docs)
    names = {d["metadata"]["name"] for d in docs}
    assert "fed-site-server" not in names and "fed-concierge" in names
    concierge = next(d for d in docs if d["metadata"]["name"] == "fed-concierge")["spec"]["template"]["spec"]
    assert concierge["nodeSelector"] == {"disk": "ssd"} and concierge["tolerations"][0]["key"] == "gpu"
    assert "initContainers" not in concierge and "volumes" not in concierge  # kit from the image
    service = next(d for d in docs if d["kind"] == "Service")
    assert [p["name"] for p in service["spec"]["ports"]] == ["fl", "admin"]
    server = next(d for d in docs if d["metadata"]["name"] == "fed-server")["spec"]["template"]["spec"]
    assert server["containers"][0]["resources"] == {"limits": {"cpu": "2"}}


def test_generators_are_emitters_listed_and_run_by_fed_gen(tmp_path, monkeypatch):
    """docker, compose and helm are dfm-flare's federation emitters: 'dfm fed gen' lists them with the
    other emitters and runs them with their options; bad option values are one-line errors."""
    from click.testing import CliRunner

    from dfm.cli.main import cli
    from dfm.kernel.plugins import get_plugin_manager

    registry = get_plugin_manager().registry("emitters")
    for kind in ("docker", "compose", "helm"):
        entry = registry[kind]
        assert entry.takes == "federation" and entry.provenance.distribution == "dfm-flare"
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    listing = runner.invoke(cli, ["fed", "gen", "--help"]).output
    section = listing[listing.index("Emitters from dfm-flare") :]
    assert all(f"  {kind} " in section for kind in ("docker", "compose", "helm"))
    for kind in ("docker", "compose", "helm"):
        result = runner.invoke(cli, ["fed", "gen", kind, str(EXAMPLEFED)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"examplefed-{kind}").is_dir()
        assert f"{kind}: wrote" in result.output
    again = runner.invoke(cli, ["fed", "gen", "compose", str(EXAMPLEFED)])
    assert again.exit_code == 1 and "--force" in again.output

    patch = tmp_path / "patch.yaml"
    patch.write_text("provision:\n  docker: {tag: '7.0'}\n")
    made = runner.invoke(
        cli,
        [
            "fed", "gen", "docker", str(EXAMPLEFED), "--force", "--patch", str(patch),
            "--base-image", "debian:bookworm", "--out", str(tmp_path / "img"),
        ],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "ARG BASE_IMAGE=debian:bookworm" in (tmp_path / "img/server/Dockerfile").read_text()
    assert "examplefed-server:7.0" in (tmp_path / "img/build.sh").read_text()
    helm = runner.invoke(
        cli,
        [
            "fed",
            "gen",
            "helm",
            str(EXAMPLEFED),
            "--output-dir",
            "chart",
            "--server-host",
            "fl",
            "--port",
            "9443",
        ],
    )
    assert helm.exit_code == 0, helm.output
    values = yaml.safe_load((tmp_path / "chart/examplefed/values.yaml").read_text())
    assert values["server"]["host"] == "fl" and values["server"]["port"] == 9443
    bad = runner.invoke(cli, ["fed", "gen", "compose", str(EXAMPLEFED), "--port", "http", "--force"])
    assert bad.exit_code == 1 and "--port must be a port number" in bad.output
    assert "Traceback" not in bad.output and len(bad.output.strip().splitlines()) == 1


SECRET_VALUE = "s3cr3t-file-value"


def _with_secrets_file(tmp_path: Path) -> Path:
    """examplefed whose reception also reads a secrets file, present in the operator's folder."""
    config = _with_provision(tmp_path, {})
    data = yaml.safe_load(config.read_text())
    data["sites"]["reception"]["secrets"]["file"] = "secrets/reception.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    (config.parent / "secrets").mkdir()
    (config.parent / "secrets" / "reception.yaml").write_text(f"badge-key: {SECRET_VALUE}\n")
    return config


def _no_secret_in(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert SECRET_VALUE.encode() not in path.read_bytes(), path


def test_compose_mounts_a_sites_secrets_file_from_a_compose_secret(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    config = _with_secrets_file(tmp_path)
    fed = load_config(config)
    generate_compose(fed, config_path=config, output_dir=tmp_path / "compose")
    generate_docker(fed, config_path=config, output_dir=tmp_path / "docker", wheelhouse=tmp_path / "wh")
    for out in (tmp_path / "compose", tmp_path / "docker"):
        _no_secret_in(out)
    doc = yaml.safe_load((tmp_path / "compose/compose.yaml").read_text())
    jsonschema.validate(doc, _compose_schema())
    assert doc["secrets"] == {"reception-secrets": {"file": "./secrets/reception/reception.yaml"}}
    assert doc["services"]["reception"]["secrets"] == [
        {"source": "reception-secrets", "target": "/opt/dfm/kit/local/custom/dfm/secrets/reception.yaml"}
    ]
    assert "secrets" not in doc["services"]["concierge"]
    assert (
        "/opt/dfm/kit/local/custom/dfm/secrets/reception.yaml"
        in (tmp_path / "docker/reception/Dockerfile").read_text()
    )


def test_helm_mounts_a_sites_secrets_file_from_a_kubernetes_secret(tmp_path):
    config = _with_secrets_file(tmp_path)
    fed = load_config(config)
    generate_helm(fed, config_path=config, output_dir=tmp_path / "helm")
    _no_secret_in(tmp_path / "helm")
    values = yaml.safe_load((tmp_path / "helm/examplefed/values.yaml").read_text())
    assert values["sites"]["reception"]["secretsFile"] == {
        "secret": "examplefed-secrets-file-reception",
        "key": "reception.yaml",
        "path": "/opt/dfm/kit/local/custom/dfm/secrets/reception.yaml",
    }
    script = (tmp_path / "helm/deploy.sh").read_text()
    assert (
        'create_file_secret examplefed-secrets-file-reception reception.yaml "$SECRETS_DIR"/reception/'
        in script
    )
    assert subprocess.run(["bash", "-n", str(tmp_path / "helm/deploy.sh")]).returncode == 0
    for source in ("workspace", "env"):
        docs = _render(tmp_path / "helm/examplefed", {"startupPackageSource": source})
        _validate_k8s(docs)
        pod = next(d for d in docs if d["metadata"]["name"] == "fed-reception")["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "secrets-file")
        assert volume["secret"]["secretName"] == "examplefed-secrets-file-reception"
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "secrets-file")
        assert mount == {
            "name": "secrets-file",
            "mountPath": "/opt/dfm/kit/local/custom/dfm/secrets/reception.yaml",
            "subPath": "reception.yaml",
            "readOnly": True,
        }
        concierge = next(d for d in docs if d["metadata"]["name"] == "fed-concierge")["spec"]["template"][
            "spec"
        ]
        assert "secrets-file" not in str(concierge)


def test_a_secrets_file_outside_the_federation_folder_is_refused(tmp_path):
    config = _with_secrets_file(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["sites"]["reception"]["secrets"]["file"] = "../elsewhere.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(GenerateError, match=re.escape("site 'reception': secrets.file '../elsewhere.yaml'")):
        generate_compose(load_config(config), config_path=config, output_dir=tmp_path / "compose")
