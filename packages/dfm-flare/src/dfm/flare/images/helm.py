"""``dfm fed gen helm``: a Helm chart for the server and any number of sites, and a deploy script.

Output folder::

    deploy.sh                 kits (and site secrets from the environment) as Secrets, then
                              helm upgrade --install
    <chart>/Chart.yaml
    <chart>/values.yaml       per role: image, resources, nodeSelector, tolerations; namespace
    <chart>/templates/        server Deployment + Service, one Deployment per site

With ``startupPackageSource: workspace`` (the default) each pod unpacks its
startup kit from a Secret (``<name>-kit-<role>``, made by ``deploy.sh`` from the
provisioned kits) into an ``emptyDir`` workspace before FLARE starts; with
``env`` the kit baked into the image (``dfm fed gen docker``) is used. Site
secrets reach a client through ``envFrom`` of a Secret named in
``sites.<role>.secretsSecret`` (``deploy.sh`` creates it from the variables
named in ``secretEnv``, when they are set), and a site's secrets file
(``secrets.file``) is mounted from the Secret ``sites.<role>.secretsFile.secret``
(``deploy.sh`` creates it from ``secrets/<role>/``) where the site's vault reads
it: no value is ever in the chart, its values or the images.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfm.flare.images.common import (
    GenerateError,
    docker_settings,
    dump_yaml,
    header,
    merge_patch,
    provision_section,
    relative_to,
    roles,
    write_files,
)
from dfm.flare.images.docker import KIT_DIR, USER_ID, secrets_file_mount
from dfm.flare.layout import FL_PORT
from dfm.kernel.config.models import Federation

__all__ = ["chart_values", "generate_helm", "helm_settings"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-") or "dfm"


def helm_settings(federation: Federation, patch: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``provision.helm`` checked, with defaults: path, name, chartVersion, appVersion, source, namespace."""
    where = "provision.helm"
    section = provision_section(federation, "helm", patch or {})
    allowed = ("path", "name", "chartVersion", "appVersion", "startup_package_source", "namespace")
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise GenerateError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(allowed)})")
    name = str(section.get("name") or _slug(federation.name))
    if not _DNS_LABEL.match(name):
        raise GenerateError(f"{where}.name {name!r} must be a DNS label (lowercase letters, digits, '-')")
    version = str(section.get("chartVersion") or "0.1.0")
    if not _SEMVER.match(version):
        raise GenerateError(f"{where}.chartVersion {version!r} must be a semantic version (1.2.3)")
    source = str(section.get("startup_package_source") or "workspace")
    if source not in ("env", "workspace"):
        raise GenerateError(f"{where}.startup_package_source must be 'env' or 'workspace', not {source!r}")
    namespace = str(section.get("namespace") or name)
    if not _DNS_LABEL.match(namespace):
        raise GenerateError(f"{where}.namespace {namespace!r} must be a DNS label")
    return {
        "path": section.get("path"),
        "name": name,
        "chartVersion": version,
        "appVersion": str(section.get("appVersion") or federation.info.api_version),
        "startup_package_source": source,
        "namespace": namespace,
    }


def chart_values(
    federation: Federation,
    config_path: Path,
    *,
    patch: Mapping[str, Any] | None = None,
    server_host: str = "server",
    port: int = FL_PORT,
) -> dict[str, Any]:
    """``values.yaml`` before ``patch['values']``."""
    helm = helm_settings(federation, patch)
    images = docker_settings(federation, patch)
    if not _DNS_LABEL.match(server_host):
        raise GenerateError(
            f"server host {server_host!r} must be a DNS label: it names the server's Service "
            "(provision the kits with the same --host)"
        )
    name = helm["name"]
    values: dict[str, Any] = {
        "namespace": helm["namespace"],
        "startupPackageSource": helm["startup_package_source"],
        "imagePullPolicy": "IfNotPresent",
        "imagePullSecrets": [],
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
        },
    }
    sites: dict[str, Any] = {}
    for role in roles(federation, config_path):
        if role.kind == "admin":
            continue
        entry: dict[str, Any] = {
            "participant": role.participant,
            "image": images.image_name(role, pushed=images.push_url is not None),
            "kitSecret": f"{name}-kit-{role.slug}",
            "resources": {},
            "nodeSelector": {},
            "tolerations": [],
        }
        if role.kind == "server":
            values["server"] = {
                "host": server_host,
                "port": port,
                "adminPort": port,
                "serviceType": "ClusterIP",
                **entry,
            }
            continue
        entry["site"] = role.site
        entry["enabled"] = True
        entry["secretEnv"] = list(role.secret_env)
        entry["secretsSecret"] = f"{name}-secrets-{role.slug}" if role.secret_env else ""
        mount = secrets_file_mount(role)
        if mount:
            if not _SECRET_KEY.match(mount[0]):
                raise GenerateError(
                    f"site '{role.site}': secrets file name {mount[0]!r} must be letters, digits, '-', '_' "
                    "or '.' (it is the key in its Kubernetes Secret)"
                )
            entry["secretsFile"] = {
                "secret": f"{name}-secrets-file-{role.slug}",
                "key": mount[0],
                "path": mount[1],
            }
        sites[role.slug] = entry
    values["sites"] = sites
    return values


