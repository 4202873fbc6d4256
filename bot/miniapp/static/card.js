// The customer card: their story, name and note (a manager may edit them), every call with its recording playable
// in place, and a call back when the server offers one (else the reason it does not).
import { callRow } from "./calls.js";
import { el, fill } from "./dom.js";

let context = null;
let back = null; // what closes the card (the tab it was opened from comes back)
let shownNumber = null;
let scrolledTo = 0;
const tg = window.Telegram?.WebApp;

/** ``close``: what brings back the tab the card was opened from (it calls ``leaveCard``). */
export function setUpCard(ctx, close) {
  context = ctx;
  back = () => {
    close();
    window.scrollTo(0, scrolledTo);
  };
  document.getElementById("card-back").addEventListener("click", back);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && shownNumber !== null) back();
  });
}

/** Hides the card, however the user left it (back, or another tab). */
export function leaveCard() {
  if (shownNumber !== null) {
    tg?.BackButton?.hide();
    tg?.BackButton?.offClick(back);
  }
  shownNumber = null;
  document.getElementById("card").hidden = true;
}

export async function openCard(number) {
  const { api, t } = context;
  if (shownNumber === null) scrolledTo = window.scrollY;
  shownNumber = number;
  for (const panel of document.querySelectorAll("[role=tabpanel]")) panel.hidden = true;
  const section = document.getElementById("card");
  const body = document.getElementById("card-body");
  body.replaceChildren(el("div", { class: "boot" }, el("span", { class: "spinner" })));
  section.hidden = false;
  window.scrollTo(0, 0);
  if (tg?.BackButton && (!tg.isVersionAtLeast || tg.isVersionAtLeast("6.1"))) {
    tg.BackButton.onClick(back);
    tg.BackButton.show();
  }
  let card;
  try {
    card = await api(`customer/${encodeURIComponent(number)}`);
  } catch (error) {
    if (shownNumber === number) body.replaceChildren(el("p", { class: "note", role: "alert" }, error.message));
    return;
  }
  if (shownNumber === number) render(card);
}

function render(card) {
  const { t } = context;
  const body = document.getElementById("card-body");
  const calls = el("ol", { class: "calls" });
  const more = el("div", { class: "more" });
  const parts = [
    el("h2", { id: "card-title", tabindex: "-1" }, card.name || card.shown),
    el("p", { class: "sub" }, card.tel ? el("a", { href: `tel:${card.tel}` }, card.shown) : card.shown),
    card.may_call
      ? callBackButton(card)
      : card.no_call_reason && el("p", { class: "note", id: "card-no-call" }, card.no_call_reason),
    el("h3", {}, t("app_card_story")),
    el("div", { class: "panel" }, el("p", { class: "story-text" }, card.story)),
    card.may_edit ? editor(card) : readOnly(card),
    el("h3", {}, t("app_card_calls")),
    calls,
    more,
  ];
  fill(body, parts);
  addCalls(calls, more, card.calls, card.recordings, card.next);
  document.getElementById("card-title").focus?.();
}

function readOnly(card) {
  const { t } = context;
  if (!card.note) return null;
  return [el("h3", {}, t("app_card_note")), el("div", { class: "panel" }, el("p", { class: "story-text" }, card.note))];
}

function editor(card) {
  const { api, t, toast } = context;
  const says = el("p", { class: "says", role: "alert" });
  // The server's bounds (a name as /name's, a note's names.MAX_NOTE): a longer one is refused, so not typed.
  const name = el("input", { name: "name", value: card.name || "", autocomplete: "off", maxlength: "100" });
  const note = el("textarea", { name: "note", rows: "3", maxlength: "500" }, card.note || "");
  const save = el("button", { type: "submit", class: "primary" }, t("app_card_save"));
  const form = el(
    "form",
    { class: "panel" },
    el("label", {}, t("app_card_name"), name),
    el("label", {}, t("app_card_note"), note),
    says,
    save,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    says.textContent = "";
    try {
      const saved = await api(`customer/${encodeURIComponent(card.number)}`, {
        method: "PUT",
        body: { name: name.value, note: note.value },
      });
      toast(t("app_card_saved"));
      if (shownNumber === card.number) render(saved);
    } catch (error) {
      says.textContent = error.message; // bad input: the server's words, and nothing changed
      save.disabled = false;
    }
  });
  return [el("h3", {}, t("app_card_about")), form];
}

function callBackButton(card) {
  const { t, toast, act } = context;
  const button = el("button", { type: "button", class: "primary", id: "card-call" }, t("app_call_back"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await act(`customer/${encodeURIComponent(card.number)}/callback`);
    } catch (error) {
      toast(error.message);
    } finally {
      button.disabled = false;
    }
  });
  return el("div", { class: "actions" }, button);
}

/** A recording that did not load: played from a new link when its own may have expired, else the reason said. */
async function replay(player, callId, since) {
  const { api, t, mediaFailed } = context;
  const number = shownNumber;
  let words = await mediaFailed(player.src, since);
  if (words === null && shownNumber === number && !player.dataset.renewed) {
    try {
      const renewed = (await api(`customer/${encodeURIComponent(number)}`)).recordings?.[callId];
      if (renewed) {
        player.dataset.renewed = "1"; // once: a second failure is said
        player.src = renewed;
        player.play().catch(() => {});
        return;
      }
    } catch (error) {
      words = error.message;
    }
  }
  const said = player.nextElementSibling?.classList.contains("media-failed")
    ? player.nextElementSibling
    : player.insertAdjacentElement("afterend", el("p", { class: "note media-failed", role: "alert" }));
  said.textContent = words || t("app_media_failed");
}

function addCalls(list, more, rows, recordings, next) {
  const { api, t } = context;
  const since = Date.now(); // the links' age
  const failed = (row) => (player) => replay(player, row.id, since);
  list.append(
    ...rows.map((row) =>
      callRow(t, row, { audio: recordings?.[row.id] ?? null, audioFailed: failed(row), showCustomer: false }),
    ),
  );
  if (next === null || next === undefined) {
    more.replaceChildren();
    return;
  }
  const button = el("button", { type: "button", class: "secondary" }, t("app_more"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    const number = shownNumber;
    try {
      const page = await api(`customer/${encodeURIComponent(number)}/calls?before=${encodeURIComponent(next)}`);
      if (shownNumber === number) addCalls(list, more, page.calls, page.recordings, page.next);
    } catch (error) {
      context.toast(error.message);
      button.disabled = false;
    }
  });
  more.replaceChildren(button);
}
