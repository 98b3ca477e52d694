/* consent-gateway receipt: show each <time data-local> in the visitor's own time zone and language.
   The server wrote UTC into the element; without this script (or without Intl) that text stays. */
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) return;
  var lang = document.documentElement.lang || undefined;
  Array.prototype.forEach.call(document.querySelectorAll("time[data-local]"), function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) return;
    try {
      var f = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
      t.title = t.textContent;  // the UTC time stays one hover away
      t.textContent = f.format(d);
    } catch (e) { /* an unknown locale tag: keep UTC */ }
  });
})();
