// A filter box over long lists of checkboxes (regions, countries): type to narrow the list.
// Progressive enhancement from a static file (pages run under a strict Content-Security-Policy):
// without it the whole list is still there to tick.
(function () {
  "use strict";

  function matches(label, words) {
    var text = label.textContent.toLowerCase();
    return words.every(function (word) {
      return text.indexOf(word) !== -1;
    });
  }

  function countTicked(list) {
    return list.querySelectorAll("input[type=checkbox]:checked").length;
  }

  function enhance(list) {
    var labels = Array.prototype.slice.call(list.querySelectorAll("label"));
    var bar = document.createElement("div");
    bar.className = "checklist-tools";
    var input = document.createElement("input");
    input.type = "search";
    input.className = "checklist-filter";
    input.placeholder = list.dataset.filterLabel + "…";
    input.setAttribute("aria-label", list.dataset.filterLabel);
    var status = document.createElement("span");
    status.className = "checklist-status muted";
    status.setAttribute("aria-live", "polite");
    bar.appendChild(input);
    bar.appendChild(status);
    list.parentNode.insertBefore(bar, list);

    function refresh() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      labels.forEach(function (label) {
        var ticked = label.querySelector("input").checked;
        var visible = ticked || matches(label, words);
        label.hidden = !visible;
        shown += visible ? 1 : 0;
      });
      status.textContent = countTicked(list) + " ticked" +
        (words.length ? ", " + shown + " shown" : "");
    }

    input.addEventListener("input", refresh);
    // Enter in the filter box must not submit the form.
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
      }
    });
    list.addEventListener("change", refresh);
    refresh();
  }

  document.querySelectorAll(".checklist[data-filter-label]").forEach(enhance);
})();