HELPERS = """{{/* Generated by dfm-flare. */}}
{{- define "dfm.namespace" -}}
{{ .Values.namespace | default .Release.Namespace }}
{{- end }}

{{- define "dfm.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* A FLARE participant's pod spec: (dict "root" $ "role" VALUES "name" CONTAINER) */}}
{{- define "dfm.podSpec" -}}
{{- $root := .root -}}
{{- $role := .role -}}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with $role.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if eq $root.Values.startupPackageSource "workspace" }}
initContainers:
  - name: kit
    image: {{ $role.image }}
    imagePullPolicy: {{ $root.Values.imagePullPolicy }}
    command: ["python3", "-m", "tarfile", "-e", "/var/run/dfm-kit/kit.tar.gz", "KIT_DIR"]
    securityContext:
      allowPrivilegeEscalation: false
    volumeMounts:
      - name: kit-secret
        mountPath: /var/run/dfm-kit
        readOnly: true
      - name: kit
        mountPath: KIT_DIR
{{- end }}
containers:
  - name: {{ .name }}
    image: {{ $role.image }}
    imagePullPolicy: {{ $root.Values.imagePullPolicy }}
    securityContext:
      allowPrivilegeEscalation: false
    {{- with .ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if $role.secretsSecret }}
    envFrom:
      - secretRef:
          name: {{ $role.secretsSecret }}
          optional: true
    {{- end }}
    {{- with $role.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if or (eq $root.Values.startupPackageSource "workspace") $role.secretsFile }}
    volumeMounts:
      {{- if eq $root.Values.startupPackageSource "workspace" }}
      - name: kit
        mountPath: KIT_DIR
      {{- end }}
      {{- with $role.secretsFile }}
      # the site's secrets file, where its vault reads it (beside the kit's config copy)
      - name: secrets-file
        mountPath: {{ .path }}
        subPath: {{ .key }}
        readOnly: true
      {{- end }}
    {{- end }}
{{- if or (eq $root.Values.startupPackageSource "workspace") $role.secretsFile }}
volumes:
  {{- if eq $root.Values.startupPackageSource "workspace" }}
  - name: kit-secret
    secret:
      secretName: {{ $role.kitSecret }}
      defaultMode: 0400
  - name: kit
    emptyDir: {}
  {{- end }}
  {{- with $role.secretsFile }}
  - name: secrets-file
    secret:
      secretName: {{ .secret }}
      defaultMode: 0440
  {{- end }}
{{- end }}
{{- end }}
""".replace("KIT_DIR", KIT_DIR)

