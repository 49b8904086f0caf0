// The job page's progress bar: polls the page's own JSON until the job ends.
(function () {
  "use strict";
  var bar = document.getElementById("job-progress");
  if (!bar) { return; }
  var url = bar.getAttribute("data-progress-url");
  function text(id, value) { document.getElementById(id).textContent = String(value); }
  function show(p) {
    if (p.percent === null) { bar.removeAttribute("value"); } else { bar.value = p.percent; }
    text("job-percent", p.percent === null ? "" : p.percent + "%");
    var status = document.getElementById("job-status");
    status.textContent = p.status;
    status.className = "status-" + p.status;
    text("job-fetched", p.fetched);
    text("job-created", p.created);
    text("job-updated", p.updated);
    text("job-unchanged", p.unchanged);
    var error = document.getElementById("job-error");
    error.textContent = p.error || "";
    error.hidden = !p.error;
    document.getElementById("job-done").hidden = !p.finished;
    if (!p.finished) { window.setTimeout(poll, 400); }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(show)
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  if (document.getElementById("job-done").hidden) { poll(); }
})();
