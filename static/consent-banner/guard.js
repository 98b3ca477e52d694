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
  var exact = rules.cookies.exact;
  var globs = rules.cookies.globs.map(function (g) { return [new RegExp(g[0]), g[1]]; });
  cfg.cookieCategory = function (name) {
    if (Object.prototype.hasOwnProperty.call(exact, name)) return exact[name];
    for (var i = 0; i < globs.length; i++) if (globs[i][0].test(name)) return globs[i][1];
    return rules.cookies.unknown;
  };
  cfg.cookieAllowed = function (name) {
    var c = cfg.cookieCategory(name);
    return c !== null && (c === rules.necessary || !!granted[c]);
  };
  // As the rewriter: a URL is held when it holds the lower-case substring of any rule whose
  // category is withheld; the first such rule names the category.
  cfg.blockedCategory = function (url) {
    url = String(url).toLowerCase();
    for (var i = 0; i < rules.urls.length; i++) {
      var r = rules.urls[i];
      if (!granted[r[1]] && url.indexOf(r[0]) >= 0) return r[1];
    }
    return null;
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
