// Switchboard dashboard: live sync progress without reloading the page.
// Polls the JSON endpoint named by [data-progress-url] (every data-poll-ms while a run is
// active, every 5 s otherwise) and updates the [data-field] / [data-count] elements.
(function () {
  "use strict";
  var panel = document.querySelector("[data-progress-url]");
  if (!panel) return;
  var url = panel.getAttribute("data-progress-url");
  var fast = parseInt(panel.getAttribute("data-poll-ms") || "1000", 10);
  var polls = 0;

  function field(name) { return panel.querySelector('[data-field="' + name + '"]'); }
  function setText(name, value) {
    var el = field(name);
    if (el) el.textContent = value === null || value === undefined ? "\u2014" : String(value);
  }
  function duration(s) {
    if (s === null || s === undefined) return "\u2014";
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    return Math.floor(s / 3600) + " h" + (s % 3600 >= 60 ? " " + Math.floor((s % 3600) / 60) + " min" : "");
  }
  function render(data) {
    var p = data.progress;
    var none = panel.querySelector('[data-when="none"]');
    var run = panel.querySelector('[data-when="run"]');
    if (none) none.hidden = !!p;
    if (run) run.hidden = !p;
    if (p) {
      ["run_id", "kind", "done", "total", "created", "updated", "unchanged", "skipped", "failed",
       "rate_per_s"].forEach(function (k) { setText(k, p[k]); });
      setText("eta", p.status === "running" || p.status === "queued" ? duration(p.eta_s) : "\u2014");
      setText("elapsed", duration(p.elapsed_s));
      var st = field("status");
      if (st) { st.textContent = p.status; st.className = "badge run-" + p.status; }
      var err = field("error");
      if (err) { err.textContent = p.error || ""; err.hidden = !p.error; }
      var bar = document.getElementById("sync-bar");
      if (bar) {
        if (p.total === null || p.total === undefined) { bar.removeAttribute("value"); }
        else { bar.max = Math.max(p.total, 1); bar.value = Math.min(p.done, bar.max); }
      }
      var reasons = field("skip_reasons");
      if (reasons) {
        var keys = Object.keys(p.skip_reasons || {}).sort();
        if (keys.length) {
          var table = document.createElement("table");
          table.className = "grid compact";
          var head = table.createTHead().insertRow();
          ["Skip reason", "people"].forEach(function (h) {
            var th = document.createElement("th"); th.textContent = h; head.appendChild(th);
          });
          var body = table.createTBody();
          keys.forEach(function (k) {
            var row = body.insertRow();
            row.insertCell().textContent = k;
            row.insertCell().textContent = String(p.skip_reasons[k]);
          });
          reasons.replaceChildren(table);
        } else {
          reasons.replaceChildren();
        }
      }
    }
    var counts = data.counts || {};
    var all = 0;
    Object.keys(counts).forEach(function (k) { all += counts[k]; });
    document.querySelectorAll("[data-count]").forEach(function (el) {
      var k = el.getAttribute("data-count");
      el.textContent = String(k === "all" ? all : (counts[k] || 0));
    });
    return p && (p.status === "running" || p.status === "queued");
  }
  function tick() {
    var active = false;
    var live = field("live");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        active = render(data);
        polls += 1;
        panel.setAttribute("data-polls", String(polls));
        if (live) { live.textContent = "live \u00b7 updated " + new Date().toLocaleTimeString(); live.classList.remove("stale"); }
      })
      .catch(function (e) {
        if (live) { live.textContent = "not updating (" + e.message + ")"; live.classList.add("stale"); }
      })
      .then(function () { setTimeout(tick, active ? fast : Math.max(fast, 5000)); });
  }
  setTimeout(tick, fast);
})();

// "Add connection": check the pasted Quo key without reloading (the key never comes back in a
// page) and offer the workspace's lines as checkboxes.
(function () {
  "use strict";
  var button = document.querySelector("[data-quo-check]");
  if (!button) return;
  var result = document.getElementById("quo-check-result");
  var lines = document.getElementById("quo-lines");
  function say(text, bad) {
    result.textContent = text;
    result.className = bad ? "notice bad" : "notice";
  }
  button.addEventListener("click", function () {
    var body = new URLSearchParams();
    body.set("quo_api_key", document.getElementById("quo-api-key").value);
    body.set("quo_base_url", document.getElementById("quo-base-url").value);
    say("Checking…", false);
    fetch(button.getAttribute("data-quo-check"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (!data.ok) { say(data.message || data.error || "The key was refused.", true); return; }
      var legend = lines.querySelector("legend");
      lines.replaceChildren(legend);
      data.lines.forEach(function (line) {
        var label = document.createElement("label");
        label.className = "check";
        var box = document.createElement("input");
        box.type = "checkbox"; box.name = "line"; box.value = line.id;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + (line.name || line.id) + " " + line.number));
        lines.appendChild(label);
      });
      lines.hidden = false;
      var hooks = Object.keys(data.webhooks).filter(function (k) { return data.webhooks[k]; });
      say("Key OK: " + data.lines.length + " lines; bulk contacts " +
          (data.bulk_contacts ? "available" : "NOT available") +
          "; webhooks " + (hooks.join(", ") || "none"), !data.bulk_contacts);
    }).catch(function () { say("Could not check the key.", true); });
  });
})();
