// Tailor: small progressive enhancements (no framework). Everything works without it, just with fewer comforts.
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

  function prepare(root) {
    // One key per shown pair (the server renders one; made here if a cached page lacks it): a double click or
    // a resubmission sends the same key, so it counts once.
    root.querySelectorAll("form.vote-form").forEach(function (form) {
      var key = form.querySelector("[data-idempotency]");
      if (key && !key.value) key.value = uuid4();
      form.dataset.shownAt = String(performance.now());
    });
    // Long answers collapse behind "show more".
    root.querySelectorAll(".answer.collapsible").forEach(function (answer) {
      var body = answer.querySelector(".body"), more = answer.querySelector(".show-more");
      if (!body || !more) return;
      if (body.scrollHeight > 320) {
        answer.classList.add("collapsed");
        more.hidden = false;
      }
    });
    // The undo button disappears when its few seconds are over.
    root.querySelectorAll("[data-undo-until]").forEach(function (form) {
      var ms = Number(form.dataset.undoUntil) * 1000 - Date.now();
      setTimeout(function () { form.remove(); }, Math.max(ms, 0));
    });
    root.querySelectorAll("dialog[data-auto-open]").forEach(function (d) {
      if (!d.open && !sessionStorage.getItem("tailor-onboarded")) d.showModal();
      d.addEventListener("close", function () { sessionStorage.setItem("tailor-onboarded", "1"); });
    });
  }

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    var t = document.getElementById("theme-toggle");
    if (t) {
      t.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
      t.textContent = theme === "dark" ? "Light mode" : "Dark mode";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var current = document.documentElement.dataset.theme ||
      (window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    applyTheme(current);
    var toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", function () {
      var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      localStorage.setItem("tailor-theme", next);
      applyTheme(next);
    });
    prepare(document);
    document.body.addEventListener("htmx:load", function (e) { prepare(e.target); });
    // Capture phase: runs before htmx's own submit handler reads the form's values.
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!form.classList || !form.classList.contains("vote-form")) return;
      var key = form.querySelector("[data-idempotency]");
      if (key && !key.value) key.value = uuid4();
      var shown = Number(form.dataset.shownAt || performance.now());
      var time = form.querySelector("[data-time-to-vote]");
      if (time) time.value = String(Math.round(performance.now() - shown));
    }, true);
    document.body.addEventListener("click", function (e) {
      var more = e.target.closest && e.target.closest(".show-more");
      if (more) {
        var answer = more.closest(".answer"), open = answer.classList.toggle("collapsed") === false;
        more.textContent = open ? "show less" : "show more";
        more.setAttribute("aria-expanded", open ? "true" : "false");
      }
      var opener = e.target.closest && e.target.closest("[data-open-dialog]");
      if (opener) document.getElementById(opener.dataset.openDialog).showModal();
    });
  });

  // Enter in a text field submits with the form's first submit button ("A is better"), whatever the person
  // meant: in the vote form's "Why?" it only asks for the choice, keeping the text.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key !== "Enter" || !t || t.tagName !== "INPUT" || !t.closest) return;
    var form = t.closest("form.vote-form");
    if (!form) return;
    e.preventDefault();
    var hint = form.querySelector('[data-testid="choose-hint"]');
    if (hint) hint.hidden = false;
  });

  var KEYS = { "1": "vote-left", "2": "vote-right", "0": "vote-tie", "b": "vote-both-bad", "s": "vote-skip",
               "u": "vote-undo" };
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && ((t.tagName === "INPUT" && (t.type === "text" || t.type === "password")) || t.tagName === "TEXTAREA" ||
              t.isContentEditable)) return;
    if (document.querySelector("dialog[open]")) return;  // a dialog is open: keys belong to it
    if (e.key === "?") {
      var help = document.getElementById("shortcuts");
      if (help) { e.preventDefault(); help.showModal(); }
      return;
    }
    var id = KEYS[e.key];
    if (!id) return;
    var button = document.querySelector('[data-testid="' + id + '"]');
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  });
})();
