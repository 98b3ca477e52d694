"""What the gateway adds to a page: the banner markup (jinja2, autoescaped), its assets, and the
small JSON the page's scripts need (patterns, Consent Mode mapping). Rendered once per distinct
state and cached; only the page path is filled in per request.
"""

from __future__ import annotations

import hashlib
import html
import json
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from gateway.acceptlang import negotiate
from gateway.bannerconfig import merged_with, read_locale_file, theme_css
from gateway.clientrules import rules_script
from gateway.config import Config
from gateway.consent import ConsentState
from gateway.cookies import CookieRules
from gateway.csp import NO_NONCES, Nonces
from gateway.declaration import MAX_BANNER_VENDORS, Declaration, InventoryStore, catalog_for
from gateway.placeholder import Placeholders

PREFIX = "/_consent"
_PATH_SLOT = "\x00next-path\x00"  # stands for the page path in cached renderings
_PATH_SLOT_URL = urllib.parse.quote(_PATH_SLOT, safe="/")  # the same slot inside a query string
# Chinese and Japanese text takes full-width punctuation around and between its own words
_FULL_WIDTH = {"colon": "：", "sep": "、", "open": "（", "close": "）"}
_HALF_WIDTH = {"colon": ": ", "sep": ", ", "open": "(", "close": ")"}


