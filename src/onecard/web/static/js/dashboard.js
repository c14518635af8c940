/* The bureau dashboard: each chart fetches its table (/bureau/dashboard/<key>.json, the
 * same data the Excel download carries) and draws it with the vendored ECharts. */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.echarts) return;
  var quarter = root.getAttribute("data-quarter");
  var day = root.getAttribute("data-day");

  function col(rows, i) { return rows.map(function (r) { return r[i]; }); }
  function yuan(fen) { return Math.round(fen) / 100; }

  var build = {
    daily: function (t) {
      return {
        tooltip: { trigger: "axis" }, legend: { data: ["笔数", "金额（元）"] },
        xAxis: { type: "category", data: col(t.rows, 0) },
        yAxis: [{ type: "value", name: "笔数" }, { type: "value", name: "元" }],
        series: [
          { name: "笔数", type: "bar", data: col(t.rows, 1) },
          { name: "金额（元）", type: "line", yAxisIndex: 1, data: col(t.rows, 2).map(yuan) }
        ]
      };
    },
    rush: function (t) {
      return {
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: col(t.rows, 0) },
        yAxis: { type: "value", name: "笔数" },
        series: [{ type: "line", smooth: true, areaStyle: {}, data: col(t.rows, 1) }]
      };
    },
    matrix: function (t) {
      var units = [], canteens = [];
      t.rows.forEach(function (r) {
        if (units.indexOf(r[0]) < 0) units.push(r[0]);
        if (canteens.indexOf(r[1]) < 0) canteens.push(r[1]);
      });
      var max = 1;
      var data = t.rows.map(function (r) { max = Math.max(max, r[2]); return [canteens.indexOf(r[1]), units.indexOf(r[0]), r[2]]; });
      return {
        tooltip: { formatter: function (p) { return units[p.value[1]] + " → " + canteens[p.value[0]] + "：" + p.value[2] + " 笔"; } },
        grid: { left: 150, bottom: 90 },
        xAxis: { type: "category", data: canteens, axisLabel: { rotate: 30 } },
        yAxis: { type: "category", data: units },
        visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center", bottom: 0 },
        series: [{ type: "heatmap", data: data, label: { show: true } }]
      };
    },
    revenue: function (t) {
      return {
        tooltip: { trigger: "axis" }, legend: { data: ["金额（元）", "其中外单位及来宾"] },
        grid: { bottom: 80 },
        xAxis: { type: "category", data: col(t.rows, 0), axisLabel: { rotate: 30 } },
        yAxis: { type: "value", name: "元" },
        series: [
          { name: "金额（元）", type: "bar", data: col(t.rows, 2).map(yuan) },
          { name: "其中外单位及来宾", type: "bar", data: col(t.rows, 3).map(yuan) }
        ]
      };
    },
    ratings: function (t) {
      return {
        tooltip: { trigger: "axis" }, legend: { data: ["口味", "卫生", "服务", "性价比"] },
        grid: { bottom: 80 },
        xAxis: { type: "category", data: col(t.rows, 0), axisLabel: { rotate: 30 } },
        yAxis: { type: "value", min: 0, max: 5 },
        series: [2, 3, 4, 5].map(function (i) {
          return { name: t.headers[i], type: "bar", data: col(t.rows, i) };
        })
      };
    }
  };

  Array.prototype.forEach.call(root.querySelectorAll("[data-chart]"), function (el) {
    var key = el.getAttribute("data-chart");
    var url = "/bureau/dashboard/" + key + ".json?quarter=" + encodeURIComponent(quarter) +
      (day ? "&day=" + encodeURIComponent(day) : "");
    fetch(url, {
      credentials: "same-origin"
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (t) {
      document.getElementById("title-" + key).textContent = t.title;
      var chart = echarts.init(el);
      chart.setOption(build[key](t));
      el.setAttribute("data-ready", "1");
      window.addEventListener("resize", function () { chart.resize(); });
    }).catch(function (e) {
      el.textContent = "图表数据加载失败：" + e.message;
    });
  });
})();
