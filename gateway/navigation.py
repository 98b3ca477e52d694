"""What an HTML response is for: a page of its own, a frame, or a fragment a script will insert.

A fragment (an htmx swap, a Turbo frame, pjax, `jQuery.load`, any fetch/XHR) is inserted into a page
that already has the head config and the banner; giving it another would stack a banner on every
partial update and run the guard again. It still goes through the rewriter: cookies are enforced
and its trackers neutralised, since a fragment can carry a tracker as well as a page can.

- `Sec-Fetch-Dest` is set by the browser and page scripts cannot forge it, so when present it
  decides: `document` is a page; `iframe`/`frame` (and `embed`/`object`/`fencedframe`, which also
  hold a document) a frame; anything else (`empty` for fetch/XHR) a fragment.
- Without it (an older browser, or a client that is not a browser), the markers of fragment
  libraries decide: `HX-Request` (htmx), `Turbo-Frame`, `X-PJAX`, and `X-Requested-With:
  XMLHttpRequest` (jQuery). Only that value of X-Requested-With: Android WebViews send the app's
  package name there on real navigations. No marker: a page.

A prefetch (`Sec-Purpose: prefetch`, or the older `Purpose`) is a page fetched ahead of a
navigation; `<link rel=prefetch>` sends it as `Sec-Fetch-Dest: empty`, and the browser may then show
the prefetched response as the page: it is a page.

Frames get the head config (the guard: cookies and trackers follow the visitor's decision inside
the frame) but no banner, same-site or cross-site alike:
- same-site (`Sec-Fetch-Site: same-origin`/`same-site`): the consent cookie is sent, so the frame
  follows the decision made on the top-level page, which has the banner; a second dialog inside a
  frame (often small, cut off) would only duplicate it.
- cross-site (the site embedded by another one): the consent cookie is SameSite=Lax and not sent in
  a cross-site frame, so a decision made there would not come back with the next request, and the
  visitor did not come to this site. The frame stays undecided: its trackers stay held.
Neither rule reads Sec-Fetch-Site, so it is not in `VARY`. Every header that is read is, so that no
shared cache hands a fragment (no banner) to a navigation.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class Page(Enum):
    DOCUMENT = "document"  # head config and banner
    FRAME = "frame"  # head config only
    FRAGMENT = "fragment"  # neither; cookie and tracker rules still apply


_FRAME_DESTS = frozenset({b"iframe", b"frame", b"embed", b"object", b"fencedframe"})
_MARKERS = (b"hx-request", b"turbo-frame", b"x-pjax")
VARY = b"Cookie, Sec-Fetch-Dest, Sec-Purpose, Purpose, HX-Request, Turbo-Frame, X-PJAX, X-Requested-With"


def classify(first: Mapping[bytes, bytes]) -> Page:
    """`first`: the request's headers, lower-case names, first value of each."""
    purpose = first.get(b"sec-purpose") or first.get(b"purpose") or b""
    prefetch = b"prefetch" in purpose.lower()
    dest = first.get(b"sec-fetch-dest")
    if dest is not None:
        dest = dest.strip().lower()
        if dest == b"document" or (dest == b"empty" and prefetch):
            return Page.DOCUMENT
        return Page.FRAME if dest in _FRAME_DESTS else Page.FRAGMENT
    if prefetch:
        return Page.DOCUMENT
    if any(first.get(m) for m in _MARKERS):
        return Page.FRAGMENT
    if first.get(b"x-requested-with", b"").strip().lower() == b"xmlhttprequest":
        return Page.FRAGMENT
    return Page.DOCUMENT
