/* ecom_ai admin: refresh training-run progress bars and curves while runs are in progress.
 * Elements with data-run-url (and data-status queued/running) are polled every 2 s via the
 * staff-only JSON endpoint; polling stops when the run has finished. No dependencies. */
(function () {
  "use strict";
  var INTERVAL = 2000;

  function fmtElapsed(seconds) {
    if (seconds === null || seconds === undefined) { return "–"; }
    seconds = Math.floor(seconds);
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function progressText(run) {
    var parts;
    if (run.status === "succeeded" && run.epoch !== null && run.total_epochs && run.epoch < run.total_epochs) {
      parts = ["stopped early at epoch " + run.epoch + " of " + run.total_epochs];  // as admin/registry.py
    } else {
      parts = [Math.round(run.percent) + "%"];
      if (run.epoch !== null) { parts.push("epoch " + run.epoch + (run.total_epochs ? "/" + run.total_epochs : "")); }
    }
    if (run.loss !== null) { parts.push("loss " + Number(run.loss).toPrecision(4).replace(/\.?0+$/, "")); }
    parts.push(fmtElapsed(run.elapsed_seconds));
    return parts.join(" · ");
  }

  function apply(url, run) {
    var nodes = document.querySelectorAll('[data-run-url="' + url + '"]');
    Array.prototype.forEach.call(nodes, function (node) {
      node.setAttribute("data-status", run.status);
      if (node.classList.contains("ecom-ai-progress")) {
        var bar = node.querySelector(".ecom-ai-progress-bar");
        var text = node.querySelector(".ecom-ai-progress-text");
        if (bar) { bar.style.width = Math.max(0, Math.min(100, run.percent)) + "%"; }
        if (text) { text.textContent = progressText(run); }
        node.title = run.message || "";
      } else if (node.classList.contains("ecom-ai-charts") && run.charts) {
        ["loss", "metrics"].forEach(function (name) {
          var holder = node.querySelector('[data-chart="' + name + '"]');
          if (holder && run.charts[name]) { holder.innerHTML = run.charts[name]; }  // SVG drawn by the server
        });
      }
    });
    var message = document.querySelector(".field-message .readonly");
    if (message && document.querySelector('.ecom-ai-charts[data-run-url="' + url + '"]')) {
      message.textContent = run.message || "";
    }
  }

  function poll(url) {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (run) {
        apply(url, run);
        if (!run.finished) { window.setTimeout(function () { poll(url); }, INTERVAL); }
      })
      .catch(function () { window.setTimeout(function () { poll(url); }, INTERVAL * 5); });
  }

  function start() {
    var seen = {};
    Array.prototype.forEach.call(document.querySelectorAll("[data-run-url]"), function (node) {
      var url = node.getAttribute("data-run-url");
      var status = node.getAttribute("data-status");
      if (url && !seen[url] && (status === "queued" || status === "running")) {
        seen[url] = true;
        window.setTimeout(function () { poll(url); }, INTERVAL);
      }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
