// The risk stream, for every live monitoring page (risk.js, queue.js): one client of it.
//
// A static file (no inline script: pages are to run under a strict Content-Security-Policy).
// LocusStream.follow(live, options) connects to the socket the #risk-live element names, asks
// for everything after the seq the page was rendered at, keeps the cursor the server sends,
// shows each message in the live feed, hands it to options.onMessage, and calls
// options.refresh() (which returns a promise) at most every REFRESH_MS after something changed.
// On a lost connection it reconnects with backoff and resumes from its cursor; while the socket
// is down it polls the HTTP catch-up (data-catch-up-url?after=N), so nothing is missed.
window.LocusStream = (function () {
  "use strict";

  var REFRESH_MS = 1500;
  var POLL_MS = 10000;
  var FEED_MAX = 30;

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

  function follow(live, options) {
    var onMessage = options.onMessage || function () {};
    var status = live.querySelector("[data-live-status]");
    var feed = document.querySelector("[data-live-feed]");
    var cursor = parseInt(live.dataset.after, 10) || 0;
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

    function refresh() {
      refreshTimer = null;
      if (refreshing) { scheduleRefresh(); return; }
      refreshing = true;
      Promise.resolve()
        .then(options.refresh)
        .catch(function () { /* the next change tries again */ })
        .then(function () { refreshing = false; });
    }

    function scheduleRefresh() {
      // A little jitter, so that many open pages do not all ask at the same instant.
      if (!refreshTimer) { refreshTimer = window.setTimeout(refresh, REFRESH_MS + Math.random() * 1000); }
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
      onMessage(message);
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
  }

  return { follow: follow };
})();
