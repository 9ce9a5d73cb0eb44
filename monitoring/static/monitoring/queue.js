// The officer's queue, live without moving under the cursor.
//
// Follows the risk stream like risk.js (the /ws/risk/ socket from the seq the page was rendered
// at, the HTTP catch-up while it is down), but never re-renders the queue by itself:
// - an incident on this page that changed is updated in place (status, violations, severity)
//   and marked "changed"; its row keeps its place;
// - incidents opened since are counted in a "n new — show" notice; "show" fetches the queue
//   again with the page's filters (the only time rows move);
// - key figures, anomaly alerts and the latest violations are refetched from the page's JSON
//   twin (at most every REFRESH_MS), as on the other risk pages.
// A static file: pages run under a strict Content-Security-Policy (no inline script).
(function () {
  "use strict";

  var REFRESH_MS = 1500;
  var POLL_MS = 10000;
  var FEED_MAX = 30;
  var STATUS = { open: "Open", acknowledged: "Acknowledged", contained: "Contained", resolved: "Resolved" };
  var SEVERITY = { low: "Low", medium: "Medium", high: "High", critical: "Critical" };
  var live = document.getElementById("risk-live");
  var holder = document.querySelector("[data-queue-holder]");
  if (!live || !holder) { return; }
  var status = live.querySelector("[data-live-status]");
  var feed = document.querySelector("[data-live-feed]");
  var notice = document.querySelector("[data-new-notice]");
  var picked = document.querySelector("[data-picked]");
  var cursor = parseInt(live.dataset.after, 10) || 0;
  var fresh = {}; // ids of incidents opened since the queue was drawn
  var retryMs = 1000;
  var pollTimer = null;
  var refreshTimer = null;
  var refreshing = false;
  live.hidden = false;

  function setStatus(text, state) {
    status.textContent = text;
    live.classList.toggle("live-on", state === "on");
    live.classList.toggle("live-off", state === "off");
  }

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

  function refresh() {
    refreshTimer = null;
    if (refreshing) { scheduleRefresh(); return; }
    refreshing = true;
    fetchData().then(apply).then(function () { refreshing = false; });
  }

  function scheduleRefresh() {
    if (!refreshTimer) { refreshTimer = window.setTimeout(refresh, REFRESH_MS + Math.random() * 1000); }
  }

  // --- The stream ------------------------------------------------------------------------------

  function describe(message) {
    var p = message.payload || {};
    switch (message.kind) {
      case "violation.created":
        return "Violation: " + p.dataset + " (" + (p.source_country || "?") + " → " + p.destination_country + ", " + p.severity + ")";
      case "incident.opened":
        return "Incident #" + p.id + " opened: " + p.title;
      case "incident.updated":
        return "Incident #" + p.id + " is " + p.status + " (" + p.violation_count + " violations)";
      case "alert.raised":
      case "alert.updated":
        return "Anomaly: " + (p.detail || p.kind || "");
      default:
        return null;
    }
  }

  function show(message) {
    var text = describe(message);
    if (!feed || !text) { return; }
    var empty = feed.querySelector("[data-live-empty]");
    if (empty) { empty.remove(); }
    var item = document.createElement("li");
    item.textContent = new Date().toLocaleTimeString() + " · " + text;
    feed.insertBefore(item, feed.firstChild);
    while (feed.children.length > FEED_MAX) { feed.removeChild(feed.lastChild); }
  }

  function received(message) {
    if (message.seq <= cursor) { return; } // already had it (socket and catch-up overlap)
    cursor = message.seq;
    show(message);
    if (message.kind === "incident.opened") {
      countNew(message.payload);
    } else if (message.kind === "incident.updated") {
      markChanged(message.payload);
    }
    scheduleRefresh();
  }

  function pollOnce() {
    var url = live.dataset.catchUpUrl + "?after=" + encodeURIComponent(cursor);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        data.messages.forEach(received);
        cursor = Math.max(cursor, data.next);
      })
      .catch(function () {});
  }

  function startPolling() {
    if (!pollTimer) { pollTimer = window.setInterval(pollOnce, POLL_MS); }
  }

  function stopPolling() {
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + live.dataset.socketPath);
    socket.onopen = function () {
      retryMs = 1000;
      socket.send(JSON.stringify({ after: cursor }));
    };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "hello") {
        stopPolling();
        setStatus("Live", "on");
      } else if (frame.type === "messages") {
        frame.messages.forEach(received);
        cursor = Math.max(cursor, frame.cursor);
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) {
        setStatus("Not live: your session or role does not allow the stream.", "off");
        return;
      }
      setStatus("Reconnecting…", "off");
      startPolling();
      window.setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    };
  }

  if ("WebSocket" in window) {
    connect();
  } else {
    setStatus("Updating every " + POLL_MS / 1000 + " s", "on");
    startPolling();
  }
})();
