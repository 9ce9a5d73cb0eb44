// The officer's queue, live without moving under the cursor.
//
// Follows the risk stream (stream.js, as risk.js does), but never re-renders the queue by itself:
// - an incident on this page that changed is updated in place (status, violations, severity)
//   and marked "changed"; its row keeps its place;
// - incidents opened since are counted in a "n new — show" notice; "show" fetches the queue
//   again with the page's filters (the only time rows move);
// - key figures, anomaly alerts and the latest violations are refetched from the page's JSON
//   twin when stream.js says something changed, as on the other risk pages.
// A static file: pages run under a strict Content-Security-Policy (no inline script).
(function () {
  "use strict";

  var STATUS = { open: "Open", acknowledged: "Acknowledged", contained: "Contained", resolved: "Resolved" };
  var SEVERITY = { low: "Low", medium: "Medium", high: "High", critical: "Critical" };
  var live = document.getElementById("risk-live");
  var holder = document.querySelector("[data-queue-holder]");
  if (!live || !holder) { return; }
  var notice = document.querySelector("[data-new-notice]");
  var picked = document.querySelector("[data-picked]");
  var fresh = {}; // ids of incidents opened since the queue was drawn

  // --- The queue: rows marked in place, new ones counted ---------------------------------

  function row(id) {
    return holder.querySelector('tr[data-incident="' + id + '"]');
  }

  function setCell(tr, name, text) {
    var cell = tr.querySelector('[data-cell="' + name + '"]');
    if (cell && text !== undefined && cell.textContent !== String(text)) { cell.textContent = text; }
  }

  function markChanged(incident) {
    var tr = row(incident.id);
    if (!tr) { return false; }
    if (parseInt(tr.dataset.version, 10) >= incident.version) { return true; } // already shown
    tr.dataset.version = incident.version;
    setCell(tr, "status", STATUS[incident.status] || incident.status);
    setCell(tr, "violation_count", incident.violation_count);
    var badge = tr.querySelector('[data-cell="severity"]');
    if (badge && SEVERITY[incident.severity]) {
      badge.textContent = SEVERITY[incident.severity];
      badge.className = "badge severity-" + incident.severity;
    }
    tr.classList.add("row-changed");
    var note = tr.querySelector("[data-changed-note]");
    if (note) { note.hidden = false; }
    return true;
  }

  function countNew(incident) {
    if (row(incident.id)) { return; }
    fresh[incident.id] = true;
    var n = Object.keys(fresh).length;
    notice.querySelector("[data-new-count]").textContent = String(n);
    notice.hidden = false;
  }

  function showNew() {
    fetchData().then(function (data) {
      if (!data || !data.fragments || data.fragments.queue === undefined) { return; }
      holder.innerHTML = data.fragments.queue;
      fresh = {};
      notice.hidden = true;
      updatePicked();
    });
  }

  function updatePicked() {
    if (!picked) { return; }
    var n = holder.querySelectorAll('input[name="incidents"]:checked').length;
    picked.textContent = n === 0 ? "None ticked" : n + " ticked";
  }

  holder.addEventListener("change", function (event) {
    if (event.target.matches("[data-pick-all]")) {
      holder.querySelectorAll('input[name="incidents"]').forEach(function (box) { box.checked = event.target.checked; });
    }
    updatePicked();
  });
  notice.querySelector("[data-show-new]").addEventListener("click", showNew);

  // --- Everything else on the page: refetched, swapped in -----------------------------------

  function fetchData() {
    return fetch(live.dataset.refreshUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .catch(function () { return null; });
  }

  function apply(data) {
    if (!data) { return; }
    Object.keys(data.kpis || {}).forEach(function (name) {
      document.querySelectorAll('[data-kpi="' + name + '"]').forEach(function (element) {
        if (element.textContent !== data.kpis[name]) {
          element.textContent = data.kpis[name];
          element.classList.remove("changed");
          void element.offsetWidth; // restart the highlight
          element.classList.add("changed");
        }
      });
    });
    ["alerts", "violations"].forEach(function (name) {
      var part = document.querySelector('[data-fragment="' + name + '"]');
      // Never replace a part while someone is in it.
      if (part && data.fragments && data.fragments[name] !== undefined && !part.contains(document.activeElement)) {
        part.innerHTML = data.fragments[name];
      }
    });
  }

  // --- The stream ------------------------------------------------------------------------------

  window.LocusStream.follow(live, {
    onMessage: function (message) {
      if (message.kind === "incident.opened") {
        countNew(message.payload);
      } else if (message.kind === "incident.updated") {
        markChanged(message.payload);
      }
    },
    refresh: function () { return fetchData().then(apply); },
  });
})();
