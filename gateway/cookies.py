"""Cookie rules and the two cookie filters: what the site may read, and what it may set.

Parsing follows what browsers do (RFC 6265bis §5.4/§5.6), not the strict grammar: real headers
carry values without '=', quotes, spaces and bytes above 0x7f, and a filter must classify them,
never crash on them. Bytes are kept as latin-1 so that a kept cookie reaches the site unchanged.
"""

from __future__ import annotations

import fnmatch
import re
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field

from gateway.config import Config
from gateway.types import Headers

NECESSARY = "necessary"  # pseudo-category: always allowed
MAX_COOKIE_HEADER = 64 * 1024  # beyond this the request is hostile; browsers stop near 8 KiB
_SAFE_NAME = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # names we can echo back in an expiry ("$" allows "\n")
_EXPIRE_TAIL = b"=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
# Cookie headers repeat: one visitor sends the same header with every asset of a page. The parse and
# the filter are cached by the exact header value(s), LRU-bounded in entries and in header size so a
# visitor inventing headers costs a bounded amount of memory (at most ~2048 x 4 KiB of keys each).
CACHED_HEADERS = 2048
MAX_CACHED_HEADER = 4096
MAX_CACHED_NAME = 256  # a cookie name looked up (category, label): real ones are short, a visitor's need not be


@dataclass(frozen=True)
class RequestCookie:
    name: str
    raw: bytes  # the pair exactly as the browser sent it, so kept cookies pass unchanged


@dataclass(frozen=True)
class SetCookie:
    name: str
    path: str | None
    domain: str | None


def parse_cookie_header(value: bytes) -> list[RequestCookie]:
    """Split a `Cookie` header into pairs. Never raises: junk becomes a nameless cookie."""
    out = []
    for part in value[:MAX_COOKIE_HEADER].split(b";"):
        raw = part.strip(b" \t")
        if not raw:
            continue
        name, eq, _ = raw.partition(b"=")
        # A pair without '=' is a cookie with an empty name whose value is the text (RFC 6265bis).
        name = name.strip(b" \t") if eq else b""
        out.append(RequestCookie(name.decode("latin-1"), raw))
    return out


def parse_set_cookie(value: bytes) -> SetCookie:
    """Read the name and the scope (Path, Domain) of one `Set-Cookie` value. Never raises.
    Cached by the exact value (a site sends the same Set-Cookie to every visitor of a page);
    the table is emptied when full, as values with per-visitor ids never repeat."""
    found = _SET_COOKIES.get(value)
    if found is None:
        found = _parse_set_cookie(value)
        if len(value) <= MAX_CACHED_HEADER:
            if len(_SET_COOKIES) >= CACHED_HEADERS:
                _SET_COOKIES.clear()
            _SET_COOKIES[value] = found
    return found


_SET_COOKIES: dict[bytes, SetCookie] = {}


def _parse_set_cookie(value: bytes) -> SetCookie:
    first, _, attrs = value.partition(b";")
    name, eq, _ = first.partition(b"=")
    name = name.strip(b" \t") if eq else b""
    scope = _SCOPE_CACHE.get(attrs)
    if scope is None:
        scope = _parse_scope(attrs)
        # sites repeat a few short attribute strings; values change, these don't. A long one is the
        # site's to make up (up to the 64 KiB head limit): not kept, or 1024 of them hold 64 MB.
        if len(attrs) <= MAX_CACHED_SCOPE and len(_SCOPE_CACHE) < 1024:
            _SCOPE_CACHE[attrs] = scope
    return SetCookie(name.decode("latin-1"), *scope)


_SCOPE_CACHE: dict[bytes, tuple[str | None, str | None]] = {}
MAX_CACHED_SCOPE = 512


