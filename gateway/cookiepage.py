"""/_consent/cookies: the cookie declaration, in the visitor's language (GDPR Art. 13, PIPL Art. 39,
App Identification Method 2.1): per category, the vendors, their cookies and lifetimes, the
purpose, and the country the data goes to. Rendered once per locale and inventory version.
"""

from __future__ import annotations

from typing import Any

from gateway.banner import PREFIX, Banner
from gateway.context import RequestContext
from gateway.declaration import NECESSARY, Vendor, country_name, lifetime
from gateway.ledger import Ledger
from gateway.responses import send_html
from gateway.types import Receive, Scope, Send

PAGE_HEADERS = [(b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
                (b"cache-control", b"no-cache")]


class CookiesPage:
    def __init__(self, banner: Banner, ledger: Ledger) -> None:
        self.banner = banner
        self.ledger = ledger
        self._cache: dict[str, tuple[int, str]] = {}  # locale -> (declaration version, page)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        await self.banner.refresh_vendors(self.ledger.store)
        locale = self.banner.choose_locale(ctx.first.get(b"accept-language"))
        version = self.banner.declaration.version
        cached = self._cache.get(locale)
        if cached is None or cached[0] != version:
            cached = (version, self.banner.render("cookies.html", **self.context(locale)))
            self._cache[locale] = cached  # bounded: one entry per locale file
        await send_html(send, 200, cached[1], [(b"content-language", locale.encode("ascii")), *PAGE_HEADERS])

    def context(self, locale: str) -> dict[str, Any]:
        texts = self.banner.texts(locale)
        d = {**self.banner.texts("en")["declaration"], **texts.get("declaration", {})}
        groups = self.banner.declaration.groups
        sections = []
        abroad: dict[str, set[str]] = {}
        for cid in [NECESSARY, *self.banner.config.category_ids]:
            vendors = [self._vendor(v, texts, d) for v in sorted(groups.get(cid, {}).values(),
                                                                   key=lambda v: (v.name != "", v.name.lower()))]
            for v in vendors:
                if v["code"]:
                    abroad.setdefault(v["country"], set()).add(v["name"])
            sections.append({"anchor": cid, "vendors": vendors,
                             "title": self.banner.category_text(locale, cid, "title"),
                             "description": self.banner.category_text(locale, cid, "description")})
        sep = "、" if locale.lower().startswith("zh") else ", "
        return {"lang": texts.get("lang", locale), "d": d, "sections": sections,
                "abroad": [(c, sep.join(sorted(n))) for c, n in sorted(abroad.items())],
                "policy_url": self.banner.config.consent.privacy_policy_url,
                "change_url": f"{PREFIX}/receipt?next=/"}

    @staticmethod
    def _vendor(v: Vendor, texts: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
        purposes = texts.get("declaration", {}).get("purposes", {})
        return {"name": v.name or d["this_site"], "code": v.country,
                "country": country_name(v.country, texts) if v.name else "–",
                "purposes": ", ".join(str(purposes.get(p, p)) for p in sorted(v.purposes)) or "–",
                "cookies": [(name, lifetime(life, texts)) for name, life in sorted(v.cookies.items())]}
