"""HtmlRewriter in process with the catalog on: µs per page for the proxy bench's 12 KB page (whole
and in 1 KB chunks) and for its head alone (everything before the body, where the rewriter takes the tokenizer's tokens
token by token). With --against DIR, a second checkout (e.g. `git archive main | tar -x -C DIR`,
with the built gateway/_speedups*.so copied in) runs in its own process, batches interleaved with
this one's, and the ratios this / against are printed. The machine is shared: quote ratios.

    .venv/bin/python bench/prebody_bench.py --rounds 60 --against /tmp/main-copy
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {"12 KB page, whole": (False, 0), "12 KB page, 1 KB chunks": (False, 1024), "head alone": (True, 0)}


def worker(batch: int) -> None:
    """Reads a case name per line, rewrites that page `batch` times, prints µs per page."""
    sys.path[:0] = [str(Path.cwd() / "bench"), str(Path.cwd())]  # the checkout this runs in
    from proxy_bench import page_12k

    from gateway.rewrite import HtmlRewriter
    from tests.test_rewrite import catalog_plan

    page, plan = page_12k(), catalog_plan()
    head = page[:page.index(b"<body>") + 6]
    print("ready", flush=True)
    for line in sys.stdin:
        head_only, chunk = CASES[line.strip()]
        doc = head if head_only else page
        size = chunk or len(doc)
        started = time.perf_counter()
        for _ in range(batch):
            r = HtmlRewriter(plan)
            b"".join([r.feed(doc[i:i + size]) for i in range(0, len(doc), size)]) + r.finish()
        print((time.perf_counter() - started) / batch * 1e6, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40, help="interleaved batches per case")
    ap.add_argument("--batch", type=int, default=40, help="pages per batch")
    ap.add_argument("--against", type=Path, help="another checkout to compare with, in lockstep")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.batch)
        return 0
    dirs = {"this": ROOT} | ({"against": args.against} if args.against else {})
    procs = {k: subprocess.Popen([sys.executable, __file__, "--worker", "--batch", str(args.batch)], cwd=d,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k, d in dirs.items()}
    for p in procs.values():
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for case in CASES:
        times: dict[str, list[float]] = {k: [] for k in procs}
        for i in range(args.rounds):
            for k in (list(procs) if i % 2 == 0 else list(procs)[::-1]):  # alternate who goes first
                p = procs[k]
                assert p.stdin is not None and p.stdout is not None
                p.stdin.write(case + "\n")
                p.stdin.flush()
                times[k].append(float(p.stdout.readline()))
        line = f"{case:<26} this: median {statistics.median(times['this']):7.1f} µs/page"
        if args.against:
            ratios = [a / b for a, b in zip(times["this"], times["against"], strict=True)]
            line += (f", against: {statistics.median(times['against']):7.1f}; this/against: ratio of medians "
                     f"{statistics.median(times['this']) / statistics.median(times['against']):.3f}, "
                     f"median per-round ratio {statistics.median(ratios):.3f}")
        print(line)
    for p in procs.values():
        assert p.stdin is not None
        p.stdin.close()
        p.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
