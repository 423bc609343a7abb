// The "how your weights moved" chart (Chart.js, vendored); redrawn when a pushed update swaps the data in.
(function () {
  "use strict";
  var chart = null;
  var COLORS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#e67700", "#495057",
                "#5c940d", "#a61e4d", "#1864ab", "#862e9c"];

  function data() {
    var el = document.getElementById("weights-history");
    return el ? JSON.parse(el.textContent) : { votes: [], series: {} };
  }

  function draw() {
    var canvas = document.getElementById("weights-chart");
    if (!canvas || !window.Chart) return;
    var d = data();
    var names = Object.keys(d.series || {});
    var datasets = names.map(function (name, i) {
      return { label: name.replace(/_/g, " "), data: d.series[name], borderColor: COLORS[i % COLORS.length],
               backgroundColor: COLORS[i % COLORS.length], pointRadius: 0, tension: 0.2 };
    });
    var labels = d.votes || [];
    canvas.dataset.points = String(labels.length);
    if (chart) {
      chart.data.labels = labels; chart.data.datasets = datasets; chart.update("none"); return;
    }
    var dark = window.matchMedia && document.documentElement.dataset.theme === "dark";
    chart = new Chart(canvas, {
      type: "line", data: { labels: labels, datasets: datasets },
      options: { animation: false, maintainAspectRatio: false, responsive: true,
        scales: { x: { title: { display: true, text: "votes" } }, y: { title: { display: true, text: "weight" } } },
        plugins: { legend: { labels: { boxWidth: 12, color: dark ? "#e9e9ee" : "#1d1d22" } } } }
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    if (e.detail && e.detail.target && e.detail.target.id === "weights-history-box") draw();
  });
})();
