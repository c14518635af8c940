/* A survey's results: each choice or stars question's counts as a bar chart (the
 * vendored ECharts), from the numbers the page already shows in its table. */
(function () {
  "use strict";
  if (!window.echarts) return;
  Array.prototype.forEach.call(document.querySelectorAll(".survey-chart"), function (el) {
    var labels = JSON.parse(el.getAttribute("data-labels") || "[]");
    var counts = JSON.parse(el.getAttribute("data-counts") || "[]");
    if (!counts.some(function (n) { return n > 0; })) {
      var p = document.createElement("div");
      p.className = "empty";
      p.textContent = el.getAttribute("data-empty") || "暂无数据";
      el.appendChild(p);
      el.setAttribute("data-ready", "empty");
      return;
    }
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      grid: { left: 40, right: 10, top: 10, bottom: 60 },
      xAxis: { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 4 ? 30 : 0,
        formatter: function (s) { return s.length > 8 ? s.slice(0, 8) + "…" : s; } } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: counts, label: { show: true, position: "top" } }]
    });
    el.setAttribute("data-ready", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
