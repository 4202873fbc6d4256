// One call as the journal and the customer card show it: the time, the direction, the customer's name or number,
// who talked, how long, and what became of a miss.
import { el } from "./dom.js";

const ARROWS = { in: "↙", out: "↗" };

function kindKey(row) {
  if (row.missed) return row.direction === "out" ? "app_call_out_missed" : "app_call_missed";
  return row.direction === "out" ? "app_call_out" : "app_call_in";
}

/** A day's heading, when ``row`` starts a new day after ``previousDay``. */
export function dayHeading(row, previousDay) {
  return row.day !== previousDay ? el("li", { class: "day", role: "presentation" }, row.day) : null;
}

/**
 * ``open``: what pressing the row does (the journal opens the customer's card); ``audio``: the recording's URL,
 * played in place (the card); ``audioFailed(player)``: what its failure to load does.
 */
export function callRow(t, row, { open = null, audio = null, audioFailed = null, showCustomer = true } = {}) {
  const customer = row.customer || {};
  const title = showCustomer ? customer.name || customer.shown : t(kindKey(row));
  const details = [showCustomer && customer.name ? customer.shown : null, row.member, row.talk].filter(Boolean);
  const recorded = row.recording && !audio;
  const body = [
    el("span", { class: "dir", "aria-hidden": "true" }, ARROWS[row.direction] || "•"),
    el(
      "span",
      { class: "who" },
      showCustomer ? el("span", { class: "sr" }, t(kindKey(row)) + ": ") : null,
      el("span", { class: "name" }, title),
      details.length || recorded
        ? el(
            "span",
            { class: "sub" },
            details.join(" · "),
            recorded ? [" ", el("span", { class: "rec", role: "img", "aria-label": t("app_call_recording") })] : null,
          )
        : null,
      row.outcome ? el("span", { class: "outcome" }, row.outcome) : null,
    ),
    el("span", { class: "time" }, row.time),
  ];
  const classes = ["call", row.direction, row.missed ? "missed" : ""].join(" ").trim();
  const line = open
    ? el("button", { type: "button", class: "line", on: { click: () => open(customer.number) } }, body)
    : el("div", { class: "line" }, body);
  return el(
    "li",
    { class: classes, dataset: { id: row.id } },
    line,
    audio
      ? el("audio", {
          controls: true,
          preload: "none", // fetched when played: a card's open costs no download
          src: audio,
          "aria-label": t("app_call_recording"),
          on: { error: (event) => audioFailed?.(event.target) },
        })
      : null,
  );
}
