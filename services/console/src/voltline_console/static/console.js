/* voltline console: the parts of a page that need script (a session's chart, the map, live updates). No inline
   script: each reads its data from data- attributes or the console's own JSON routes. */
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
    var shown = {}, bounds = [];
    function popupOf(m) {
      var popup = document.createElement("div");  // built with textContent: names are never parsed as HTML
      var title = document.createElement("strong");
      title.textContent = m.name;
      popup.appendChild(title);
      m.stations.forEach(function (s) {
        var line = document.createElement("div"), a = document.createElement("a");
        a.href = "/stations/" + encodeURIComponent(s.id);
        a.textContent = s.id + " (" + s.state + ")";
        line.appendChild(a);
        popup.appendChild(line);
      });
      return popup;
    }
    function iconOf(m) { return L.divIcon({ className: "map-marker s-" + m.state, iconSize: [16, 16] }); }
    function draw(list) {  // add, update and remove markers by site id
      var seen = {};
      list.forEach(function (m) {
        seen[m.id] = true;
        var known = shown[m.id];
        if (known) {
          known.setLatLng([m.lat, m.lon]).setIcon(iconOf(m)).setPopupContent(popupOf(m));
        } else {
          shown[m.id] = L.marker([m.lat, m.lon], { icon: iconOf(m), title: m.name, alt: m.name, keyboard: true })
            .bindPopup(popupOf(m)).addTo(map);
        }
      });
      Object.keys(shown).forEach(function (id) { if (!seen[id]) { map.removeLayer(shown[id]); delete shown[id]; } });
      el.dataset.redrawn = String(parseInt(el.dataset.redrawn || "0", 10) + 1);
    }
    draw(markers);
    markers.forEach(function (m) { bounds.push([m.lat, m.lon]); });
    if (bounds.length) { map.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 }); } else { map.setView([50, 10], 4); }
    function reload() {
      fetch(el.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok && !r.redirected ? r.json() : null; })
        .then(function (d) { if (d && !d.error) { draw(d.markers); } })
        .catch(function () { return null; });
    }
    if (el.dataset.live && el.dataset.src) {
      startLive([el], reload);
      window.setInterval(function () { if (document.body.dataset.live !== "open") { reload(); } },
                         parseInt(el.dataset.pollMs || "2000", 10));  // the fallback while the stream is down
    }
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

  /* Live parts (hx-trigger "every Ns, live", data-live = the console's /live stream): each diagnostics event
     fires "live" on them (a refresh, at most one per 300 ms); while the stream is open their polls are skipped,
     while it is down (the browser reconnects by itself) they poll as before. */
  function startLive(parts, onEvent) {
    if (typeof EventSource === "undefined" || typeof htmx === "undefined") { return; }
    var source = new EventSource(parts[0].dataset.live), pending = null;
    function refresh() {
      if (pending !== null) { return; }
      pending = window.setTimeout(function () {
        pending = null;
        if (onEvent) { onEvent(); } else { parts.forEach(function (el) { htmx.trigger(el, "live"); }); }
      }, 300);
    }
    source.onopen = function () { document.body.dataset.live = "open"; };
    source.onerror = function () { document.body.dataset.live = "down"; };
    ["diagnostics.connector_status_changed", "diagnostics.station_health_changed", "diagnostics.alert_opened",
     "diagnostics.alert_resolved"].forEach(function (type) {
      source.addEventListener(type, function () {
        document.body.dataset.liveEvents = String(parseInt(document.body.dataset.liveEvents || "0", 10) + 1);
        refresh();
      });
    });
    document.body.addEventListener("htmx:confirm", function (e) {
      var polled = !e.detail.triggeringEvent;  // htmx's own polls carry no event
      if (polled && e.detail.elt.dataset.live && document.body.dataset.live === "open") { e.preventDefault(); }
    });
    document.body.addEventListener("htmx:afterRequest", function (e) {
      var cause = e.detail.requestConfig && e.detail.requestConfig.triggeringEvent;
      if (cause && cause.type === "live") {
        document.body.dataset.liveRefreshed = String(parseInt(document.body.dataset.liveRefreshed || "0", 10) + 1);
      }
    });
  }

  function init() {
    var live = Array.prototype.filter.call(document.querySelectorAll("[data-live]"), function (el) { return el.id !== "map"; });
    if (live.length) { startLive(live); }
    Array.prototype.forEach.call(document.querySelectorAll(".kpi-chart"), startKpiChart);
    var chart = document.getElementById("session-chart");
    if (chart) { startChart(chart); }
    var map = document.getElementById("map");
    if (map) { startMap(map); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
