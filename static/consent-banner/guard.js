/* consent-gateway guard: runs in <head> before any other script.
   Sets Google Consent Mode defaults, and stops what the server cannot see: tracker tags that
   scripts insert later, and document.cookie writes of cookies the visitor did not allow. */
(function () {
  "use strict";
  var el = document.getElementById("consent-gateway-config");
  var rules = window.consentGatewayRules;  // generated from the server's rules (gateway/clientrules.py)
  if (!el || !rules || window.consentGateway) return;
  var cfg = JSON.parse(el.textContent);
  var granted = {};
  cfg.granted.forEach(function (c) { granted[c] = true; });
  cfg.grantedMap = granted;
  cfg.rules = rules;
  window.consentGateway = cfg;

  window.dataLayer = window.dataLayer || [];
  function gtag() { window.dataLayer.push(arguments); }
  if (typeof window.gtag !== "function") window.gtag = gtag;
  var gcm = rules.consentMode;
  cfg.consentModeFor = function (g) {
    var m = {};
    gcm.signals.forEach(function (s) { m[s] = "denied"; });
    gcm.alwaysGranted.forEach(function (s) { m[s] = "granted"; });
    Object.keys(gcm.byCategory).forEach(function (cat) {
      if (g[cat]) gcm.byCategory[cat].forEach(function (s) { m[s] = "granted"; });
    });
    return m;
  };
  var defaults = cfg.consentModeFor(granted);
  defaults.wait_for_update = 500;
  gtag("consent", "default", defaults);

  // The server's precedence (cookies.CookieRules): an exact name beats any glob; then the first
  // rule in order; then the `unknown` setting (null: blocked).
  // Only a name none of the operator's rules decides goes to the catalog: its exact names, then
  // its globs in order (names longer than maxName match only exactly, as on the server).
  var has = Object.prototype.hasOwnProperty;
  var exact = rules.cookies.exact;
  var globs = rules.cookies.globs.map(function (g) { return [new RegExp(g[0]), g[1]]; });
  var cat = rules.cookies.catalog, catExact = {}, catGlobs = null;
  Object.keys(cat.exact).forEach(function (c) { cat.exact[c].forEach(function (n) { catExact[n] = c; }); });
  cfg.cookieCategory = function (name) {
    if (has.call(exact, name)) return exact[name];
    for (var i = 0; i < globs.length; i++) if (globs[i][0].test(name)) return globs[i][1];
    if (has.call(catExact, name)) return catExact[name];
    if (name.length <= cat.maxName) {
      catGlobs = catGlobs || cat.globs.map(function (g) { return [new RegExp(g[0]), g[1]]; });
      for (var j = 0; j < catGlobs.length; j++) if (catGlobs[j][0].test(name)) return catGlobs[j][1];
    }
    return rules.cookies.unknown;
  };
  cfg.cookieAllowed = function (name) {
    if (rules.report) return true;
    var c = cfg.cookieCategory(name);
    return c !== null && (c === rules.necessary || !!granted[c]);
  };

  // The catalog's host boundaries (gateway/catalog/matcher.py): a pattern starts the text or
  // follows a non-host character or an escaped slash; one ending in a letter or digit must not
  // run on into a longer name or another label. "/" also matches "\/" and "%2f".
  function hostChar(ch) { return /[a-z0-9_-]/.test(ch); }
  function leftOk(s, i) {
    return i === 0 || !hostChar(s.charAt(i - 1)) || /(%2f|\\u002f|\\x2f)$/.test(s.slice(Math.max(0, i - 6), i));
  }
  function rightOk(s, end) {
    return end >= s.length || !(hostChar(s.charAt(end)) || (s.charAt(end) === "." && hostChar(s.charAt(end + 1))));
  }
  var catUrls = rules.catalogUrls.map(function (r) {
    var p = r[0], v = [p];
    if (p.indexOf("/") >= 0) v.push(p.split("/").join("\\/"), p.split("/").join("%2f"));
    return { pattern: p, variants: v, bounded: /[a-z0-9]$/.test(p), category: r[1] };
  });
  function catalogCategory(s) {
    var best = -1, bestLen = 0, found = null;
    for (var i = 0; i < catUrls.length; i++) {
      var u = catUrls[i];
      if (granted[u.category]) continue;
      for (var k = 0; k < u.variants.length; k++) {
        var v = u.variants[k];
        for (var at = s.indexOf(v); at >= 0 && (best < 0 || at <= best); at = s.indexOf(v, at + 1)) {
          if (leftOk(s, at) && (!u.bounded || rightOk(s, at + v.length))) {
            if (best < 0 || at < best || u.pattern.length > bestLen) { best = at; bestLen = u.pattern.length; found = u.category; }
            break;
          }
        }
      }
    }
    return found;
  }
  // As the rewriter: a URL is held when it holds the lower-case substring of an operator rule whose
  // category is withheld (the first such rule names the category). A URL that an operator rule
  // matches is the operator's alone; any other is held when a catalog pattern of a withheld
  // category is in it (the leftmost names the category).
  cfg.blockedCategory = function (url) {
    if (rules.report) return null;
    var s = String(url), low = s.toLowerCase(), mine = false;
    for (var i = 0; i < rules.urls.length; i++) {
      var r = rules.urls[i];
      if (low.indexOf(r[0]) >= 0) {
        if (!granted[r[1]]) return r[1];
        mine = true;
      }
    }
    return mine ? null : catalogCategory(s.replace(/[A-Z]+/g, function (m) { return m.toLowerCase(); }));
  };

  var setAttr = Element.prototype.setAttribute;
  var TAGS = { SCRIPT: 1, IFRAME: 1, IMG: 1 };
  function hold(node, url, cat) {
    setAttr.call(node, "data-src", url);
    setAttr.call(node, "data-consent-category", cat);
    if (node.tagName === "SCRIPT") setAttr.call(node, "type", "text/plain");
  }
  ["HTMLScriptElement", "HTMLIFrameElement", "HTMLImageElement"].forEach(function (k) {
    var proto = window[k] && window[k].prototype;
    var d = proto && Object.getOwnPropertyDescriptor(proto, "src");
    if (!d || !d.set) return;
    Object.defineProperty(proto, "src", {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set: function (v) { var c = cfg.blockedCategory(v); if (c) hold(this, v, c); else d.set.call(this, v); }
    });
  });
  Element.prototype.setAttribute = function (name, value) {
    if (TAGS[this.tagName] && String(name).toLowerCase() === "src") {
      var c = cfg.blockedCategory(value);
      if (c) return hold(this, value, c);
    }
    return setAttr.apply(this, arguments);
  };
  // Backstop for markup inserted as HTML strings (innerHTML, document.write of a parsed page).
  function check(n) {
    if (!TAGS[n.tagName] || n.getAttribute("data-consent-category")) return;
    var src = n.getAttribute("src");
    var c = src && cfg.blockedCategory(src);
    if (c) { n.removeAttribute("src"); hold(n, src, c); }
  }
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      r.addedNodes.forEach(function (n) {
        if (n.nodeType !== 1) return;
        check(n);
        if (n.firstElementChild) n.querySelectorAll("script[src],iframe[src],img[src]").forEach(check);
      });
    });
  }).observe(document.documentElement, { childList: true, subtree: true });

  var jar = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  if (jar && jar.configurable !== false) {
    Object.defineProperty(document, "cookie", {
      configurable: true,
      get: function () { return jar.get.call(document); },
      set: function (v) {
        var s = String(v);
        var name = s.split(";")[0].split("=")[0].trim();
        var deletes = /;\s*max-age\s*=\s*(0|-)/i.test(s) || /;\s*expires\s*=[^;]*19[0-6]\d/i.test(s);
        if (deletes || cfg.cookieAllowed(name)) jar.set.call(document, v);
      }
    });
  }
})();
