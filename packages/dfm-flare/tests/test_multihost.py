"""A federation across machines: FLARE's server, three sites and the application, each on its own host.

Hosts are Linux network namespaces (``dev/netns.py``): a bridge in a switch
namespace, one veth link per host, addresses inside the namespaces only, and
the server reached by the host name in the kits (``/etc/netns/<ns>/hosts``),
never over loopback. Each participant gets its own venv installed from one
wheelhouse build with only its own requirement set (a site: its kit's
``local/custom/requirements.txt``), and is started from its kit's
``startup/start.sh``. From the application's namespace:

1. ``dfm deploy status --kit`` until every site is connected, then
   ``dfm fed submit --target flare --kit`` runs examplefed end to end; so
   does clinics, a second deployment on the same hosts (its own server on
   another port and name, provisioned with ``dfm fed gen provision``): each
   clinic's kit carries its own database and nobody else's, the
   application's copy of the federation has no data, and the federated
   statistics equal those computed centrally over the operator's data;
2. one site's link is cut: a job on that site fails naming it, noticed by
   the heartbeat (``lost_after``; how long it took is printed), while its
   processes live on;
3. the link comes back: the site reconnects (``dfm deploy status`` exits 0
   again) and a new submission runs; whether the cut session survives is
   recorded (printed), not asserted.

Everything is torn down on every path (processes by namespace, namespaces,
``/etc/netns`` folders) and checked. Needs root, ``ip``, uv and the package
index (for third-party packages; uv's cache is shared by the venvs). Skipped
otherwise. ``DFM_WHEELHOUSE=dist`` reuses a wheelhouse built by ``-s build``.

    python3 dev/nox.py -s flare -- packages/dfm-flare/tests/test_multihost.py -s
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "dev"))
import netns  # dev/netns.py
import wheelhouse  # dev/wheelhouse.py

pytestmark = [pytest.mark.flare, pytest.mark.slow]

EXAMPLEFED = ROOT / "federations" / "examplefed"
SERVER_HOST = "flare.examplefed.test"  # in the kits; resolved by each namespace's hosts file
PORT = 8002
# DFM site -> the host (namespace) of the organisation that runs it
PLACEMENT = {"concierge": "org-a", "server": "org-b", "reception": "org-c"}
SECRETS = {"reception": {"EXAMPLEFED_RECEPTION_BADGE_KEY": "badge-123"}}
CUT_SITE = "concierge"
CLINICS = ROOT / "federations" / "clinics"
CLINICS_HOST = "flare.clinics.test"
CLINICS_PORT = 8003
CLINICS_PLACEMENT = {"research": "org-b", "clinic-a": "org-a", "clinic-b": "org-b", "clinic-c": "org-c"}
# the federated statistics of demo.py, computed centrally over the operator's data (app's venv)
CENTRAL = (
    "import json, sys; from pathlib import Path; import demo; "
    "print(json.dumps(demo.central_statistics(demo.read_all_rows(Path('data').resolve(), int(sys.argv[1])))))"
)
LOST_AFTER = 5.0

HELLO = """
from dfm.api import Pipeline, PlaceParam, Yield


def get_pipeline(fed):
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name"), site="concierge"), place="hello")
    return p


def get_pipeline_parameters(argv):
    return [{"name": n} for n in argv]
"""

# run in the app's namespace: one session; a job before the cut, one during, one after the restore
CUT_APP = """
import json, sys, time
from dfm.api import Pipeline, PlaceParam, Yield, load_federation
from dfm.runner import Session

config, kit, site, lost_after = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
fed = load_federation(config)


def run(s, prep, name, timeout):
    start = time.monotonic()
    job = s.execute(prep, {"name": name})
    status = job.wait(timeout)
    values = [r.value for r in job.results(timeout=1)] if status.value == "FINISHED" else []
    return {"status": status.value, "error": job.error, "values": values, "seconds": time.monotonic() - start}


with Session(fed, target="flare", options={"kit": kit, "lost_after": lost_after}) as s:
    with Pipeline() as p:
        Yield(fed.api.users.GreetMe(name=PlaceParam("name"), site=site), place="hello")
    prep = s.prepare(p)
    print(json.dumps({"before": run(s, prep, "before", 60)}), flush=True)
    sys.stdin.readline()  # the test cuts the link
    print(json.dumps({"during": run(s, prep, "during", 60)}), flush=True)
    sys.stdin.readline()  # the test restored the link and saw the site reconnect
    print(json.dumps({"after": run(s, prep, "after", 30)}), flush=True)
