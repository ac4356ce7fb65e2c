// The health dashboard's live refresh: every few seconds, fetch the dashboard's JSON and swap
// each part of the page it renders again (summary, exchanges, connections) in place. No
// library; a failed fetch is retried at the next tick and says so next to the clock.
(function () {
  "use strict";
  const root = document.querySelector("[data-dashboard]");
  if (!root) {
    return;
  }
  const source = root.dataset.source;
  const every = Math.max(1, Number(root.dataset.refreshSeconds) || 5) * 1000;
  const clock = root.querySelector("[data-updated]");
  const note = root.querySelector("[data-refresh-status]");
  const shown = new Map();

  function say(text) {
    if (note) {
      note.textContent = text;
    }
  }

  function swap(fragments) {
    for (const [name, html] of Object.entries(fragments)) {
      const part = root.querySelector(`[data-fragment="${name}"]`);
      if (part && shown.get(name) !== html) {
        part.innerHTML = html;
        shown.set(name, html);
      }
    }
  }

  function showTime(iso) {
    root.dataset.generatedAt = iso;
    if (clock) {
      clock.setAttribute("datetime", iso);
      clock.textContent = new Date(iso).toISOString().slice(11, 19);
    }
  }

  async function refresh() {
    try {
      const answer = await fetch(source, {
        credentials: "same-origin", cache: "no-store", headers: {Accept: "application/json"},
      });
      const type = answer.headers.get("Content-Type") || "";
      if (answer.redirected || !type.includes("application/json")) {
        say("· signed out: reload to log in again");
        return;  // the admin's login page answered: stop polling
      }
      if (!answer.ok) {
        throw new Error(`HTTP ${answer.status}`);
      }
      const data = await answer.json();
      swap(data.fragments);
      showTime(data.generatedAt);
      root.dataset.refreshes = String(Number(root.dataset.refreshes || 0) + 1);
      say("");
    } catch (error) {
      say(`· refresh failed (${error.message}), retrying`);
    }
    window.setTimeout(refresh, every);
  }

  window.setTimeout(refresh, every);
})();
