(function () {
  "use strict";
  // Counts what the page's Content-Security-Policy blocked: the page makes no request, so
  // anything counted here is a bug (tests read the attribute).
  var violations = 0;
  document.addEventListener("securitypolicyviolation", function () {
    violations += 1;
    document.documentElement.setAttribute("data-csp-violations", String(violations));
  });
  var state = { sort: null, filters: {} };

  function cellValue(row, col) {
    var cell = row.cells[col];
    if (!cell) { return ""; }
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  }
  function compare(a, b) {
    var x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !isNaN(x) && !isNaN(y)) { return x - y; }
    return a.localeCompare(b);
  }
  function sortTable(table, col, descending) {
    var body = table.tBodies[0];
    if (!body || !table.tHead) { return; }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var c = compare(cellValue(r, col), cellValue(s, col));
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) {
      heads[i].setAttribute("aria-sort", i === col ? (descending ? "descending" : "ascending") : "none");
    }
    state.sort = table.id + ":" + col + ":" + (descending ? "desc" : "asc");
  }
  function filterTable(table, text) {
    var needle = text.toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0] ? table.tBodies[0].rows : [], function (r) {
      var hit = needle === "" || r.textContent.toLowerCase().indexOf(needle) !== -1;
      r.hidden = !hit;
      if (hit) { shown += 1; }
    });
    table.setAttribute("data-shown", String(shown));
    if (text === "") { delete state.filters[table.id]; } else { state.filters[table.id] = text; }
  }
  function saveState() {
    var params = new URLSearchParams();
    if (state.sort) { params.append("sort", state.sort); }
    Object.keys(state.filters).forEach(function (id) { params.append("filter", id + ":" + state.filters[id]); });
    try { history.replaceState(null, "", "#" + params.toString()); } catch (e) { /* file: URLs may refuse */ }
  }
  // The view in the fragment: #sort=TABLE:COLUMN:asc|desc&filter=TABLE:TEXT (repeatable),
  // so a sorted, filtered view can be linked to, and tests can drive the page.
  function applyFragment() {
    var params = new URLSearchParams(location.hash.slice(1));
    params.getAll("filter").forEach(function (f) {
      var at = f.indexOf(":");
      var table = document.getElementById(f.slice(0, at));
      if (at < 0 || !table) { return; }
      var input = document.querySelector('input.filter[data-table="' + table.id + '"]');
      if (input) { input.value = f.slice(at + 1); }
      filterTable(table, f.slice(at + 1));
    });
    var sort = (params.get("sort") || "").split(":");
    var sorted = document.getElementById(sort[0]);
    if (sorted && sort.length === 3) { sortTable(sorted, Number(sort[1]), sort[2] === "desc"); }
  }
  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (table) {
      if (!table.tHead) { return; }
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
        th.tabIndex = 0;
        th.setAttribute("aria-sort", "none");
        var go = function () {
          sortTable(table, col, th.getAttribute("aria-sort") === "ascending");
          saveState();
        };
        th.addEventListener("click", go);
        th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("input.filter"), function (input) {
      var table = document.getElementById(input.getAttribute("data-table"));
      if (!table) { return; }
      input.hidden = false;
      input.addEventListener("input", function () { filterTable(table, input.value); saveState(); });
    });
    applyFragment();
    var style = getComputedStyle(document.documentElement).getPropertyValue("--pg-style").trim();
    document.body.setAttribute("data-style", style || "missing");
    document.body.setAttribute("data-ready", "1");
  }
  document.addEventListener("DOMContentLoaded", init);
})();
