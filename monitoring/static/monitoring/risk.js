// Live risk dashboards: draws the server-built Plotly figures, then follows the risk stream
// (stream.js): when something changes it refetches the page's numbers from its JSON twin
// (data-refresh-url) and redraws in place.
//
// A static file (no inline script: pages are to run under a strict Content-Security-Policy).
(function () {
  "use strict";

  var live = document.getElementById("risk-live");
  if (!live) {
    return;
  }
  var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

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
    return fetch(live.dataset.refreshUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(apply);
  }

  window.LocusStream.follow(live, { refresh: refresh });
})();
