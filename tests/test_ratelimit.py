"""The per-address key and the once-a-minute report of aggregated decisions."""

from __future__ import annotations

import logging

import pytest

from gateway.ratelimit import AggregateReport, RateLimiter, address_key, network_key


def test_keys_are_addresses_and_ipv6_slash_64() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7" != address_key("203.0.113.8")
    assert address_key("2001:db8:1:2:3::4") == address_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7" and address_key("nonsense") == ""


def test_network_key_is_the_ipv6_48_only() -> None:
    # the admin lockout's wider key: one /48 holds 65,536 /64s; an IPv4 /24 is not one customer
    assert network_key("2001:db8:1:2::4") == network_key("2001:db8:1:ffff::1") == "2001:db8:1::/48"
    assert network_key("2001:db8:2::1") != network_key("2001:db8:1::1")
    assert network_key("203.0.113.7") == network_key("::ffff:203.0.113.7") == network_key("nonsense") == ""


def test_burst_then_refill() -> None:
    limiter = RateLimiter(per_minute=600, burst=120)
    assert all(limiter.allow("a", now=0.0) == 0.0 for _ in range(120))
    assert limiter.allow("a", now=0.0) > 0
    assert limiter.allow("a", now=0.1) == 0.0  # ten a second


def test_aggregates_are_reported_at_once_then_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    report = AggregateReport(interval=60)
    with caplog.at_level(logging.WARNING, "consent_gateway.ratelimit"):
        report.add("reject_all", now=1000.0)
        for _ in range(5):
            report.add("withdraw", now=1010.0)
        report.add("reject_all", now=1061.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "reject_all=1" in lines[0] and "reject_all=1, withdraw=5" in lines[1]


def test_failures_lock_an_address_then_release_it() -> None:
    from gateway.ratelimit import FailureLimiter

    guard = FailureLimiter(limit=3, window=60, lockout=300)
    assert guard.failed("a", now=0.0) == (1, False)
    assert guard.failed("a", now=100.0) == (1, False)  # a new window
    assert guard.failed("a", now=101.0) == (2, False) and guard.locked("a", now=101.0) == 0.0
    assert guard.failed("a", now=102.0) == (3, True)
    assert guard.locked("a", now=103.0) == 299.0 and guard.locked("b", now=103.0) == 0.0
    assert guard.locked("a", now=402.0) == 0.0