def asset_dir(name: str) -> Path:
    """templates/ and static/ live at the top of a checkout, or inside the installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / name, here / "_assets" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ directory")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: bytes
    etag: bytes


def static_file(body: bytes, content_type: bytes) -> StaticFile:
    return StaticFile(body, content_type, b'"' + hashlib.sha256(body).hexdigest()[:16].encode() + b'"')


def load_static(rules: bytes = b"", theme: bytes = b"") -> dict[str, StaticFile]:
    """The banner's assets, read once; served with a content hash so they can be cached forever.

    guard.js is served with the generated rules in front of it (see clientrules): one request, and
    its hash changes whenever the rules do.
    """
    types = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8"}
    out = {}
    root = asset_dir("static") / "consent-banner"
    for path in sorted(root.iterdir()):
        if path.suffix in types:
            body = path.read_bytes()
            if path.name == "guard.js":
                body = rules + body
            elif path.name == "banner.css":
                body = body + theme  # the operator's colours, after the defaults
            out[path.name] = static_file(body, types[path.suffix])
    return out


def load_locales(directory: Path | None = None, extra: str = "") -> dict[str, dict[str, Any]]:
    """The shipped locales, then the operator's `[banner] locales_dir` (same format; a file there
    replaces a shipped one of the same name, and what it lacks is English)."""
    directory = directory or Path(__file__).with_name("locales")
    locales = {}
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as f:
            locales[path.stem] = tomllib.load(f)
    if "en" not in locales:
        raise RuntimeError("the en locale file is missing")
    for path, own in extra_locales(extra):
        locales[path.stem] = merged_with(locales["en"], own)[0]
    return locales


def extra_locales(extra: str) -> list[tuple[Path, dict[str, Any]]]:
    if not extra:
        return []
    return [(path, read_locale_file(path)) for path in sorted(Path(extra).glob("*.toml"))]


def locale_gaps(extra: str) -> list[str]:
    """For check-config: the keys an extra locale file lacks (the banner shows English there)."""
    english = load_locales()["en"]
    out = []
    for path, own in extra_locales(extra):
        missing = merged_with(english, own)[1]
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            out.append(f"{path} lacks {shown}: English is shown there")
    return out


def punctuation(locale: str) -> dict[str, str]:
    return _FULL_WIDTH if locale.lower().startswith(("zh", "ja")) else _HALF_WIDTH


class Banner:
    def __init__(self, config: Config, locales: dict[str, dict[str, Any]] | None = None,
                 rules: CookieRules | None = None) -> None:
        self.config = config
        self.locales = locales or load_locales(extra=config.banner.locales_dir)
        self.default_locale = config.consent.fallback_locale
        if self.default_locale not in self.locales:
            self.default_locale = "en"
        self._lower = {k.lower(): k for k in self.locales}
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
            autoescape=True,  # everything rendered reaches a visitor's page
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.static = load_static(rules_script(config, rules or CookieRules(config)), theme_css(config.banner))
        self.asset_url = {name: f"{PREFIX}/static/consent-banner/{name}?v={f.etag.decode().strip(chr(34))}"
                          for name, f in self.static.items()}
        self._head_cache: dict[tuple[Any, ...], bytes] = {}
        self._body_cache: dict[tuple[Any, ...], str] = {}
        self._path_cache: dict[str, tuple[str, str]] = {}  # path -> (HTML-escaped, URL-encoded)
        self._lang_cache: dict[bytes, str] = {}
        self.declaration = Declaration(config, catalog_for(config))  # who receives what (second layer)
        self.placeholders = Placeholders(self)  # click-to-load boxes where iframes are held

    # --- locale ---------------------------------------------------------------------------

    def choose_locale(self, accept_language: bytes | None) -> str:
        if not accept_language:
            return self.default_locale
        hit = self._lang_cache.get(accept_language)
        if hit is not None:
            return hit
        chosen = self._negotiate(accept_language[:512].decode("latin-1"))
        if len(self._lang_cache) < 1024:
            self._lang_cache[accept_language] = chosen
        return chosen

    def _negotiate(self, header: str) -> str:
        return negotiate(header, self._lower, self.default_locale)

    def texts(self, locale: str) -> dict[str, Any]:
        return self.locales.get(locale) or self.locales["en"]

    def category_text(self, locale: str, category_id: str, key: str) -> str:
        cat = self.config.category(category_id)
        if cat is not None:
            own = getattr(cat, key)
            if locale in own:
                return str(own[locale])
        for loc in (locale, "en"):
            text = self.locales.get(loc, {}).get("categories", {}).get(category_id, {}).get(key)
            if text:
                return str(text)
        if cat is not None and getattr(cat, key):
            return str(next(iter(getattr(cat, key).values())))
        if key != "title":
            return ""
        # never a raw id in front of a visitor; check-config warns about the missing text
        banner = self.texts(locale).get("banner", {})
        return str(banner.get("other_category") or self.locales["en"]["banner"]["other_category"])

    def vendor_line(self, locale: str, category_id: str) -> str:
        """The outside vendors of a category, for the banner's second layer ("" when none)."""
        names = self.declaration.banner_vendors().get(category_id, ())
        if not names:
            return ""
        sep = punctuation(locale)["sep"]
        shown = sep.join(names[:MAX_BANNER_VENDORS])
        rest = len(names) - MAX_BANNER_VENDORS
        if rest > 0:
            more = str(self.texts(locale).get("declaration", {}).get("more_vendors", "+{n}"))
            shown += " " + more.replace("{n}", str(rest))
        return shown

    async def refresh_vendors(self, store: InventoryStore, *, force: bool = False) -> None:
        """Take the vendors the inventory has seen since the last look into the banner."""
        if await self.declaration.refresh(store, force=force):
            self._body_cache.clear()

    # --- head: config for the page's scripts, before any tag ------------------------------

    def head_html(self, state: ConsentState, nonces: Nonces = NO_NONCES) -> bytes:
        key = (state.granted, state.decided, state.gpc)
        cached = self._head_cache.get(key)
        if cached is None:
            cached = self._render_head(state)
            self._head_cache[key] = cached
        if nonces.script:  # the site's CSP would block our scripts without its nonce (see csp)
            cached = cached.replace(b"<script ", b'<script nonce="' + nonces.script.encode("ascii") + b'" ')
        if nonces.style:
            cached = cached.replace(b"<link ", b'<link nonce="' + nonces.style.encode("ascii") + b'" ')
        return cached

    def page_config(self, state: ConsentState) -> dict[str, Any]:
        cfg = self.config
        return {
            "endpoint": PREFIX,
            "decided": state.decided,
            "granted": sorted(state.granted),
            "gpc": state.gpc,
            "policyVersion": cfg.consent.policy_version,
            "categories": [{"id": c.id, "required": c.required} for c in cfg.categories],
            "banner": self.asset_url.get("banner.js", ""),
        }

    def _render_head(self, state: ConsentState) -> bytes:
        # JSON in a non-executed <script> survives strict CSP; '<' is escaped so it cannot close it.
        data = json.dumps(self.page_config(state), separators=(",", ":"), ensure_ascii=True)
        data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return (
            f'<script id="consent-gateway-config" type="application/json">{data}</script>'
            f'<script src="{self.asset_url["guard.js"]}"></script>'
            f'<link rel="stylesheet" href="{self.asset_url["banner.css"]}">'
        ).encode("ascii")

    # --- body: the banner itself ----------------------------------------------------------

    def body_html(self, locale: str, state: ConsentState, path: str, *, show: bool,
                  nonces: Nonces = NO_NONCES) -> str:
        key = (locale, state.granted, state.decided, state.gpc, show)
        cached = self._body_cache.get(key)
        if cached is None:
            cached = self._render_body(locale, state, show)
            if len(self._body_cache) < 4096:
                self._body_cache[key] = cached
        if nonces.script:
            cached = cached.replace("<script ", f'<script nonce="{nonces.script}" ')
        filled = self._path_cache.get(path)
        if filled is None:
            filled = (html.escape(path, quote=True), html.escape(urllib.parse.quote(path, safe="/"), quote=True))
            if len(self._path_cache) < 4096:  # paths are the visitors': bounded
                self._path_cache[path] = filled
        return cached.replace(_PATH_SLOT, filled[0]).replace(_PATH_SLOT_URL, filled[1])

    def banner_context(self, locale: str, state: ConsentState, next_path: str) -> dict[str, Any]:
        t = self.texts(locale)
        own = self.config.banner
        texts = dict(t["banner"] if "banner" in t else self.locales["en"]["banner"])
        for key in ("intro", "policy_link"):  # the operator's words for this locale, if any
            if locale in getattr(own, key):
                texts[key] = getattr(own, key)[locale]
        return {
            "lang": t.get("lang", locale),
            "t": texts,
            "placement": own.placement,
            "punct": punctuation(locale),
            "endpoint": PREFIX,
            "next_path": next_path,
            "policy_url": own.policy_url.get(locale, self.config.consent.privacy_policy_url),
            "gpc": state.gpc,
            "decided": state.decided,
            "categories": [
                {"id": c.id, "required": c.required, "checked": c.required or c.id in state.granted,
                 "title": self.category_text(locale, c.id, "title"),
                 "description": self.category_text(locale, c.id, "description"),
                 "vendors": self.vendor_line(locale, c.id)}
                for c in self.config.categories
            ],
            "declaration_url": f"{PREFIX}/cookies",
            "necessary": {"title": self.category_text(locale, "necessary", "title"),
                          "description": self.category_text(locale, "necessary", "description")},
        }

    def _render_body(self, locale: str, state: ConsentState, show: bool) -> str:
        ctx = self.banner_context(locale, state, _PATH_SLOT)
        ctx.update(show=show, banner_js=self.asset_url["banner.js"], activate_js=self.asset_url["activate.js"],
                   receipt_url=f"{PREFIX}/receipt")
        return self.env.get_template("inject.html").render(ctx)

    def fragment(self, locale: str, state: ConsentState, next_path: str) -> str:
        """The banner alone, opened on its settings, for the reopen control."""
        ctx = self.banner_context(locale, state, next_path)
        ctx.update(show=True, open_settings=True)
        return self.env.get_template("banner.html").render(ctx)

    def render(self, template: str, **ctx: Any) -> str:
        return self.env.get_template(template).render(ctx)
