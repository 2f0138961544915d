// hostgate console: live notice cards (Server-Sent Events), locale switching and trail verification.
"use strict";

(() => {
  const cards = document.getElementById("cards");
  const picker = document.getElementById("locale");
  const live = document.getElementById("live");

  const showState = (state, text) => {
    if (!live) return;
    live.dataset.state = state;
    live.textContent = text;
  };

  const refresh = async (changed) => {
    const locale = picker ? picker.value : "";
    const response = await fetch(`${cards.dataset.cards}?locale=${encodeURIComponent(locale)}`, {
      credentials: "same-origin",
    });
    if (!response.ok) {
      showState("error", `could not refresh (${response.status})`);
      return;
    }
    // Server-rendered and autoescaped by the gateway itself.
    cards.innerHTML = await response.text();
    for (const id of changed) {
      const card = document.getElementById(`card-${id}`);
      if (card) card.classList.add("updated");
    }
  };

  if (picker) {
    picker.addEventListener("change", () => {
      const url = new URL(window.location.href);
      url.searchParams.set("locale", picker.value);
      if (!cards) {
        window.location.assign(url);
        return;
      }
      window.history.replaceState(null, "", url);
      refresh([]);
    });
  }

  if (cards && window.EventSource) {
    const source = new EventSource(cards.dataset.live);
    source.addEventListener("open", () => showState("live", "live"));
    source.addEventListener("error", () => showState("reconnecting", "reconnecting…"));
    source.addEventListener("revision", (event) => {
      const moved = JSON.parse(event.data);
      showState("live", `live · updated ${new Date().toLocaleTimeString()}`);
      refresh(moved.map((change) => change.business_id));
    });
  }

  const verify = document.getElementById("verify");
  const result = document.getElementById("verify-result");
  if (verify && result) {
    verify.addEventListener("click", async () => {
      verify.disabled = true;
      result.dataset.status = "running";
      result.textContent = "verifying…";
      try {
        const response = await fetch(verify.dataset.url, { method: "POST", credentials: "same-origin" });
        const report = await response.json();
        if (!response.ok) throw new Error(report.error ? report.error.message : response.statusText);
        result.dataset.status = report.status;
        result.textContent = report.summary;
      } catch (error) {
        result.dataset.status = "error";
        result.textContent = `verification failed to run: ${error.message}`;
      } finally {
        verify.disabled = false;
      }
    });
  }
})();
