// The author's page, a convenience only: keep a draft every few seconds while the author types, and show the
// fields' fora and findings anew. Everything works without it (Gem saves the file).
(function () {
  "use strict";
  var form = document.getElementById("message-form");
  if (!form) { return; }
  var status = document.getElementById("autosave-status");
  var dirty = false, busy = false, timer = null;

  function send() {
    if (!dirty || busy) { return; }
    dirty = false; busy = true;
    var body = new URLSearchParams(new FormData(form));
    fetch(form.dataset.autosave, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (data) {
        status.textContent = data.stale
          ? data.saved + ". Filen er ændret af en anden, siden du åbnede den: gem for at se begge udgaver."
          : data.saved;
        Object.keys(data.beside).forEach(function (path) {
          var box = document.querySelector('.beside[data-path="' + CSS.escape(path) + '"]');
          if (box) {
            var open = Array.prototype.map.call(box.querySelectorAll("details[open] summary"), function (s) { return s.textContent; });
            box.innerHTML = data.beside[path];
            box.querySelectorAll("details summary").forEach(function (s) {
              if (open.indexOf(s.textContent) >= 0) { s.parentNode.open = true; }
            });
          }
        });
        document.getElementById("general-notes").innerHTML = data.general;
        var button = document.getElementById("send-button");
        if (button && !data.can_send) { button.disabled = true; }
      })
      .catch(function () { dirty = true; status.textContent = "Kladden kunne ikke gemmes lige nu; prøver igen."; })
      .then(function () { busy = false; });
  }

  form.addEventListener("input", function () {
    dirty = true;
    var button = document.getElementById("send-button");
    if (button) { button.disabled = true; document.getElementById("send-hint").textContent = "Gem dine ændringer, før du sender til godkendelse."; }
    clearTimeout(timer);
    timer = setTimeout(send, 1200);
  });
  setInterval(send, 3000);
  form.addEventListener("submit", function () { dirty = false; });
})();
