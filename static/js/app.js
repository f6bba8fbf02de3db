// Our own behaviour. No inline scripts anywhere: the Content-Security-Policy forbids them.
// Everything is delegated from document, so rows and panels swapped in by htmx work at once.
"use strict";

(function () {
  function audioOf(el) {
    var box = el.closest("[data-player]") || document.querySelector("[data-player]");
    return box ? box.querySelector("audio") : document.getElementById("audio");
  }

  // --- the player: waveform progress, seeking, skip buttons, comment positions ---------------
  function updateProgress(audio) {
    var box = audio.closest("[data-player]");
    if (!box) return;
    var rect = box.querySelector("[data-progress]");
    var duration = audio.duration || (parseInt(box.dataset.durationMs, 10) / 1000) || 0;
    if (rect && duration > 0 && isFinite(duration)) {
      rect.setAttribute("width", String(Math.min(100, (audio.currentTime / duration) * 100)));
    }
  }

  function seekTo(audio, seconds, play) {
    if (!audio) return;
    var box = audio.closest("[data-player]");
    var max = audio.duration || (box ? parseInt(box.dataset.durationMs, 10) / 1000 : 0);
    if (max && isFinite(max)) seconds = Math.min(Math.max(0, seconds), max);
    audio.currentTime = Math.max(0, seconds);
    updateProgress(audio);
    if (play) {
      var p = audio.play();
      if (p && p.catch) p.catch(function () {});
    }
  }

  document.addEventListener("timeupdate", function (e) {
    if (e.target.tagName === "AUDIO") updateProgress(e.target);
  }, true);

  document.addEventListener("click", function (e) {
    var wave = e.target.closest("[data-waveform]");
    if (wave) {
      var audio = audioOf(wave);
      var box = wave.getBoundingClientRect();
      var duration = audio.duration || parseInt(wave.closest("[data-player]").dataset.durationMs, 10) / 1000;
      seekTo(audio, ((e.clientX - box.left) / box.width) * duration, true);
      return;
    }
    var seek = e.target.closest("[data-seek]");
    if (seek) {
      seekTo(audioOf(seek), parseInt(seek.dataset.seek, 10) / 1000, true);
      return;
    }
    var skip = e.target.closest("[data-skip]");
    if (skip) {
      var a = audioOf(skip);
      seekTo(a, a.currentTime + parseFloat(skip.dataset.skip), false);
      return;
    }
    var use = e.target.closest("[data-use-position]");
    if (use) {
      var input = document.getElementById(use.dataset.usePosition);
      var au = document.getElementById("audio");
      if (input && au) {
        var t = Math.floor(au.currentTime);
        input.value = Math.floor(t / 60) + ":" + String(t % 60).padStart(2, "0");
        input.focus();
      }
      return;
    }
    var share = e.target.closest("[data-web-share]");
    if (share && navigator.share) {
      navigator.share({ title: document.title, url: share.dataset.webShare }).catch(function () {});
    }
  });

  // Web Share API: offer the button only where the browser has it (phones).
  function revealWebShare(root) {
    if (!navigator.share) return;
    root.querySelectorAll("[data-web-share]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { revealWebShare(document); });
  document.addEventListener("htmx:afterSwap", function (e) { revealWebShare(e.target.parentNode || document); });

  // --- swipe an unsaved row: right uncovers "keep it" (keeps, opens the player), left uncovers
  // "delete" (deleted after a few seconds unless undone). The row's buttons do the same.
  var THRESHOLD = 70;
  var UNDO_MS = 5000;
  var drag = null;

  function unswipe(row) {
    row.classList.remove("swiped", "swiped-left");
  }

  document.addEventListener("touchstart", function (e) {
    var row = e.target.closest("[data-swipe-keep]");
    if (!row || e.touches.length !== 1 || e.target.closest(".swipe-action, .undo")) return;
    drag = { row: row, x: e.touches[0].clientX, y: e.touches[0].clientY, dx: 0, horizontal: null };
  }, { passive: true });

  document.addEventListener("touchmove", function (e) {
    if (!drag) return;
    var dx = e.touches[0].clientX - drag.x;
    var dy = e.touches[0].clientY - drag.y;
    if (drag.horizontal === null && (Math.abs(dx) > 8 || Math.abs(dy) > 8)) {
      drag.horizontal = Math.abs(dx) > Math.abs(dy);
    }
    if (!drag.horizontal) return;
    drag.dx = Math.max(-140, Math.min(dx, 140));
    unswipe(drag.row);
    drag.row.classList.add("dragging");
    drag.row.classList.toggle("dragging-right", drag.dx > 0);
    drag.row.classList.toggle("dragging-left", drag.dx < 0);
    drag.row.querySelector(".row-body").style.transform = "translateX(" + drag.dx + "px)";
  }, { passive: true });

  function endDrag() {
    if (!drag) return;
    var row = drag.row;
    row.classList.remove("dragging", "dragging-right", "dragging-left");
    row.querySelector(".row-body").style.transform = "";
    if (drag.horizontal && Math.abs(drag.dx) >= THRESHOLD) {
      var right = drag.dx > 0;
      row.classList.add(right ? "swiped" : "swiped-left");
      var action = row.querySelector(right ? ".swipe-keep" : ".swipe-delete");
      if (action) action.focus();
      row.dispatchEvent(new CustomEvent("recording:swiped", { bubbles: true, detail: { right: right } }));
    }
    drag = null;
  }
  document.addEventListener("touchend", endDrag);
  document.addEventListener("touchcancel", endDrag);

  // A swipe is not a tap: do not follow the row's link when the finger moved sideways.
  document.addEventListener("click", function (e) {
    var row = e.target.closest("[data-swipe-keep].swiped, [data-swipe-keep].swiped-left");
    if (row && e.target.closest(".row-link")) {
      e.preventDefault();
      unswipe(row);
    }
  }, true);

  // Delete with an undo instead of a dialog: the row makes way for "Deleted. Undo" and the
  // decision is sent when the undo time is over (the same decision view the review view uses).
  document.addEventListener("click", function (e) {
    var trigger = e.target.closest("[data-undo-delete]");
    if (!trigger || !window.htmx) return;
    var row = trigger.closest("li.recording");
    var undo = row && row.querySelector(".undo");
    if (!undo) return;
    e.preventDefault();
    unswipe(row);
    row.classList.add("pending-delete");
    undo.hidden = false;
    var button = undo.querySelector("[data-undo]");
    if (button) button.focus();
    var url = trigger.dataset.undoDelete;
    row._undoTimer = window.setTimeout(function () {
      window.htmx.ajax("POST", url, { source: row, target: row, swap: "outerHTML" });
    }, UNDO_MS);
  });

  document.addEventListener("click", function (e) {
    if (!e.target.closest("[data-undo]")) return;
    var row = e.target.closest("li.recording");
    window.clearTimeout(row._undoTimer);
    row.classList.remove("pending-delete");
    row.querySelector(".undo").hidden = true;
    var link = row.querySelector(".row-link");
    if (link) link.focus();
  });

  // "Print / save as PDF" on documents (the processing register): the browser's own print dialog.
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-print]")) window.print();
  });
})();
