"""Compiling TryFromCache: placement at a cache site, the nets' shape, and located errors."""

from __future__ import annotations

import attrs
import pytest

from dfm.api import FederationHandle, Pipeline, PlaceParam, TryFromCache, Yield
from dfm.compiler import compile_pipeline
from dfm.kernel.config.models import CacheConfig, Federation
from dfm.kernel.errors import CompileError
from dfm.kernel.ir import pipeline as irp
from dfm.kernel.ir.net import BranchScope, CacheStoreT, CacheT


def _with_cache(fed: Federation, **folders: str) -> Federation:
    sites = {
        name: attrs.evolve(spec, cache_config=CacheConfig(base_path=folders[name]))
        if name in folders
        else spec
        for name, spec in fed.sites.items()
    }
    return attrs.evolve(fed, sites=sites)


def _pipeline(fed: Federation, site: str | None = None) -> Pipeline:
    api = FederationHandle(fed, None).api  # type: ignore[arg-type]
    with Pipeline() as p:
        rows = api.records.Query(cohort=PlaceParam("cohort"))
        with TryFromCache("summary") as cached:
            cached.cache(api.stats.Summarize(data=rows, site=site))
        Yield(cached, place="summary")
    return p


def test_the_block_runs_where_its_cache_is(synthfed):
    fed = _with_cache(synthfed, hospital="cache/h")
    prepared = compile_pipeline(fed, _pipeline(fed))
    assert prepared.placement["n2"] == prepared.placement["n4"] == prepared.placement["n3"] == "hospital"
    net = prepared.nets["hospital"]
    lookup = next(t for t in net.transitions if isinstance(t, CacheT))
    store = next(t for t in net.transitions if isinstance(t, CacheStoreT))
    assert (lookup.block, lookup.key, lookup.inputs, lookup.output, lookup.digest) == (
        "n2",
        "summary",
        ("v:n1",),
        "v:n3",
        "v:n2",
    )
    assert lookup.notify == ("hospital",) and "n2" in net.controls
    assert store.scope == (BranchScope("n2", True),) and (store.source, store.output) == ("v:n4", "v:n3")
    body = next(t for t in net.transitions if getattr(t, "node", None) == "n4")
    assert body.scope == (BranchScope("n2", True),)


def test_no_cache_config_anywhere_is_a_located_error(synthfed):
    with pytest.raises(CompileError, match=r"^n2 \(TryFromCache 'summary'\): no site has a cache_config"):
        compile_pipeline(synthfed, _pipeline(synthfed))


def test_a_body_pinned_elsewhere_names_the_site(synthfed):
    fed = _with_cache(synthfed, lab="cache/lab")
    with pytest.raises(
        CompileError,
        match=r"can run only at site 'hospital', which has no cache_config \(sites with one: lab\)",
    ):
        compile_pipeline(fed, _pipeline(fed, site="hospital"))


def test_json_pipelines_are_checked_like_recorded_ones(synthfed):
    fed = _with_cache(synthfed, hospital="cache/h")
    ir = _pipeline(fed).ir
    block = ir.statements[1]
    empty = attrs.evolve(ir, statements=(ir.statements[0], attrs.evolve(block, body=()), *ir.statements[2:]))
    with pytest.raises(CompileError, match="has an empty body"):
        compile_pipeline(fed, empty)
    elsewhere = attrs.evolve(block, value=irp.Ref("n1"))
    with pytest.raises(CompileError, match="caches a value not computed in its body"):
        compile_pipeline(fed, attrs.evolve(ir, statements=(ir.statements[0], elsewhere, *ir.statements[2:])))
    leaking = Pipeline.from_json(Pipeline.from_ir(ir).to_json().replace('"node": "n3"', '"node": "n4"'))
    with pytest.raises(CompileError, match="cannot be used outside it"):
        compile_pipeline(fed, leaking)


def test_pictures_show_the_lookup_and_the_cached_value(synthfed):
    from dfm.compiler.emitters import dot, text

    fed = _with_cache(synthfed, hospital="cache/h")
    prepared = compile_pipeline(fed, _pipeline(fed))
    table = text.emit(prepared, fed)
    assert "TryFromCache 'summary'" in table and "cached value" in table
    picture = dot.emit(prepared, fed)
    assert '"n2" [' in picture and '"n3" [' in picture
