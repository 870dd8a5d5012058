"""A ForEach over N items at the remote site of bench/benchfed, each yielded to the app.

dfm fed submit bench/benchfed/benchfed.dfm.yaml pipeline bench/pipelines/foreach.py -- 200000
"""

from dfm.api import ForEach, Pipeline, PlaceParam, Yield


def get_pipeline(fed):
    with Pipeline() as p, ForEach(fed.api.bench.Range(n=PlaceParam("n"), site="remote")) as item:
        Yield(item, place="item")
    return p


def get_pipeline_parameters(argv):
    return {"n": int(argv[0]) if argv else 200_000}
