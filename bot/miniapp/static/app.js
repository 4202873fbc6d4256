// The Mini App's page: boots from /app/api/me (who, the language's texts, the members), then the three tabs and the
// customer card. Every request carries Telegram's signed initData; the server decides everything else.
import { leaveCard, openCard, setUpCard } from "./card.js";
import { el, fill } from "./dom.js";
import { FIRST_PAGE, setUpJournal } from "./journal.js";
import { setUpMisses } from "./misses.js";
import { setUpReports } from "./reports.js";

const tg = window.Telegram?.WebApp;
const API = new URL("api/", location.href);
// Outside Telegram (the demo in a desktop browser) the signed data comes in the address's fragment, as Telegram's
// own script reads it.
const initData = tg?.initData || new URLSearchParams(location.hash.slice(1)).get("tgWebAppData") || "";
// Before /me answers there is no catalog: the words its failure needs (bot/texts' own, kept alike by a browser test),
// in the language the server would pick (ru unless the user's starts with "en").
const BEFORE_TEXTS = {
  ru: {
    app_error_network: "Нет связи с сервером. Проверьте интернет и попробуйте ещё раз.",
    app_error_server: "Сервер не смог ответить. Попробуйте ещё раз чуть позже.",
  },
  en: {
    app_error_network: "Cannot reach the server. Check the connection and try again.",
    app_error_server: "The server could not answer. Try again a little later.",
  },
};
// A media URL's token lives 10 minutes (bot/miniapp/auth.py's LINK_SECONDS): one this old may have expired.
const LINK_MAY_BE_OLD_MS = 9 * 60 * 1000;
// Refusals that close the whole page (who the user is); anything else is said where it happened.
const SHUT_OUT = new Set(["auth_missing", "auth_invalid", "auth_expired", "stranger", "member_gone"]);

function userLanguage() {
  let code = navigator.language;
  try {
    code = JSON.parse(new URLSearchParams(initData).get("user")).language_code || code;
  } catch {
    // no user in the data: the browser's language
  }
  return String(code).startsWith("en") ? "en" : "ru";
}

let texts = BEFORE_TEXTS[userLanguage()];

/** The catalog's text for ``key``, with ``{name}`` placeholders filled in. */
export function t(key, values = {}) {
  const template = texts[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** One request to the API; never repeated here (a call back must not be placed twice). */
export async function api(path, { method = "GET", body, signal, media = false } = {}) {
  const headers = { Authorization: `tma ${initData}` };
  if (media) headers.Range = "bytes=0-0"; // a byte is enough to know it is served
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, API), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", t("app_error_network"));
  }
  const data = await response.json().catch(() => null);
  if (response.ok && (data || media)) return data;
  const error = new ApiError(response.status, data?.error || "http", data?.message || t("app_error_server"));
  if (SHUT_OUT.has(error.code) || response.status === 401) shutOut(error.message);
  throw error;
}

/**
 * Why an ``<audio>``'s or ``<img>``'s ``url``, given ``since`` (Date.now()), failed to load: the server's words when it
 * refuses this user (asked with initData, not the URL's token), null when it serves it and the link may have expired
 * (get a new one), else a general word.
 */
export async function mediaFailed(url, since) {
  try {
    await api(url, { media: true });
  } catch (error) {
    return error.message;
  }
  return Date.now() - since > LINK_MAY_BE_OLD_MS ? null : t("app_media_failed");
}

/** The whole page becomes the server's words (a refusal, or no server at all). */
function shutOut(message, retry = null) {
  document.getElementById("app").hidden = true;
  const boot = document.getElementById("boot");
  boot.className = "shut";
  boot.setAttribute("role", "alert");
  fill(
    boot,
    el("p", { id: "shut-message" }, message),
    retry && el("button", { type: "button", class: "primary", on: { click: retry } }, "↻"),
  );
  boot.hidden = false;
  tg?.BackButton?.hide();
}

let toastTimer = 0;
/** A short message at the bottom of the screen. */
export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 4000);
}

/** Asks a yes/no question: Telegram's own dialog inside Telegram, the browser's outside. */
export function ask(question) {
  if (tg?.showConfirm && (!tg.isVersionAtLeast || tg.isVersionAtLeast("6.2"))) {
    return new Promise((resolve) => tg.showConfirm(question, (yes) => resolve(Boolean(yes))));
  }
  return Promise.resolve(window.confirm(question));
}

/** Posts a desk action once; a question from the server (someone else's miss, a customer abroad, a call a moment
 * ago) is asked and, on yes, posted once more with its signed token. Never repeated otherwise. */
export async function act(path) {
  let body = {};
  for (;;) {
    const answer = await api(path, { method: "POST", body });
    if (answer.ok) {
      toast(answer.message);
      return;
    }
    if (!answer.confirm || !(await ask(answer.confirm.question))) return;
    body = { confirm: answer.confirm.token };
  }
}

function translate(root) {
  for (const node of root.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
  for (const node of root.querySelectorAll("[data-placeholder]")) node.placeholder = t(node.dataset.placeholder);
}

const tabs = {};
let current = null;

/** Shows tab ``name`` (journal, misses, reports); a tab's ``shown(options)`` runs each time it comes up. */
export function showTab(name, options = {}) {
  leaveCard();
  for (const button of document.querySelectorAll("[role=tab]")) {
    const selected = button.dataset.tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    document.getElementById(button.dataset.tab).hidden = !selected;
  }
  if (current !== name) tabs[current]?.hidden?.();
  current = name;
  return tabs[name].shown?.(options);
}

function setUpTabs() {
  const buttons = [...document.querySelectorAll("[role=tab]")];
  for (const [index, button] of buttons.entries()) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
    button.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = buttons[(index + step + buttons.length) % buttons.length];
      next.focus();
      showTab(next.dataset.tab);
    });
  }
}

async function boot() {
  tg?.ready?.();
  tg?.expand?.();
  // The journal's first page is asked beside /me (it needs no texts), so the rows need one round trip, not two.
  const firstPage = api(`journal?${FIRST_PAGE}`);
  firstPage.catch(() => {}); // (said by /me's failure, or by the journal when it uses it)
  let me;
  try {
    me = await api("me");
  } catch (error) {
    if (error.status === 0 || !SHUT_OUT.has(error.code)) shutOut(error.message, () => location.reload());
    return;
  }
  texts = me.texts;
  document.documentElement.lang = me.lang;
  document.title = t("app_title");
  translate(document);
  const context = { me, api, t, toast, ask, act, openCard, firstPage, mediaFailed };
  setUpCard(context, () => showTab(current));
  tabs.journal = setUpJournal(context);
  tabs.misses = setUpMisses(context);
  tabs.reports = setUpReports(context);
  setUpTabs();
  document.getElementById("boot").hidden = true;
  document.getElementById("app").hidden = false;
  if (me.start?.miss != null) showTab("misses", { miss: me.start.miss });
  else await showTab("journal");
  tabs.misses.count(); // the tab's badge, once the journal is on screen (not to delay it)
}

boot();
