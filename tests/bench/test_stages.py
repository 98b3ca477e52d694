"""bench/stages.py still runs against today's seams (it once named a method the refactor removed,
and the bench died after its throughput table). Not a timed test: it checks every stage runs and
that the rewrite stage really rewrites; the figures it prints are for bench/proxy_bench.py."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_every_stage_runs_on_the_bench_request() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import proxy_bench
        import stages
    finally:
        sys.path.remove(str(BENCH))
    config = proxy_bench.GATEWAY.format(origin=9, port=9, dir=tempfile.gettempdir(), catalog="")
    costs = stages.stage_costs(config, proxy_bench.page_12k(), proxy_bench.BROWSER, n=1)
    assert len(costs) == 8 and all(us > 0 for us in costs.values())
    assert any(name.startswith("rewrite") for name in costs)