def _parse_scope(attrs: bytes) -> tuple[str | None, str | None]:
    path = domain = None
    for attr in attrs.split(b";"):
        key, _, val = attr.partition(b"=")
        key = key.strip(b" \t").lower()
        if key == b"path":
            path = _valid_path(val)
        elif key == b"domain":
            domain = _valid_domain(val)
    return path, domain


def _valid_path(val: bytes) -> str | None:
    v = val.strip(b" \t").decode("latin-1")
    return v if v.startswith("/") and _printable(v) else None


def _valid_domain(val: bytes) -> str | None:
    v = val.strip(b" \t").lstrip(b".").lower().decode("latin-1")
    return v if v and _printable(v) and re.match(r"^[a-z0-9.-]+$", v) else None


def _printable(text: str) -> bool:
    return all(0x21 <= ord(ch) < 0x7f and ch not in ";," for ch in text)


class CookieRules:
    """Cookie name → category, compiled once from the config. Lookups are cached by name.

    Precedence, the one rule guard.js follows too (gateway/clientrules.py hands it this table):
    an exact name beats any glob; among exact names, and then among globs, the first rule wins in
    this order: the gateway's own cookie, `[cookies] necessary`, then the categories as listed.
    Only a name no rule of the operator's matches goes to the catalog (gateway/catalog: its exact
    names, then its most specific glob), whose purpose maps to a category by `[catalog] purposes`.
    A name nothing decides takes `[cookies] unknown` (None: blocked).
    """

    def __init__(self, config: Config) -> None:
        self.unknown: str | None = None if config.cookies.unknown == "block" else config.cookies.unknown
        # the gateway's own cookie, plain and __Host-: never forwarded, never set by the site
        self.own = frozenset({config.consent.cookie_name, "__Host-" + config.consent.cookie_name})
        self.required = frozenset(c.id for c in config.categories if c.required)
        self._exact: dict[str, str] = {}
        self._globs: list[tuple[re.Pattern[str], str]] = []
        self.glob_rules: list[tuple[str, str]] = []  # (glob as written, category), in precedence order
        for own in self.own:
            self._add(own, NECESSARY)
        for pattern in config.cookies.necessary:
            self._add(pattern, NECESSARY)
        for cat in config.categories:
            for pattern in cat.cookies:
                self._add(pattern, cat.id)
        self.catalog = config.catalog.catalog  # None only in a Config built by hand; a disabled one is empty
        self.purposes = config.catalog.purposes
        self._cache: dict[str, str | None] = {}
        self._labels: dict[str, str] = {}
        # strip_request_cookies' answers by (Cookie header values, granted, everything): the rules
        # are part of the answer, so the cache lives and dies with them (a reload starts afresh)
        self.strip_cache: OrderedDict[tuple[tuple[bytes, ...], frozenset[str], bool],
                                      RequestFilterResult] = OrderedDict()

    def _add(self, pattern: str, category: str) -> None:
        if "*" in pattern or "?" in pattern or "[" in pattern:
            self._globs.append((re.compile(fnmatch.translate(pattern)), category))
            self.glob_rules.append((pattern, category))
        else:
            self._exact.setdefault(pattern, category)

    @property
    def exact_rules(self) -> dict[str, str]:
        """Exact cookie names → category (the first rule for a name won)."""
        return dict(self._exact)

    def category_of(self, name: str) -> str | None:
        """The category of a cookie name, NECESSARY, or None when unknown cookies are blocked."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        found = self._decided(name)
        if found is None:
            found = self.unknown
        # hostile requests can invent names without end, and long ones (up to the 64 KiB head)
        if len(self._cache) < 4096 and len(name) <= MAX_CACHED_NAME:
            self._cache[name] = found
        return found

    def _decided(self, name: str) -> str | None:
        """The operator's rules first, then the catalog; None when neither decides."""
        found = self._exact.get(name)
        if found is None:
            found = next((c for r, c in self._globs if r.match(name)), None)
        if found is None and self.catalog is not None:
            entry = self.catalog.cookie(name)
            if entry is not None:
                found = self.purposes.get(entry.purpose)
        return found

    def label_of(self, name: str) -> str:
        """For reports and metrics: the category id, 'necessary' or 'unknown'."""
        label = self._labels.get(name)
        if label is None:
            label = self._decided(name) or "unknown"
            if len(self._labels) < 4096 and len(name) <= MAX_CACHED_NAME:
                self._labels[name] = label
        return label

    def vendor_of(self, name: str) -> str:
        """The catalog's vendor for a cookie name ("" when it has none), for metrics labels."""
        entry = self.catalog.cookie(name) if self.catalog is not None else None
        return entry.vendor if entry is not None else ""

    def catalog_rules(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """The catalog's part of the table, for guard.js: exact names and globs (in the catalog
        matcher's order of preference) whose purpose maps to a category."""
        if self.catalog is None:
            return {}, []
        m = self.catalog.cookies
        exact = {n: c for n, e in m.exact.items() if (c := self.purposes.get(e.purpose)) is not None}
        globs = [(p, c) for p, e in m.globs_in_order() if (c := self.purposes.get(e.purpose)) is not None]
        return exact, globs

    def allowed(self, name: str, granted: frozenset[str]) -> bool:
        category = self.category_of(name)
        return category is not None and (category == NECESSARY or category in granted)


@dataclass
class RequestFilterResult:
    cookie_header: bytes | None  # None: send no Cookie header at all
    stripped: list[RequestCookie] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # names passed on, for the inventory


class CookieList(list[RequestCookie]):
    """The parsed cookies of one request, with the header values they came from (`key`), by which
    `strip_request_cookies` finds its cached answer. None: too long to cache."""

    key: tuple[bytes, ...] | None = None


_PARSED: OrderedDict[tuple[bytes, ...], tuple[RequestCookie, ...]] = OrderedDict()


def parse_cookie_headers(values: Iterable[bytes]) -> CookieList:
    """All `Cookie` headers of a request (HTTP/2 sends one per cookie) as one list."""
    key = tuple(values)
    out = CookieList()
    if sum(map(len, key)) > MAX_CACHED_HEADER:
        for value in key:
            out.extend(parse_cookie_header(value))
        return out
    found = _PARSED.get(key)
    # The table is the process's: gateways on event loops in other threads (tests, an embedding
    # server) may evict an entry between two of these steps; losing an entry only costs a parse.
    with suppress(KeyError):
        if found is None:
            found = _PARSED[key] = tuple(c for value in key for c in parse_cookie_header(value))
            if len(_PARSED) > CACHED_HEADERS:
                _PARSED.popitem(last=False)
        else:
            _PARSED.move_to_end(key)
    assert found is not None
    out.extend(found)
    out.key = key
    return out


def strip_request_cookies(cookies: list[RequestCookie], rules: CookieRules,
                          granted: frozenset[str], *, everything: bool = False) -> RequestFilterResult:
    """Keep only the cookies the visitor allowed, byte for byte; report the rest.
    `everything` (report mode): keep every cookie but the gateway's own.
    Cached per rules by the exact header (a `CookieList` from `parse_cookie_headers`)."""
    key = cookies.key if isinstance(cookies, CookieList) else None
    if key is None:
        return _strip(cookies, rules, granted, everything)
    cache = rules.strip_cache
    found = cache.get((key, granted, everything))
    if found is None:
        found = _strip(cookies, rules, granted, everything)
        cache[(key, granted, everything)] = found
        if len(cache) > CACHED_HEADERS:
            cache.popitem(last=False)
    else:
        cache.move_to_end((key, granted, everything))
    # fresh lists: a caller may change its result without changing the cached one
    return RequestFilterResult(found.cookie_header, list(found.stripped), list(found.kept))


def _strip(cookies: list[RequestCookie], rules: CookieRules, granted: frozenset[str],
           everything: bool) -> RequestFilterResult:
    kept: list[bytes] = []
    names: list[str] = []
    stripped: list[RequestCookie] = []
    for cookie in cookies:
        if cookie.name in rules.own:
            continue  # the site learns the decision from X-Consent-Categories, not our token
        if everything or rules.allowed(cookie.name, granted):
            kept.append(cookie.raw)
            names.append(cookie.name)
        else:
            stripped.append(cookie)
    return RequestFilterResult(b"; ".join(kept) if kept else None, stripped, names)


class CookieScopes:
    """Path and Domain each cookie name was last set with, learned from upstream `Set-Cookie`.

    Expiring a cookie only works with the scope it was set with. Bounded, because the names come
    from the site and, through it, possibly from visitors.
    """

    def __init__(self, limit: int = 2048) -> None:
        self._scopes: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._limit = limit
        self._fresh: dict[str, tuple[str | None, str | None]] = {}  # learned here, not yet shared

    def learn(self, cookie: SetCookie) -> None:
        scope = (cookie.path, cookie.domain)
        if self._scopes.get(cookie.name) != scope:
            self._set(cookie.name, scope)
            if len(self._fresh) < self._limit:
                self._fresh[cookie.name] = scope

    def _set(self, name: str, scope: tuple[str | None, str | None]) -> None:
        self._scopes[name] = scope
        self._scopes.move_to_end(name)
        if len(self._scopes) > self._limit:
            self._scopes.popitem(last=False)

    def get(self, name: str) -> tuple[str | None, str | None]:
        return self._scopes.get(name, (None, None))

    def unshared(self) -> list[tuple[str, str, str]]:
        """What this process learned and has not shared yet, for the shared table ("" for none)."""
        return [(name, path or "", domain or "") for name, (path, domain) in self._fresh.items()]

    def shared(self, rows: Iterable[tuple[str, str, str]]) -> None:
        for name, path, domain in rows:
            if self._fresh.get(name) == (path or None, domain or None):
                del self._fresh[name]

    def absorb(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Scopes other instances learned. Validated again: the table is outside data to us."""
        for name, path, domain in rows:
            if name in self._fresh or not isinstance(name, str) or not name:
                continue  # ours is newer than anything we have not yet shared
            scope = (_valid_path(path.encode("latin-1", "replace")), _valid_domain(domain.encode("latin-1", "replace")))
            if self._scopes.get(name) != scope:
                self._set(name[:256], scope)


@dataclass
class ResponseFilterResult:
    headers: Headers
    dropped: list[str] = field(default_factory=list)


def drop_response_cookies(headers: Headers, rules: CookieRules, granted: frozenset[str],
                          scopes: CookieScopes, *, everything: bool = False,
                          omit: frozenset[bytes] = frozenset()) -> ResponseFilterResult:
    """Remove every upstream `Set-Cookie` the visitor did not allow, whatever the content type.
    `everything` (report mode): remove only a Set-Cookie of the gateway's own cookie.
    `omit`: header names left out as well (the response policy's hop-by-hop table), in the same pass."""
    out: Headers = []
    dropped: list[str] = []
    for name, value in headers:
        if name in omit:
            continue
        if name == b"set-cookie":
            cookie = parse_set_cookie(value)
            scopes.learn(cookie)
            if cookie.name in rules.own or not (everything or rules.allowed(cookie.name, granted)):
                dropped.append(cookie.name)
                continue
        out.append((name, value))
    return ResponseFilterResult(out, dropped)


_HOSTNAME = re.compile(r"^[a-z0-9-]++(?:\.[a-z0-9-]++)++\Z")
_DOMAINS_CACHE: dict[str, tuple[str, ...]] = {}
MAX_PARENT_DOMAINS = 4


def cookie_domains(host: str) -> tuple[str, ...]:
    """The Domain values a cookie the browser sends to `host` may have been set with.

    Scripts set analytics cookies on the site's parent domain (gtag.js: Domain=example.com), and a
    Set-Cookie deletes a cookie only with its Domain, which the Cookie header does not tell. So we
    name the host and its parents; the browser ignores a public suffix (co.uk), and an expiry for a
    cookie it does not hold changes nothing. None for IP literals and single-label hosts.
    """
    found = _DOMAINS_CACHE.get(host)
    if found is not None:
        return found
    name = host.rsplit(":", 1)[0]  # host[:port]; an IPv6 literal keeps a ':' and fails the name check
    labels = name.split(".")
    if not _HOSTNAME.match(name) or labels[-1].isdigit():
        found = ()
    else:
        parents = [".".join(labels[i:]) for i in range(1, len(labels) - 1)]
        found = (name, *parents[-MAX_PARENT_DOMAINS:])  # the host, and the parents nearest the suffix
    if len(_DOMAINS_CACHE) < 256:  # the Host header is the visitor's; keep the table small
        _DOMAINS_CACHE[host] = found
    return found


def bounded_expiry_headers(names: Iterable[str], scopes: CookieScopes, *, secure: bool, host: str,
                           limit: int) -> tuple[Headers, int]:
    """`Set-Cookie` headers that delete cookies the browser holds, HttpOnly ones included; at most
    `limit` headers (0: no limit), and how many cookies it left.

    A cookie is deleted only by a Set-Cookie with its own Path and Domain, so we expire it with the
    scope the site set it with, with the defaults, and on the host's parent domains (see
    `cookie_domains`): the browser may hold any of these, and expiring a cookie it does not hold
    is harmless.

    A visitor can send thousands of cookie names; each costs a few header lines. Past the limit
    the rest are left unexpired (still stripped from every request) and counted in the metrics.
    """
    out: Headers = []
    seen: set[str] = set()
    skipped = 0
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        if limit and len(out) >= limit:
            skipped += 1
            continue
        scope = scopes.get(name)
        key = (name, scope, secure, host)
        lines = _EXPIRY_CACHE.get(key)
        if lines is None:
            lines = _expiry_lines(name, scope, secure, cookie_domains(host))
            # names and hosts come from visitors: bounded in count, and long ones (a 60 KB name
            # makes 300 KB of lines) are not kept, or 4096 entries could hold over a gigabyte
            if len(_EXPIRY_CACHE) < 4096 and len(name) + len(host) <= MAX_CACHED_EXPIRY:
                _EXPIRY_CACHE[key] = lines
        if limit and len(out) + len(lines) > limit:
            skipped += 1
            continue
        out += lines
    return out, skipped


_EXPIRY_CACHE: dict[tuple[str, tuple[str | None, str | None], bool, str], Headers] = {}
MAX_CACHED_EXPIRY = 512  # name and host together: a longer one is the visitor's to make up (up to 64 KiB)


def _expiry_lines(name: str, scope: tuple[str | None, str | None], secure: bool,
              domains: tuple[str, ...]) -> Headers:
    out: Headers = []
    raw = name.encode("latin-1", "replace")
    if not _SAFE_NAME.match(raw):
        return out  # never reflect bytes a header cannot carry; the request side still strips it
    prefix_secure = name.startswith(("__Secure-", "__Host-"))
    path, domain = scope
    variants: set[tuple[str, str | None]]
    if name.startswith("__Host-"):  # exists only as Path=/ without Domain, whatever scope was learned
        variants = {("/", None)}
    else:
        variants = {(path or "/", domain)}
        for p in {"/", path or "/"}:
            variants.add((p, None))
            variants.update((p, d) for d in domains)
    for p, d in sorted(variants, key=lambda v: (v[0], v[1] or "")):
        value = raw + _EXPIRE_TAIL + b"; Path=" + p.encode("latin-1")
        if d:
            value += b"; Domain=" + d.encode("latin-1")
        if secure or prefix_secure:
            value += b"; Secure"
        out.append((b"set-cookie", value))
    return out
