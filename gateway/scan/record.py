"""What one visitor's browser context did: cookies (and who set them), requests, storage, beacons.

Who set a cookie: `Set-Cookie` headers are read from every response (Playwright's response
events); script writes are caught by a `document.cookie` setter hook installed before any page
script runs (an init script), which reports the cookie name and the URL of the calling script
through a binding. Everything collected is capped: a hostile page cannot grow the report without end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from dataclasses import dataclass, field
from typing import Any

from gateway.scan.model import Beacon, Cookie, Request, StorageItem
from gateway.scan.sites import host_of, site_of

MAX_ITEMS = 2000  # per list and phase
MAX_URL = 500
MAX_VALUE = 200
PIXEL_BYTES = 200  # an image response this small is a tracking pixel, not a picture
BINDING = "__consentScanCookie"

# Runs in every frame before the page's own scripts. `document.cookie = ...` keeps working as
# before; we only learn the name and the first http(s) URL on the caller's stack.
COOKIE_HOOK = """(() => {
  const d = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  if (!d || !d.set || window.__consentScanHooked) return;
  window.__consentScanHooked = true;
  const caller = () => {
    const lines = String(new Error().stack || "").split("\\n").slice(2);
    for (const line of lines) {
      if (line.indexOf("/_consent/static/") >= 0) continue;  // the gateway's guard wraps the setter too
      const m = line.match(/(https?:\\/\\/[^\\s()]+?)(?::\\d+){1,2}\\)?\\s*$/);
      if (m) return m[1];
    }
    return location.href;
  };
  Object.defineProperty(Document.prototype, "cookie", {
    configurable: true, enumerable: d.enumerable,
    get() { return d.get.call(this); },
    set(v) {
      try {
        const name = String(v).split(";", 1)[0].split("=", 1)[0].trim();
        const report = window.__consentScanCookie;
        if (name && typeof report === "function") report(name.slice(0, 200), caller().slice(0, 500));
      } catch (e) {}
      return d.set.call(this, v);
    },
  });
})();"""

STORAGE_JS = """() => {
  const out = [];
  for (const kind of ["localStorage", "sessionStorage"]) {
    try {
      const s = window[kind];
      for (let i = 0; i < s.length && i < 500; i++) {
        const k = s.key(i);
        out.push([kind, String(k).slice(0, 200), String(s.getItem(k)).slice(0, 200)]);
      }
    } catch (e) {}
  }
  return [location.origin, out];
}"""


def _trim(url: str) -> str:
    return url if len(url) <= MAX_URL else url[:MAX_URL] + "…"


@dataclass
class Setter:
    type: str  # "HTTP" | "JavaScript"
    location: str
    domain: str  # the host the cookie was set from (or its Domain attribute)
    line: str = ""  # the Set-Cookie line (HTTP only), for cookies the browser refused


@dataclass
class Recorder:
    start_url: str
    site: str = ""
    setters: dict[str, list[Setter]] = field(default_factory=dict)
    requests: dict[tuple[str, str], Request] = field(default_factory=dict)
    beacons: dict[str, Beacon] = field(default_factory=dict)
    storage: dict[tuple[str, str, str], StorageItem] = field(default_factory=dict)
    pending: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.site = site_of(host_of(self.start_url))

    def third_party(self, host: str) -> bool:
        return site_of(host) != self.site

    async def attach(self, context: Any) -> None:
        await context.expose_binding(BINDING, self._script_cookie)
        await context.add_init_script(COOKIE_HOOK.replace("__consentScanCookie", BINDING))
        context.on("request", self._request)
        context.on("response", self._response)
        context.on("requestfinished", self._finished)

    def _script_cookie(self, source: Any, name: str, location: str) -> None:
        frame_url = ""
        try:
            frame_url = source["frame"].url
        except (KeyError, TypeError, AttributeError):
            pass
        self._add_setter(str(name), Setter("JavaScript", _trim(str(location)), host_of(frame_url)))

    def _add_setter(self, name: str, setter: Setter) -> None:
        if len(self.setters) < MAX_ITEMS or name in self.setters:
            found = self.setters.setdefault(name, [])
            if len(found) < 20:
                found.append(setter)

    def _request(self, request: Any) -> None:
        url = request.url
        host = host_of(url)
        if request.resource_type == "ping":
            self._beacon(url, host, "sendBeacon")
        if not host or not self.third_party(host) or not url.startswith(("http:", "https:")):
            return
        key = (url.split("?", 1)[0][:MAX_URL], request.resource_type)
        if key in self.requests:
            self.requests[key].count += 1
        elif len(self.requests) < MAX_ITEMS:
            self.requests[key] = Request(_trim(url), host, request.resource_type, request.method)

    def _beacon(self, url: str, host: str, kind: str) -> None:
        key = url.split("?", 1)[0][:MAX_URL]
        if key not in self.beacons and len(self.beacons) < MAX_ITEMS:
            self.beacons[key] = Beacon(_trim(url), host, kind, not self.third_party(host))

    def _response(self, response: Any) -> None:
        if len(self.pending) < 200:  # header reads are cheap; more in flight means a flood
            task = asyncio.get_running_loop().create_task(self._read_set_cookie(response))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _read_set_cookie(self, response: Any) -> None:
        try:
            headers = await response.headers_array()
        except Exception:  # noqa: BLE001 - the page or context went away; nothing to learn
            return
        for h in headers:
            if h["name"].lower() != "set-cookie":
                continue
            for line in h["value"].split("\n"):
                name = line.split(";", 1)[0].split("=", 1)[0].strip()
                domain = next((a.split("=", 1)[1].strip() for a in line.split(";")[1:]
                               if a.strip().lower().startswith("domain=") and "=" in a), host_of(response.url))
                if name:
                    self._add_setter(name[:200], Setter("HTTP", _trim(response.url), domain.lstrip(".").lower(),
                                                        line[:1000]))

    async def _finished(self, request: Any) -> None:
        if request.resource_type != "image":
            return
        try:
            sizes = await request.sizes()
        except Exception:  # noqa: BLE001 - the page went away
            return
        if sizes.get("responseBodySize", PIXEL_BYTES + 1) <= PIXEL_BYTES:
            self._beacon(request.url, host_of(request.url), "pixel")

    async def settle(self, timeout: float = 2.0) -> None:
        """Wait (bounded) for the header reads still in flight."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)

    async def read_storage(self, page: Any, timeout: float) -> None:
        for frame in page.frames[:20]:
            try:
                origin, items = await asyncio.wait_for(frame.evaluate(STORAGE_JS), timeout)
            except Exception:  # noqa: BLE001 - a busy, detached or cross-process frame: skip it
                origin, items = "", []
            for kind, key, value in items:
                k = (kind, str(origin), key)
                if k not in self.storage and len(self.storage) < MAX_ITEMS:
                    self.storage[k] = StorageItem(kind, str(origin), key, value)

    def cookies(self, jar: list[dict[str, Any]], now: dt.datetime) -> list[Cookie]:
        out = []
        for c in jar[:MAX_ITEMS]:
            domain = str(c["domain"]).lstrip(".").lower()
            setter = self._setter_for(c["name"], domain)
            expires = float(c.get("expires", -1))
            session = expires < 0
            when = None if session else dt.datetime.fromtimestamp(expires, dt.UTC)
            out.append(Cookie(
                name=c["name"], domain=c["domain"], path=c["path"],
                expires=when.isoformat(timespec="seconds").replace("+00:00", "Z") if when else None,
                expires_days=round((when - now).total_seconds() / 86400, 1) if when else None,
                httpOnly=bool(c.get("httpOnly")), secure=bool(c.get("secure")),
                sameSite=str(c.get("sameSite", "")), session=session,
                firstPartyStorage=not self.third_party(domain),
                set_by={"HTTP": "http", "JavaScript": "script"}.get(setter.type, "unknown") if setter else "unknown",
                log={"type": setter.type if setter else None, "location": setter.location if setter else None},
                value=str(c.get("value", ""))[:MAX_VALUE]))
        return out

    def _setter_for(self, name: str, domain: str) -> Setter | None:
        """The last write of this name from a host the cookie's domain covers (else any write of it)."""
        found = self.setters.get(name, [])
        matching = [s for s in found if s.domain == domain or s.domain.endswith("." + domain)
                    or domain.endswith("." + s.domain)]
        candidates = matching or found
        return candidates[-1] if candidates else None

    def refused(self, jar: list[dict[str, Any]], now: dt.datetime) -> list[Cookie]:
        """Third-party Set-Cookie lines that left nothing in the jar (and were not deletions)."""
        stored = {(str(c["name"]), str(c["domain"]).lstrip(".").lower()) for c in jar}
        out: list[Cookie] = []
        for name, setters in self.setters.items():
            for s in reversed(setters):
                if s.type != "HTTP" or not s.line or not self.third_party(s.domain) or (name, s.domain) in stored:
                    continue
                cookie = _from_line(name, s, now)
                if cookie is not None and len(out) < MAX_ITEMS:
                    out.append(cookie)
                break
        return out


