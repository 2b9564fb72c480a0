// The traffic panel's split: each version's slider and number field move together, and the
// sum of the weights is shown as they change. Without this script the fields alone work.
(function () {
  "use strict";
  function sum(form) {
    var total = 0;
    form.querySelectorAll("input[type=number][name^='weight:']").forEach(function (field) {
      var value = parseFloat(field.value);
      if (!isNaN(value)) { total += value; }
    });
    var out = document.getElementById("split-sum");
    if (out) { out.textContent = String(Math.round(total * 1000) / 1000); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("split-form");
    if (!form) { return; }
    form.querySelectorAll("input[type=range][data-weight]").forEach(function (slider) {
      var field = document.getElementById(slider.dataset.weight);
      slider.addEventListener("input", function () { field.value = slider.value; sum(form); });
      field.addEventListener("input", function () { slider.value = field.value; sum(form); });
    });
  });
})();
