// The report form's map: click the city to fill in latitude and longitude. Without this script the
// fields are typed in; nothing here is needed to send a report.
(function () {
  "use strict";
  function setUp() {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    var figure = document.getElementById("city-map");
    var lat = document.getElementById("lat");
    var lng = document.getElementById("long");
    if (!figure || !lat || !lng) { return; }
    var svg = figure.querySelector("svg");
    var marker = svg.querySelector(".marker");
    var p = {
      west: parseFloat(svg.dataset.west), north: parseFloat(svg.dataset.north),
      shrink: parseFloat(svg.dataset.shrink), scale: parseFloat(svg.dataset.scale),
      margin: parseFloat(svg.dataset.margin)
    };
    function place() {
      var la = parseFloat(lat.value), lo = parseFloat(lng.value);
      if (isNaN(la) || isNaN(lo)) { marker.setAttribute("cx", -20); marker.setAttribute("cy", -20); return; }
      marker.setAttribute("cx", p.margin + (lo - p.west) * p.shrink * p.scale);
      marker.setAttribute("cy", p.margin + (p.north - la) * p.scale);
    }
    svg.addEventListener("click", function (event) {
      var point = svg.createSVGPoint();
      point.x = event.clientX; point.y = event.clientY;
      var local = point.matrixTransform(svg.getScreenCTM().inverse());
      lat.value = (p.north - (local.y - p.margin) / p.scale).toFixed(6);
      lng.value = (p.west + (local.x - p.margin) / (p.shrink * p.scale)).toFixed(6);
      place();
    });
    lat.addEventListener("input", place);
    lng.addEventListener("input", place);
    figure.hidden = false;
    place();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setUp); } else { setUp(); }
}());
