// dizzy explorer: on pages of a running app's file, look for a new
// snapshot every second and reload when one has landed. Nothing else:
// every page works without this script.
(function () {
  "use strict";
  var body = document.body;
  if (!body || body.dataset.live !== "1") return;
  var shown = body.dataset.latest || "";
  var status = document.getElementById("live-status");
  function look() {
    fetch("/api/latest", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) return;
        var now = j.id === null ? "" : String(j.id);
        if (now !== shown) { window.location.reload(); return; }
        if (status) status.textContent = "live: newest snapshot " + (now || "none") + ", checked " + new Date().toLocaleTimeString();
        window.setTimeout(look, 1000);
      })
      .catch(function () {
        if (status) status.textContent = "the run is gone (its explorer stopped)";
      });
  }
  window.setTimeout(look, 1000);
})();
