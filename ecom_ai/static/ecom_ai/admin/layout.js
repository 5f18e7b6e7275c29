// ecom_ai admin (layout.css): tables fit the screen, cut cells show their full text on hover.
//
// A list (#result_list) or tabular inline wider than its box is switched to a fixed layout: the
// columns whose values are made to be cut (.ecom-ai-trunc: e-mails, reasons, keys) give way
// first; if that is not enough, every column above one common width cap is cut (water-filling),
// so narrow columns always keep their natural width. Every cell
// whose text is cut gets a tooltip with its full text. Without JavaScript the table scrolls
// inside its own box (Django's default), never the page.
(function () {
  "use strict";

  // One width cap for the columns in `which` (indexes) so that the table takes `available` px.
  function capFor(widths, which, available) {
    var fixed = 0;
    for (var i = 0; i < widths.length; i++) { if (which.indexOf(i) < 0) { fixed += widths[i]; } }
    var sorted = which.map(function (i) { return widths[i]; }).sort(function (a, b) { return a - b; });
    var rest = available - fixed;
    for (var k = 0; k < sorted.length; k++) {
      var share = rest / (sorted.length - k);
      if (sorted[k] > share) { return share; }
      rest -= sorted[k];
    }
    return null;
  }

  // Column widths that fit `available`: the columns made to be cut (an .ecom-ai-trunc value: e-mails,
  // reasons...) give way first, down to MIN; then every column above one common cap.
  var MIN = 72;
  function fittedWidths(widths, cuttable, available) {
    var total = widths.reduce(function (a, b) { return a + b; }, 0);
    if (total <= available) { return null; }
    var spare = cuttable.reduce(function (sum, i) { return sum + Math.max(0, widths[i] - MIN); }, 0);
    var all = widths.map(function (w, i) { return i; });
    var out = widths.slice();
    if (cuttable.length && spare >= total - available) {
      var cap = capFor(widths, cuttable, available);
      cuttable.forEach(function (i) { out[i] = Math.min(widths[i], Math.max(cap, MIN)); });
      return out;
    }
    cuttable.forEach(function (i) { out[i] = Math.min(widths[i], MIN); });
    var capAll = capFor(out, all, available);
    return out.map(function (w) { return Math.max(40, Math.min(w, capAll === null ? w : capAll)); });
  }

  function fitTable(table, box) {
    var head = table.tHead && table.tHead.rows[0];
    if (!head || table.dataset.ecomAiFitted) { return; }
    var available = box.clientWidth - 2;
    if (available <= 0 || table.scrollWidth <= available + 3) { return; }
    var cells = head.cells;
    var firstRow = table.tBodies[0] && table.tBodies[0].rows[0];
    var widths = [], cuttable = [];
    for (var i = 0; i < cells.length; i++) {
      widths.push(cells[i].getBoundingClientRect().width);
      var cell = firstRow && firstRow.cells[i];
      if (cell && cell.querySelector(".ecom-ai-trunc")) { cuttable.push(i); }
    }
    var fitted = fittedWidths(widths, cuttable, available);
    if (!fitted) { return; }
    for (var j = 0; j < cells.length; j++) { cells[j].style.width = Math.floor(fitted[j]) + "px"; }
    table.style.tableLayout = "fixed";
    table.style.width = available + "px";
    table.classList.add("ecom-ai-fitted");
    table.dataset.ecomAiFitted = "1";
    // rounding, borders, minimum widths: take what is still over off the widest column
    var over = table.scrollWidth - box.clientWidth;
    if (over > 0) {
      var widest = 0;
      for (var k = 1; k < fitted.length; k++) { if (fitted[k] > fitted[widest]) { widest = k; } }
      cells[widest].style.width = Math.max(24, Math.floor(fitted[widest] - over - 1)) + "px";
    }
  }

  function titleCutCells() {
    var cells = document.querySelectorAll(
      "#result_list td, #result_list th, .inline-group .tabular td, .inline-group .tabular th, .ecom-ai-trunc");
    for (var i = 0; i < cells.length; i++) {
      var cell = cells[i];
      if (!cell.title && cell.scrollWidth > cell.clientWidth + 1) {
        var text = (cell.textContent || "").replace(/\s+/g, " ").trim();
        if (text) { cell.title = text; }
      }
    }
  }

  function fitAll() {
    var list = document.getElementById("result_list");
    if (list && list.parentElement) { fitTable(list, list.parentElement); }
    var inlines = document.querySelectorAll(".inline-group .tabular table");
    for (var i = 0; i < inlines.length; i++) {
      var box = inlines[i].closest(".inline-group") || inlines[i].parentElement;
      fitTable(inlines[i], box);
    }
    titleCutCells();
    var transcripts = document.querySelectorAll(".ecom-ai-transcript");  // open at the latest message
    for (var j = 0; j < transcripts.length; j++) { transcripts[j].scrollTop = transcripts[j].scrollHeight; }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fitAll);
  } else {
    fitAll();
  }
})();
