// Call page: keeps the dial links in step with the chosen line, remembers the line in a cookie,
// and records each click so the outgoing call is logged on this person.
(function () {
  "use strict";
  var root = document.getElementById("call");
  if (!root) return;
  var select = document.getElementById("line");
  var status = document.getElementById("status");
  var mobile = root.dataset.mobile === "true";

  function line() {
    if (!select) return null;
    var opt = select.options[select.selectedIndex];
    return { id: opt.value, number: opt.dataset.number || "" };
  }

  function dialLink(phone) {
    if (!mobile) return "tel:" + phone;
    var l = line();
    var href = "openphone://dial?number=" + encodeURIComponent(phone);
    if (l && l.number) href += "&from=" + encodeURIComponent(l.number);
    return href + "&action=call";
  }

  function refreshLinks() {
    document.querySelectorAll("a.dial").forEach(function (a) {
      a.href = dialLink(a.dataset.phone);
    });
  }

  function record(phone) {
    var l = line();
    if (!l) return Promise.resolve();
    return fetch(root.dataset.clickUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: root.dataset.token, phone: phone, line: l.id }),
      credentials: "same-origin",
      keepalive: true,
    }).then(function (r) {
      status.textContent = r.ok ? "Calling " + phone + " — the call will be logged on this person." : "Could not record the click (" + r.status + ").";
      root.dataset.recorded = r.ok ? phone : "";
    }).catch(function () {
      status.textContent = "Could not record the click.";
    });
  }

  if (select) {
    select.addEventListener("change", function () {
      document.cookie = root.dataset.cookie + "=" + encodeURIComponent(select.value) +
        "; path=" + root.dataset.cookiePath + "; max-age=31536000; samesite=lax";
      refreshLinks();
    });
  }
  document.querySelectorAll("a.dial").forEach(function (a) {
    a.addEventListener("click", function () { record(a.dataset.phone); });
  });
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var phone = b.dataset.phone;
      if (navigator.clipboard) navigator.clipboard.writeText(phone).catch(function () {});
      record(phone);
    });
  });
  refreshLinks();
})();
