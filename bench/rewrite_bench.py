"""CPU cost of the HTML rewriter alone (no sockets), with each scanner implementation side by side.

Three pages: the proxy bench's 12 KB shop page, a 300 KB article and a 2 MB listing, each rewritten
with the bench's blocking rules (one tracker neutralised). For each page and implementation:
- "scanner": the data-state walk alone (gateway.scanner.walk), replaying the exact calls the
  rewriter made on that page; MB/s of page per second of walking.
- "rewriter": the whole HtmlRewriter, page fed whole and in 1 KB chunks.
Best of --repeat interleaved rounds; ratios compiled / python. The machine is shared: quote ratios.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import page_12k  # noqa: E402

from gateway import scanner  # noqa: E402
from gateway.rewrite import HtmlRewriter, RewritePlan  # noqa: E402

BANNER = b"<div id=consent-banner>" + b"x" * 2000 + b"</div>"
PLAN = RewritePlan((("www.googletagmanager.com", "personalization"), ("hm.baidu.com", "analytics")),
                   b"<script>/*cfg*/</script>", lambda cs: BANNER, "utf-8")
TRACKER = b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-BENCH"></script>'


def article_300k() -> bytes:
    """A long read: paragraphs with inline markup and links, figures, a few embeds and comments."""
    head = (b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A long article</title>'
            b'<link rel="stylesheet" href="/a.css">' + TRACKER + b"</head><body><article>")
    parts = [head]
    i = 0
    while sum(map(len, parts)) < 300_000:
        parts.append(
            f'<h2 id="s{i}">Section {i}</h2><p>It was the best of times, it was the worst of times; '
            f'<a href="/ref/{i}" title="reference {i}">a reference</a>, <em>emphasis</em> and '
            f"<strong>weight</strong> in every paragraph of a long read about item {i}.</p>"
            f'<figure><img src="/img/{i}.jpg" alt="figure {i}" loading="lazy" width="640" height="360">'
            f"<figcaption>Figure {i}</figcaption></figure><!-- section {i} -->".encode())
        i += 1
    parts.append(b"</article></body></html>")
    return b"".join(parts)


def listing_2m() -> bytes:
    """A big listing page: many small tags with attributes (the worst case for a tag walker)."""
    head = (b'<!doctype html><html><head><meta charset="utf-8"><title>Everything</title>' + TRACKER +
            b"</head><body><table>")
    parts = [head]
    i = 0
    while sum(map(len, parts)) < 2_000_000:
        parts.append(
            f'<tr class="row" data-id="{i}"><td><a href="/p/{i}">Product {i}</a></td>'
            f'<td class="price" data-currency="EUR">{i % 97}.99</td><td><span class="tag">new</span>'
            f'<input type="checkbox" name="c{i}" value="{i}"></td></tr>'.encode())
        i += 1
    parts.append(b"</table></body></html>")
    return b"".join(parts)


def rewrite(page: bytes, chunk: int) -> bytes:
    r = HtmlRewriter(PLAN)
    out = [r.feed(page[i:i + chunk]) for i in range(0, len(page), chunk)]
    return b"".join(out) + r.finish()


def recorded_walks(page: bytes) -> list[tuple[Any, ...]]:
    """The walk calls the rewriter makes on `page`, to replay against each implementation."""
    calls: list[tuple[Any, ...]] = []
    chosen = scanner.walk

    def recording(*args: Any) -> tuple[int, int, int, int, int, int]:
        calls.append(args)
        return chosen(*args)

    scanner.walk = recording
    try:
        rewrite(page, len(page))
    finally:
        scanner.walk = chosen
    return calls


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0.3, help="seconds per timing, roughly")
    args = ap.parse_args()
    impls = scanner.available()
    print(f"scanner in use: {scanner.IMPLEMENTATION}; available: {', '.join(sorted(impls))}")
    print(f"{'page':<10}{'measure':<22}" + "".join(f"{name + ' MB/s':>16}" for name in sorted(impls)) + f"{'ratio':>8}")
    for name, page in (("12 KB", page_12k()), ("300 KB", article_300k()), ("2 MB", listing_2m())):
        number = max(1, int(args.budget * 20e6 / len(page)))
        outputs = set()
        calls = recorded_walks(page)
        for walk in impls.values():
            scanner.walk = walk
            outputs.add(rewrite(page, 1024))
        cases: dict[str, Callable[[scanner.Walk], Callable[[], object]]] = {
            "scanner": lambda w, cs=calls: lambda: [w(*c) for c in cs],  # type: ignore[misc]
            "rewriter, whole page": lambda w, p=page: lambda: rewrite(p, len(p)),  # type: ignore[misc]
            "rewriter, 1 KB chunks": lambda w, p=page: lambda: rewrite(p, 1024),  # type: ignore[misc]
        }
        rates: dict[str, dict[str, float]] = {impl: {} for impl in impls}
        for measure, make in cases.items():
            times: dict[str, list[float]] = {impl: [] for impl in impls}
            for _ in range(args.repeat):  # interleaved rounds: a busy spell hits both alike
                for impl, walk in sorted(impls.items()):
                    scanner.walk = walk
                    count = 4 * number if measure == "scanner" else number
                    times[impl].append(timeit.timeit(make(walk), number=count) / count)
            for impl in impls:
                rates[impl][measure] = len(page) / min(times[impl]) / 1e6
        scanner.walk = impls[scanner.IMPLEMENTATION]
        assert len(outputs) == 1, "the implementations disagree"
        for measure in ("scanner", "rewriter, whole page", "rewriter, 1 KB chunks"):
            row = [rates[impl][measure] for impl in sorted(impls)]
            ratio = f"{row[0] / row[-1]:.1f}x" if len(row) == 2 else ""
            print(f"{name:<10}{measure:<22}" + "".join(f"{r:>16.1f}" for r in row) + f"{ratio:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
