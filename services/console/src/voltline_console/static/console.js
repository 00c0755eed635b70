/* voltline console: the two parts of a page that need script (a session's chart, the map). No inline script:
   each reads its data from data- attributes or the console's own JSON routes. */
(function () {
  "use strict";

  function startChart(el) {
    if (typeof uPlot === "undefined") { return; }
    var plot = null;
    var poll = parseInt(el.dataset.pollMs || "2000", 10);
    function size() { return { width: Math.max(280, el.clientWidth - 8), height: 260 }; }
    function draw(d) {
      var data = [d.t, d.power_kw, d.energy_kwh];
      if (plot === null) {
        var s = size();
        plot = new uPlot({
          width: s.width, height: s.height,
          series: [{}, { label: "Power (kW)", stroke: "#0b5cad", scale: "kW", spanGaps: true },
                   { label: "Energy (kWh)", stroke: "#1a7f37", scale: "kWh", spanGaps: true }],
          axes: [{}, { scale: "kW", label: "kW" }, { scale: "kWh", label: "kWh", side: 1, grid: { show: false } }]
        }, data, el);
        window.addEventListener("resize", function () { plot.setSize(size()); });
      } else {
        plot.setData(data);
      }
      el.dataset.points = String(d.t.length);
      el.dataset.status = d.status || "";
    }
    function load() {
      fetch(el.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.redirected && r.url.indexOf("/login") >= 0) { window.location.assign(r.url); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (d) {
          if (d) { draw(d); }
          if (!d || d.status === "active") { window.setTimeout(load, poll); }
        })
        .catch(function () { window.setTimeout(load, poll * 2); });
    }
    load();
  }

  function startMap(el) {
    if (typeof L === "undefined") { return; }
    var markers = JSON.parse(el.dataset.markers || "[]");
    var map = L.map(el, { scrollWheelZoom: false });
    var tiles = L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: "&copy; OpenStreetMap contributors" });
    tiles.on("tileerror", function () {
      var note = document.getElementById("map-note");
      if (note) { note.textContent = "The map tiles cannot be loaded (no internet?): the list below has every station."; }
    });
    tiles.addTo(map);
    var bounds = [];
    markers.forEach(function (m) {
      var icon = L.divIcon({ className: "map-marker s-" + m.health, iconSize: [16, 16] });
      L.marker([m.lat, m.lon], { icon: icon, title: m.id, alt: m.id, keyboard: true })
        .bindPopup('<a href="/stations/' + encodeURIComponent(m.id) + '"></a>')
        .on("popupopen", function (e) { e.popup.getElement().querySelector("a").textContent = m.id + " (" + m.health + ")"; })
        .addTo(map);
      bounds.push([m.lat, m.lon]);
    });
    if (bounds.length) { map.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 }); } else { map.setView([50, 10], 4); }
    el.dataset.ready = "true";
  }

  function startKpiChart(el) {
    if (typeof uPlot === "undefined") { return; }
    var t = JSON.parse(el.dataset.t || "[]"), y = JSON.parse(el.dataset.y || "[]");
    var width = Math.max(260, el.clientWidth - 8);
    var plot = new uPlot({ width: width, height: 220,
      series: [{}, { label: el.dataset.label, stroke: "#0b5cad", fill: "rgba(11,92,173,0.12)", spanGaps: true }] },
      [t, y], el);
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(260, el.clientWidth - 8), height: 220 }); });
    el.dataset.points = String(t.length);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".kpi-chart"), startKpiChart);
    var chart = document.getElementById("session-chart");
    if (chart) { startChart(chart); }
    var map = document.getElementById("map");
    if (map) { startMap(map); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
