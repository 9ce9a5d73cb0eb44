// Fields that name one dataset offer the catalog's datasets as the person types
// (an <input data-suggest="datasets">; the browser shows them through a <datalist>).
(function () {
  "use strict";
  var SUGGEST = "/api/v1/datasets/suggest/?q=";
  document.querySelectorAll('input[data-suggest="datasets"]').forEach(function (input, n) {
    var list = document.createElement("datalist");
    list.id = "suggest-datasets-" + n;
    input.setAttribute("list", list.id);
    input.setAttribute("autocomplete", "off");
    input.after(list);
    var timer = null;
    var asked = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var text = input.value.trim();
      if (text.length < 2 || text === asked) { return; }
      timer = setTimeout(function () {
        asked = text;
        fetch(SUGGEST + encodeURIComponent(text), { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (answer) { return answer.ok ? answer.json() : { results: [] }; })
          .then(function (page) {
            var rows = page.results;  // one page: the API answers at most ten suggestions
            list.replaceChildren.apply(list, rows.map(function (row) {
              var option = document.createElement("option");
              option.value = row.slug;
              option.label = row.name;
              return option;
            }));
          })
          .catch(function () { /* no suggestions: the field still takes what is typed */ });
      }, 150);
    });
  });
})();