"""


def _run(
    argv: list[object], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=env)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def _distributions() -> dict[str, Path]:
    found = {}
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        name = re.search(r'^name\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
        assert name is not None
        found[name[1]] = pyproject.parent
    return found


def _wheelhouse(tmp: Path, uv: str) -> Path:
    given = os.environ.get("DFM_WHEELHOUSE")
    if given and list(Path(given).glob("dfm_flare-*.whl")):
        return Path(given).resolve()
    dist = tmp / "dist"
    wheelhouse.build_wheelhouse(_distributions(), dist, _run, uv=uv)
    return dist


_venv = netns.install_venv


def _venvs(uv: str, dist: Path, wanted: dict[str, tuple[Path, list[str]]]) -> dict[str, Path]:
    """Install several venvs at once: uv mostly links from its cache, so the waits overlap."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = {key: pool.submit(_venv, uv, dist, where, reqs) for key, (where, reqs) in wanted.items()}
        return {key: future.result() for key, future in made.items()}


_clean_env = netns.machine_env


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(netns.unavailable() is not None, reason=str(netns.unavailable()))
def test_examplefed_across_namespaces_survives_a_cut_link() -> None:
    uv = netns.uv_executable(ROOT)
    if uv is None:
        pytest.skip("uv is needed to install the per-site venvs in reasonable time")
    from dfm.flare.layout import DeploymentState, client_names
    from dfm.flare.provision import provision
    from dfm.kernel.config import load_config

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="dfm-multihost-"))
    tag = f"dm{os.getpid() % 100000}"
    hosts = ["server", *sorted(set(PLACEMENT.values())), "app"]
    lan = netns.Lan(tag, hosts, names={"server": [SERVER_HOST, CLINICS_HOST]})
    timings: dict[str, float] = {}
    try:
        # -- the operator provisions on their machine and hands out the kits --------------------
        dist = _wheelhouse(tmp, uv)
        timings["wheelhouse"] = time.monotonic() - started
        state = provision(
            EXAMPLEFED / "examplefed.dfm.yaml",
            tmp / "provisioned",
            port=PORT,
            host=SERVER_HOST,
            storage=tmp / "machines" / "server" / "storage",  # a folder on the server's machine
        )
        fed = load_config(EXAMPLEFED / "examplefed.dfm.yaml")
        clients = client_names(fed)
        machines = tmp / "machines"
        kits: dict[str, Path] = {}
        for participant, host in [("server", "server"), *((clients[s], h) for s, h in PLACEMENT.items())]:
            kits[participant] = machines / host / participant
            shutil.copytree(state.kit(participant), kits[participant], symlinks=True)
        app = machines / "app"
        admin_kit = app / "admin-kit"
        shutil.copytree(state.admin_kit, admin_kit)
        shutil.copytree(EXAMPLEFED, app / "examplefed", ignore=shutil.ignore_patterns("__pycache__"))
        config = app / "examplefed" / "examplefed.dfm.yaml"
        (app / "hello.py").write_text(HELLO)
        (app / "cut_app.py").write_text(CUT_APP)

        # -- every machine installs what it runs -----------------------------------------------
        t0 = time.monotonic()
        wanted = {"server": (machines / "server" / "venv", ["dfm-flare"])}
        for site, host in PLACEMENT.items():
            requirements = (kits[clients[site]] / "local" / "custom" / "requirements.txt").read_text().split()
            wanted[site] = (machines / host / f"venv-{site}", requirements)
        wanted["app"] = (app / "venv", ["dfm-cli[all,flare]"])
        venvs = _venvs(uv, dist, wanted)
        timings["venvs"] = time.monotonic() - t0

        # -- clinics: the operator (with the app's venv) writes the clinics' data, provisions --------
        t0 = time.monotonic()
        operator = tmp / "operator" / "clinics"
        shutil.copytree(CLINICS, operator, ignore=shutil.ignore_patterns("__pycache__", "data"))
        operator_env = _clean_env(tmp / "operator", venvs["app"])
        _run([venvs["app"] / "bin" / "python", operator / "make_data.py", "--out", operator / "data"])
        provisioned = tmp / "provisioned-clinics"
        _run(
            [
                venvs["app"] / "bin" / "dfm",
                "fed",
                "gen",
                "provision",
                operator / "clinics.dfm.yaml",
                "--out",
                provisioned,
                "--host",
                CLINICS_HOST,
                "--port",
                CLINICS_PORT,
                "--storage",
                machines / "server" / "storage-clinics",
            ],
            env=operator_env,
        )
        clinics_state = DeploymentState.load(provisioned)
        wanted = {}
        for site, host in CLINICS_PLACEMENT.items():
            kit = kits[f"clinics/{site}"] = machines / host / "clinics" / site
            shutil.copytree(clinics_state.kit(clinics_state.sites[site]), kit, symlinks=True)
            data = sorted(p.name for p in (kit / "local" / "custom" / "dfm").rglob("*.sqlite"))
            assert data == ([f"{site}.sqlite"] if site.startswith("clinic-") else []), (site, data)
            requirements = (kit / "local" / "custom" / "requirements.txt").read_text().split()
            wanted[f"clinics/{site}"] = (machines / host / f"venv-clinics-{site}", requirements)
        venvs.update(_venvs(uv, dist, wanted))
        kits["clinics/server"] = machines / "server" / "clinics-server"
        shutil.copytree(clinics_state.kit("server"), kits["clinics/server"], symlinks=True)
        clinics_admin = app / "clinics-admin-kit"
        shutil.copytree(clinics_state.admin_kit, clinics_admin)
        shutil.copytree(operator, app / "clinics", ignore=shutil.ignore_patterns("__pycache__", "data"))
        clinics_config = app / "clinics" / "clinics.dfm.yaml"
        assert not list((app / "clinics").rglob("*.sqlite"))  # the application holds no patient data
        timings["clinics setup"] = time.monotonic() - t0
        for site, venv in venvs.items():
            if site != "app" and site != "server":  # a site runs without the CLI
                assert not (venv / "bin" / "dfm").exists()

        # -- the network, the processes ----------------------------------------------------------
        lan.create()
        assert (
            lan.run("app", ["getent", "hosts", SERVER_HOST], capture_output=True, text=True).stdout.split()[0]
            == lan.address["server"]
        )
        t0 = time.monotonic()
        lan.popen(
            "server",
            ["bash", kits["server"] / "startup" / "start.sh"],
            env=_clean_env(machines / "server", venvs["server"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).wait(30)
        for site, host in PLACEMENT.items():
            lan.popen(
                host,
                ["bash", kits[clients[site]] / "startup" / "start.sh"],
                env=_clean_env(machines / host, venvs[site], SECRETS.get(site)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).wait(30)
        lan.popen(
            "server",
            ["bash", kits["clinics/server"] / "startup" / "start.sh"],
            env=_clean_env(machines / "server", venvs["server"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).wait(30)
        for site, host in CLINICS_PLACEMENT.items():
            lan.popen(
                host,
                ["bash", kits[f"clinics/{site}"] / "startup" / "start.sh"],
                env=_clean_env(machines / host, venvs[f"clinics/{site}"]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).wait(30)
        app_env = _clean_env(app, venvs["app"])
        dfm = [venvs["app"] / "bin" / "dfm"]

        def status(fed_config: Path = config, kit: Path = admin_kit) -> subprocess.CompletedProcess[str]:
            return lan.run(
                "app",
                [*dfm, "deploy", "status", fed_config, "--kit", kit, "--json", "--timeout", "10"],
                env=app_env,
                capture_output=True,
                text=True,
                timeout=60,
            )

        def wait_all_connected(
            limit: float, fed_config: Path = config, kit: Path = admin_kit
        ) -> dict[str, object]:
            deadline = time.monotonic() + limit
            while True:
                done = status(fed_config, kit)
                if done.returncode == 0:
                    return json.loads(done.stdout)  # type: ignore[no-any-return]
                if time.monotonic() > deadline:
                    logs = {
                        name: (kit / "log.txt").read_text(errors="replace")[-1500:]
                        for name, kit in kits.items()
                        if (kit / "log.txt").exists()
                    }
                    raise AssertionError(f"not all sites connected: {done.stdout} {done.stderr}\n{logs}")
                time.sleep(2)

        report = wait_all_connected(120)
        clinics_report = wait_all_connected(120, clinics_config, clinics_admin)
        timings["start"] = time.monotonic() - t0
        assert {site: row["connected"] for site, row in clinics_report["sites"].items()} == dict.fromkeys(
            CLINICS_PLACEMENT, True
        )
        assert {site: row["connected"] for site, row in report["sites"].items()} == dict.fromkeys(
            PLACEMENT, True
        )
        digests = {row["config_digest"] for row in report["sites"].values()}
        assert digests == {report["config_digest"]}
        assert report["server"] == f"{SERVER_HOST}:{PORT}"

        # -- 1. end to end from the app's namespace ---------------------------------------------
        def hello(name: str) -> list[object]:
            return [app / "hello.py", "--json", "--", name]

        def start_submit(
            name: str, fed_config: Path = config, kit: Path = admin_kit, pipeline: list[object] | None = None
        ) -> subprocess.Popen[str]:
            return lan.popen(
                "app",
                [
                    *dfm,
                    "fed",
                    "submit",
                    fed_config,
                    "--target",
                    "flare",
                    "--kit",
                    kit,
                    "pipeline",
                    *(pipeline or hello(name)),
                ],
                env=app_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
            out, err = proc.communicate(timeout=240)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

        def submit(name: str) -> subprocess.CompletedProcess[str]:
            return finish(start_submit(name))

        # both federations at once: two sessions of the application, two deployments
        t0 = time.monotonic()
        demo = app / "clinics" / "demo.py"
        ada = start_submit("Ada")
        statistics = start_submit("", clinics_config, clinics_admin, [demo, "--json", "--", "40"])
        done, clinics_done = finish(ada), finish(statistics)
        timings["submit both"] = time.monotonic() - t0
        assert done.returncode == 0, done.stdout + done.stderr
        assert [json.loads(line)["value"] for line in done.stdout.splitlines()] == [
            "Hello, Ada! Greetings from the concierge."
        ]
        assert "FINISHED" in done.stderr

        assert clinics_done.returncode == 0, clinics_done.stdout + clinics_done.stderr
        federated = {r["place"]: r["value"] for r in map(json.loads, clinics_done.stdout.splitlines())}
        central = _run([venvs["app"] / "bin" / "python", "-c", CENTRAL, "40"], cwd=operator)
        assert federated == json.loads(central.stdout)
        assert federated["patients"] > 0

        # -- 2. a cut link ----------------------------------------------------------------------
        cut_host = PLACEMENT[CUT_SITE]

        def client_parent(host: str) -> list[int]:  # the site's FLARE client (not its job processes)
            mine = set(_pids_mentioning(str(kits[clients[CUT_SITE]])))  # not clinic-a's on the same host
            return [pid for pid in lan.pids(host) if pid in _pids_mentioning("client_train") and pid in mine]

        before_cut = client_parent(cut_host)
        assert len(before_cut) == 1
        cut_app = lan.popen(
            "app",
            [venvs["app"] / "bin" / "python", app / "cut_app.py", config, admin_kit, CUT_SITE, LOST_AFTER],
            env=app_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert cut_app.stdin is not None and cut_app.stdout is not None

        def line(what: str) -> dict[str, dict[str, object]]:
            text = cut_app.stdout.readline()  # type: ignore[union-attr]
            if not text:
                err = cut_app.stderr.read() if cut_app.stderr else ""  # type: ignore[union-attr]
                raise AssertionError(f"the app ended before '{what}': {err[-3000:]}")
            return json.loads(text)  # type: ignore[no-any-return]

        before = line("before")["before"]
        assert before["status"] == "FINISHED" and before["values"] == [
            "Hello, before! Greetings from the concierge."
        ]
        lan.cut(cut_host)
        cut_app.stdin.write("cut\n")
        cut_app.stdin.flush()
        during = line("during")["during"]
        print(f"\njob during the cut: {during}")
        assert during["status"] == "FAILED"
        assert f"'{CUT_SITE}'" in str(during["error"]), during
        # the heartbeat noticed it (not the job's own 60 s wait); how long it took is printed, not asserted
        assert "no heartbeat" in str(during["error"]), during
        assert client_parent(cut_host) == before_cut, "a cut link must not end the site's FLARE client"

        # -- 3. the link comes back -------------------------------------------------------------
        t0 = time.monotonic()
        lan.restore(cut_host)
        wait_all_connected(180)
        timings["reconnect"] = time.monotonic() - t0
        cut_app.stdin.write("restored\n")
        cut_app.stdin.flush()
        after = line("after")["after"]
        print(f"same session after the restore: {after}")
        cut_app.stdin.close()
        try:
            cut_app.wait(60)
        except subprocess.TimeoutExpired:
            cut_app.kill()
            cut_app.wait(10)
        for stream in (cut_app.stdout, cut_app.stderr):
            stream.close()  # type: ignore[union-attr]
        t0 = time.monotonic()
        done = submit("Grace")
        timings["submit after restore"] = time.monotonic() - t0
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Hello, Grace!" in done.stdout

        # -- a submission against a server that is down fails, in one line ----------------------
        assert lan.kill_all(host="server") == []
        t0 = time.monotonic()
        down = submit("Nobody")
        timings["submit while down"] = time.monotonic() - t0
        assert down.returncode == 1  # in seconds (printed with the timings), not the 240 s harness limit
        errors = [text for text in down.stderr.splitlines() if not text.startswith("flare: ")]
        assert len(errors) == 1 and "not reachable" in errors[0], down.stderr
    finally:
        problems = lan.teardown()
        left = _pids_mentioning(str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
        timings["total"] = time.monotonic() - started
        print("multi-host timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    assert problems == []
    assert left == [], f"processes left behind: {left}"
