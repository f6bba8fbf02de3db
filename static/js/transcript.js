// The transcript panel of the player: the segment being played is highlighted, and a search
// narrows the segments to those holding the words typed. Clicking a time seeks (app.js data-seek).
"use strict";

(function () {
  function segments() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-transcript] [data-segment]"));
  }

  document.addEventListener("timeupdate", function (e) {
    if (e.target.tagName !== "AUDIO") return;
    var ms = e.target.currentTime * 1000;
    segments().forEach(function (li) {
      var on = ms >= parseInt(li.dataset.startMs, 10) && ms < parseInt(li.dataset.endMs, 10);
      li.classList.toggle("playing", on);
      if (on) li.setAttribute("aria-current", "true"); else li.removeAttribute("aria-current");
    });
  }, true);

  function mark(span, query) {
    var text = span.dataset.plain === undefined ? span.textContent : span.dataset.plain;
    span.dataset.plain = text;
    span.textContent = "";
    if (!query) { span.textContent = text; return true; }
    var lower = text.toLowerCase(), at = 0, found = false, i;
    while ((i = lower.indexOf(query, at)) !== -1) {
      span.appendChild(document.createTextNode(text.slice(at, i)));
      var m = document.createElement("mark");
      m.textContent = text.slice(i, i + query.length);
      span.appendChild(m);
      at = i + query.length;
      found = true;
    }
    span.appendChild(document.createTextNode(text.slice(at)));
    return found;
  }

  document.addEventListener("input", function (e) {
    var input = e.target.closest("[data-transcript-search]");
    if (!input) return;
    var panel = input.closest("[data-transcript]");
    var query = input.value.trim().toLowerCase();
    var shown = 0;
    segments().forEach(function (li) {
      var hit = mark(li.querySelector("[data-segment-text]"), query);
      li.hidden = !hit;
      if (hit) shown += 1;
    });
    var count = panel.querySelector("[data-transcript-count]");
    count.textContent = query ? count.dataset.found.replace("%s", String(shown)) : "";
  });
})();
