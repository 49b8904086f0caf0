(function () {
  "use strict";
  var status = document.getElementById("filter-status");
  var connector = document.getElementById("filter-connector");
  var search = document.getElementById("filter-text");
  var tests = document.querySelectorAll("article");
  function apply() {
    var s = status.value, c = connector.value, q = search.value.toLowerCase();
    var shown = 0;
    tests.forEach(function (el) {
      var ok = (!s || el.dataset.outcome === s) && (!c || el.dataset.connector === c) &&
        (!q || el.textContent.toLowerCase().indexOf(q) !== -1);
      el.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById("shown").textContent = String(shown);
  }
  [status, connector].forEach(function (el) { el.addEventListener("change", apply); });
  search.addEventListener("input", apply);
  document.querySelectorAll("th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0];
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var descending = th.dataset.order !== "desc";
      th.dataset.order = descending ? "desc" : "asc";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[index].dataset.value || a.cells[index].textContent;
        var y = b.cells[index].dataset.value || b.cells[index].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  apply();
})();
