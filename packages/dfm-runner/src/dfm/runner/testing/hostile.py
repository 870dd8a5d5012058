"""The hostile-peer suite: what a compromised site or a forged message must not achieve.

Every transport runs it. Subclass :class:`HostilePeerSuite` and provide a
class-scoped ``hostile_session`` fixture: a :class:`~dfm.runner.Session` on
:data:`HOSTILEFED` with ``HOSTILEFED_ALICE_TOKEN`` set to :data:`ALICE_SECRET`.
In that federation ``mallory`` is the compromised site: its adapter
``test.Attack`` sends, through the real transport and so under mallory's real
identity, messages that a site has no right to send (controls that are the
application's, data for places mallory does not feed, forged reports to the
application). Each attack must be refused -- reported in
``Session.refusals`` -- and leave the victim job, run at the same time,
with exactly its own result::

    from dfm.runner.testing import HostilePeerSuite

    class TestMyTransportHostile(HostilePeerSuite):
        separate_processes = True  # sites do not share a process: env isolation is checked

        @pytest.fixture(scope="class")
        @classmethod
        def hostile_session(cls): ...
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from dfm.api import Advise, AdvisedOneOf, Pipeline, PlaceParam, Yield, load_federation
from dfm.kernel.errors import DfmError, JobError
from dfm.kernel.ir.net import SiteNet
from dfm.kernel.ir.serde import digest
from dfm.runner.discovery import Discovery
from dfm.runner.messages import Discover, Install
from dfm.runner.session import JobStatus, Session

HOSTILEFED = Path(__file__).parent / "hostilefed" / "hostilefed.dfm.yaml"
ALICE_SECRET = "alice-s3cret-t0ken"
VICTIM_DELAY = 1.0  # seconds the victim's value takes at home, while mallory attacks alice


def wait_for_refusal(session: Session, *needles: str, timeout: float = 30) -> str:
    """The first refusal naming every needle (the harness waits; nothing is timed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for text in list(session.refusals):
            if all(n in text for n in needles):
                return text
        time.sleep(0.02)
    raise AssertionError(f"no refusal mentioning {needles!r}; refusals: {list(session.refusals)!r}")


class HostilePeerSuite:
    """Attacks every transport must refuse; see the module docstring for the fixture."""

    separate_processes = False  # True where each site has its own process (environment isolation)

    @pytest.fixture(scope="class")
    @classmethod
    def hostilefed(cls) -> Any:
        """The ``hostilefed`` federation shipped with this suite."""
        return load_federation(HOSTILEFED)

    # -- helpers ---------------------------------------------------------------------------

    def victim(self, session: Session, fed: Any, value: str) -> Any:
        """Start a job whose alice part waits for a value home sends after VICTIM_DELAY."""
        with Pipeline() as p:
            late = fed.api.test.Slow(seconds=VICTIM_DELAY, value=PlaceParam("v"), site="home")
            Yield(fed.api.test.Echo(value=late, site="alice"), place="out")
        prepared = session.prepare(p)
        job = session.execute(prepared, {"v": value})
        received = [p.name for p in prepared.nets["alice"].places if p.kind == "received"]
        return job, received[0]

    def attack(
        self, session: Session, fed: Any, kind: str, job: str = "", place: str = "", path: str = ""
    ) -> str:
        """Have mallory (a compromised site) send the forged message ``kind``; what it says it sent."""
        with Pipeline() as p:
            Yield(
                fed.api.test.Attack(
                    kind=PlaceParam("kind"),
                    job=PlaceParam("job"),
                    place=PlaceParam("place"),
                    path=PlaceParam("path"),
                    site="mallory",
                ),
                place="done",
            )
        job_ = session.execute(session.prepare(p), {"kind": kind, "job": job, "place": place, "path": path})
        (result,) = list(job_.results(timeout=60))
        assert job_.status is JobStatus.FINISHED
        return str(result.value)

    def assert_victim_unharmed(self, job: Any, value: str) -> None:
        """The victim job ended with exactly its own value: the attack changed nothing."""
        got = [(r.place, r.value) for r in job.results(timeout=60)]
        assert got == [("out", value)]
        assert job.status is JobStatus.FINISHED

    # -- controls are the application's ----------------------------------------------------

    @pytest.mark.parametrize(
        "kind", ["cancel", "start", "install", "more-frames", "stop-frames", "credit", "discover"]
    )
    def test_site_cannot_send_controls(self, hostile_session: Session, hostilefed: Any, kind: str) -> None:
        """Site cannot send controls."""
        job, _ = self.victim(hostile_session, hostilefed, f"victim-{kind}")
        assert self.attack(hostile_session, hostilefed, kind, job=job.id) == f"sent {kind}"
        control = {
            "cancel": "CancelJob",
            "start": "StartJob",
            "install": "Install",
            "more-frames": "MoreFrames",
            "stop-frames": "StopFrames",
            "credit": "Credit",
            "discover": "Discover",
        }[kind]
        refusal = wait_for_refusal(hostile_session, "'alice'", "'mallory'", control)
        assert "application's to send" in refusal
        self.assert_victim_unharmed(job, f"victim-{kind}")

    # -- data only from the site the net names, for places it declares -------------------------

    def test_token_from_the_wrong_site(self, hostile_session: Session, hostilefed: Any) -> None:
        """A token from a site the net does not name for its place is refused."""
        job, place = self.victim(hostile_session, hostilefed, "real-value")
        self.attack(hostile_session, hostilefed, "token", job=job.id, place=place)
        refusal = wait_for_refusal(hostile_session, "'mallory'", place, job.id)
        assert "receives from 'home' only" in refusal
        self.assert_victim_unharmed(job, "real-value")  # not "forged"

    def test_controls_refused_for_an_open_job_too(self, hostile_session: Session, hostilefed: Any) -> None:
        """Controls refused for an open job too."""
        with pytest.MonkeyPatch.context() as patch:  # the victim job is open: more frames may come
            execute = hostile_session.execute
            patch.setattr(hostile_session, "execute", lambda *a, **k: execute(*a, **k, autostop=False))
            job, _ = self.victim(hostile_session, hostilefed, "v-open")
        for kind, control in (("more-frames", "MoreFrames"), ("stop-frames", "StopFrames")):
            hostile_session.refusals.clear()
            self.attack(hostile_session, hostilefed, kind, job=job.id)
            assert "application's to send" in wait_for_refusal(hostile_session, "'mallory'", control)
        got = next(job.results(timeout=60))
        assert (got.place, got.value) == ("out", "v-open")
        assert job.status is JobStatus.RUNNING  # mallory's StopFrames did not end it
        job.send_stop_frame()
        assert list(job.results(timeout=60)) == []
        # mypy still narrows job.status to RUNNING from above; the stop frame changed it
        assert job.status is JobStatus.FINISHED  # type: ignore[comparison-overlap]

    @pytest.mark.parametrize(
        ("kind", "needle"),
        [
            ("stream-item", "receives from 'home' only"),
            ("stream-end", "receives from 'home' only"),
            ("stream-ack", "a stream it does not receive from here"),
        ],
    )
    def test_stream_messages_only_from_the_streams_sender(
        self, hostile_session: Session, hostilefed: Any, kind: str, needle: str
    ) -> None:
        """Stream messages are taken only from the stream's sender."""
        job, place = self.victim(hostile_session, hostilefed, f"v-{kind}")
        self.attack(hostile_session, hostilefed, kind, job=job.id, place=place)
        assert needle in wait_for_refusal(
            hostile_session, "'mallory'", job.id, "Stream" if kind != "stream-item" else place
        )
        self.assert_victim_unharmed(job, f"v-{kind}")

    def test_token_for_an_unknown_place(self, hostile_session: Session, hostilefed: Any) -> None:
        """A token for a place the net does not declare is refused."""
        job, _ = self.victim(hostile_session, hostilefed, "v-unknown")
        self.attack(hostile_session, hostilefed, "unknown-place", job=job.id)
        assert "does not receive" in wait_for_refusal(hostile_session, "'mallory'", "r:nowhere", job.id)
        self.assert_victim_unharmed(job, "v-unknown")

    def test_control_token_from_a_site_that_does_not_announce_it(
        self, hostile_session: Session, hostilefed: Any
    ) -> None:
        """A control token from a site that does not announce it is refused."""
        job, _ = self.victim(hostile_session, hostilefed, "v-loop")
        self.attack(hostile_session, hostilefed, "loop", job=job.id, place="n1")
        wait_for_refusal(hostile_session, "'mallory'", "LoopCount", job.id)
        self.assert_victim_unharmed(job, "v-loop")

    # -- forged reports to the application -------------------------------------------------------

    @pytest.mark.parametrize(
        ("kind", "needle"),
        [
            ("result", "not its homesite"),
            ("site-done", "naming site 'alice' from 'mallory'"),
            ("site-failed", "naming site 'alice' from 'mallory'"),
            ("site-lost", "SiteLost from site 'mallory'"),
            ("job-started", "JobStarted naming site 'alice' from 'mallory'"),
            ("refused", "site 'mallory' refused a message from 'home': forged report"),  # not alice's word
            ("token-to-app", "application refused a Token from 'mallory'"),
        ],
    )
    def test_forged_reports_to_the_application(
        self, hostile_session: Session, hostilefed: Any, kind: str, needle: str
    ) -> None:
        """Reports to the application forged by a site are refused."""
        job, _ = self.victim(hostile_session, hostilefed, f"v-{kind}")
        self.attack(hostile_session, hostilefed, kind, job=job.id, place="out")
        wait_for_refusal(hostile_session, needle)
        self.assert_victim_unharmed(job, f"v-{kind}")

    # -- discovery: asked by the application, answered by the sites it asked -------------------------

    def test_advice_only_from_the_sites_asked(self, hostile_session: Session, hostilefed: Any) -> None:
        """Advice only from the sites asked."""
        with Pipeline(mode="discovery") as p:
            slow = hostilefed.api.test.Slow(seconds=Advise(), value=1, site="home")
            Yield(slow, place="s")
        found = hostile_session.start_discovery(p, timeout=30)
        self.attack(hostile_session, hostilefed, "advice", job=found.id)
        self.attack(hostile_session, hostilefed, "advice-as-home", job=found.id)
        assert "not asked" in wait_for_refusal(hostile_session, "Advice of discovery", found.id, "'mallory'")
        wait_for_refusal(hostile_session, "Advice naming site 'home' from 'mallory'")
        assert found.wait(30)
        assert found.sites(slow) == ["home"]  # not mallory's
        assert found.advice(slow, "home", "seconds") == AdvisedOneOf([0.5, 1.0])  # home's own, not forged
        self.attack(hostile_session, hostilefed, "advice", job=found.id)  # after the discovery ended
        wait_for_refusal(hostile_session, "Advice of discovery", found.id, "no such discovery")

    def test_site_rechecks_discover_against_its_config(self, hostile_session: Session) -> None:
        """Site rechecks discover against its config."""
        found = Discovery("d" * 16, "forged", {"n1": "test.Attack"}, {"alice": ["n1"]})
        hostile_session._discoveries[found.id] = found  # the application asks alice about mallory's op
        call: dict[str, Any] = {
            "node": "n1",
            "operation": "test.Attack",
            "provider": None,
            "known": {},
            "ask": ["kind"],
        }
        hostile_session._call_soon(hostile_session.transport.send, "alice", Discover(found.id, [call]))
        assert found.wait(30)
        assert "site 'alice' does not offer operation 'test.Attack'" in str(found.tree["n1"]["alice"].error)
        hostile_session._call_soon(hostile_session.transport.send, "alice", Discover("e" * 16, [{"node": 1}]))
        assert "a call is malformed" in wait_for_refusal(hostile_session, "'alice'", "Discover", "e" * 16)

    # -- nets are re-verified at the site, whoever compiled them ---------------------------------

    def test_install_with_a_replayed_digest(self, hostile_session: Session) -> None:
        """An install replaying another net's digest is refused."""
        honest = SiteNet("alice", (), ())
        other = SiteNet("alice", (), (), params=("x",))
        hostile_session._call_soon(hostile_session.transport.send, "alice", Install(digest(honest), other))
        assert "claims digest" in wait_for_refusal(hostile_session, "'alice'", digest(honest)[:12])

    def test_net_compiled_without_the_residency_policy(
        self, hostile_session: Session, hostilefed: Any
    ) -> None:
        """A net compiled without the site's residency policy is refused."""
        from dfm.compiler import compile_pipeline
        from dfm.kernel.config.models import SitePolicy

        fed = hostile_session.federation
        with Pipeline() as p:
            Yield(hostilefed.api.test.Records(site="alice"), place="rows")
        with pytest.raises(DfmError, match="residency"):  # the honest compiler refuses it...
            hostile_session.prepare(p)
        lax = attrs.evolve(
            fed, sites={**fed.sites, "alice": attrs.evolve(fed.sites["alice"], policy=SitePolicy())}
        )
        prepared = compile_pipeline(lax, p.ir, "auto")  # ...a compiler with a doctored config does not
        job = hostile_session.execute(prepared)
        with pytest.raises(JobError, match="resident data"):
            list(job.results(timeout=60))  # ...and alice refuses to run it
        assert job.status is JobStatus.FAILED

    def test_token_for_a_selection_place_from_the_wrong_site(
        self, hostile_session: Session, hostilefed: Any
    ) -> None:
        """A token for a selection place from the wrong site is refused."""
        with Pipeline() as p:
            late = hostilefed.api.test.Slow(seconds=VICTIM_DELAY, value=PlaceParam("v"), site="home")
            Yield(hostilefed.api.test.Echo(value=late.fieldref("part"), site="alice"), place="out")
        prepared = hostile_session.prepare(p)
        (place,) = [p.name for p in prepared.nets["alice"].places if p.kind == "received"]
        assert place.endswith(".s1")  # alice receives only the selected part, from home
        job = hostile_session.execute(prepared, {"v": {"part": "real-part", "rest": "never sent"}})
        self.attack(hostile_session, hostilefed, "token", job=job.id, place=place)
        assert "receives from 'home' only" in wait_for_refusal(hostile_session, "'mallory'", place, job.id)
        self.assert_victim_unharmed(job, "real-part")

    @pytest.mark.parametrize("path", [("__class__",), ("rows", "__dict__"), (1.5,), (["a"],), ()], ids=repr)
    def test_net_with_a_selector_outside_the_safe_set(
        self, hostile_session: Session, hostilefed: Any, path: Any
    ) -> None:
        """A net with a selector outside the safe set is refused."""
        from dfm.kernel.ir.net import SelectT

        with Pipeline() as p:
            late = hostilefed.api.test.Slow(seconds=0, value=PlaceParam("v"), site="home")
            Yield(hostilefed.api.test.Echo(value=late.fieldref("part"), site="alice"), place="out")
        prepared = hostile_session.prepare(p)
        home = prepared.nets["home"]
        forged = tuple(attrs.evolve(t, path=path) if isinstance(t, SelectT) else t for t in home.transitions)
        nets = {**prepared.nets, "home": attrs.evolve(home, transitions=forged)}
        tampered = attrs.evolve(prepared, nets=nets, digest=prepared.digest + "-forged")
        job = hostile_session.execute(tampered, {"v": {"part": 1}})
        with pytest.raises(JobError, match="bad selector"):
            list(job.results(timeout=60))
        assert job.status is JobStatus.FAILED

    def test_selected_part_of_resident_data_stays(self, hostile_session: Session, hostilefed: Any) -> None:
        """Selected part of resident data stays."""
        from dfm.compiler import compile_pipeline
        from dfm.kernel.config.models import SitePolicy

        fed = hostile_session.federation
        with Pipeline() as p:
            Yield(hostilefed.api.test.Records(site="alice").fieldref(0), place="row")
        with pytest.raises(DfmError, match=r"residency|resident"):
            hostile_session.prepare(p)
        lax = attrs.evolve(
            fed, sites={**fed.sites, "alice": attrs.evolve(fed.sites["alice"], policy=SitePolicy())}
        )
        job = hostile_session.execute(compile_pipeline(lax, p.ir, "auto"))
        with pytest.raises(JobError, match="resident data"):
            list(job.results(timeout=60))

    def test_resident_data_still_aggregates(self, hostile_session: Session, hostilefed: Any) -> None:
        """Resident data still aggregates."""
        with Pipeline() as p:
            Yield(hostilefed.api.test.Count(rows=hostilefed.api.test.Records(site="alice")), place="n")
        job = hostile_session.execute(hostile_session.prepare(p))
        assert [r.value for r in job.results(timeout=60)] == [2]

    # -- secrets ------------------------------------------------------------------------------------

    def test_secret_returned_by_an_adapter_is_scrubbed(
        self, hostile_session: Session, hostilefed: Any
    ) -> None:
        """Secret returned by an adapter is scrubbed."""
        with Pipeline() as p:
            Yield(hostilefed.api.test.Leak(site="alice"), place="leak")
        job = hostile_session.execute(hostile_session.prepare(p))
        (result,) = list(job.results(timeout=60))
        assert ALICE_SECRET not in repr(result.value)
        assert result.value["text"] == "the token is ***"
        assert result.value["bytes"] == b"***"

    def test_other_sites_secrets_are_not_in_a_sites_environment(
        self, hostile_session: Session, hostilefed: Any
    ) -> None:
        """Other sites' secrets are not in a site's environment."""
        if not self.separate_processes:
            pytest.skip("sites share one process here")
        assert self.attack(hostile_session, hostilefed, "env") == "None"
