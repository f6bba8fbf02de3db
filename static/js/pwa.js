// The installable app: registers the service worker, and the "notifications in this browser"
// switch (Web Push). No inline scripts: the Content-Security-Policy forbids them.
"use strict";

(function () {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* the portal works without */ });
  }

  var box = document.querySelector("[data-push-toggle]");
  if (!box) return;
  var state = box.querySelector("[data-push-state]");
  var on = box.querySelector("[data-push-on]");
  var off = box.querySelector("[data-push-off]");

  function csrf() {
    var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    return headers["X-CSRFToken"] || "";
  }
  function show(key) {
    var t = box.querySelector('template[data-text="' + key + '"]');
    state.textContent = t ? t.content.textContent : "";
    on.hidden = key !== "off";
    off.hidden = key !== "on";
    box.dataset.pushStatus = key;
  }
  function keyBytes(b64) {
    var s = (b64 + "===".slice((b64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(s), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body),
    }).then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
  }
  function registration() { return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () { return navigator.serviceWorker.ready; }); }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) { show("unsupported"); return; }
  if (Notification.permission === "denied") { show("denied"); return; }
  registration().then(function (reg) { return reg.pushManager.getSubscription(); })
    .then(function (sub) { show(sub ? "on" : "off"); })
    .catch(function () { show("unsupported"); });

  on.addEventListener("click", function () {
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { show(permission === "denied" ? "denied" : "off"); return null; }
      return registration()
        .then(function (reg) { return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(box.dataset.vapidKey) }); })
        .then(function (sub) { return post(box.dataset.subscribeUrl, sub.toJSON()); })
        .then(function () { show("on"); });
    }).catch(function () { show("error"); });
  });
  off.addEventListener("click", function () {
    registration().then(function (reg) { return reg.pushManager.getSubscription(); })
      .then(function (sub) {
        if (!sub) return null;
        return post(box.dataset.unsubscribeUrl, { endpoint: sub.endpoint }).catch(function () { return null; })
          .then(function () { return sub.unsubscribe(); });
      })
      .then(function () { show("off"); })
      .catch(function () { show("error"); });
  });
})();
