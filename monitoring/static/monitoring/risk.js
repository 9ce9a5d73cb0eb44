// Live risk dashboards: draws the server-built Plotly figures, then follows the risk stream.
//
// A static file (no inline script: pages are to run under a strict Content-Security-Policy).
// It connects to /ws/risk/, asks for everything after the seq the page was rendered at, keeps
// the cursor the server sends, and when something changes refetches the page's numbers from
// its JSON twin (data-refresh-url) at most every REFRESH_MS. On a lost connection it reconnects
// with backoff and resumes from its cursor; while the socket is down it polls the HTTP
// catch-up (/api/v1/risk/stream?after=N), so nothing is missed either way.
(function () {
  "use strict";

  var REFRESH_MS = 1500;
  var POLL_MS = 10000;
  var FEED_MAX = 30;
  var live = document.getElementById("risk-live");
  if (!live) {
    return;
  }
  var status = live.querySelector("[data-live-status]");
  var feed = document.querySelector("[data-live-feed]");
  var cursor = parseInt(live.dataset.after, 10) || 0;
  var socket = null;
  var retryMs = 1000;
  var pollTimer = null;
  var refreshTimer = null;
  var refreshing = false;
  var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
  live.hidden = false;

  function setStatus(text, state) {
    status.textContent = text;
    live.classList.toggle("live-on", state === "on");
    live.classList.toggle("live-off", state === "off");
  }

  // --- Figures ---------------------------------------------------------------------------

  function hasMap(figure) {
    return figure.data.some(function (trace) { return trace.type === "choropleth" || trace.type === "scattergeo"; });
  }

  var baseMap = null;
  function loadBaseMap() {
    // The world map comes from Locus itself, so plotly.js never fetches it from its CDN.
    if (!baseMap) {
      baseMap = fetch(live.dataset.topojsonUrl, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("the base map answered " + response.status); }
          return response.json();
        })
        .then(function (topology) {
          window.PlotlyGeoAssets = window.PlotlyGeoAssets || { topojson: {} };
          window.PlotlyGeoAssets.topojson = window.PlotlyGeoAssets.topojson || {};
          window.PlotlyGeoAssets.topojson[live.dataset.topojsonName] = topology;
        });
    }
    return baseMap;
  }

  // What the reader hovers, per chart, so that a live redraw puts the tooltip back.
  var hovered = {};
  var drawn = {};

  function follow(name, container) {
    if (container.dataset.following) { return; }
    container.dataset.following = "1";
    container.on("plotly_hover", function (event) {
      hovered[name] = event.points.map(function (p) { return { curveNumber: p.curveNumber, pointNumber: p.pointNumber }; });
    });
    container.on("plotly_unhover", function () { delete hovered[name]; });
  }

  function hoverAgain(name, container) {
    // Plotly.react keeps zoom and hidden series (layout.uirevision) but drops the hover label;
    // show it again on the same points while the pointer is still there.
    var points = hovered[name];
    if (!points || !container.matches(":hover")) { return; }
    try {
      window.Plotly.Fx.hover(container, points);
    } catch (error) { /* a chart type Fx.hover does not know (Sankey): the next move redraws it */ }
  }

  function draw(name, figure) {
    var container = document.querySelector('[data-figure="' + name + '"]');
    if (!container) { return; }
    if (!window.Plotly) {
      container.classList.add("chart-failed");
      container.textContent = "The chart could not be drawn: its script did not load.";
      return;
    }
    var text = JSON.stringify(figure);
    if (drawn[name] === text) { return; } // nothing changed: leave the chart (and its tooltip) alone
    drawn[name] = text;
    var ready = hasMap(figure) ? loadBaseMap() : Promise.resolve();
    ready
      .then(function () { return window.Plotly.react(container, figure.data, figure.layout, config); })
      .then(function () {
        follow(name, container);
        hoverAgain(name, container);
        container.dataset.revision = String((parseInt(container.dataset.revision, 10) || 0) + 1);
      })
      .catch(function (error) {
        container.classList.add("chart-failed");
        container.textContent = "The chart could not be drawn (" + error.message + ").";
      });
  }

  document.querySelectorAll("[data-figure]").forEach(function (container) {
    var source = document.getElementById("figure-" + container.dataset.figure);
    if (source) { draw(container.dataset.figure, JSON.parse(source.textContent)); }
  });

  // --- Refreshing the numbers --------------------------------------------------------------

  function apply(data) {
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
    Object.keys(data.changes || {}).forEach(function (name) {
      var change = data.changes[name];
      document.querySelectorAll('[data-change="' + name + '"]').forEach(function (element) {
        element.textContent = change.text;
        element.dataset.direction = change.direction;
      });
      document.querySelectorAll('[data-change-before="' + name + '"]').forEach(function (element) {
        element.textContent = change.before;
      });
    });
    Object.keys(data.figures || {}).forEach(function (name) { draw(name, data.figures[name]); });
    Object.keys(data.fragments || {}).forEach(function (name) {
      var holder = document.querySelector('[data-fragment="' + name + '"]');
      // Never replace a part while someone is typing in it (a resolution note).
      if (holder && !holder.contains(document.activeElement)) { holder.innerHTML = data.fragments[name]; }
    });
  }

  function refresh() {
    refreshTimer = null;
    if (refreshing) { scheduleRefresh(); return; }
    refreshing = true;
    fetch(live.dataset.refreshUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(apply)
      .catch(function () { /* the next change tries again */ })
      .then(function () { refreshing = false; });
  }

  function scheduleRefresh() {
    // A little jitter, so that many open dashboards do not all ask at the same instant.
    if (!refreshTimer) { refreshTimer = window.setTimeout(refresh, REFRESH_MS + Math.random() * 1000); }
  }

  // --- The stream ----------------------------------------------------------------------------

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
    socket = new WebSocket(scheme + window.location.host + live.dataset.socketPath);
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
      socket = null;
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
