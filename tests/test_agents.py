from __future__ import annotations

from gateway.agents import is_bot, summarize

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
BAIDU = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"


def test_summaries() -> None:
    assert summarize(CHROME).browser == "Chrome" and summarize(CHROME).device == "desktop"
    assert summarize(IPHONE).device == "mobile"
    assert summarize(BAIDU).is_bot and summarize(BAIDU).device == "bot"


def test_bots() -> None:
    assert is_bot(BAIDU) and not is_bot(CHROME) and not is_bot("")


def test_hostile_user_agents() -> None:
    s = summarize("(" * 100_000 + "\x00\xff")
    assert len(s.browser) <= 64
    assert summarize.cache_info().maxsize == 4096
