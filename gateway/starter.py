"""`consent-gateway init`: a commented starter config for a first deploy.

Fresh keys every time (never the shipped development key), report mode (nothing is blocked until
the operator has read `cookies report`), the catalog on, the upstream the operator named.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from gateway.config import parse_upstream

DEFAULT_OUT = "consent-gateway.toml"

TEMPLATE = """\
# consent-gateway configuration, written by `consent-gateway init`.
# Check it with:  consent-gateway check-config {out_name}
# Every key is documented in gateway/default.toml (the shipped defaults).
#
# The path to enforcement:
#   1. Deploy with this file. mode = "report" below: nothing is blocked yet, the banner shows and
#      decisions are logged, and the gateway counts what it *would* block.
#   2. After some real traffic, read `consent-gateway cookies report --config {out_name}` (or the
#      dashboard at /_consent/admin once [admin] is on): every cookie seen, its vendor and purpose
#      from the catalog, and TOML to paste for the ones no rule covers.
#   3. Set mode = "enforce".
#
# This file holds secrets: keep it readable by the gateway's user only (it was written 0600).

[gateway]
upstream = "{upstream}"
host = "127.0.0.1"            # behind nginx on the same host; see deploy/README.md
port = 8080
# public_origin = "https://www.example.com"   # set it when the gateway sits behind a proxy
# trusted_proxies = ["127.0.0.1"]             # X-Forwarded-* are believed only from these

[consent]
# Signs the consent cookie. To rotate: append a new key, keep the old ones until their cookies expire.
secret_keys = ["{secret}"]
mode = "report"               # first deploy: block nothing, count what would be blocked; then "enforce"
policy_version = "1"          # raise it when the privacy policy changes: visitors are asked again
max_age_days = 180
honor_gpc = true
fallback_locale = "en"        # when no locale matches the visitor's Accept-Language (e.g. "zh-CN")
privacy_policy_url = "/privacy"

[log]
url = "sqlite:////var/lib/consent-gateway/consent.db"  # absolute (four slashes); or "postgresql://user@host/db"
# Keys the log's tamper-evident chain. Keep a copy apart from the database: `log verify` needs it.
chain_key = "{chain_key}"

[catalog]
# Vendors, purposes and lifetimes of ~2,400 cookies and trackers (gateway/catalog/README.md).
enabled = true
# extra = ["/etc/consent-gateway/ours.jsonl"]   # your own entries and corrections

[cookies]
necessary = []               # cookies your site cannot work without, beyond what the catalog knows
unknown = "block"            # cookies nobody knows: "block", or the id of a category

# [admin]                    # the dashboard at /_consent/admin
# enabled = true
# token = "..."              # or env CONSENT_GATEWAY_ADMIN_TOKEN

[[categories]]
id = "identity"
cookies = []                 # e.g. ["remember_*"]: your own sign-in cookies the catalog does not know
scripts = []

[[categories]]
id = "personalization"
cookies = []                 # e.g. ["_ga", "_ga_*"]: the catalog already knows the common ones
scripts = []                 # URL substrings of tags held until granted, e.g. "hm.baidu.com"
"""


class StarterError(Exception):
    """A one-line reason the file was not written."""


def starter_config(upstream: str, out_name: str = DEFAULT_OUT) -> str:
    """The config text; ConfigError for an upstream the config would refuse."""
    parsed = parse_upstream(upstream)
    return TEMPLATE.format(upstream=str(parsed), secret=secrets.token_urlsafe(32),
                           chain_key=secrets.token_urlsafe(32), out_name=out_name)


def write_starter(path: Path, text: str, *, force: bool) -> None:
    """Write 0600; an existing file is kept unless `force`."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise StarterError(f"{path} exists; use --force to overwrite it") from None
    except OSError as e:
        raise StarterError(f"cannot write {path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file overwritten with --force keeps no wider mode
        f.write(text)
