/* The per-capita page's two charts, from the numbers in the page (data-chart: rows of
 * [canteen, revenue per diner in fen, grams per diner or null]). */
(function () {
  "use strict";
  var root = document.getElementById("per-capita");
  if (!root || !window.echarts) return;
  var rows = JSON.parse(root.getAttribute("data-chart") || "[]");
  function label(s) { return s.length > 8 ? s.slice(0, 8) + "…" : s; }
  function draw(id, name, values) {
    var el = document.getElementById(id);
    if (!values.some(function (v) { return v; })) {
      var p = document.createElement("div");
      p.className = "empty";
      p.textContent = root.getAttribute("data-empty") || "暂无数据";
      el.appendChild(p);
      el.setAttribute("data-ready", "empty");
      return;
    }
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 10, bottom: 90 },
      xAxis: { type: "category", data: rows.map(function (r) { return r[0]; }),
        axisLabel: { rotate: 40, formatter: label } },
      yAxis: { type: "value", name: name },
      series: [{ name: name, type: "bar", data: values }]
    });
    el.setAttribute("data-ready", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  draw("chart-spend", root.getAttribute("data-spend"),
    rows.map(function (r) { return Math.round(r[1]) / 100; }));
  draw("chart-waste", root.getAttribute("data-waste"),
    rows.map(function (r) { return r[2]; }));
})();
