{% autoescape off %}// The service worker of the installable portal (served from /sw.js so its scope is the whole site).
// It keeps the shell (our CSS/JS, the icons, the offline page) and shows push notifications.
// It NEVER caches or even intercepts audio or anything under /r/, /s/ or /api/: recordings are
// streamed only, and every request for them goes to the server, which checks who may listen.
"use strict";

const CACHE = "hiprecorder-shell-{{ version }}";
const SHELL = {{ shell_json }};
const OFFLINE = SHELL[SHELL.length - 1];
const NEVER = /^\/(r|s|api|push|admin|accounts)\//;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("hiprecorder-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

function handled(request) {
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return false;
  if (NEVER.test(url.pathname)) return false; // recordings, shares, the API: straight to the network
  if (request.destination === "audio" || request.destination === "video" || request.headers.has("Range")) return false;
  return request.mode === "navigate" || SHELL.includes(url.pathname);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (!handled(request)) return;
  if (request.mode === "navigate") {
    // Pages always come from the server (never cached); the offline page only when it is unreachable.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
    return;
  }
  event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
});

// --- push: the keep-or-delete question, with its two buttons -----------------------------------

self.addEventListener("push", (event) => {
  let message = {};
  try { message = event.data ? event.data.json() : {}; } catch (e) { message = {}; }
  const options = {
    body: message.body || "",
    tag: message.tag || undefined,
    icon: SHELL.find((u) => u.includes("icon-192")),
    badge: SHELL.find((u) => u.includes("icon-192")),
    data: { url: message.url || "/", action_url: message.action_url || "", action_token: message.action_token || "" },
    actions: (message.actions || []).map((a) => ({ action: a.action, title: a.title })),
    requireInteraction: Boolean(message.actions && message.actions.length),
  };
  event.waitUntil(self.registration.showNotification(message.title || "HIP Recorder", options));
});

// The buttons decide without opening the portal: they post the single-use token.
function decide(data, answer) {
  const body = new URLSearchParams({ token: data.action_token, answer: answer });
  return fetch(data.action_url, { method: "POST", body: body, credentials: "omit", cache: "no-store" })
    .then((response) => response.json().catch(() => ({ ok: false, error: "" })))
    .then((result) => {
      if (result.ok) return self.registration.showNotification(result.message, { tag: "decided", silent: true });
      return self.registration.showNotification(result.error || "HIP Recorder", { tag: "decided" });
    });
}
self.hiprecorderDecide = decide;

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data || {};
  event.notification.close();
  if ((event.action === "keep" || event.action === "delete") && data.action_url && data.action_token) {
    event.waitUntil(decide(data, event.action));
    return;
  }
  // The body: open (or focus) the recording's player.
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const target = new URL(data.url || "/", self.location.origin).href;
      for (const w of windows) { if (w.url === target && "focus" in w) return w.focus(); }
      return self.clients.openWindow(target);
    })
  );
});
{% endautoescape %}
