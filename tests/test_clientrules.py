"""The browser's rule table is the server's: same precedence, same order, same Consent Mode map."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.banner import Banner
from gateway.clientrules import glob_to_js, rules_document, rules_script
from gateway.config import parse_config
from gateway.cookies import CookieRules
from tests.conftest import config_text

# The case the issue found: a `necessary` glob and an exact name of a category disagree.
CATS = """
[[categories]]
id = "identity"
cookies = ["csrftoken", "sid", "remember_*"]
scripts = ["accounts.example"]

[[categories]]
id = "personalization"
cookies = ["_ga", "_ga_*", "remember_ads"]
scripts = ["www.googletagmanager.com", "accounts.example/pixel"]
"""


CONFIG_TEXT = config_text("http://127.0.0.1:1", Path("/tmp/u.db"), categories=CATS)


def config(unknown: str = "block") -> object:
    text = CONFIG_TEXT
    text = text.replace('necessary = ["csrftoken"]', 'necessary = ["csrf*", "sess"]')
    return parse_config(text.replace('unknown = "block"', f'unknown = "{unknown}"'))


def test_exact_name_beats_a_necessary_glob_on_the_server() -> None:
    rules = CookieRules(config())  # type: ignore[arg-type]
    assert rules.category_of("csrftoken") == "identity"  # exact, though necessary has csrf*
    assert rules.category_of("csrf_other") == "necessary"
    assert rules.category_of("remember_ads") == "personalization"  # exact beats identity's glob
    assert rules.category_of("remember_me") == "identity"


def test_document_lists_rules_in_precedence_order() -> None:
    cfg = config()
    doc = rules_document(cfg, CookieRules(cfg))  # type: ignore[arg-type]
    assert doc["cookies"]["exact"]["csrftoken"] == "identity"
    assert doc["cookies"]["exact"]["sess"] == "necessary"
    assert [g for g, _ in doc["cookies"]["globs"]] == ["^csrf.*$", "^remember_.*$", "^_ga_.*$"]
    assert doc["cookies"]["unknown"] is None
    assert doc["urls"][0] == ["accounts.example", "identity"]
    assert "security_storage" in doc["consentMode"]["alwaysGranted"]


def test_script_is_plain_ascii_json_behind_one_assignment() -> None:
    cfg = config()
    body = rules_script(cfg, CookieRules(cfg))  # type: ignore[arg-type]
    assert body.startswith(b"window.consentGatewayRules=") and body.endswith(b";\n")
    json.loads(body[len(b"window.consentGatewayRules="):-2])
    body.decode("ascii")


def test_guard_asset_changes_hash_with_the_rules() -> None:
    a = Banner(config())  # type: ignore[arg-type]
    b = Banner(config("identity"))  # type: ignore[arg-type]
    assert a.static["guard.js"].etag != b.static["guard.js"].etag
    assert a.asset_url["guard.js"] != b.asset_url["guard.js"]
    assert a.static["guard.js"].body.startswith(b"window.consentGatewayRules=")


@given(st.from_regex(r"[A-Za-z0-9_.$^|+!#%&'~`-]{0,6}(\*[A-Za-z0-9_.$^|+!#%&'~`-]{0,6}){0,2}", fullmatch=True),
       st.text(alphabet="ab_.$^|+*-xyz", max_size=10))
def test_glob_to_js_means_what_fnmatch_means(glob: str, name: str) -> None:
    import fnmatch

    # JavaScript's regex syntax is Python's for these escapes and anchors
    assert bool(re.match(glob_to_js(glob), name)) == fnmatch.fnmatchcase(name, glob)


def test_document_carries_the_catalog_after_the_operators_rules() -> None:
    cfg = config()
    doc = rules_document(cfg, CookieRules(cfg))  # type: ignore[arg-type]
    catalog = doc["cookies"]["catalog"]
    assert "PHPSESSID" in catalog["exact"]["necessary"] and "_fbp" in catalog["exact"]["personalization"]
    assert catalog["maxName"] == 256 and ["^_ga_.*$", "personalization"] in catalog["globs"]
    assert ["hotjar.com", "personalization"] in doc["catalogUrls"]
    assert ["res.wx.qq.com/open/js/jweixin-", "identity"] in doc["catalogUrls"]  # functional
    assert doc["report"] is False
    off = parse_config(str(CONFIG_TEXT) + "\n[catalog]\nenabled = false\n")
    doc = rules_document(off, CookieRules(off))
    assert doc["catalogUrls"] == [] and doc["cookies"]["catalog"]["exact"] == {}
