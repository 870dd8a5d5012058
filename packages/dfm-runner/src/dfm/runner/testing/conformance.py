"""The transport conformance suite: every transport must pass it.

Subclass :class:`TransportConformance` in a transport's tests and provide two
fixtures: ``session`` (a :class:`~dfm.runner.Session` on the ``mathfed``
federation shipped here, with ``MATHFED_BETA_API_TOKEN`` set to
:data:`SECRET` for the beta site's vault) and ``mathfed`` (its
:class:`~dfm.api.FederationHandle`)::

    from dfm.runner.testing import MATHFED, SECRET, TransportConformance

    class TestMyTransport(TransportConformance):
        @pytest.fixture(scope="class")
        @classmethod
        def session(cls): ...
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dfm.api import (
    Advise,
    AdvisedDateRange,
    AdvisedDict,
    AdvisedError,
    AdvisedLiteral,
    AdvisedOneOf,
    AdvisedSubsetOf,
    And,
    BestOf,
    Else,
    Equal,
    ForEach,
    GreaterThan,
    If,
    LessThanOrEqual,
    Not,
    Okay,
    Or,
    PickledObject,
    Pipeline,
    PlaceParam,
    TryFromCache,
    Yield,
    load_federation,
    well_known_id,
)
from dfm.kernel.errors import CompileError, DfmError, JobError
from dfm.kernel.ir import pipeline as ir
from dfm.kernel.ir.net import DoneT, SelectT, SendT
from dfm.runner.netrunner import STREAM_WINDOW
from dfm.runner.session import RESULT_WINDOW, JobStatus, Session

MATHFED = Path(__file__).parent / "mathfed" / "mathfed.dfm.yaml"
SECRET = "s3cr3t-t0ken-value"
EXAMPLEFED_BADGE = "badge-123"
"""The value of ``EXAMPLEFED_RECEPTION_BADGE_KEY`` an ``examplefed_session`` fixture sets (examplefed's
reception site reads it from its vault and must never show it)."""


def values(job: Any, place: str | None = None) -> list[Any]:
    """``(frame, value)`` of every result of ``job`` (only those of ``place`` if given), sorted."""
    return sorted((r.frame, r.value) for r in job.results(timeout=30) if place in (None, r.place))


def until(condition: Any, timeout: float = 60, what: str = "condition") -> None:
    """Poll ``condition()`` until it holds; fail after ``timeout`` seconds (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


class TransportConformance:
    """Behaviour every transport must show; see the module docstring for the fixtures."""

    concurrent_jobs = 200
    service_requests = 10_000  # requests through one open job

    @pytest.fixture(scope="class")
    @classmethod
    def mathfed(cls) -> Any:
        """The ``mathfed`` federation shipped with this suite."""
        return load_federation(MATHFED)

    @pytest.fixture(scope="class")
    @classmethod
    def examplefed_session(cls) -> Any:
        """A session on the repository's ``federations/examplefed``, with ``EXAMPLEFED_RECEPTION_BADGE_KEY``
        set to :data:`EXAMPLEFED_BADGE`; a transport's tests override this fixture to run the scenario."""
        pytest.skip("this transport's tests give no examplefed_session")

    def test_examplefed_greets_at_every_site(self, examplefed_session: Any) -> None:
        """examplefed's demo: every site greets every name its own way; the reception's badge stays secret."""
        fed: Any = load_federation(examplefed_session.config_path)
        with Pipeline() as p:
            for site in ("concierge", "server", "reception"):
                Yield(fed.api.users.GreetMe(name=PlaceParam("name"), site=site), place=site)
        job = examplefed_session.execute(examplefed_session.prepare(p), [{"name": "Ada"}, {"name": "Alan"}])
        got = {(r.place, r.index): r.value for r in job.results(timeout=60)}
        assert job.status is JobStatus.FINISHED
        assert got == {
            ("concierge", 0): "Hello, Ada! Greetings from the concierge.",
            ("concierge", 1): "Hello, Alan! Greetings from the concierge.",
            ("server", 0): "Welcome, Ada! Greetings from the server.",
            ("server", 1): "Welcome, Alan! Greetings from the server.",
            ("reception", 0): "Good morning, Ada! Greetings from the reception (badge checked).",
            ("reception", 1): "Good morning, Alan! Greetings from the reception (badge checked).",
        }
        assert EXAMPLEFED_BADGE not in repr(got)

    def test_value_needing_pickle_is_refused(self, session: Any, mathfed: Any) -> None:
        """A result only pickle could carry fails its job, saying how a federation opts in."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Unsafe(), place="set")
        job = session.execute(session.prepare(p))
        assert job.wait(60) is JobStatus.FAILED
        assert "allow-pickle: true" in str(job.error)

    def test_chain_across_sites(self, session: Session, mathfed: Any) -> None:
        """Chain across sites."""
        api = mathfed.api.math
        with Pipeline() as p:
            sq = api.Square(x=PlaceParam("x"), site="alpha")
            total = api.Add(a=sq, b=PlaceParam("x"), site="beta")
            Yield(total, place="total")
            Yield(sq, place="square")
        job = session.execute(session.prepare(p), [{"x": 3}, {"x": 4}])
        assert values(job) == [((0,), 9), ((0,), 12), ((1,), 16), ((1,), 20)]
        assert job.status is JobStatus.FINISHED

    def test_falsy_constant_and_expose_as(self, session: Session, mathfed: Any) -> None:
        """Falsy constant and expose as."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Scale(x=PlaceParam("x")), place="const")  # factor: const 0
            Yield(mathfed.api.math.Scale(x=PlaceParam("x"), factor=3), place="exposed")
        job = session.execute(session.prepare(p), {"x": 2})
        got = {r.place: r.value for r in job.results(timeout=30)}
        assert got == {"const": 0, "exposed": 6}

    def test_foreach_runs_body_per_item(self, session: Session, mathfed: Any) -> None:
        """Foreach runs body per item."""
        api = mathfed.api.math
        with Pipeline() as p:
            items = api.Range(n=PlaceParam("n"))
            with ForEach(items) as item:
                Yield(api.Square(x=item, site="beta"), place="squares")
        job = session.execute(session.prepare(p), [{"n": 4}, {"n": 0}, {"n": 2}])
        assert values(job) == [((0, 0), 0), ((0, 1), 1), ((0, 2), 4), ((0, 3), 9), ((2, 0), 0), ((2, 1), 1)]
        assert job.status is JobStatus.FINISHED

    def test_nested_foreach_with_if(self, session: Session, mathfed: Any) -> None:
        """Nested foreach with if."""
        api = mathfed.api.math
        with Pipeline() as p:
            outer = api.Range(n=3)
            with ForEach(outer) as i:
                inner = api.Range(n=i, site="alpha")
                with ForEach(inner) as j:
                    with If(j > 0):
                        Yield(api.Add(a=i, b=j, site="beta"), place="pairs", multiuse=True)
                    with Else():
                        Yield(i, place="zeros")
        job = session.execute(session.prepare(p), {})
        got = sorted((r.place, r.frame, r.value) for r in job.results(timeout=30))
        assert got == [
            ("pairs", (0, 2, 1), 3),
            ("zeros", (0, 1, 0), 1),
            ("zeros", (0, 2, 0), 2),
        ]

    def test_if_on_parameter_and_result(self, session: Session, mathfed: Any) -> None:
        """If on parameter and result."""
        api = mathfed.api.math
        with Pipeline() as p:
            sq = api.Square(x=PlaceParam("x"), site="alpha")
            with If((sq > 10) & ~(PlaceParam("x") == 5)):
                Yield(sq, place="big")
            with Else():
                Yield(api.Add(a=sq, b=1000), place="small")
        job = session.execute(session.prepare(p), [{"x": 2}, {"x": 4}, {"x": 5}])
        got = sorted((r.index, r.place, r.value) for r in job.results(timeout=30))
        assert got == [(0, "small", 1004), (1, "big", 16), (2, "small", 1025)]

    def test_adapter_error_fails_only_its_job(self, session: Session, mathfed: Any) -> None:
        """Adapter error fails only its job."""
        api = mathfed.api.math
        with Pipeline() as bad:
            Yield(api.Fail(message="disk on fire"), place="x")
        with Pipeline() as good:
            Yield(api.SleepSync(seconds=0.2), place="slept")
        ok = session.execute(session.prepare(good))
        failed = session.execute(session.prepare(bad))
        assert failed.wait(30) is JobStatus.FAILED
        error = str(failed.error)
        assert "site 'alpha'" in error and "math.Fail" in error and "disk on fire" in error
        with pytest.raises(JobError, match="disk on fire"):
            list(failed.results())
        assert ok.wait(30) is JobStatus.FINISHED
        assert [r.value for r in ok.results()] == [0.2]

    def test_cancel_interrupts_async_adapter(self, session: Session, mathfed: Any) -> None:
        """Cancel interrupts async adapter."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Sleep(seconds=30, value=1), place="late")
        job = session.execute(session.prepare(p))
        time.sleep(0.3)
        start = time.monotonic()
        job.cancel()
        assert job.wait(5) is JobStatus.CANCELLED
        assert time.monotonic() - start < 2
        with pytest.raises(JobError, match="cancelled"):
            list(job.results())

    def test_many_concurrent_jobs_each_result_once(self, session: Session, mathfed: Any) -> None:
        """Many concurrent jobs each result once."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Add(a=PlaceParam("i"), b=1000, site="beta"), place="out")
        prepared = session.prepare(p)
        jobs = [session.execute(prepared, {"i": i}) for i in range(self.concurrent_jobs)]
        for i, job in enumerate(jobs):
            assert [r.value for r in job.results(timeout=60)] == [i + 1000]
            assert job.status is JobStatus.FINISHED

    def test_callbacks_per_place(self, session: Session, mathfed: Any) -> None:
        """Callbacks per place."""
        seen: list[tuple[str, object]] = []
        lock = threading.Lock()

        def record(result: Any) -> None:
            with lock:
                seen.append((result.place, result.value))

        with Pipeline() as p:
            Yield(mathfed.api.math.Square(x=2), place="a")
            Yield(mathfed.api.math.Square(x=3), place="b")
        job = session.execute(session.prepare(p), callbacks={"a": record})
        job.wait(30)
        assert seen == [("a", 4)]

    def test_secrets_never_leak(
        self, session: Session, mathfed: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Secrets never leak."""
        caplog.set_level(logging.DEBUG)
        with Pipeline() as p:
            Yield(mathfed.api.math.UseSecret(fail=PlaceParam("fail")), place="auth")
        prepared = session.prepare(p)
        ok = session.execute(prepared, {"fail": False})
        assert [r.value for r in ok.results(timeout=30)] == [
            f"authenticated with a token of {len(SECRET)} characters"
        ]
        failed = session.execute(prepared, {"fail": True})
        assert failed.wait(30) is JobStatus.FAILED
        assert "rejected token ***" in str(failed.error)
        assert SECRET not in str(failed.error)
        assert SECRET not in prepared.pipeline.__repr__() and SECRET not in repr(prepared.nets)
        assert SECRET not in caplog.text

    def test_missing_param_is_a_clear_error(self, session: Session, mathfed: Any) -> None:
        """Missing param is a clear error."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Square(x=PlaceParam("x")), place="sq")
        with pytest.raises(DfmError, match=r"missing value.*PlaceParam x"):
            session.execute(session.prepare(p), {"y": 1})

    def test_site_refuses_operation_it_does_not_offer(self, session: Session, mathfed: Any) -> None:
        """Site refuses operation it does not offer."""
        import attrs

        from dfm.kernel.ir.net import CallT

        with Pipeline() as p:
            Yield(mathfed.api.math.Square(x=2, site="beta"), place="sq")
        prepared = session.prepare(p)
        beta = prepared.nets["beta"]
        forged = tuple(
            attrs.evolve(t, operation="math.Range", args={"n": t.args["x"]}) if isinstance(t, CallT) else t
            for t in beta.transitions
        )
        nets = {**prepared.nets, "beta": attrs.evolve(beta, transitions=forged)}
        tampered = attrs.evolve(prepared, nets=nets, digest=prepared.digest + "-forged")
        job = session.execute(tampered)
        assert job.wait(30) is JobStatus.FAILED
        expected = "site 'beta' refuses the pipeline: operation 'math.Range' is not offered here"
        assert expected in str(job.error)

    def test_running_once_every_site_started(self, session: Session, mathfed: Any) -> None:
        """Running once every site started."""
        api = mathfed.api.math
        with Pipeline() as p:
            Yield(api.Sleep(seconds=60, value=1), place="late")  # at home
            Yield(api.Square(x=2, site="beta"), place="square")
        job = session.execute(session.prepare(p))
        assert set(job.prepared.nets) == {"home", "beta"}
        until(lambda: job.status is not JobStatus.SUBMITTED, what="RUNNING")
        assert job.status is JobStatus.RUNNING
        job.cancel()
        assert job.wait(30) is JobStatus.CANCELLED

    def test_execute_timeout_fails_and_names_unfinished_sites(self, session: Session, mathfed: Any) -> None:
        """Execute timeout fails and names unfinished sites."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Sleep(seconds=60, value=1), place="late")  # at home
        prepared = session.prepare(p)
        job = session.execute(prepared, timeout=1)
        assert job.wait(60) is JobStatus.FAILED
        assert "timed out after 1 s" in str(job.error) and "site(s) not finished: home" in str(job.error)
        with pytest.raises(JobError, match="timed out after 1 s"):
            list(job.results())
        quick = session.execute(session.prepare(_square_pipeline(mathfed)), timeout=120)
        assert [r.value for r in quick.results(timeout=60)] == [4]
        assert quick.status is JobStatus.FINISHED

    # -- open jobs: autostop=False, send_input_params, send_stop_frame --------------------------

    def _service(self, mathfed: Any) -> Pipeline:
        api = mathfed.api.math
        with Pipeline() as p:
            sq = api.Square(x=PlaceParam("x"), site="alpha")
            Yield(api.Add(a=sq, b=1, site="beta"), place="out")
        return p

    def test_open_job_serves_many_requests_each_result_once_in_its_frame(
        self, session: Session, mathfed: Any
    ) -> None:
        """Open job serves many requests each result once in its frame."""
        job = session.execute(session.prepare(self._service(mathfed)), autostop=False)
        got: dict[int, Any] = {}
        duplicates: list[Any] = []
        wrong_place: list[Any] = []

        def collect() -> None:
            for r in job.results(timeout=120):
                if r.place != "out" or len(r.frame) != 1:
                    wrong_place.append(r)
                elif r.index in got:
                    duplicates.append(r)
                else:
                    got[r.index] = r.value

        reader = threading.Thread(target=collect)
        reader.start()
        n = self.service_requests
        for i in range(n):
            assert job.send_input_params({"x": i}) == [i]
        job.send_stop_frame()
        reader.join(300)
        assert not reader.is_alive()
        assert job.status is JobStatus.FINISHED, job.error
        assert not duplicates and not wrong_place
        assert got == {i: i * i + 1 for i in range(n)}

    def test_open_job_runs_until_the_stop_frame(self, session: Session, mathfed: Any) -> None:
        """Open job runs until the stop frame."""
        job = session.execute(session.prepare(self._service(mathfed)), [{"x": 1}], autostop=False)
        results = job.results(timeout=60)
        assert next(results).value == 2  # frame 0 is done...
        until(lambda: job.status is JobStatus.RUNNING, what="RUNNING")
        assert job.send_input_params([{"x": 2}, {"x": 3}]) == [1, 2]
        assert sorted((next(results).frame, next(results).frame)) == [(1,), (2,)]
        assert job.status is JobStatus.RUNNING  # ...every frame sent is done, and the job still waits
        job.send_stop_frame()
        assert list(results) == []
        # mypy still narrows job.status to RUNNING from above; the stop frame changed it
        assert job.status is JobStatus.FINISHED  # type: ignore[comparison-overlap]
        with pytest.raises(DfmError, match="not open"):
            job.send_input_params({"x": 4})

    def test_open_job_without_frames(self, session: Session, mathfed: Any) -> None:
        """Open job without frames."""
        job = session.execute(session.prepare(self._service(mathfed)), autostop=False)
        job.send_stop_frame()
        assert job.wait(60) is JobStatus.FINISHED
        assert list(job.results()) == []

    def test_open_job_refuses_incomplete_parameters(self, session: Session, mathfed: Any) -> None:
        """Open job refuses incomplete parameters."""
        job = session.execute(session.prepare(self._service(mathfed)), autostop=False)
        with pytest.raises(DfmError, match=r"missing value.*PlaceParam x"):
            job.send_input_params({"y": 1})
        job.cancel()
        assert job.wait(30) is JobStatus.CANCELLED

    def test_open_job_with_loops_and_branches_in_later_frames(self, session: Session, mathfed: Any) -> None:
        """Open job with loops and branches in later frames."""
        api = mathfed.api.math
        with Pipeline() as p, ForEach(api.Range(n=PlaceParam("n"))) as i, If(i > 0):
            Yield(api.Square(x=i, site="beta"), place="sq")
        job = session.execute(session.prepare(p), {"n": 2}, autostop=False)
        job.send_input_params([{"n": 0}, {"n": 3}])
        job.send_stop_frame()
        assert values(job) == [((0, 1), 1), ((2, 1), 1), ((2, 2), 4)]
        assert job.status is JobStatus.FINISHED

    # -- streams: adapters returning (async) generators -----------------------------------------

    @pytest.mark.parametrize("site", ["home", "alpha"])  # async generator at home, sync one at alpha
    def test_generator_items_stream_to_a_yield_in_sub_frames(
        self, session: Session, mathfed: Any, site: str
    ) -> None:
        """Generator items stream to a yield in sub frames."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Stream(n=PlaceParam("n"), site=site), place="items")
        job = session.execute(session.prepare(p), [{"n": 3}, {"n": 0}, {"n": 2}])
        assert values(job) == [((0, 0), 0), ((0, 1), 10), ((0, 2), 20), ((2, 0), 0), ((2, 1), 10)]
        assert job.status is JobStatus.FINISHED

    @pytest.mark.parametrize("site", ["home", "alpha"])
    def test_generator_feeds_a_foreach_on_another_site(
        self, session: Session, mathfed: Any, site: str
    ) -> None:
        """Generator feeds a foreach on another site."""
        api = mathfed.api.math
        with Pipeline() as p, ForEach(api.Stream(n=PlaceParam("n"), site=site)) as x, If(x > 0):
            Yield(api.Add(a=x, b=1, site="beta"), place="plus")
        job = session.execute(session.prepare(p), [{"n": 3}, {"n": 0}])
        assert values(job) == [((0, 1), 11), ((0, 2), 21)]
        assert job.status is JobStatus.FINISHED

    @pytest.mark.parametrize("site", ["home", "alpha"])
    def test_many_streams_at_once_in_an_open_job(self, session: Session, mathfed: Any, site: str) -> None:
        """Many streams at once in an open job."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Stream(n=PlaceParam("n"), site=site), place="items")
        job = session.execute(session.prepare(p), autostop=False)
        requests = STREAM_WINDOW * 2 + 10  # more generators at once than the window of adapter calls
        assert job.send_input_params([{"n": 3}] * requests) == list(range(requests))
        job.send_stop_frame()
        assert values(job) == [((i, k), k * 10) for i in range(requests) for k in range(3)]
        assert job.status is JobStatus.FINISHED

    def test_generator_into_an_operation_gives_it_every_item(self, session: Session, mathfed: Any) -> None:
        """Generator into an operation gives it every item."""
        api = mathfed.api.math
        with Pipeline() as p:
            Yield(api.Sum(values=api.Stream(n=PlaceParam("n"), site="alpha"), site="beta"), place="sum")
        job = session.execute(session.prepare(p), [{"n": 4}, {"n": 0}])
        assert values(job) == [((0,), 60), ((1,), 0)]

    @pytest.mark.parametrize("site", ["home", "alpha"])
    def test_endless_generator_is_bounded_and_cancel_stops_it(
        self, session: Session, mathfed: Any, site: str
    ) -> None:
        """The application buffers at most RESULT_WINDOW results (+ one stream window in flight)."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Forever(site=site), place="n")
        job = session.execute(session.prepare(p))
        results = job.results(timeout=60)
        assert [next(results).value for _ in range(5)] == [0, 1, 2, 3, 4]
        bound = RESULT_WINDOW + STREAM_WINDOW
        until(lambda: job.buffered >= RESULT_WINDOW - 5, what="the window filling up")
        time.sleep(0.5)  # a producer without backpressure would go far beyond the bound meanwhile
        assert job.buffered <= bound
        taken = [next(results).value for _ in range(2 * RESULT_WINDOW)]  # taking results makes room
        assert taken == list(range(5, 5 + 2 * RESULT_WINDOW))
        assert job.buffered <= bound
        job.cancel()
        assert job.wait(30) is JobStatus.CANCELLED
        adapters = sys.modules.get("mathfed_adapters")
        if session.transport.name == "inproc" and adapters is not None:  # the generator was closed
            cls = adapters.AsyncForever if site == "home" else adapters.SyncForever
            until(lambda: cls.closed >= 1, what="the generator closing")
            assert cls.produced <= 5 + 2 * RESULT_WINDOW + bound + 1

    # -- detach and reattach ----------------------------------------------------------------------

    def test_detached_job_runs_on_and_reattaches_with_its_results(
        self, session: Session, mathfed: Any
    ) -> None:
        """Detached job runs on and reattaches with its results."""
        job = session.execute(session.prepare(self._service(mathfed)), [{"x": 2}], autostop=False)
        job_id = job.detach()
        with pytest.raises(DfmError, match="detached"):
            list(job.results(timeout=1))
        with pytest.raises(DfmError, match="no detached job"):
            session.reattach("nope")
        again = session.reattach(job_id)
        assert again.id == job_id
        assert again.send_input_params({"x": 3}) == [1]
        again.send_stop_frame()
        assert values(again) == [((0,), 5), ((1,), 10)]
        assert again.status is JobStatus.FINISHED

    def test_detached_stream_is_held_by_backpressure(self, session: Session, mathfed: Any) -> None:
        """Detached stream is held by backpressure."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Forever(site="alpha"), place="n")
        job = session.execute(session.prepare(p))
        job.detach()
        until(lambda: job.buffered >= RESULT_WINDOW - 1, what="the window filling up")
        time.sleep(0.5)
        assert job.buffered <= RESULT_WINDOW + STREAM_WINDOW  # nothing dropped, nothing beyond the bound
        again = session.reattach(job.id)
        got = [r.value for _, r in zip(range(RESULT_WINDOW + 10), again.results(timeout=60), strict=False)]
        assert got == list(range(RESULT_WINDOW + 10))  # in order, none lost
        again.cancel()
        assert again.wait(30) is JobStatus.CANCELLED

    # -- NVIDIA DFM's pipeline forms (COMPAT.md sections 2 and 3) ---------------------------------

    def test_fieldref_moves_only_the_selected_part(self, session: Session, mathfed: Any) -> None:
        """Fieldref moves only the selected part."""
        api = mathfed.api.math
        with Pipeline() as p:
            record = api.Echo(value=PlaceParam("rec"), site="alpha")
            point = api.Point(x=PlaceParam("x"), y=7, site="alpha")
            rows = record.fieldref("rows")
            Yield(api.Square(x=rows.fieldref(1), site="beta"), place="square")
            Yield(point.fieldref("y"), place="y")  # an attrs field; the Point never leaves alpha
            Yield(record.fieldref("name"), place="name")
            with ForEach(seq=rows) as row, If(cond=row > 10):
                Yield(row, place="big", multiuse=True)
            with If(record.fieldref("flags").fieldref("on")):
                Yield(record.fieldref("rows").fieldref(-1), place="last")
        prepared = session.prepare(p)
        alpha = prepared.nets["alpha"]
        selects = [t for t in alpha.transitions if isinstance(t, SelectT)]
        assert {t.path for t in selects} >= {("rows",), ("rows", 1), ("y",), ("name",)}
        sent = {t.source for t in alpha.transitions if isinstance(t, SendT)}
        assert "v:n1" not in sent and "v:n2" not in sent  # whole values stay at alpha
        rec = {"rows": [5, 20, 30], "name": "ada", "flags": {"on": True}, "blob": "x" * 1000}
        job = session.execute(prepared, {"rec": rec, "x": 1})
        got = sorted((r.place, r.frame, r.value) for r in job.results(timeout=30))
        assert got == [
            ("big", (0, 1), 20),
            ("big", (0, 2), 30),
            ("last", (0,), 30),
            ("name", (0,), "ada"),
            ("square", (0,), 400),
            ("y", (0,), 7),
        ]

    def test_a_selector_that_does_not_apply_fails_the_job(self, session: Session, mathfed: Any) -> None:
        """A selector that does not apply fails the job."""
        api = mathfed.api.math
        with Pipeline() as p:
            point = api.Point(x=1, y=2, site="alpha")
            Yield(point.fieldref("secret"), place="method")  # a method, not a declared field
            Yield(api.Echo(value={"a": 1}, site="alpha").fieldref("b"), place="missing")
        job = session.execute(session.prepare(p))
        assert job.wait(30) is JobStatus.FAILED
        assert "site 'alpha'" in str(job.error) and "selector" in str(job.error)
        assert "method called" not in str(job.error)

    def test_bestof_chooses_among_its_sites(self, session: Session, mathfed: Any) -> None:
        """Bestof chooses among its sites."""
        api = mathfed.api.math
        with Pipeline() as p:
            Yield(api.Square(x=PlaceParam("x"), site=BestOf(sites=["beta"])), place="beta")
            Yield(api.Square(x=PlaceParam("x"), site=BestOf(sites=["alpha", "beta"])), place="either")
            Yield(api.Square(x=PlaceParam("x"), site=BestOf()), place="any")
        prepared = session.prepare(p)
        assert prepared.placement["n1"] == "beta"
        assert prepared.placement["n3"] in ("alpha", "beta")
        job = session.execute(prepared, {"x": 3})
        assert sorted((r.place, r.value) for r in job.results(timeout=30)) == [
            ("any", 9),
            ("beta", 9),
            ("either", 9),
        ]
        with Pipeline() as bad:
            Yield(api.Range(n=2, site=BestOf(sites=["beta"])), place="r")
        with pytest.raises(CompileError, match="none of the BestOf sites"):
            session.prepare(bad)

    def test_dfm_after_orders_calls_without_moving_data(self, session: Session, mathfed: Any) -> None:
        """Dfm after orders calls without moving data."""
        api = mathfed.api.math
        with Pipeline() as p:
            first = api.Sleep(seconds=0.5, value=PlaceParam("v"), site="home")
            second = api.Square(x=2, site="beta", dfm_after=[first])
            Yield(first, place="first")
            Yield(second, place="second")
        prepared = session.prepare(p)
        beta = prepared.nets["beta"]
        assert [p.name for p in beta.places if p.kind == "received"] == ["r:n1.done"]
        assert any(isinstance(t, DoneT) for t in prepared.nets["home"].transitions)
        job = session.execute(prepared, {"v": "x" * 100})
        assert [r.place for r in job.results(timeout=30)] == ["first", "second"]

    def test_well_known_ids_and_reference_shaped_callbacks(self, session: Session, mathfed: Any) -> None:
        """Well known ids and reference shaped callbacks."""
        api = mathfed.api.math
        seen: list[tuple[Any, ...]] = []
        lock = threading.Lock()

        def reference(from_site: Any, from_node_id: Any, frame: Any, target_place: Any, data: Any) -> None:
            with lock:
                seen.append(("sync", from_site, from_node_id, tuple(frame), target_place, data))

        async def later(from_site: Any, from_node_id: Any, frame: Any, target_place: Any, data: Any) -> None:
            await asyncio.sleep(0.01)
            with lock:
                seen.append(("async", from_site, from_node_id, tuple(frame), target_place, data))

        async def ours(result: Any) -> None:
            with lock:
                seen.append(("ours", result.place, result.value))

        with Pipeline(name="ids") as p:
            sq = api.Square(x=PlaceParam("x"), site="beta", dfm_node_id=well_known_id("square"))
            Yield(sq, place="out", dfm_node_id=well_known_id("result"))
            Yield(api.Add(a=sq, b=1, site="home"), place="other")
            Yield(api.Add(a=sq, b=2, site="home"), place="third")
        prepared = session.prepare(p)
        assert prepared.placement["square"] == "beta" and "result" in prepared.placement
        job = session.execute(
            prepared,
            input_params={"x": 3},
            place_callbacks={"out": reference, "other": later},
            default_callback=ours,
        )
        assert job.wait_until_finished(30)
        until(lambda: len(seen) == 3, what="three callbacks")
        assert sorted(seen, key=repr) == sorted(
            [
                ("sync", "beta", "result", (0,), "out", 9),
                ("async", "home", "n2", (0,), "other", 10),
                ("ours", "third", 11),
            ],
            key=repr,
        )

    def test_reference_keywords_and_condition_classes(self, session: Session, mathfed: Any) -> None:
        """Reference keywords and condition classes."""
        api = mathfed.api.math
        with Pipeline(name="keywords", mode="execute") as p:
            items = api.Range(n=PlaceParam(place="n"))
            with ForEach(seq=items) as i:
                big = GreaterThan(left=i, right=1)
                with If(cond=And(big, Not(Equal(left=i, right=3)))):
                    Yield(value=i, place="kept", multiuse=True)
                with If(cond=Or(LessThanOrEqual(i, 0), Equal(i, 3))):
                    Yield(value=i, place="edges", multiuse=True)
        job = session.execute(p, input_params=[{"n": 5}])  # prepared implicitly, as in NVIDIA DFM
        got = sorted((r.place, r.frame[1:], r.value) for r in job.results(timeout=30))
        assert got == [
            ("edges", (0,), 0),
            ("edges", (3,), 3),
            ("kept", (2,), 2),
            ("kept", (4,), 4),
        ]
        assert job.get_status() is JobStatus.FINISHED

    def test_restrict_to_sites(self, session: Session, mathfed: Any) -> None:
        """Restrict to sites."""
        api = mathfed.api.math
        with Pipeline() as p:
            Yield(api.Square(x=PlaceParam("x")), place="sq")
        home = session.prepare(p, restrict_to_sites="homesite")
        assert set(home.nets) == {"home"}
        pair = session.prepare(p, restrict_to_sites=["home", "beta"])
        assert set(pair.placement.values()) <= {"home", "beta"}
        assert [r.value for r in session.execute(home, {"x": 4}).results(timeout=30)] == [16]
        with Pipeline() as ranged:
            Yield(api.Range(n=2), place="r")  # only alpha offers it
        with pytest.raises(CompileError, match="no site offers"):
            session.prepare(ranged, restrict_to_sites="homesite")

    def test_pickled_object_is_refused_without_allow_pickle(self, session: Session, mathfed: Any) -> None:
        """Pickled object is refused without allow pickle."""
        api = mathfed.api.math
        with Pipeline() as p:
            Yield(api.Echo(value=PickledObject({1, 2}), site="alpha"), place="set")
        job = session.execute(session.prepare(p))
        assert job.wait(30) is JobStatus.FAILED
        assert "site 'alpha' refuses the pipeline" in str(job.error) and "allow-pickle" in str(job.error)
        with Pipeline() as q:
            Yield(api.Echo(value=PlaceParam("v"), site="alpha"), place="v")
        with pytest.raises(DfmError, match="allow-pickle"):
            session.execute(session.prepare(q), {"v": PickledObject({1, 2})})

    def test_discovery_mode_and_advise_are_refused_when_prepared(
        self, session: Session, mathfed: Any
    ) -> None:
        """Discovery mode and advise are refused when prepared."""
        api = mathfed.api.math
        with Pipeline(mode="discovery") as p:
            Yield(api.Square(x=PlaceParam("x")), place="sq")
        with pytest.raises(CompileError, match=r"discovery pipeline.*session.discover\(pipeline\)"):
            session.prepare(p)
        with Pipeline() as q:
            Yield(api.Square(x=Advise()), place="sq")
        with pytest.raises(CompileError, match=r"Advise\(\)"):
            session.prepare(q)
        with Pipeline() as r:
            Yield(api.Square(x=1, site=Advise()), place="sq")
        with pytest.raises(CompileError, match=r"site=Advise\(\)"):
            session.prepare(r)

    # -- discovery ----------------------------------------------------------------------------

    def test_discovery_asks_every_candidate_site(self, session: Session, mathfed: Any) -> None:
        """Discovery asks every candidate site."""
        api = mathfed.api.math
        with Pipeline(mode="discovery") as p:
            sq = api.Square(x=Advise(), site=Advise())
            Yield(sq, place="sq")
        found = session.discover(p, timeout=30)
        assert found.done and found.sites(sq) == ["alpha", "beta", "home"]
        assert found.values(sq, "home", "x") == [1, 2]
        assert found.advice(sq, "beta", "x") == AdvisedOneOf([4, 5])
        assert found.choose(sq, x=3) == "alpha"
        assert found.choose(sq, prefer="beta") == "beta"
        assert found.choose(sq, x=5) == "beta"
        with pytest.raises(DfmError, match="no site can serve node"):
            found.choose(sq, x=99)
        with Pipeline() as q:  # the choice narrows an execute-mode pipeline: pin the site
            Yield(api.Square(x=PlaceParam("x"), site=found.choose(sq, x=3)), place="sq")
        prepared = session.prepare(q)
        assert prepared.placement[q.ir.statements[0].id] == "alpha"
        assert values(session.execute(prepared, {"x": 3})) == [((0,), 9)]

    def test_discovery_pins_best_of_and_execute(self, session: Session, mathfed: Any) -> None:
        """Discovery pins best of and execute."""
        api = mathfed.api.math
        with Pipeline(mode="discovery") as p:
            pinned = api.Square(x=PlaceParam("x"), site="beta")
            among = api.Square(x=Advise(), site=BestOf(sites=["home", "alpha"]))
            Yield(pinned, place="a")
            Yield(among, place="b")
        found: Any = session.execute(p)  # a discovery pipeline executes as discovery: nothing runs
        assert found.sites(pinned) == ["beta"] and found.sites(among) == ["alpha", "home"]
        walked = list(found.walk())
        assert (pinned.id, "beta", "x", AdvisedOneOf([4, 5])) in walked and len(walked) == 3

    def test_discovery_advisors_read_earlier_fields_and_carry_every_advice_type(
        self, session: Session, mathfed: Any
    ) -> None:
        """Discovery advisors read earlier fields and carry every advice type."""
        api = mathfed.api.math
        with Pipeline(mode="discovery") as p:
            add = api.Add(a=Advise(), b=Advise(), site="beta")
            point = api.Point(x=Advise(), y=PlaceParam("y"))
            Yield(add, place="add")
            Yield(point, place="point")
        found = session.discover(p, timeout=30)
        assert found.advice(add, "beta", "a") == AdvisedOneOf([7])
        assert found.advice(add, "beta", "b") == AdvisedLiteral(70)  # advised after a, reading it
        assert found.advice(point, "alpha", "x") == AdvisedDict(
            {"lo": AdvisedLiteral(0), "when": AdvisedDateRange("2024-01-01", "2024-12-31")}
        )
        assert found.advice(point, "alpha", "y") == AdvisedSubsetOf([1, 2, 3])
        assert found.choose(point, x={"lo": 0, "when": "2024-06-01"}, y=[1, 3]) == "alpha"
        with pytest.raises(DfmError, match="does not accept x"):
            found.choose(point, x={"when": "2025-01-01"})

    def test_discovery_without_advisors_or_with_a_failing_one_is_advice(
        self, session: Session, mathfed: Any
    ) -> None:
        """Discovery without advisors or with a failing one is advice."""
        api = mathfed.api.math
        with Pipeline(mode="discovery") as p:
            echo = api.Echo(value=Advise())
            hang = api.Hang(site="alpha")  # its body would hang: discovery never calls a body
            fail = api.Fail(message="boom")  # its body raises; its advisor raises too
            for node, place in ((echo, "e"), (hang, "h"), (fail, "f")):
                Yield(node, place=place)
        found = session.discover(p, timeout=30)
        assert found.sites(echo) == ["alpha"] and found.advice(echo, "alpha", "value") == Okay()
        assert list(w for w in found.walk() if w[0] == hang.id) == [(hang.id, "alpha", None, Okay())]
        failed = found.advice(fail, "alpha", "message")
        assert isinstance(failed, AdvisedError) and "ValueError: no advice on 'boom' today" in failed.message
        assert found.sites(fail, only_ok=True) == [] and found.sites(fail) == ["alpha"]
        assert found.choose(echo) == "alpha"

    def test_discovery_of_no_offering_site_and_unknown_nodes(self, session: Session, mathfed: Any) -> None:
        """Discovery of no offering site and unknown nodes."""
        api = mathfed.api.math
        with Pipeline(mode="discovery") as p:
            nowhere = api.Range(n=Advise(), site="beta")  # beta does not offer math.Range
            Yield(nowhere, place="r")
        found = session.discover(p, timeout=30)
        assert found.done and found.sites(nowhere) == []
        with pytest.raises(DfmError, match="no site offers it"):
            found.choose(nowhere)
        with pytest.raises(DfmError, match="no node 'n99'"):
            found.advice("n99", "alpha", "x")
        with Pipeline() as q:
            Yield(api.Square(x=1), place="sq")
        with pytest.raises(DfmError, match=r"discover\(\) takes Pipeline\(mode='discovery'\)"):
            session.discover(q)

    def test_aborted_is_cancelled(self, session: Session, mathfed: Any) -> None:
        """Aborted is cancelled."""
        with Pipeline() as p:
            Yield(mathfed.api.math.Sleep(seconds=30, value=1), place="late")
        job = session.execute(session.prepare(p))
        job.cancel()
        assert job.wait(30) is JobStatus.ABORTED
        # ABORTED is an alias of CANCELLED (the reference's name), which mypy takes for a second member
        assert JobStatus.ABORTED is JobStatus.CANCELLED  # type: ignore[comparison-overlap]
        assert JobStatus("ABORTED") is JobStatus.CANCELLED

    # -- TryFromCache: alpha has a cache_config (mathfed.dfm.yaml); keys are fresh per run --------

    def _cached_nonce(self, mathfed: Any, key: str) -> Pipeline:
        api = mathfed.api.math
        with Pipeline() as p:
            with TryFromCache(key) as cached:
                cached.cache(api.Nonce(x=PlaceParam("x")))
            Yield(cached, place="value")
            Yield(api.Add(a=cached.fieldref(0), b=1, site="beta"), place="plus_one")
        return p

    def test_try_from_cache_miss_stores_and_hit_skips_the_body(self, session: Session, mathfed: Any) -> None:
        """A TryFromCache miss runs and stores the body; the next run with the same inputs skips it."""
        pytest.importorskip("fsspec", reason="TryFromCache needs fsspec (dfm-runner[cache])")
        prepared = session.prepare(self._cached_nonce(mathfed, f"conformance-{uuid.uuid4().hex}"))
        block = prepared.pipeline.statements[0]
        assert isinstance(block, ir.TryFromCache)
        assert prepared.placement[block.body[0].id] == "alpha"
        first = session.execute(prepared, [{"x": 3}, {"x": 4}])
        got = {(r.place, r.frame): r.value for r in first.results(timeout=30)}
        assert got[("value", (0,))][0] == 9 and got[("plus_one", (1,))] == 17
        # the same inputs hit (the body's random part comes back); new inputs miss
        second = session.execute(prepared, [{"x": 4}, {"x": 5}, {"x": 3}])
        again = {(r.place, r.frame): r.value for r in second.results(timeout=30)}
        assert again[("value", (0,))] == got[("value", (1,))]
        assert again[("value", (2,))] == got[("value", (0,))]
        assert again[("value", (1,))][0] == 25 and again[("plus_one", (1,))] == 26
        assert second.status is JobStatus.FINISHED

    def test_try_from_cache_in_a_loop_and_a_hostile_key(self, session: Session, mathfed: Any) -> None:
        """A cache block inside a ForEach, keyed by a path-like key, caches per item and stays harmless."""
        pytest.importorskip("fsspec", reason="TryFromCache needs fsspec (dfm-runner[cache])")
        api = mathfed.api.math
        key = f"../../{uuid.uuid4().hex}/../etc/passwd"  # only ever hashed: harmless
        with Pipeline() as p, ForEach(api.Range(n=PlaceParam("n"))) as i:
            with TryFromCache(key=key) as cached:
                cached.cache(api.Nonce(x=i))
            Yield(cached, place="items")
        prepared = session.prepare(p)
        first = sorted((r.frame, r.value) for r in session.execute(prepared, {"n": 3}).results(timeout=30))
        assert [v[0] for _, v in first] == [0, 1, 4]
        second = sorted((r.frame, r.value) for r in session.execute(prepared, {"n": 4}).results(timeout=30))
        assert second[:3] == first and second[3][1][0] == 9

    def test_try_from_cache_needs_a_site_with_cache_config(self, session: Session, mathfed: Any) -> None:
        """A cache block whose body can run only at sites without a cache_config is a located error."""
        with Pipeline() as p:
            with TryFromCache("k") as cached:
                cached.cache(mathfed.api.math.Square(x=2, site="home"))
            Yield(cached, place="sq")
        with pytest.raises(CompileError, match=r"site 'home', which has no cache_config"):
            session.prepare(p)

    def test_reference_callbacks_name_each_yield_of_a_shared_place(
        self, session: Session, mathfed: Any
    ) -> None:
        """Reference-shaped callbacks get the id of the Yield that produced each result of a shared place."""
        api = mathfed.api.math
        seen: list[tuple[Any, ...]] = []
        lock = threading.Lock()

        def reference(
            from_site: str, from_node_id: str | None, frame: Any, target_place: str, data: Any
        ) -> None:
            with lock:
                seen.append((from_site, from_node_id, tuple(frame), data))

        with Pipeline() as p:
            Yield(api.Square(x=PlaceParam("x"), site="beta"), place="both", multiuse=True, dfm_node_id="sq")
            Yield(
                api.Add(a=PlaceParam("x"), b=1, site="home"), place="both", multiuse=True, dfm_node_id="inc"
            )
            Yield(PlaceParam("x"), place="both", multiuse=True, dfm_node_id="raw")
        job = session.execute(session.prepare(p), [{"x": 3}, {"x": 4}], place_callbacks={"both": reference})
        assert job.wait_until_finished(30)
        until(lambda: len(seen) == 6, what="six callbacks")
        assert sorted(seen, key=repr) == sorted(
            [
                (site, node, (i,), value)
                for i, x in enumerate((3, 4))
                for site, node, value in (("beta", "sq", x * x), ("home", "inc", x + 1), ("home", "raw", x))
            ],
            key=repr,
        )


def _square_pipeline(mathfed: Any) -> Pipeline:
    with Pipeline() as p:
        Yield(mathfed.api.math.Square(x=2, site="home"), place="square")
    return p
