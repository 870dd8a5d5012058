"""Jobs that outlive the application: ``job.detach()``, ``session.suspend(path)``, then a new
``Session(..., options={"attach": path})`` and ``session.reattach(job_id)`` on the same FLARE job."""

from __future__ import annotations

import pytest

from dfm.api import Pipeline, PlaceParam, Yield
from dfm.kernel.errors import DfmError
from dfm.runner import JobStatus, Session
from dfm.runner.session import RESULT_WINDOW

pytestmark = pytest.mark.flare


def test_detached_jobs_survive_an_application_restart(mathfed, mathfed_deployment, tmp_path):
    api = mathfed.api.math
    options = {"workspace": str(mathfed_deployment.workspace)}
    with Pipeline() as service:
        Yield(api.Add(a=api.Square(x=PlaceParam("x"), site="alpha"), b=1, site="beta"), place="out")
    with Pipeline() as endless:
        Yield(api.Forever(site="alpha"), place="n")

    with Session(mathfed, target="flare", options=options) as first:
        flare_job = first.transport.job_id
        open_job = first.execute(first.prepare(service), [{"x": 2}], autostop=False)
        results = open_job.results(timeout=60)
        assert next(results).value == 5
        open_job.send_input_params({"x": 3})  # its result may come before or after the restart
        stream = first.execute(first.prepare(endless))
        taken = [r.value for _, r in zip(range(5), stream.results(timeout=60), strict=False)]
        assert taken == [0, 1, 2, 3, 4]
        ids = (open_job.detach(), stream.detach())
        doomed = first.execute(first.prepare(service), [{"x": 1}], autostop=False)  # not detached
        state = first.suspend(tmp_path / "attach.json", keep_for=120)
    assert doomed.wait(30) is JobStatus.CANCELLED
    assert (state.stat().st_mode & 0o777) == 0o600

    # "the application restarts": a new session attaches to the same FLARE job
    with Session(mathfed, target="flare", options={**options, "attach": str(state)}) as second:
        assert second.transport.job_id == flare_job
        again = second.reattach(ids[0])
        assert again.send_input_params({"x": 4}) == [2]
        again.send_stop_frame()
        assert sorted((r.frame, r.value) for r in again.results(timeout=60)) == [((1,), 10), ((2,), 17)]
        assert again.status is JobStatus.FINISHED
        flowing = second.reattach(ids[1])
        got = [r.value for _, r in zip(range(2 * RESULT_WINDOW), flowing.results(timeout=60), strict=False)]
        assert got == list(range(5, 5 + 2 * RESULT_WINDOW))  # in order: none lost, none twice
        flowing.cancel()
        assert flowing.wait(30) is JobStatus.CANCELLED
        with pytest.raises(DfmError, match="no detached job"):
            second.reattach(doomed.id)


def test_local_sessions_cannot_be_suspended(mathfed, tmp_path):
    with Session(mathfed) as session, pytest.raises(DfmError, match="only FLARE sessions"):
        session.suspend(tmp_path / "state.json")
