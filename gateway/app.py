"""Assembles the ASGI app from the stages. No rules live here; see the modules it wires."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import time
from pathlib import Path

from gateway.accesslog import KIND_CONSENT, CountingSend
from gateway.banner import PREFIX, Banner
from gateway.config import Config, load_config, parse_upstream
from gateway.consent import ConsentCodec
from gateway.context import read_request
from gateway.cookies import CookieScopes
from gateway.endpoints import Endpoints
from gateway.errors import ConfigError
from gateway.health import UpstreamHealth
from gateway.ledger import Ledger, spool_dir
from gateway.metrics import SNAPSHOT_INTERVAL, Metrics, read_sibling_snapshots, write_snapshot
from gateway.proxy import Proxy
from gateway.revocation import REVOCATION_INTERVAL, Revocations
from gateway.runtime import Shared, build_runtime, restart_only_changes
from gateway.transport import PoolTransport, Transport
from gateway.types import Receive, Scope, Send
from gateway.upstream import UpstreamPool

log = logging.getLogger("consent_gateway")
INVENTORY_INTERVAL = 10.0
GC_GEN0_THRESHOLD = 20_000


class ConsentGateway:
    """The ASGI app. Per request it reads `self.runtime` once (see runtime.py): a reload swaps that
    one reference and requests in flight finish on the config they started with."""

    def __init__(self, config: Config, ledger: Ledger | None = None, transport: Transport | None = None,
                 health: UpstreamHealth | None = None) -> None:
        g = config.gateway
        metrics = Metrics(config.cookies.inventory_names)
        pool = UpstreamPool(g.upstream, connect_timeout=g.connect_timeout, read_timeout=g.read_timeout,
                            size=g.pool_size, ca_file=g.upstream_ca, max_head_bytes=g.max_header_bytes,
                            max_headers=g.max_headers)
        self.shared = Shared(ledger or Ledger(config.log), pool, transport or PoolTransport(pool), metrics,
                             CookieScopes(), Revocations(),
                             health or UpstreamHealth(g.upstream, pool.ssl, g.connect_timeout), self.readiness)
        self.runtime = build_runtime(config, self.shared)
        self.ledger, self.pool, self.metrics = self.shared.ledger, pool, metrics
        self.upstream_health = self.shared.upstream_health
        self.metrics.backlog = lambda: self.ledger.backlog
        self.config_path: str | None = None  # set by create_app: where SIGHUP reads the config again
        self.started = False
        self._tasks: list[asyncio.Task[None]] = []

    # The current runtime's parts, for the loops below and for tests.
    @property
    def config(self) -> Config:
        return self.runtime.config

    @property
    def codec(self) -> ConsentCodec:
        return self.runtime.codec

    @property
    def banner(self) -> Banner:
        return self.runtime.banner

    @property
    def proxy(self) -> Proxy:
        return self.runtime.proxy

    @property
    def endpoints(self) -> Endpoints:
        return self.runtime.endpoints

    def reload(self, config: Config) -> str | None:
        """Swap in a runtime built from `config`; a reason instead when it cannot be done live."""
        changed = restart_only_changes(self.config, config)
        if changed:
            return "these settings need a restart: " + ", ".join(changed)
        self.runtime = build_runtime(config, self.shared)
        return None

    def reload_from_file(self) -> None:
        """SIGHUP: read the config file again. A bad or restart-only change is one JSON line and the
        running config keeps serving."""
        if not self.config_path:
            log.warning("reload: no config file to read (not started by serve)")
            return
        try:
            problem = self.reload(serving_config(self.config_path))
        except ConfigError as e:
            problem = str(e)
        if problem:
            log.error("reload refused, the running config stays: %s", problem)
        else:
            log.info("reloaded %s (policy %s)", self.config_path, self.config.consent.policy_version)

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
        scopes = self.shared.scopes
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
        revocations = self.shared.revocations
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
            await self.banner.refresh_vendors(self.ledger.store)  # the banner names vendors seen
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
            rt = self.runtime  # once: this request runs on one config whatever a reload does
            ctx = read_request(scope, rt.codec, rt.resolver)
            if rt.hints.pending:  # until a misconfigured proxy has been reported once
                rt.hints.check(ctx)
            record = ctx.access
            path: str = scope["path"]
            try:
                # The proxy notes the status and the bytes it sends itself; the endpoints' sends are counted.
                if path.startswith(PREFIX) and (len(path) == len(PREFIX) or path[len(PREFIX)] == "/"):
                    record.kind = KIND_CONSENT
                    await rt.endpoints(scope, receive, CountingSend(send, record), ctx)
                elif path == "/metrics" and rt.metrics_alias:
                    record.kind = KIND_CONSENT
                    await rt.endpoints.metrics_page(scope, receive, CountingSend(send, record), ctx)
                else:
                    await rt.proxy(scope, receive, send, ctx)
            except Exception:
                if not record.status:
                    record.status = 500  # what the server answers for an exception before a response
                raise
            finally:
                if record.upstream_seconds is not None:
                    self.upstream_health.saw_response()
                self.metrics.request(record.status, record.kind)
                rt.access_log.emit(scope["method"], path, ctx.client.ip, ctx.state.granted, record, started)
        elif kind == "websocket":
            await self.runtime.websockets(scope, receive, send)
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
                with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                    # main thread only (serve); in a test's server thread there is no signal to catch
                    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload_from_file)
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


ENV_PORT = "CONSENT_GATEWAY_PORT"


def serving_config(path: str) -> Config:
    """The config file as `serve` runs it: with its --upstream and the per-port instance id."""
    config = load_config(path)
    upstream = os.environ.get(ENV_UPSTREAM)
    if upstream:
        config = with_upstream(config, upstream)
    port = os.environ.get(ENV_PORT)
    if port and not config.log.instance_id:
        config = with_instance_id(config, f"{socket.gethostname()}-{port}")
    return config


def create_app() -> ConsentGateway:
    """Factory for uvicorn workers: the config path (and overrides) come from the environment."""
    path = os.environ[ENV_CONFIG]
    try:
        config = serving_config(path)
    except ConfigError as e:
        # a worker started by a rolling restart (SIGHUP with --workers): one JSON line, not a
        # traceback; uvicorn then keeps the old worker and aborts the restart
        log.error("config refused, this worker does not start: %s", e)
        raise SystemExit(3) from None
    app = ConsentGateway(config)
    app.config_path = path
    return app


def with_instance_id(config: Config, instance_id: str) -> Config:
    """Several instances on one host (the systemd template: one unit per port) share a state
    directory; the port in the id keeps their chains, and the workers each metrics scrape sums,
    apart. Without it every port reported the host-wide sum and Prometheus counted it twice."""
    from dataclasses import replace

    return replace(config, log=replace(config.log, instance_id=instance_id))


def with_upstream(config: Config, upstream: str) -> Config:
    from dataclasses import replace

    return replace(config, gateway=replace(config.gateway, upstream=parse_upstream(upstream)))
