from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.acceptlang import MAX_ITEMS, negotiate

KNOWN = {"en": "en", "zh-cn": "zh-CN"}


def test_best_ranked_known_tag_wins() -> None:
    assert negotiate("fr;q=0.9, zh-CN;q=0.8, en;q=0.7", KNOWN, "en") == "zh-CN"
    assert negotiate("en;q=0.5, zh-CN", KNOWN, "en") == "zh-CN"
    assert negotiate("ZH-cn", KNOWN, "en") == "zh-CN"


def test_a_primary_subtag_matches_a_regional_variant() -> None:
    assert negotiate("zh-TW", KNOWN, "en") == "zh-CN" and negotiate("zh-Hans", KNOWN, "en") == "zh-CN"


def test_fallback_for_star_excluded_unknown_and_malformed() -> None:
    assert negotiate("fr, de", KNOWN, "zh-CN") == "zh-CN"
    assert negotiate("*", KNOWN, "zh-CN") == "zh-CN"
    assert negotiate("zh-CN;q=0, en;q=0", KNOWN, "zh-CN") == "zh-CN"
    assert negotiate("zh-CN;q=1.2.3.4, <script>, en;q=x", KNOWN, "fr") == "fr"
    assert negotiate("", KNOWN, "en") == "en"


def test_only_the_first_items_are_read() -> None:
    header = ", ".join(["fr"] * MAX_ITEMS + ["zh-CN"])
    assert negotiate(header, KNOWN, "en") == "en"
    assert negotiate(", ".join(["fr"] * (MAX_ITEMS - 1) + ["zh-CN"]), KNOWN, "en") == "zh-CN"


@given(st.text(max_size=600))
def test_any_header_gives_a_language_we_have(header: str) -> None:
    assert negotiate(header, KNOWN, "en") in ("en", "zh-CN")
