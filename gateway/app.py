"""Assembles the ASGI app from the stages. No rules live here; see the modules it wires."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import time
from pathlib import Path

from gateway.accesslog import KIND_CONSENT, AccessLog, CountingSend
from gateway.banner import PREFIX, Banner
from gateway.config import Config, load_config, parse_upstream
from gateway.consent import ConsentCodec
from gateway.context import read_request
from gateway.cookies import CookieRules
from gateway.endpoints import Endpoints
from gateway.forwarded import ForwardedResolver
from gateway.health import UpstreamHealth
from gateway.ledger import Ledger, spool_dir
from gateway.metrics import SNAPSHOT_INTERVAL, Metrics, read_sibling_snapshots, write_snapshot
from gateway.proxy import Proxy
from gateway.proxyhints import ProxyHints
from gateway.revocation import REVOCATION_INTERVAL
from gateway.types import Receive, Scope, Send
from gateway.upstream import UpstreamPool
from gateway.websocket import WebSocketProxy

log = logging.getLogger("consent_gateway")
INVENTORY_INTERVAL = 10.0
GC_GEN0_THRESHOLD = 20_000


class ConsentGateway:
    def __init__(self, config: Config, ledger: Ledger | None = None) -> None:
        self.config = config
        g = config.gateway
        self.codec = ConsentCodec(config)
        self.rules = CookieRules(config)
        self.banner = Banner(config)
        self.resolver = ForwardedResolver(g)
        self.hints = ProxyHints(g)
        self.metrics = Metrics(config.cookies.inventory_names)
        self.access_log = AccessLog(g.access_log)
        self.ledger = ledger or Ledger(config.log)
        self.pool = UpstreamPool(g.upstream, connect_timeout=g.connect_timeout, read_timeout=g.read_timeout,
                                 size=g.pool_size, ca_file=g.upstream_ca, max_head_bytes=g.max_header_bytes,
                                 max_headers=g.max_headers)
        self.proxy = Proxy(config, self.rules, self.banner, self.pool, self.metrics)
        self.upstream_health = UpstreamHealth(g.upstream, self.pool.ssl, g.connect_timeout)
        self.endpoints = Endpoints(config, self.codec, self.rules, self.banner, self.ledger, self.resolver,
                                   self.metrics, self.proxy.scopes, self.readiness)
        self.websockets = WebSocketProxy(config, self.codec, self.rules, self.resolver, self.pool.ssl)
        self.metrics.backlog = lambda: self.ledger.backlog
        # /metrics is the site's unless the operator turned the admin surface on (then it is ours,
        # behind the credential, as Prometheus expects); /_consent/metrics always works.
        self.metrics_alias = config.admin.enabled
        self.started = False
        self._tasks: list[asyncio.Task[None]] = []

    async def readiness(self) -> dict[str, object]:
        durable = self.ledger.healthy()
        log_state = "failing" if not durable else "ok" if self.ledger.store_ok else "spooling"
        reachable, how = await self.upstream_health.check()
        return {"live": True, "ready": self.started and durable and reachable, "log": log_state,
                "upstream": "ok" if reachable else how, "spool_backlog": self.ledger.backlog,
                "policy_version": self.config.consent.policy_version}

    async def _flush_inventory(self) -> None:
        rows = self.metrics.drain_inventory()
        if rows:
            try:
                await self.ledger.store.add_inventory(rows, self.config.cookies.inventory_names)
            except Exception as e:  # noqa: BLE001 - an inventory is best effort, decisions are not
                log.info("cookie inventory not saved: %s", type(e).__name__)
        # Cookie scopes: share what this process learned from the site, take what the others did,
        # so a withheld cookie is expired with its real Path and Domain whichever process sees it.
        scopes = self.proxy.scopes
        fresh = scopes.unshared()
        try:
            if fresh:
                await self.ledger.store.add_scopes(fresh)
                scopes.shared(fresh)
            scopes.absorb(await self.ledger.store.scopes())
        except Exception as e:  # noqa: BLE001 - best effort: the defaults and parent domains still apply
            log.info("cookie scopes not shared: %s", type(e).__name__)

    async def _share_revocations(self) -> None:
        """Push this process's withdrawals to the log database and pull the other processes'."""
        revocations = self.codec.revocations
        fresh = revocations.unshared()
        try:
            if fresh:
                await self.ledger.store.add_revocations(fresh)
                revocations.shared(fresh)
            oldest = int(time.time()) - self.codec.max_age  # older cookies have expired anyway
            rows, revocations.cursor = await self.ledger.store.revocations(revocations.cursor, oldest)
            revocations.absorb(rows)
        except Exception as e:  # noqa: BLE001 - this process still refuses what it revoked itself
            log.info("consent revocations not shared: %s", type(e).__name__)

    async def _revocation_loop(self) -> None:
        while True:
            await self._share_revocations()
            await asyncio.sleep(REVOCATION_INTERVAL)

    async def _inventory_loop(self) -> None:
        while True:
            await self._flush_inventory()  # at once too: a new process learns the shared scopes
            await asyncio.sleep(INVENTORY_INTERVAL)

    async def _snapshot_loop(self, directory: Path, chain_id: str) -> None:
        while True:
            try:
                write_snapshot(directory, chain_id, self.metrics.snapshot())
            except OSError as e:
                log.info("metrics snapshot not written: %s", type(e).__name__)
            await asyncio.sleep(SNAPSHOT_INTERVAL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            started = time.perf_counter()
            ctx = read_request(scope, self.codec, self.resolver)
            if self.hints.pending:  # until a misconfigured proxy has been reported once
                self.hints.check(ctx)
            record = ctx.access
            out = CountingSend(send, record)
            path: str = scope["path"]
            try:
                if path.startswith(PREFIX) and (len(path) == len(PREFIX) or path[len(PREFIX)] == "/"):
                    record.kind = KIND_CONSENT
                    await self.endpoints(scope, receive, out, ctx)
                elif path == "/metrics" and self.metrics_alias:
                    record.kind = KIND_CONSENT
                    await self.endpoints.metrics_page(scope, receive, out, ctx)
                else:
                    await self.proxy(scope, receive, out, ctx)
            except Exception:
                if not record.status:
                    record.status = 500  # what the server answers for an exception before a response
                raise
            finally:
                if record.upstream_seconds is not None:
                    self.upstream_health.saw_response()
                self.metrics.request(record.status, record.kind)
                self.access_log.emit(scope["method"], path, ctx.client.ip, ctx.state.granted, record, started)
        elif kind == "websocket":
            await self.websockets(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.ledger.start()
                except Exception as e:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": f"consent log: {e}"})
                    return
                self.started = True
                # Everything built so far lives for the whole process: keep it out of the
                # collector's scans, and collect young objects less often (requests allocate a lot,
                # and almost none of it survives the request).
                gc.collect()
                gc.freeze()
                gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
                # sibling workers on the same port: each scrape sums the live ones (see metrics)
                directory, chain_id = spool_dir(self.config.log), self.ledger.chain_id
                self.metrics.peers = functools.partial(read_sibling_snapshots, directory, chain_id)
                self._tasks = [asyncio.create_task(self._inventory_loop()),
                               asyncio.create_task(self._revocation_loop()),
                               asyncio.create_task(self._snapshot_loop(directory, chain_id))]
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.started = False
                for task in self._tasks:
                    task.cancel()
                await self._flush_inventory()
                await self._share_revocations()
                self.endpoints.aggregates.flush()  # the last minute's unlogged refusals, if any
                await self.pool.close()
                await self.ledger.close()  # flushes queued decisions before the process ends
                await send({"type": "lifespan.shutdown.complete"})
                return


ENV_CONFIG = "CONSENT_GATEWAY_CONFIG"
ENV_UPSTREAM = "CONSENT_GATEWAY_UPSTREAM"


def create_app() -> ConsentGateway:
    """Factory for uvicorn workers: the config path (and overrides) come from the environment."""
    config = load_config(os.environ[ENV_CONFIG])
    upstream = os.environ.get(ENV_UPSTREAM)
    if upstream:
        config = with_upstream(config, upstream)
    return ConsentGateway(config)


def with_upstream(config: Config, upstream: str) -> Config:
    from dataclasses import replace

    return replace(config, gateway=replace(config.gateway, upstream=parse_upstream(upstream)))