SERVER = """{{- $server := .Values.server }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-server
  namespace: {{ include "dfm.namespace" . }}
  labels:
    {{- include "dfm.labels" . | nindent 4 }}
    app.kubernetes.io/component: server
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
      app.kubernetes.io/component: server
  template:
    metadata:
      labels:
        {{- include "dfm.labels" . | nindent 8 }}
        app.kubernetes.io/component: server
    spec:
      {{- $ports := list (dict "name" "fl" "containerPort" (int $server.port)) }}
      {{- if ne (int $server.adminPort) (int $server.port) }}
      {{- $ports = append $ports (dict "name" "admin" "containerPort" (int $server.adminPort)) }}
      {{- end }}
      {{- include "dfm.podSpec" (dict "root" $ "role" $server "name" "server" "ports" $ports) | nindent 6 }}
---
apiVersion: v1
kind: Service
metadata:
  # the host name the kits were provisioned with: clients connect to it
  name: {{ $server.host }}
  namespace: {{ include "dfm.namespace" . }}
  labels:
    {{- include "dfm.labels" . | nindent 4 }}
    app.kubernetes.io/component: server
spec:
  type: {{ $server.serviceType }}
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/component: server
  ports:
    # FLARE's fed (client) port; the admin port is the same one unless adminPort differs
    - name: fl
      port: {{ $server.port }}
      targetPort: fl
    {{- if ne (int $server.adminPort) (int $server.port) }}
    - name: admin
      port: {{ $server.adminPort }}
      targetPort: admin
    {{- end }}
"""

CLIENTS = """{{- range $slug, $site := .Values.sites }}
{{- if $site.enabled }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-{{ $slug }}
  namespace: {{ include "dfm.namespace" $ }}
  labels:
    {{- include "dfm.labels" $ | nindent 4 }}
    app.kubernetes.io/component: client
    dfm.io/site: {{ $slug }}
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $.Release.Name }}
      dfm.io/site: {{ $slug }}
  template:
    metadata:
      labels:
        {{- include "dfm.labels" $ | nindent 8 }}
        app.kubernetes.io/component: client
        dfm.io/site: {{ $slug }}
    spec:
      {{- include "dfm.podSpec" (dict "root" $ "role" $site "name" "client") | nindent 6 }}
{{- end }}
{{- end }}
"""


def _deploy_script(federation: Federation, values: dict[str, Any], chart: str, kits: str) -> str:
    q = shlex.quote
    kit_rows = [f"{values['server']['participant']}={values['server']['kitSecret']}"]
    kit_rows += [f"{s['participant']}={s['kitSecret']}" for s in values["sites"].values()]
    secret_rows = []
    for site in values["sites"].values():
        if site["secretEnv"]:
            secret_rows.append(
                f"  create_site_secret {q(site['secretsSecret'])} {' '.join(site['secretEnv'])}"
            )
    for slug, site in values["sites"].items():
        file = site.get("secretsFile")
        if file:
            secret_rows.append(
                f"  create_file_secret {q(file['secret'])} {q(file['key'])} "
                f'"$SECRETS_DIR"/{q(slug)}/{q(file["key"])}'
            )
    secrets_block = "\n".join(secret_rows) or "  : # no site reads secrets from its environment or a file"
    return f"""#!/usr/bin/env bash
{header(federation, "helm")}#
# Usage: ./deploy.sh [extra helm arguments, e.g. -f my-values.yaml]
#   DFM_KITS       the provisioned kits: a prod_NN folder, or the folder 'dfm fed gen provision' wrote
#   DFM_NAMESPACE  [{values["namespace"]}]   DFM_RELEASE [{chart}]   KUBECTL [kubectl]   HELM [helm]
#   DFM_SECRETS_DIR  [$HERE/secrets]  each site's secrets file, as ROLE/FILE (sites with secrets.file)
# Creates each participant's startup kit as a Secret (kit.tar.gz), each site's secrets Secret from the
# environment variables the site reads (values never written to disk outside a 0600 temporary file)
# and from its secrets file, then installs or upgrades the chart.
set -euo pipefail

HERE=$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)
KITS=${{DFM_KITS:-{kits if kits.startswith("/") else "$HERE/" + kits}}}
NAMESPACE=${{DFM_NAMESPACE:-{values["namespace"]}}}
RELEASE=${{DFM_RELEASE:-{chart}}}
KUBECTL=${{KUBECTL:-kubectl}}
HELM=${{HELM:-helm}}
SECRETS_DIR=${{DFM_SECRETS_DIR:-$HERE/secrets}}
PYTHON=${{PYTHON:-python3}}
SOURCE=$(sed -n 's/^startupPackageSource: *//p' "$HERE/{chart}/values.yaml")

if [ -f "$KITS/dfm-flare.json" ]; then
  KITS=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["prod_dir"])' \\
    "$KITS/dfm-flare.json")
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 700 "$tmp"

apply() {{ "$KUBECTL" apply -f - >/dev/null; }}
"$KUBECTL" create namespace "$NAMESPACE" --dry-run=client -o yaml | apply

if [ "$SOURCE" = workspace ]; then
  for row in {" ".join(q(r) for r in kit_rows)}; do
    participant=${{row%%=*}} secret=${{row#*=}}
    if [ ! -d "$KITS/$participant/startup" ]; then
      echo "no startup kit for $participant in $KITS" \\
        "(run 'dfm fed gen provision {federation.name} --host SERVER_HOST')" >&2
      exit 1
    fi
    tar -C "$KITS/$participant" -czf "$tmp/kit.tar.gz" .
    "$KUBECTL" -n "$NAMESPACE" create secret generic "$secret" --from-file=kit.tar.gz="$tmp/kit.tar.gz" \\
      --dry-run=client -o yaml | apply
    rm -f "$tmp/kit.tar.gz"
    echo "secret $secret: startup kit of $participant"
  done
fi

create_site_secret() {{
  local secret=$1 name missing=()
  shift
  (umask 077; : > "$tmp/env")
  for name in "$@"; do
    if [ -z "${{!name+x}}" ]; then missing+=("$name"); continue; fi
    printf '%s=%s\\n' "$name" "${{!name}}" >> "$tmp/env"
  done
  if [ "${{#missing[@]}}" -gt 0 ]; then
    echo "secret $secret not created: ${{missing[*]}} not set (create it yourself, or set them and rerun)" >&2
  else
    "$KUBECTL" -n "$NAMESPACE" create secret generic "$secret" --from-env-file="$tmp/env" \\
      --dry-run=client -o yaml | apply
    echo "secret $secret: $*"
  fi
  rm -f "$tmp/env"
}}

create_file_secret() {{
  local secret=$1 key=$2 file=$3
  if [ ! -f "$file" ]; then
    echo "secret $secret not created: $file not found (create it yourself, or add the file and rerun)" >&2
    return
  fi
  "$KUBECTL" -n "$NAMESPACE" create secret generic "$secret" --from-file="$key=$file" \\
    --dry-run=client -o yaml | apply
  echo "secret $secret: $key"
}}
{secrets_block}

"$HELM" upgrade --install "$RELEASE" "$HERE/{chart}" --namespace "$NAMESPACE" "$@"
"""


