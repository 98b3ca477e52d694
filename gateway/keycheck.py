"""Start-up checks on keys: the shipped development key and an unkeyed log never leave loopback.

`gateway/default.toml` ships a public key so that a first run works; anyone can sign a consent
cookie with it. It is accepted only while the gateway listens on a loopback address, and the log's
chain key is never derived from it (see config.build_log).
"""

from __future__ import annotations

import ipaddress

from gateway.config import SHIPPED_KEY_PREFIX, Config

GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name, or 0.0.0.0 / :: (every interface)


def key_problems(config: Config, host: str) -> list[str]:
    """What must change before the gateway may listen on `host`; empty when nothing."""
    if is_loopback(host):
        return []
    problems = []
    if any(k.startswith(SHIPPED_KEY_PREFIX) for k in config.consent.secret_keys):
        problems.append(
            f"[consent] secret_keys holds the shipped development key, and the gateway would listen on "
            f"{host} (not loopback): anyone can forge a consent cookie with it. Generate a key with "
            f"{GENERATE} and put it in secret_keys (or CONSENT_GATEWAY_SECRET_KEYS).")
    chain_key = config.log.chain_key
    if not chain_key or chain_key.startswith("derived:"):
        problems.append(
            f"[log] chain_key is not set, and the gateway would listen on {host} (not loopback): the consent "
            f"log needs its own key. Generate one with {GENERATE} and set chain_key (or CONSENT_GATEWAY_LOG_KEY).")
    return problems
