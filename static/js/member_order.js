// The swarm composer saves members in the order they are listed: arrows move a member up or down.
// Without JavaScript the listed order stands (a swarm's current members come first, in order).
(function () {
  "use strict";
  function arm(list) {
    Array.prototype.forEach.call(list.children, function (row) {
      row.classList.add("member-row");
      [["\u2191", "Move up", -1], ["\u2193", "Move down", 1]].forEach(function (spec) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "small";
        button.textContent = spec[0];
        button.title = spec[1];
        button.setAttribute("aria-label", spec[1] + ": " + row.textContent.trim());
        button.addEventListener("click", function () {
          var other = spec[2] < 0 ? row.previousElementSibling : row.nextElementSibling;
          if (other) list.insertBefore(spec[2] < 0 ? row : other, spec[2] < 0 ? other : row);
        });
        row.appendChild(button);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    // the widget's list of rows (one per choice) inside each marked container
    document.querySelectorAll("[data-orderable] > div").forEach(arm);
  });
})();
