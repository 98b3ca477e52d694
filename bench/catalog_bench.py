"""Multi-pattern search of the catalog over a page, against the number of patterns.

    .venv/bin/python bench/catalog_bench.py [--repeat 30]

Prints, for a 12 KB and a 300 KB page, the median time of one `findall` and one `search` (the
rewriter's first-hit question) with the shipped URL patterns, then with synthetic host patterns
added (as an operator's EasyPrivacy-derived `extra` file would), side by side with a naive
per-pattern loop for scale. The pages are realistic shop HTML with a few tracker snippets near
the end, so `search` scans most of the buffer.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from collections.abc import Callable

from gateway.catalog import Catalog
from gateway.catalog.loader import Entry
from gateway.catalog.matcher import UrlMatcher

SNIPPETS = (
    "<script>(function(h,o,t,j,a,r){r=o.createElement('script');"
    "r.src='https://static.hotjar.com/c/hotjar-'+h._hjSettings.hjid+'.js';})(window,document);</script>\n"
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n'
    '<noscript><img height="1" width="1" src="https://www.facebook.com/tr?id=1&ev=PageView&noscript=1"></noscript>\n'
)


def page(size: int, rng: random.Random) -> bytes:
    words = ["product", "price", "cart", "https://cdn.example.com/img/", "class", "div", "span", "data-id",
             "www.example.com", "static.shop.example", "description", "¥", "加入购物车", "评价"]
    parts: list[str] = []
    n = 0
    while n < size - len(SNIPPETS):
        item = (f'<div class="item"><a href="/p/{rng.randrange(10**6)}">{" ".join(rng.choices(words, k=8))}</a>'
                f'<img src="https://cdn.example.com/i/{rng.randrange(10**6)}.jpg" alt="x"></div>\n')
        parts.append(item)
        n += len(item.encode())
    parts.append(SNIPPETS)
    return "".join(parts).encode()


def synthetic(n: int, rng: random.Random) -> list[Entry]:
    tlds = ["com", "net", "cn", "io", "ru", "de"]
    out = []
    for _ in range(n):
        host = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(5, 12)))
        out.append(Entry(kind="script", pattern=f"{host}.{rng.choice(tlds)}", vendor="x", purpose="marketing"))
    return out


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: first-touch allocations are not the steady state
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    rng = random.Random(1)
    shipped = [e for e in Catalog.load().entries if e.kind != "cookie"]
    pages = {"12 KB": page(12 * 1024, rng), "300 KB": page(300 * 1024, rng)}
    print(f"{'patterns':>8} {'page':>7} {'findall ms':>11} {'search ms':>10} {'naive loop ms':>14} {'MB/s':>7}")
    for extra in (0, 200, 1000, 5000):
        entries = shipped + synthetic(extra, rng)
        matcher = UrlMatcher({e.pattern: e for e in entries})
        patterns = [e.pattern.encode() for e in entries]
        for name, buf in pages.items():
            low = buf.lower()
            found = median_ms(lambda: matcher.findall(buf), args.repeat)  # noqa: B023 - used at once
            first = median_ms(lambda: matcher.search(buf), args.repeat)  # noqa: B023
            # scale reference only: substring tests, without boundaries, per pattern
            naive = median_ms(lambda: [p for p in patterns if p in low], args.repeat)  # noqa: B023
            print(f"{len(entries):>8} {name:>7} {found:>11.2f} {first:>10.2f} {naive:>14.2f} "
                  f"{len(buf) / found / 1000:>7.1f}")


if __name__ == "__main__":
    main()
