"""User-agent summaries for the log, and crawler detection for the banner.

Parsing one user agent costs about a millisecond, so results are cached by the exact string;
browsers send a handful of distinct strings, so the cache hit rate is high.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from user_agents import parse

MAX_UA = 512  # longer strings are truncated before parsing: the parser is regex-heavy


@dataclass(frozen=True)
class AgentSummary:
    browser: str
    os: str
    device: str  # "mobile" | "tablet" | "desktop" | "bot" | "other"
    is_bot: bool


@lru_cache(maxsize=4096)
def summarize(user_agent: str) -> AgentSummary:
    ua = parse(user_agent[:MAX_UA])
    if ua.is_bot:
        device = "bot"
    elif ua.is_mobile:
        device = "mobile"
    elif ua.is_tablet:
        device = "tablet"
    elif ua.is_pc:
        device = "desktop"
    else:
        device = "other"
    return AgentSummary(ua.browser.family[:64], ua.os.family[:64], device, bool(ua.is_bot))


def is_bot(user_agent: str) -> bool:
    return bool(user_agent) and summarize(user_agent).is_bot
