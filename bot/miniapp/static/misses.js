// The open misses: each with its owner and deadline, and Take, Release, Call back and Done, the alert's own actions
// on the server. Refreshed every few seconds while on screen.
import { el } from "./dom.js";

const REFRESH_MS = 5000;

export function setUpMisses({ api, t, toast, act, openCard }) {
  const section = document.getElementById("misses");
  const list = document.getElementById("misses-list");
  const note = document.getElementById("misses-note");
  const count = document.getElementById("misses-count");
  const shownAs = new Map(); // miss id → the JSON it was last drawn from, so a refresh redraws only what changed
  let timer = 0;
  let busy = 0; // actions under way: a refresh then waits, not to redraw buttons mid-press
  let wanted = null; // the miss the app was opened on (start.miss), until it has been shown

  function item(miss) {
    const actions = [
      miss.mine ? ["release", "app_release"] : ["take", "app_take"],
      ["callback", "app_call_back"],
      ["done", "app_done"],
    ];
    const customer = miss.customer;
    return el(
      "li",
      { class: `miss${miss.overdue ? " overdue" : ""}`, dataset: { id: miss.id } },
      el(
        "div",
        { class: "head" },
        el("button", { type: "button", on: { click: () => openCard(customer.number) } }, customer.name || customer.shown),
        el("span", { class: "meta" }, `${miss.day}, ${miss.time}`),
      ),
      customer.name ? el("p", { class: "meta" }, customer.shown) : null,
      el("p", { class: "meta" }, miss.chat),
      miss.story ? el("p", { class: "story" }, miss.story) : null,
      el(
        "p",
        { class: "meta" },
        miss.owner ? t("app_miss_owner", { name: miss.owner.name }) : t("app_miss_no_owner"),
        miss.deadline_text ? ` · ${t("app_miss_deadline", { deadline: miss.deadline_text })} ` : null,
        miss.overdue ? el("span", { class: "badge" }, t("app_miss_overdue")) : null,
      ),
      miss.state === "calling" ? el("p", { class: "meta" }, t("app_miss_calling", { name: miss.calling_by || "" })) : null,
      el(
        "div",
        { class: "actions" },
        actions.map(([action, label]) =>
          el(
            "button",
            {
              type: "button",
              class: "action",
              dataset: { action },
              disabled: action === "callback" && miss.state === "calling",
              on: { click: () => press(miss.id, action) },
            },
            t(label),
          ),
        ),
      ),
    );
  }

  function draw({ misses, more = 0 }) {
    const focused = document.activeElement?.closest?.(".miss");
    const focus = focused && { id: focused.dataset.id, action: document.activeElement.dataset.action };
    const items = misses.map((miss) => {
      const json = JSON.stringify(miss);
      const old = list.querySelector(`.miss[data-id="${CSS.escape(String(miss.id))}"]`);
      if (old && shownAs.get(String(miss.id)) === json) return old;
      shownAs.set(String(miss.id), json);
      return item(miss);
    });
    list.replaceChildren(...items);
    if (focus && !focused.isConnected) {
      const again = list.querySelector(`.miss[data-id="${CSS.escape(focus.id)}"] [data-action="${focus.action}"]`);
      again?.focus();
    }
    count.textContent = String(misses.length + more);
    count.hidden = misses.length === 0;
    note.textContent = misses.length ? t("app_misses_more", { count: more }) : t("app_misses_empty");
    note.hidden = misses.length > 0 && !more;
    if (wanted !== null) showWanted();
  }

  function showWanted() {
    const found = list.querySelector(`.miss[data-id="${CSS.escape(String(wanted))}"]`);
    wanted = null;
    if (!found) {
      toast(t("app_miss_gone"));
      return;
    }
    found.classList.add("wanted");
    found.scrollIntoView({ block: "center" });
    found.querySelector("[data-action]")?.focus();
  }

  let inFlight = null;
  /** Draws the open misses now and again in REFRESH_MS while they are on screen; one request at a time. */
  function refresh() {
    inFlight ??= (async () => {
      clearTimeout(timer);
      if (!busy) {
        try {
          draw(await api("misses"));
        } catch (error) {
          note.textContent = error.message;
          note.hidden = false;
        }
      }
      if (!section.hidden && document.visibilityState === "visible") timer = setTimeout(refresh, REFRESH_MS);
    })().finally(() => (inFlight = null));
    return inFlight;
  }

  /** One press: the action (``act``: a question asked, a yes posted once more with its token), then the list anew. */
  async function press(id, action) {
    const buttons = list.querySelectorAll(`.miss[data-id="${CSS.escape(String(id))}"] button[data-action]`);
    for (const button of buttons) button.disabled = true;
    busy += 1;
    try {
      await act(`misses/${encodeURIComponent(id)}/${action}`);
    } catch (error) {
      toast(error.message);
    } finally {
      busy -= 1;
      shownAs.delete(String(id)); // redrawn from the server's state, whatever happened
    }
    await inFlight; // (one that started before the action would draw the old state)
    await refresh();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !section.hidden) refresh();
  });
  return {
    count() {
      if (!inFlight && !list.childElementCount) refresh();
    },
    shown({ miss = null } = {}) {
      if (miss !== null) wanted = miss;
      refresh();
    },
    hidden() {
      clearTimeout(timer);
    },
  };
}
