// The dashboard's own script: the model upload with its progress bar.
// The file is streamed as the request body (no form buffering), then pushed to the services;
// the bar shows the bytes sent by the browser, then those pushed to the slowest service.
(function () {
  "use strict";
  function csrf() { return document.body.dataset.csrf; }

  function start(form) {
    // The server chooses the upload's progress id, bound to the signed-in user.
    fetch("/uploads", { method: "POST", headers: { "X-CSRF-Token": csrf() } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (issued) { send(form, issued ? issued.job : ""); });
  }

  function send(form, job) {
    var file = form.querySelector("input[type=file]").files[0];
    var services = Array.prototype.map.call(
      form.querySelectorAll("input[name=service]:checked"), function (box) { return box.value; });
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    if (!file || services.length === 0) { status.textContent = "Choose a file and at least one service."; return; }
    var name = form.elements.name.value || file.name;
    var query = new URLSearchParams({ name: name, description: form.elements.description.value, job: job });
    services.forEach(function (id) { query.append("service", id); });
    // On a server of several models: the model whose store receives the file.
    if (form.elements.model_name) { query.append("model_name", form.elements.model_name.value); }
    var xhr = new XMLHttpRequest();
    var polling = null;
    bar.hidden = false; bar.value = 0;
    status.textContent = "Sending " + file.name + " to the dashboard…";
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) { bar.value = 50 * event.loaded / event.total; }
    };
    xhr.upload.onload = function () {
      status.textContent = "Pushing " + name + " to " + services.length + " service(s)…";
      polling = setInterval(function () {
        fetch("/uploads/" + job).then(function (r) { return r.ok ? r.json() : null; }).then(function (p) {
          if (!p || !p.total) { return; }
          var values = Object.keys(p.sent).map(function (k) { return p.sent[k]; });
          var sent = values.length === services.length ? Math.min.apply(null, values) : 0;
          bar.value = 50 + 50 * sent / p.total;
        });
      }, 300);
    };
    xhr.onloadend = function () {
      if (polling) { clearInterval(polling); }
      var reply = null;
      try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = null; }
      if (reply && reply.outcomes) {
        bar.value = 100;
        status.textContent = reply.outcomes.map(function (o) {
          return o.address + ": " + (o.ok ? "uploaded" : "failed: " + o.message);
        }).join("; ");
        status.dataset.done = reply.outcomes.every(function (o) { return o.ok; }) ? "ok" : "failed";
      } else {
        status.textContent = "Upload failed: " + (reply && reply.detail ? reply.detail : xhr.status);
        status.dataset.done = "failed";
      }
    };
    xhr.open("PUT", form.dataset.uploadUrl + "?" + query.toString());
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.send(file);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (form) {
      form.addEventListener("submit", function (event) { event.preventDefault(); start(form); });
    }
  });
})();
