/* consent-gateway banner: posts decisions with fetch, activates consented tags in document order,
   keeps focus in the dialog while it is modal, reopens the settings on request. Without this
   script the banner is a plain form and works the same, one page load at a time. */
(function () {
  "use strict";
  var cfg = window.consentGateway;
  if (!cfg) return;
  var opener = null;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function focusables(root) {
    return Array.prototype.filter.call(
      root.querySelectorAll("a[href],button:not([disabled]),input:not([disabled]),summary,[tabindex]"),
      function (e) { return e.tabIndex >= 0 && e.offsetParent !== null; });
  }

  var URL_ATTRS = ["srcset", "src", "poster", "href", "data"];  // srcset first: one fetch, not two

  function activate() {
    var nodes = document.querySelectorAll("[data-consent-category]");
    var scripts = [];
    Array.prototype.forEach.call(nodes, function (old) {
      var cat = old.getAttribute("data-consent-category");
      if (!cfg.grantedMap[cat] || old.closest("#consent-banner")) return;
      if (old.tagName === "SCRIPT") {
        scripts.push(old);  // run by activate.js: in order, with a document.write that keeps the page
      } else {
        // iframes and what fetches on parse (img, source, link, ...): put back what the gateway moved
        var moved = URL_ATTRS.filter(function (a) { return old.hasAttribute("data-" + a); });
        if (!moved.length) return;
        old.removeAttribute("data-consent-category");
        if (old.getAttribute("type") === "text/plain") old.removeAttribute("type");
        moved.forEach(function (a) {
          var v = old.getAttribute("data-" + a);
          old.removeAttribute("data-" + a);
          old.setAttribute(a, v);
        });
        if (cfg.revealEmbed) cfg.revealEmbed(old);  // its click-to-load placeholder goes
      }
    });
    if (scripts.length) cfg.activateScripts(scripts);
  }

  function send(form, action) {
    var body = new URLSearchParams();
    body.append("action", action);
    body.append("next", form.elements.next.value);
    if (action === "save") {
      Array.prototype.forEach.call(form.querySelectorAll("input[name=categories]:checked:not([disabled])"),
        function (i) { body.append("categories", i.value); });
    }
    var before = Object.keys(cfg.grantedMap);
    // getAttribute: the buttons named "action" shadow form.action
    // GPC seen by the browser but not sent as Sec-GPC (scripts may not set Sec- headers): say it,
    // so the decision is logged as made under GPC.
    if (navigator.globalPrivacyControl === true) body.append("gpc", "1");
    return post(form, body, 0).then(function (state) {
      notice(form, "");
      var g = {};
      Object.keys(state.categories).forEach(function (c) { if (state.categories[c]) g[c] = true; });
      var withdrawn = before.some(function (c) { return !g[c]; });
      Object.keys(cfg.grantedMap).forEach(function (c) { delete cfg.grantedMap[c]; });
      Object.keys(g).forEach(function (c) { cfg.grantedMap[c] = true; });
      cfg.decided = true;
      window.gtag("consent", "update", cfg.consentModeFor(g));
      if (withdrawn) { location.reload(); return; }  // the gateway expires the cookies on reload
      close();
      activate();
      cfg.busy = false;
      // for the site's own code and for QA scenarios: the decision is applied, no reload coming
      document.dispatchEvent(new CustomEvent("consent-gateway:decision", { detail: state }));
    });
  }

  var MAX_TRIES = 6;

  // A 429 is the per-address limit (an office, a carrier NAT): say so in the visitor's language
  // (the gateway's message) and retry with backoff; never fall back to the form's 429 page.
  function post(form, body, tries) {
    return fetch(form.getAttribute("action"), {
      method: "POST", credentials: "same-origin", body: body, headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (r.status !== 429) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }
      return r.json().catch(function () { return {}; }).then(function (info) {
        notice(form, info.message || "");
        if (tries + 1 >= MAX_TRIES) { var e = new Error("limited"); e.limited = true; throw e; }
        var after = parseInt(r.headers.get("Retry-After") || info.retry_after, 10) || 1;
        var wait = Math.min(60, Math.max(1, after) * Math.pow(2, tries)) * (1 + Math.random() / 4);
        return new Promise(function (done) { setTimeout(done, wait * 1000); }).then(function () {
          return post(form, body, tries + 1);
        });
      });
    });
  }

  function notice(form, text) {
    var p = $(".cg-retry", form);
    if (!text) { if (p) p.parentNode.removeChild(p); return; }
    if (!p) {
      p = document.createElement("p");
      p.className = "cg-retry";
      p.setAttribute("role", "status");
      form.insertBefore(p, $(".cg-actions", form));
    }
    p.textContent = text;
  }

  // The first layer is not modal: it covers the bottom of the screen and the page (its links, its
  // click-to-load boxes) stays usable. Once the settings are open (the visitor asked for them; on a
  // phone they fill the screen) the dialog is modal for real: everything else is inert (no clicks,
  // no focus, hidden from screen readers) and only then does it say aria-modal. The siblings of the
  // dialog and of each of its ancestors up to <body> are marked; those the site made inert itself
  // are left as they were.
  var inerted = [];
  function makeModal(b) {
    if (inerted.length) return;
    for (var node = b; node && node !== document.body && node.parentNode; node = node.parentNode) {
      Array.prototype.forEach.call(node.parentNode.children, function (sib) {
        if (sib === node || sib.inert || /^(SCRIPT|STYLE|LINK)$/.test(sib.tagName)) return;
        sib.inert = true;
        inerted.push(sib);
      });
    }
    b.setAttribute("aria-modal", "true");
  }
  function releaseModal(b) {
    inerted.forEach(function (e) { e.inert = false; });
    inerted = [];
    if (b) b.removeAttribute("aria-modal");
  }
  function modal() { return inerted.length > 0; }

  function close() {
    var b = $("#consent-banner");
    if (b && !b.classList.contains("cg-inline")) b.parentNode.removeChild(b);
    releaseModal();
    document.removeEventListener("keydown", onKey, true);
    if (opener && opener.focus) opener.focus();
  }

  function onKey(e) {
    var b = $("#consent-banner");
    if (!b) return;
    var details = $("details", b);
    if (e.key === "Escape" && details && details.open) {
      details.open = false;
      sync(b);
      $("[data-consent-action=save]", b).focus();
      e.preventDefault();
    } else if (e.key === "Tab" && modal()) {
      var f = focusables(b);
      if (!f.length) return;
      var first = f[0], last = f[f.length - 1];
      if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
      else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
      else if (!b.contains(document.activeElement)) { first.focus(); e.preventDefault(); }
    }
  }

  function sync(b) {
    var save = $("[data-consent-action=save]", b);
    var open = $("details", b).open;
    save.textContent = save.getAttribute(open ? "data-label-open" : "data-label-closed");
    if (b.classList.contains("cg-inline")) return;
    if (open) makeModal(b); else releaseModal(b);
  }

  function init(b, openSettings) {
    var form = $("form", b);
    var details = $("details", b);
    if (openSettings) details.open = true;
    b.classList.add("cg-js");
    sync(b);
    details.addEventListener("toggle", function () { sync(b); });
    form.addEventListener("click", function (e) {
      var btn = e.target.closest("[data-consent-action]");
      if (!btn) return;
      var action = btn.getAttribute("data-consent-action");
      e.preventDefault();
      if (action === "save" && !details.open) {
        details.open = true;
        sync(b);
        var first = $("input[name=categories]:not([disabled])", b);
        if (first) first.focus();
        return;
      }
      btn.disabled = true;
      cfg.busy = true;
      send(form, action).catch(function (e) {  // fall back to the plain form post
        btn.disabled = false;
        cfg.busy = false;
        if (e && e.limited) return;  // the retry notice stays; the visitor may click again
        fallback = true;
        form.requestSubmit(btn);
      });
    });
    var fallback = false;
    form.addEventListener("submit", function (e) {
      if (fallback) return;
      e.preventDefault();  // Enter in a checkbox: save what is ticked
      cfg.busy = true;
      send(form, "save").catch(function (e) {
        cfg.busy = false;
        if (e && e.limited) return;
        fallback = true;
        form.requestSubmit();
      });
    });
    if (!b.classList.contains("cg-inline")) {
      document.addEventListener("keydown", onKey, true);
      var h = $("h2", b);
      h.setAttribute("tabindex", "-1");
      h.focus();
    }
  }

  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-consent-action=open]");
    if (!btn) return;
    e.preventDefault();
    if ($("#consent-banner")) return;
    opener = btn;
    fetch(cfg.endpoint + "/banner?next=" + encodeURIComponent(location.pathname), { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var box = document.createElement("div");
        box.innerHTML = html;
        var b = box.firstElementChild;
        document.body.appendChild(b);
        init(b, true);
      });
  });

  var b = $("#consent-banner");
  if (b) init(b, false);
  activate();  // categories granted on an earlier visit: the site's own tagged scripts
})();
