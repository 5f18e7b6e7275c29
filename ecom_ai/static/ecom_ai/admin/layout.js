// ecom_ai admin (layout.css): tables fit the screen, cut cells show their full text on hover.
//
// A list (#result_list) or tabular inline wider than its box is switched to a fixed layout:
// narrow columns keep their natural width, the widest ones share what is left and their text is
// cut with an ellipsis (water-filling: one width cap for every column above it). Every cell
// whose text is cut gets a tooltip with its full text. Without JavaScript the table scrolls
// inside its own box (Django's default), never the page.
(function () {
  "use strict";

  function widthCap(widths, available) {
    var sorted = widths.slice().sort(function (a, b) { return a - b; });
    var rest = available;
    for (var i = 0; i < sorted.length; i++) {
      var share = rest / (sorted.length - i);
      if (sorted[i] > share) { return Math.max(share, 48); }
      rest -= sorted[i];
    }
    return null; // everything fits
  }

  function fitTable(table, box) {
    var head = table.tHead && table.tHead.rows[0];
    if (!head || table.dataset.ecomAiFitted) { return; }
    var available = box.clientWidth;
    if (!available || table.scrollWidth <= available + 1) { return; }
    var cells = head.cells;
    var widths = [];
    for (var i = 0; i < cells.length; i++) { widths.push(cells[i].getBoundingClientRect().width); }
    var cap = widthCap(widths, available - 2);
    if (cap === null) { return; }
    for (var j = 0; j < cells.length; j++) { cells[j].style.width = Math.floor(Math.min(widths[j], cap)) + "px"; }
    table.style.tableLayout = "fixed";
    table.style.width = (available - 2) + "px";
    table.classList.add("ecom-ai-fitted");
    table.dataset.ecomAiFitted = "1";
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
