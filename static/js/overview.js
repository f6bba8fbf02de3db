// Manage -> Overview: the calls-per-day chart (uPlot), drawn from the JSON beside it. The same
// numbers are in the table under it, which is what screen readers read (the chart is hidden).
(function () {
  "use strict";
  function draw() {
    var box = document.getElementById("calls-chart");
    var source = document.getElementById("calls-chart-data");
    if (!box || !source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var xs = data.days.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
    // Three bars side by side per day: left recorded, middle discarded, right failed.
    function bars(align) { return uPlot.paths.bars({ size: [0.25, 12], align: align }); }
    var day = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { day: "numeric", month: "short" });
    var series = [
      { label: data.labels.day, value: function (u, v) { return v == null ? "" : day.format(new Date(v * 1000)); } },
      { label: data.labels.recorded, stroke: "#1d3f8f", fill: "rgba(29,63,143,0.6)", paths: bars(-1), points: { show: false } },
      { label: data.labels.discarded, stroke: "#6b7280", fill: "rgba(107,114,128,0.6)", paths: bars(0), points: { show: false } },
      { label: data.labels.failed, stroke: "#b42318", fill: "rgba(180,35,24,0.7)", paths: bars(1), points: { show: false } },
    ];
    var width = Math.max(280, box.clientWidth);
    var chart = new uPlot(
      {
        width: width,
        height: 220,
        series: series,
        scales: {
          x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } },
          y: { range: function (u, min, max) { return [0, Math.max(4, Math.ceil(max * 1.1))]; } },
        },
        axes: [
          { values: function (u, vals) { return vals.map(function (v) { return day.format(new Date(v * 1000)); }); } },
          { values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? String(v) : ""; }); } },
        ],
      },
      [xs, data.recorded, data.discarded, data.failed],
      box
    );
    box.setAttribute("data-drawn", String(data.recorded.length));
    window.addEventListener("resize", function () {
      chart.setSize({ width: Math.max(280, box.clientWidth), height: 220 });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
