/* consent-gateway activation: runs held scripts once their category is granted, without a reload.

   Scripts run one at a time in document order, as the parser would have run them: an external one
   must load before the next starts. By then the page has finished parsing, so a native
   document.write would open a new document and blank the page (the standard CNZZ snippet, older
   Tencent and 51.la code, many ad tags). While we run them, document.write collects the markup a
   script writes; when the script has finished, the markup is parsed and inserted right after the
   script, where the parser would have put it, and the scripts inside it run next, in order, with
   the same treatment (nested writes). Like postscribe, writes are routed to the running script and
   scripts are queued; unlike it, we do not stream partial markup into the page through proxy
   elements: a script's writes are joined and parsed once, after it ends (document.currentScript
   tells whose write it is). A write we cannot place (from a timer after load) goes to the end of
   <body>: late, but the page is never replaced. */
(function () {
  "use strict";
  var cfg = window.consentGateway;
  if (!cfg) return;
  var MAX_DEPTH = 8;             // written scripts that write scripts that write ...
  var MAX_WRITE = 1024 * 1024;   // characters one script may write
  var LOAD_TIMEOUT = 15000;      // a script that never loads must not stall the queue
  var OWN = /^(type|src|data-src|data-type|data-consent-category)$/;
  var JS = /^(|module|(text|application)\/(x-)?(javascript|ecmascript)(;.*)?)$/i;
  var outputs = new WeakMap();   // script element -> {html, after}: where its writes go
  var installed = false;
  var loose = null;              // output of writers we did not start, flushed in a microtask

  function isJs(type) { return JS.test((type || "").trim()); }

  function insertAfter(node, ref) {
    if (ref && ref.parentNode) ref.parentNode.insertBefore(node, ref.nextSibling);
    else document.body.appendChild(node);
  }

  function write() {
    var html = Array.prototype.join.call(arguments, "");
    var el = document.currentScript;
    var out = el && outputs.get(el);
    if (!out) {
      // Not a script we run: before parsing ends the native call is right; after, it would wipe
      // the page, so the markup goes after the calling script (or at the end of <body>).
      if (document.readyState === "loading") return nativeWrite.apply(document, arguments);
      if (!loose) {
        loose = { html: "", after: el };
        Promise.resolve().then(function () { var o = loose; loose = null; flush(o, 0); });
      }
      out = loose;
    }
    if (out.html.length + html.length <= MAX_WRITE) out.html += html;
  }
  var nativeWrite = document.write;

  function install() {
    if (installed) return;
    installed = true;
    document.write = write;
    document.writeln = function () { write(Array.prototype.join.call(arguments, "") + "\n"); };
  }

  // Markup a script wrote, in place after it; then the scripts it contains, in order.
  function flush(out, depth) {
    var html = out.html;
    out.html = "";
    if (!html) return Promise.resolve();
    var t = document.createElement("template");
    t.innerHTML = html;  // scripts parsed this way are inert: we run them ourselves below
    var frag = document.importNode(t.content, true);
    var scripts = Array.prototype.slice.call(frag.querySelectorAll("script"));
    var last = frag.lastChild;
    insertAfter(frag, out.after);
    if (last) out.after = last;  // the same script's next write goes after this one
    if (depth >= MAX_DEPTH) return Promise.resolve();
    return runAll(scripts.filter(function (s) { return isJs(s.getAttribute("type")); }), depth + 1);
  }

  // A fresh element runs; a parsed or held one never will. Copies what the page wrote, puts back
  // what the gateway moved aside (type, src).
  function fresh(old) {
    var s = document.createElement("script");
    Array.prototype.forEach.call(old.attributes, function (a) {
      if (!OWN.test(a.name)) s.setAttribute(a.name, a.value);
    });
    if (old.nonce) s.nonce = old.nonce;  // the attribute reads empty once parsed; the property keeps it
    var held = old.hasAttribute("data-consent-category");
    var type = held ? old.getAttribute("data-type") : old.getAttribute("type");
    if (type) s.setAttribute("type", type);
    return s;
  }

  function runOne(old, depth) {
    return new Promise(function (resolve) {
      if (!old.parentNode) { resolve(); return; }
      var src = old.getAttribute("data-src") || old.getAttribute("src");
      var s = fresh(old);
      // Writes go after this empty marker, which stays put if the script removes itself.
      var mark = document.createTextNode("");
      old.parentNode.insertBefore(mark, old.nextSibling);
      var out = { html: "", after: mark };
      outputs.set(s, out);
      var settled = false, timer = 0;
      var async = !!src && old.hasAttribute("async");
      function done() {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        var written = flush(out, depth);
        if (!async) written.then(resolve, resolve);
      }
      if (src) {
        s.onload = s.onerror = done;
        timer = setTimeout(done, LOAD_TIMEOUT);
        s.async = async;
        s.src = src;  // through guard.js: held again if its category is still refused
      } else {
        s.text = old.text;
      }
      old.parentNode.replaceChild(s, old);  // an inline script runs here, synchronously
      if (async) resolve();  // an async script never held the parser: the queue goes on
      if (!src || s.hasAttribute("data-consent-category")) done();
    });
  }

  function runAll(scripts, depth) {
    return scripts.reduce(function (chain, old) {
      return chain.then(function () { return runOne(old, depth); });
    }, Promise.resolve());
  }

  // Click-to-load: the placeholder's button loads the held iframe after it, this once: no cookie,
  // no decision, nothing else changes. setAttributeNS: guard.js would hold this src again, and the
  // visitor asked for exactly this one. revealEmbed: the category was allowed (banner.js).
  function embeds() {
    function reveal(frame) {
      var ph = frame.previousElementSibling;
      if (ph && ph.hasAttribute("data-consent-placeholder")) ph.parentNode.removeChild(ph);
      frame.removeAttribute("hidden");
      frame.removeAttribute("data-consent-embed");
    }
    cfg.revealEmbed = function (frame) { if (frame.hasAttribute("data-consent-embed")) reveal(frame); };
    document.addEventListener("click", function (e) {
      var allow = e.target.closest && e.target.closest("[data-consent-placeholder] a");
      var b = document.getElementById("consent-banner");
      if (allow && b) {  // the banner is up: open its settings at this category (else banner.js opens it)
        e.preventDefault();
        var d = b.querySelector("details");
        d.open = true;  // banner.js relabels its buttons on the toggle event
        var box = b.querySelector("#cg-cat-" + allow.closest("[data-consent-placeholder]").getAttribute(
          "data-consent-placeholder"));
        if (box) box.focus();
        return;
      }
      var btn = e.target.closest && e.target.closest("[data-consent-placeholder] button");
      var frame = btn && btn.closest("[data-consent-placeholder]").nextElementSibling;
      if (!frame || !frame.hasAttribute("data-consent-embed")) return;
      e.preventDefault();
      ["src", "srcset"].forEach(function (a) {
        var v = frame.getAttribute("data-" + a);
        if (v === null) return;
        frame.removeAttribute("data-" + a);
        frame.setAttributeNS(null, a, v);
      });
      if (frame.getAttribute("type") === "text/plain") frame.removeAttribute("type");
      frame.removeAttribute("data-consent-category");
      reveal(frame);
      frame.focus();
    });
  }
  embeds();

  var queue = Promise.resolve();
  // Held scripts whose category is now granted, in document order. Returns when all have run.
  cfg.activateScripts = function (scripts) {
    install();
    scripts = Array.prototype.slice.call(scripts);
    queue = queue.then(function () { return runAll(scripts, 0); });
    return queue;
  };
})();
