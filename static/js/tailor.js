// Tailor: small progressive enhancements for the voting page (no framework).
(function () {
  "use strict";

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // Fallback for non-secure contexts (a phone on plain http over the LAN).
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // One key per shown pair: a double click or a resubmission of this form sends the same key, so the server
  // counts it once.
  function prepare(root) {
    root.querySelectorAll("form.vote-form").forEach(function (form) {
      var key = form.querySelector("[data-idempotency]");
      if (key && !key.value) key.value = uuid4();
      form.dataset.shownAt = String(performance.now());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    prepare(document);
    document.body.addEventListener("htmx:load", function (e) { prepare(e.target); });
    document.body.addEventListener("htmx:configRequest", function (e) {
      var form = e.target.closest && e.target.closest("form.vote-form");
      if (form && form.dataset.shownAt) {
        e.detail.parameters.time_to_vote_ms = String(Math.round(performance.now() - Number(form.dataset.shownAt)));
      }
    });
  });

  var KEYS = { "1": "vote-left", "2": "vote-right", "0": "vote-tie", "b": "vote-both-bad" };
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" && t.type === "text" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    var id = KEYS[e.key];
    if (!id) return;
    var button = document.querySelector('[data-testid="' + id + '"]');
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  });
})();
