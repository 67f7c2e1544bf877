/* The listening test's one script (same origin, no inline code; the pages work without it):
 * - one player at a time: starting a player pauses the others;
 * - ratings not yet submitted survive a reload (sessionStorage of this tab, per reference). */
(function () {
  "use strict";
  document.addEventListener("play", function (e) {
    document.querySelectorAll("audio").forEach(function (a) { if (a !== e.target && !a.paused) a.pause(); });
  }, true);
  var form = document.getElementById("rating-form");
  if (!form || !window.sessionStorage) return;
  var key = "nnsim-draft:" + form.dataset.draft;
  var draft = {};
  try { draft = JSON.parse(sessionStorage.getItem(key) || "{}") || {}; } catch (err) { draft = {}; }
  Object.keys(draft).forEach(function (name) {
    var group = form.querySelectorAll('input[type=radio][name="' + name.replace(/"/g, "") + '"]');
    var chosen = Array.prototype.some.call(group, function (r) { return r.checked; });
    if (chosen) return; // what the server kept wins
    group.forEach(function (r) { if (r.value === String(draft[name])) r.checked = true; });
  });
  form.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.type === "radio") { draft[t.name] = t.value; sessionStorage.setItem(key, JSON.stringify(draft)); }
  });
  form.addEventListener("submit", function () { sessionStorage.removeItem(key); });
})();
