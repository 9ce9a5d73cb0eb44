// Main navigation: one menu open at a time; a click elsewhere or Escape closes it.
(function () {
  "use strict";
  var menus = Array.prototype.slice.call(document.querySelectorAll(".main-nav details.nav-group"));
  function closeAll(except) {
    menus.forEach(function (menu) { if (menu !== except) { menu.open = false; } });
  }
  menus.forEach(function (menu) {
    menu.addEventListener("toggle", function () { if (menu.open) { closeAll(menu); } });
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest(".main-nav")) { closeAll(null); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { closeAll(null); }
  });
})();
