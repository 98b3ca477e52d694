"""Does the rewrite keep pages we did not write? A seeded corpus of tag soup, parsed by html5lib.

For each generated document: the site's tree must equal the gateway's tree minus what the gateway
injected ("kept"), and the banner must be whole direct children of <body> with the head config live
("whole"). Prints the share of documents that are both, and the failing examples with --show.
A frameset document has no <body>: it gets the head config only, so it counts as not whole; the
share among documents that have a body is printed too.
Needs the test extras (html5lib). The corpus comes from tests/support/tagsoup.py.

    .venv/bin/python bench/fidelity.py --count 4000 --seed 15
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.tagsoup import OracleError, check, describe, has_body, rewrite, soup  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--pieces", type=int, default=25, help="most pieces per document")
    parser.add_argument("--show", type=int, default=0, help="print this many failing documents")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kept = whole = both = 0
    frameset = frameset_kept = unjudged = 0  # documents with no body: the banner has nowhere to go by design
    shown = 0
    started = time.perf_counter()
    for _ in range(args.count):
        doc = soup(rng, args.pieces)
        try:
            k, w = check(doc, rewrite(doc))
            no_body = not has_body(doc)
        except OracleError:
            unjudged += 1  # html5lib itself failed on it (its template support): no verdict
            continue
        kept += k
        whole += w
        both += k and w
        if no_body:
            frameset += 1
            frameset_kept += k
        if not (k and w) and shown < args.show:
            shown += 1
            print(f"  kept={k} whole={w}: {describe(doc)!r}")
    n = args.count - unjudged
    print(f"documents: {n} judged, {unjudged} html5lib could not parse (seed {args.seed}, up to {args.pieces} pieces), "
          f"{time.perf_counter() - started:.1f} s")
    print(f"tree kept:     {kept / n:7.2%}")
    print(f"banner whole:  {whole / n:7.2%}")
    print(f"both:          {both / n:7.2%}")
    body = n - frameset
    print(f"frameset documents (no body, no banner by design): {frameset}, of which tree kept: {frameset_kept}")
    print(f"documents with a body: {body}; both kept and whole: {both / body:7.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
