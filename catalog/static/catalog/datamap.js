// Draws the data map from the figure the server built (catalog/dashboards.py).
// A static file rather than an inline script: pages are to run under a strict
// Content-Security-Policy. The world base map is served by Locus itself and handed
// to Plotly before drawing, so that plotly.js never fetches it from its CDN.
(function () {
  "use strict";

  var container = document.getElementById("data-map");
  var source = document.getElementById("data-map-figure");
  if (!container || !source) {
    return;
  }

  function showProblem(text) {
    container.classList.add("data-map-failed");
    container.textContent = text + " The table below has the same numbers.";
  }

  if (!window.Plotly) {
    showProblem("The map could not be drawn: its script did not load.");
    return;
  }

  var figure = JSON.parse(source.textContent);
  var topojsonUrl = container.dataset.topojsonUrl;
  var topojsonName = container.dataset.topojsonName;
  var config = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"],
    // Only used if Plotly asks for another base map: it then stays on this server too.
    topojsonURL: topojsonUrl.slice(0, topojsonUrl.lastIndexOf("/") + 1),
  };

  fetch(topojsonUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("the base map answered " + response.status);
      }
      return response.json();
    })
    .then(function (topology) {
      window.PlotlyGeoAssets = window.PlotlyGeoAssets || { topojson: {} };
      window.PlotlyGeoAssets.topojson = window.PlotlyGeoAssets.topojson || {};
      window.PlotlyGeoAssets.topojson[topojsonName] = topology;
      return window.Plotly.newPlot(container, figure.data, figure.layout, config);
    })
    .catch(function (error) {
      showProblem("The map could not be drawn (" + error.message + ").");
    });
})();
