// Enhancements only: every page works without this file.
// Pages marked data-refresh="N" reload themselves every N seconds unless a form has focus.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh") || 0);
  if (seconds > 0) {
    window.setInterval(function () {
      var active = document.activeElement;
      if (!active || ["INPUT", "SELECT", "TEXTAREA"].indexOf(active.tagName) < 0) {
        window.location.reload();
      }
    }, seconds * 1000);
  }
  // Filters apply as soon as they change.
  document.querySelectorAll("form.filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
