// The portal's live lists (home and "To review"): each list polls itself with the tag it was
// rendered with; the server answers 304 without rendering when nothing changed, and htmx must then
// keep the list as it is (by default it would swap in the empty body). A poll that brings changes
// is merged into the list in place: rows of the fresh first page replace their old selves (only
// when they differ), new rows go in at their place, rows gone from the first page's range go,
// and the rows the person scrolled down to (and the "more" link after them) stay.
// The countdowns ("verwijderd over 2 dagen") tick by themselves: the expiry time is in
// data-expires (ISO 8601), the words in the page's language in #countdown-text (JSON).
"use strict";

(function () {
  function isLive(elt) {
    return elt && elt.matches && elt.matches("section.live[data-live-tag]");
  }

  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (isLive(elt)) e.detail.headers["If-None-Match"] = '"' + elt.dataset.liveTag + '"';
  });

  // No polling while the tab is hidden or a row is being dragged (the merge would drop it).
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (isLive(elt) && (document.hidden || elt.querySelector(".dragging, .swiped, .swiped-left, .pending-delete"))) e.preventDefault();
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr && e.detail.xhr.status === 304) {
      e.detail.shouldSwap = false;
      return;
    }
    var section = e.detail.elt;
    if (!isLive(section) || e.detail.target !== section || !e.detail.xhr || e.detail.xhr.status !== 200) return;
    // Only the list's own poll is merged: a filter form or search that targets the list swaps it
    // whole (its rows are another selection) and pushes its URL, which a cancelled swap would not.
    var asker = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (asker !== section) return;
    var parsed = document.createElement("template");
    parsed.innerHTML = e.detail.serverResponse;
    var fresh = parsed.content.querySelector("section.live[data-live-tag]");
    var oldList = section.querySelector(":scope > ul.recordings");
    var newList = fresh && fresh.querySelector(":scope > ul.recordings");
    if (!oldList || !newList) return; // from or to the empty state: htmx swaps the whole section
    e.detail.shouldSwap = false;
    parsed.content.querySelectorAll("[hx-swap-oob]").forEach(function (part) {
      var old = part.id && document.getElementById(part.id);
      part.removeAttribute("hx-swap-oob");
      if (old) {
        old.replaceWith(part);
        htmx.process(part);
      }
    });
    merge(oldList, newList);
    section.dataset.liveTag = fresh.dataset.liveTag;
    tick();
  });

  function sortKey(row) {
    return row.dataset.sort || "";
  }

  // A row is unchanged when only its forms' CSRF tokens differ (masked anew on every render):
  // it then stays as it is, with the focus or selection the person has in it.
  function plain(row) {
    return row.outerHTML.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "");
  }

  function same(a, b) {
    return plain(a) === plain(b);
  }

  function merge(oldList, newList) {
    var freshRows = Array.prototype.filter.call(newList.children, function (li) {
      return !li.classList.contains("more");
    });
    var freshMore = newList.querySelector(":scope > li.more");
    // The fresh first page covers the newest rows down to its last one; with no "more" link it
    // is the whole list.
    var last = freshRows.length ? sortKey(freshRows[freshRows.length - 1]) : "";
    var coversAll = !freshMore;
    var ids = {};
    freshRows.forEach(function (li) {
      if (li.id) ids[li.id] = true;
    });
    var beyond = 0;
    Array.prototype.slice.call(oldList.children).forEach(function (li) {
      if (li.classList.contains("more") || ids[li.id]) return;
      var key = sortKey(li);
      if (coversAll || !key || key >= last) li.remove(); // gone (or a processing row that ended)
      else beyond += 1; // scrolled to, below the fresh page: kept
    });
    var place = oldList.firstElementChild;
    freshRows.forEach(function (row) {
      var node = row.id ? document.getElementById(row.id) : null;
      if (node && node.parentNode !== oldList) node = null;
      if (node && !same(node, row)) {
        var wasPlace = node === place;
        node.replaceWith(row);
        htmx.process(row);
        if (wasPlace) place = row;
        node = row;
      } else if (!node) {
        oldList.insertBefore(row, place);
        htmx.process(row);
        return;
      }
      if (node !== place) oldList.insertBefore(node, place);
      place = node.nextElementSibling;
    });
    var oldMore = oldList.querySelector(":scope > li.more");
    if (!beyond) {
      // Nothing scrolled to below the fresh page: its "more" link is the one to follow.
      if (oldMore) oldMore.remove();
      if (freshMore) {
        oldList.appendChild(freshMore);
        htmx.process(freshMore);
      }
    }
  }

  // --- countdowns ---------------------------------------------------------------------------

  var words = null;
  var plural = null;

  function say(unit, n) {
    var forms = words[unit];
    return (forms[plural.select(n)] || forms.other).replace("%(n)d", String(n));
  }

  function countdownText(left) {
    // The same steps as the server's expiry_text (recordings/templatetags/portal.py).
    if (left <= 0) return words.soon;
    var hours = Math.floor(left / 3600000);
    if (hours >= 48) return say("day", Math.floor(hours / 24));
    if (hours >= 1) return say("hour", hours);
    return say("minute", Math.max(1, Math.floor(left / 60000)));
  }

  function tick() {
    if (!words) {
      var source = document.getElementById("countdown-text");
      if (!source) return;
      words = JSON.parse(source.textContent);
      plural = new Intl.PluralRules(document.documentElement.lang || "en");
    }
    var now = Date.now();
    document.querySelectorAll("[data-expires]").forEach(function (node) {
      var at = Date.parse(node.dataset.expires);
      if (isNaN(at)) return;
      var text = countdownText(at - now);
      if (node.textContent !== text) node.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
  setInterval(tick, 15000);
})();
