"""`consent-gateway demo`: the sample site and the gateway in one process, on loopback."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import uvicorn

from gateway.app import ConsentGateway
from gateway.config import LogSettings, Upstream, load_config
from gateway.serving import GatewayHttpProtocol


def demo_config(port: int, site_port: int, state_dir: Path):  # type: ignore[no-untyped-def]
    config = load_config(Path(__file__).with_name("demo.toml"))
    url = f"sqlite:///{state_dir.resolve()}/consent.db"
    return replace(
        config,
        gateway=replace(config.gateway, port=port, upstream=Upstream("http", "127.0.0.1", site_port)),
        log=LogSettings(url=url, chain_key=config.log.chain_key, instance_id="demo"),
    )


def run_demo(port: int, site_port: int, state_dir: Path) -> int:
    from gateway.cli import LOG_CONFIG
    from gateway.demo.site import create_site

    config = demo_config(port, site_port, state_dir)
    site = uvicorn.Server(uvicorn.Config(create_site(), host="127.0.0.1", port=site_port, log_level="warning",
                                         access_log=False, lifespan="off"))
    gateway = uvicorn.Server(uvicorn.Config(ConsentGateway(config), host="127.0.0.1", port=port,
                                            http=GatewayHttpProtocol, lifespan="on", access_log=False,
                                            proxy_headers=False, log_config=LOG_CONFIG, server_header=False))

    async def main() -> None:
        print(f"demo site (no consent logic) on http://127.0.0.1:{site_port}/", flush=True)
        print(f"consent log: {state_dir.resolve()}/consent.db", flush=True)
        print(f"Open http://127.0.0.1:{port}/ (the site behind consent-gateway). Ctrl-C stops.", flush=True)
        await asyncio.gather(site.serve(), gateway.serve())

    asyncio.run(main())
    return 0
