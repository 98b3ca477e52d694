/* consent-gateway guard: runs in <head> before any other script.
   Sets Google Consent Mode defaults, and stops what the server cannot see: tracker tags that
   scripts insert later, and document.cookie writes of cookies the visitor did not allow. */
(function () {
  "use strict";
  var el = document.getElementById("consent-gateway-config");
  if (!el || window.consentGateway) return;
  var cfg = JSON.parse(el.textContent);
  var granted = {};
  cfg.granted.forEach(function (c) { granted[c] = true; });
  cfg.grantedMap = granted;
  window.consentGateway = cfg;

  window.dataLayer = window.dataLayer || [];
  function gtag() { window.dataLayer.push(arguments); }
  if (typeof window.gtag !== "function") window.gtag = gtag;
  cfg.consentModeFor = function (g) {
    var m = { ad_storage: "denied", ad_user_data: "denied", ad_personalization: "denied",
      analytics_storage: "denied", personalization_storage: "denied",
      functionality_storage: "denied", security_storage: "granted" };
    Object.keys(cfg.consentMode).forEach(function (cat) {
      if (g[cat]) cfg.consentMode[cat].forEach(function (s) { m[s] = "granted"; });
    });
    return m;
  };
  var defaults = cfg.consentModeFor(granted);
  defaults.wait_for_update = 500;
  gtag("consent", "default", defaults);

  var cookieRules = [];
  cfg.categories.forEach(function (c) {
    c.cookies.forEach(function (p) { cookieRules.push([new RegExp(p), c.id]); });
  });
  var necessary = cfg.necessary.map(function (p) { return new RegExp(p); });
  cfg.cookieAllowed = function (name) {
    if (necessary.some(function (r) { return r.test(name); })) return true;
    for (var i = 0; i < cookieRules.length; i++) {
      if (cookieRules[i][0].test(name)) return !!granted[cookieRules[i][1]];
    }
    return cfg.unknown !== "block" && !!granted[cfg.unknown];
  };
  cfg.blockedCategory = function (url) {
    url = String(url).toLowerCase();
    for (var i = 0; i < cfg.categories.length; i++) {
      var c = cfg.categories[i];
      if (granted[c.id]) continue;
      for (var j = 0; j < c.scripts.length; j++) if (url.indexOf(c.scripts[j]) >= 0) return c.id;
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
