/* The bureau dashboard: each chart fetches its table (/bureau/dashboard/<key>.json, the
 * same rows the Excel download carries, read from the roll-ups) and draws it with the
 * vendored ECharts; an empty table says so ("暂无数据") instead of drawing empty axes.
 * The matrix (at most top × top cells plus "others") is drawn as a heatmap with the same
 * rows as a table beside it, sortable by any column. */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.echarts) return;
  var quarter = root.getAttribute("data-quarter");
  var day = root.getAttribute("data-day");
  var top = root.getAttribute("data-top");
  var search = root.getAttribute("data-search");
  var region = root.getAttribute("data-region");
  var EMPTY = root.getAttribute("data-empty") || "暂无数据";
  var FAILED = root.getAttribute("data-failed") || "图表数据加载失败：";
  var MAX_BARS = 30; // a bar chart of 1,205 canteens is unreadable: the largest, the rest in Excel

  function col(rows, i) { return rows.map(function (r) { return r[i]; }); }
  function yuan(fen) { return Math.round(fen) / 100; }
  function fmt(n) { return Number(n).toLocaleString("zh-CN"); }
  function label(name) { return name.length > 10 ? name.slice(0, 10) + "…" : name; }

  var build = {
    daily: function (t) {
      return {
        tooltip: { trigger: "axis" }, legend: { data: [t.headers[1], t.headers[2]] },
        xAxis: { type: "category", data: col(t.rows, 0) },
        yAxis: [{ type: "value", name: t.headers[1] }, { type: "value", name: "元" }],
        series: [
          { name: t.headers[1], type: "bar", data: col(t.rows, 1) },
          { name: t.headers[2], type: "line", yAxisIndex: 1, data: col(t.rows, 2).map(yuan) }
        ]
      };
    },
    rush: function (t) {
      return {
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: col(t.rows, 0) },
        yAxis: { type: "value", name: t.headers[1] },
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
        tooltip: { formatter: function (p) { return units[p.value[1]] + " → " + canteens[p.value[0]] + "：" + fmt(p.value[2]); } },
        grid: { left: 130, bottom: 110, right: 20 },
        xAxis: { type: "category", data: canteens, axisLabel: { rotate: 40, formatter: label } },
        yAxis: { type: "category", data: units, axisLabel: { formatter: label } },
        visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center", bottom: 0 },
        series: [{ type: "heatmap", data: data, label: { show: units.length <= 12 && canteens.length <= 12 } }]
      };
    },
    revenue: function (t) {
      var rows = t.rows.filter(function (r) { return r[1]; }).slice(0, MAX_BARS);
      return {
        tooltip: { trigger: "axis" }, legend: { data: [t.headers[2], t.headers[3]] },
        grid: { bottom: 90 },
        xAxis: { type: "category", data: col(rows, 0), axisLabel: { rotate: 40, formatter: label } },
        yAxis: { type: "value", name: "元" },
        series: [
          { name: t.headers[2], type: "bar", data: col(rows, 2).map(yuan) },
          { name: t.headers[3], type: "bar", data: col(rows, 3).map(yuan) }
        ]
      };
    },
    ratings: function (t) {
      var rows = t.rows.slice(0, MAX_BARS);
      return {
        tooltip: { trigger: "axis" }, legend: { data: t.headers.slice(2, 6) },
        grid: { bottom: 90 },
        xAxis: { type: "category", data: col(rows, 0), axisLabel: { rotate: 40, formatter: label } },
        yAxis: { type: "value", min: 0, max: 5 },
        series: [2, 3, 4, 5].map(function (i) {
          return { name: t.headers[i], type: "bar", data: col(rows, i) };
        })
      };
    }
  };

  function isEmpty(key, t) {
    if (!t.rows.length) return true;
    if (key === "daily" || key === "rush" || key === "revenue") {
      return !t.rows.some(function (r) { return r[1]; });
    }
    return false;
  }

  /* The matrix's rows as a table; a click on a header sorts by that column. */
  function fillTable(t) {
    var table = document.getElementById("table-matrix");
    if (!table) return;
    var money = [3]; // the matrix's amount column (fen)
    var rows = t.rows.slice();
    var sortBy = 2, desc = true;
    function cell(i, v) { return money.indexOf(i) >= 0 ? fmt(yuan(v).toFixed(2)) : (typeof v === "number" ? fmt(v) : v); }
    function draw() {
      rows.sort(function (a, b) {
        var x = a[sortBy], y = b[sortBy];
        var c = typeof x === "number" ? x - y : String(x).localeCompare(String(y), "zh-CN");
        return desc ? -c : c;
      });
      var head = "<thead><tr>" + t.headers.map(function (h, i) {
        return "<th data-col='" + i + "'>" + h + (i === sortBy ? (desc ? " ▼" : " ▲") : "") + "</th>";
      }).join("") + "</tr></thead>";
      var body = "<tbody>" + rows.map(function (r) {
        return "<tr>" + r.map(function (v, i) {
          var td = document.createElement("td");
          td.textContent = cell(i, v);
          if (typeof v === "number") td.className = "num";
          return td.outerHTML;
        }).join("") + "</tr>";
      }).join("") + "</tbody>";
      table.innerHTML = head + body;
    }
    table.addEventListener("click", function (e) {
      var th = e.target.closest("th");
      if (!th) return;
      var i = Number(th.getAttribute("data-col"));
      if (i === sortBy) { desc = !desc; } else { sortBy = i; desc = i >= 2; }
      draw();
    });
    draw();
  }

  Array.prototype.forEach.call(root.querySelectorAll("[data-chart]"), function (el) {
    var key = el.getAttribute("data-chart");
    var url = "/bureau/dashboard/" + key + ".json?quarter=" + encodeURIComponent(quarter) +
      (day ? "&day=" + encodeURIComponent(day) : "") +
      (top ? "&top=" + encodeURIComponent(top) : "") +
      (search ? "&search=" + encodeURIComponent(search) : "") +
      (region ? "&region=" + encodeURIComponent(region) : "");
    fetch(url, {
      credentials: "same-origin"
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (t) {
      document.getElementById("title-" + key).textContent = t.title;
      if (key === "matrix") fillTable(t);
      if (isEmpty(key, t)) {
        var p = document.createElement("div");
        p.className = "empty";
        p.textContent = EMPTY;
        el.appendChild(p);
        el.setAttribute("data-ready", "empty");
        return;
      }
      var chart = echarts.init(el);
      chart.setOption(build[key](t));
      el.setAttribute("data-ready", "1");
      window.addEventListener("resize", function () { chart.resize(); });
    }).catch(function (e) {
      el.textContent = FAILED + e.message;
    });
  });
})();
