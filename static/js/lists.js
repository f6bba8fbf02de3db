// The portal's live lists (home and "To review"): each list polls itself with the fingerprint it
// was rendered with; the server answers 304 without rendering when nothing changed, and htmx
// must then keep the list as it is (by default it would swap in the empty body).
"use strict";

(function () {
  function isLive(elt) {
    return elt && elt.matches && elt.matches("section.live[data-live-tag]");
  }

  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (isLive(elt)) e.detail.headers["If-None-Match"] = '"' + elt.dataset.liveTag + '"';
  });

  // No polling while the tab is hidden or a row is being dragged (the swap would drop it).
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (isLive(elt) && (document.hidden || elt.querySelector(".dragging, .swiped, .swiped-left, .pending-delete"))) e.preventDefault();
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr && e.detail.xhr.status === 304) e.detail.shouldSwap = false;
  });
})();
