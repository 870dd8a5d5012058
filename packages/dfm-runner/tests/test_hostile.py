"""The hostile-peer suite on both local transports, and attacks only the process transport has."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dfm.runner import JobStatus, Session
from dfm.runner.testing import ALICE_SECRET, HOSTILEFED, HostilePeerSuite, env_session, wait_for_refusal
from dfm.runner.transports.process import check_hello, pair_key


def _session(transport: str) -> Iterator[Session]:
    yield from env_session(HOSTILEFED, {"HOSTILEFED_ALICE_TOKEN": ALICE_SECRET}, transport=transport)


class TestInprocHostile(HostilePeerSuite):
    @pytest.fixture(scope="class")
    @classmethod
    def hostile_session(cls) -> Iterator[Session]:
        yield from _session("inproc")


class TestProcessHostile(HostilePeerSuite):
    separate_processes = True

    @pytest.fixture(scope="class")
    @classmethod
    def hostile_session(cls) -> Iterator[Session]:
        yield from _session("process")

    def test_spill_names_from_the_wire_are_never_paths(self, hostile_session, hostilefed, tmp_path):
        sentinel = tmp_path / "sentinel.txt"
        sentinel.write_text("do not touch")
        job, _ = self.victim(hostile_session, hostilefed, "v-spill")
        assert self.attack(hostile_session, hostilefed, "raw-spill-path", job=job.id, path=str(sentinel)) == (
            "sent raw-spill-path"
        )
        assert "32 hex digits" in wait_for_refusal(hostile_session, "'mallory'", "undecodable frame")
        self.assert_victim_unharmed(job, "v-spill")
        assert sentinel.read_text() == "do not touch"

    @pytest.mark.parametrize("kind", ["raw-oversized", "raw-garbage"])
    def test_malformed_frames_are_refused(self, hostile_session, hostilefed, kind):
        job, _ = self.victim(hostile_session, hostilefed, f"v-{kind}")
        self.attack(hostile_session, hostilefed, kind, job=job.id)
        wait_for_refusal(hostile_session, "'mallory'", "bounds" if kind == "raw-oversized" else "frame")
        self.assert_victim_unharmed(job, f"v-{kind}")

    def test_a_connection_without_a_key_is_refused(self, hostile_session, hostilefed):
        transport = hostile_session.transport
        before = len(hostile_session.refusals)

        async def knock() -> None:
            for who in ("alice", "@app", "mallory"):
                reader, writer = await asyncio.open_unix_connection(str(transport.layout.socket("alice")))
                writer.write(f"{who} {'0' * 64}\n".encode())
                await writer.drain()
                assert await reader.read() == b""  # closed on us
                writer.close()

        hostile_session._run(knock(), timeout=30)
        wait_for_refusal(hostile_session, "'alice'", "without a valid key")
        assert len(hostile_session.refusals) > before
        job, _ = self.victim(hostile_session, hostilefed, "v-knock")
        self.assert_victim_unharmed(job, "v-knock")

    def test_private_folder_names_do_not_come_from_site_names(self, hostile_session):
        layout = hostile_session.transport.layout
        names = {p.name for p in Path(layout.root).iterdir()}
        assert not any(site in name for name in names for site in ("alice", "mallory", "home"))
        assert oct(os.stat(layout.root).st_mode & 0o777) == "0o700"


def test_pair_keys_authenticate_only_their_pair():
    master = b"k" * 32
    keys_of_alice = {"home": pair_key(master, "alice", "home"), "@app": pair_key(master, "alice", "@app")}
    assert check_hello(f"home {pair_key(master, 'home', 'alice')}\n".encode(), keys_of_alice) == "home"
    # mallory knows its own pair keys only: none of them opens alice's door as home or the app
    for claimed in ("home", "@app"):
        for key in (pair_key(master, "mallory", "alice"), pair_key(master, "mallory", claimed)):
            assert check_hello(f"{claimed} {key}\n".encode(), keys_of_alice) is None
    assert check_hello(b"\xff\xfe\n", keys_of_alice) is None


def test_a_job_whose_parameter_the_codec_refuses_is_not_run_locally_either(monkeypatch):
    """inproc runs the codec: what fails on process fails the same way here (unless trusted)."""
    from dfm.api import Pipeline, PlaceParam, Yield, load_federation

    fed = load_federation(HOSTILEFED)
    with Pipeline() as p:
        Yield(fed.api.test.Echo(value=PlaceParam("v"), site="alice"), place="out")
    with Session(HOSTILEFED) as session:
        job = session.execute(session.prepare(p), {"v": {"ok": [1, 2]}})
        assert [r.value for r in job.results(timeout=30)] == [{"ok": [1, 2]}]
    with Session(HOSTILEFED, options={"trusted": True}) as session:
        marker = object()
        job = session.execute(session.prepare(p), {"v": marker})
        assert [r.value for r in job.results(timeout=30)] == [marker]  # by reference
        assert job.status is JobStatus.FINISHED
