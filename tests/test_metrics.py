from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from gateway.metrics import Metrics, merge_snapshots, read_sibling_snapshots, snapshot_path, write_snapshot


def busy_worker() -> Metrics:
    m = Metrics()
    m.decision("accept_all", ["identity", "personalization"], [])
    m.decision("reject_all", [], ["identity", "personalization"])
    m.upstream_latency(0.0003)
    m.upstream_latency(0.02)
    m.upstream_latency(99.0)
    m.upstream_error("UpstreamTimeout")
    m.log_latency(0.004)
    m.banner_shown()
    return m


def test_exposition() -> None:
    text = busy_worker().render().decode()
    assert 'consent_decisions_total{action="accept_all"} 1.0' in text
    assert 'consent_decision_categories_total{category="identity",outcome="denied"} 1.0' in text
    assert 'consent_upstream_errors_total{kind="UpstreamTimeout"} 1.0' in text
    assert 'consent_upstream_latency_seconds_bucket{le="0.0005"} 1.0' in text
    assert 'consent_upstream_latency_seconds_bucket{le="0.025"} 2.0' in text
    assert 'consent_upstream_latency_seconds_bucket{le="+Inf"} 3.0' in text
    assert "consent_upstream_latency_seconds_count 3.0" in text
    assert 'consent_log_write_seconds_bucket{le="0.0025"} 0.0' in text
    assert 'consent_log_write_seconds_bucket{le="0.005"} 1.0' in text
    assert "consent_log_write_seconds_sum 0.004" in text
    assert "consent_banners_shown_total 1.0" in text and "consent_gateway_workers 1.0" in text


def test_merge_sums_and_skips_malformed_pieces() -> None:
    a, b = busy_worker().snapshot(), busy_worker().snapshot()
    hostile = {"tallies": {"decisions": {"accept_all": "many"}, "nope": {}, "dropped": []},
               "latency_buckets": [1, 2], "banners": "x", "workers": 1}
    merged = merge_snapshots([a, b, hostile, {}])
    assert merged["tallies"]["decisions"] == {"accept_all": 2, "reject_all": 2}
    assert merged["latency_buckets"][-1] == 2 and merged["banners"] == 2 and merged["workers"] == 3
    assert merged["log_latency_buckets"][3] == 2 and merged["log_latency_sum"] == 0.008


def test_siblings_are_counted_while_they_hold_their_chain_lock(tmp_path: Path) -> None:
    for slot in (0, 1, 2):
        write_snapshot(tmp_path, f"inst-a-{slot}", busy_worker().snapshot())
    write_snapshot(tmp_path, "inst-ab-0", busy_worker().snapshot())  # another instance's base
    (tmp_path / ".metrics-inst-a-7.json").write_text("{not json")  # torn or foreign: ignored
    live = os.open(tmp_path / ".chain-inst-a-1.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(live, fcntl.LOCK_EX | fcntl.LOCK_NB)
    dead = os.open(tmp_path / ".chain-inst-a-2.lock", os.O_CREAT | os.O_RDWR, 0o600)  # not locked: gone
    torn = os.open(tmp_path / ".chain-inst-a-7.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(torn, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        siblings = read_sibling_snapshots(tmp_path, "inst-a-0")
        assert len(siblings) == 1  # slot 1; not ourselves (0), not the dead 2, not the torn 7
        me = Metrics()
        me.peers = lambda: read_sibling_snapshots(tmp_path, "inst-a-0")
        assert "consent_gateway_workers 2.0" in me.render().decode()
    finally:
        for fd in (live, dead, torn):
            os.close(fd)
    assert json.loads(snapshot_path(tmp_path, "inst-a-0").read_text())["workers"] == 1