def _from_line(name: str, setter: Setter, now: dt.datetime) -> Cookie | None:
    value = setter.line.split(";", 1)[0].partition("=")[2].strip()
    attrs: dict[str, str] = {}
    for part in setter.line.split(";")[1:]:
        key, _, val = part.strip().partition("=")
        attrs[key.strip().lower()] = val.strip()
    when: dt.datetime | None = None
    try:
        if "max-age" in attrs:
            when = now + dt.timedelta(seconds=int(attrs["max-age"]))
        elif "expires" in attrs:
            when = email.utils.parsedate_to_datetime(attrs["expires"]).astimezone(dt.UTC)
    except (ValueError, TypeError, OverflowError):
        when = None
    if when is not None and when <= now:
        return None  # a deletion, not a cookie
    if when is not None:
        when = min(when, now + dt.timedelta(days=400))  # Chromium's cap on every cookie
    same_site = {"none": "None", "lax": "Lax", "strict": "Strict"}.get(attrs.get("samesite", "").lower(), "Lax")
    return Cookie(
        name=name, domain="." + setter.domain if "domain" in attrs else setter.domain, path=attrs.get("path") or "/",
        expires=when.isoformat(timespec="seconds").replace("+00:00", "Z") if when else None,
        expires_days=round((when - now).total_seconds() / 86400, 1) if when else None,
        httpOnly="httponly" in attrs, secure="secure" in attrs, sameSite=same_site, session=when is None,
        firstPartyStorage=False, set_by="http", log={"type": "HTTP", "location": setter.location},
        value=value[:MAX_VALUE], stored=False)