def generate_helm(
    federation: Federation,
    *,
    config_path: str | Path,
    output_dir: str | Path,
    force: bool = False,
    patch: Mapping[str, Any] | None = None,
    server_host: str = "server",
    port: int = FL_PORT,
    kits: str | Path | None = None,
) -> list[Path]:
    """Write the chart (``values.yaml`` with ``patch['values']`` merged in) and ``deploy.sh``."""
    patch = patch or {}
    out = Path(output_dir)
    helm = helm_settings(federation, patch)
    values = chart_values(
        federation, Path(config_path).resolve(), patch=patch, server_host=server_host, port=port
    )
    values = merge_patch(values, patch.get("values") or {})
    if not isinstance(values.get("server"), dict) or not isinstance(values.get("sites"), dict):
        raise GenerateError("the values patch left no 'server' or no 'sites' mapping")
    chart = helm["name"]
    chart_yaml = {
        "apiVersion": "v2",
        "name": chart,
        "description": (
            f"DFM federation {federation.name} on NVIDIA FLARE: server and {len(values['sites'])} site(s)"
        ),
        "type": "application",
        "version": helm["chartVersion"],
        "appVersion": helm["appVersion"],
    }
    kits_rel = relative_to(kits if kits is not None else Path.cwd() / f"{federation.name}-flare", out)
    files = {
        f"{chart}/Chart.yaml": header(federation, "helm") + dump_yaml(chart_yaml),
        f"{chart}/values.yaml": header(federation, "helm") + dump_yaml(values),
        f"{chart}/templates/_helpers.tpl": HELPERS,
        f"{chart}/templates/server.yaml": SERVER,
        f"{chart}/templates/clients.yaml": CLIENTS,
        f"{chart}/.helmignore": ".dfm-generated\n",
        "deploy.sh": _deploy_script(federation, values, chart, kits_rel),
    }
    return write_files(out, files, force=force, executable=("deploy.sh",))
