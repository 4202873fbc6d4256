// The journal: every archived call, newest first, a page at a time as the list scrolls; a search (a number in any
// form, or a part of a name) and the kind, period and member filters.
import { callRow, dayHeading } from "./calls.js";
import { debounce, el, whenNear } from "./dom.js";

const PAGE = 50;
export const FIRST_PAGE = new URLSearchParams({ limit: String(PAGE) }); // the query with no search or filter
const TYPING_PAUSE_MS = 300;

export function setUpJournal({ me, api, t, openCard, firstPage }) {
  const form = document.getElementById("journal-filters");
  const list = document.getElementById("journal-rows");
  const note = document.getElementById("journal-note");
  const range = form.querySelector(".range");
  const members = form.elements.member;
  for (const member of me.members) {
    members.append(el("option", { value: String(member.id) }, `${member.name} (${member.internal})`));
  }

  let next = null; // the cursor of the next page; null once the last one came
  let lastDay = null;
  let loading = null; // the request under way (its controller), so a new search drops an older one
  let loaded = false;

  function query() {
    const values = new FormData(form);
    const params = new URLSearchParams({ limit: String(PAGE) });
    const q = values.get("q").trim();
    if (q) params.set("q", q);
    if (values.get("kind") !== "all") params.set("kind", values.get("kind"));
    const period = values.get("period");
    if (period) params.set("period", period);
    if (period === "custom") {
      params.set("from", values.get("from"));
      params.set("to", values.get("to"));
    }
    if (values.get("member")) params.set("member", values.get("member"));
    return params;
  }

  /** Loads the first page again (``fresh``) or the next one. */
  async function load(fresh) {
    if (!fresh && (loading || next === null)) return;
    loading?.abort();
    const controller = (loading = new AbortController());
    const params = query();
    if (!fresh) params.set("before", next);
    note.hidden = true;
    let page;
    const asked = fresh && firstPage && String(params) === String(FIRST_PAGE) ? firstPage : null;
    firstPage = null; // asked at boot: good for the first load only
    try {
      page = await (asked ?? api(`journal?${params}`, { signal: controller.signal }));
    } catch (error) {
      if (error.name === "AbortError") return;
      note.textContent = error.message;
      note.hidden = false;
      if (loading === controller) loading = null;
      return;
    }
    if (loading !== controller) return;
    loading = null;
    if (fresh) {
      list.replaceChildren();
      lastDay = null;
    }
    const items = [];
    for (const row of page.rows) {
      items.push(dayHeading(row, lastDay), callRow(t, row, { open: openCard }));
      lastDay = row.day;
    }
    list.append(...items.filter(Boolean));
    next = page.next;
    // A filter no index serves may bring a page of none with more to look through: only the end says "none".
    if (next === null && !list.querySelector(".call")) {
      note.textContent = t("app_journal_empty");
      note.hidden = false;
    }
    if (fresh && page.rows.length && !performance.getEntriesByName("journal-rows").length) {
      // The first rows on screen: what bench/miniapp.py measures from the navigation's start.
      requestAnimationFrame(() => performance.mark("journal-rows"));
    }
    list.setAttribute("aria-busy", "false");
    if (next !== null) recheck();
  }

  function reload() {
    list.setAttribute("aria-busy", "true");
    next = null;
    return load(true);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  form.elements.q.addEventListener("input", debounce(reload, TYPING_PAUSE_MS));
  form.addEventListener("change", (event) => {
    if (event.target.name === "q") return; // typed: the debounced input already reloads
    const custom = form.elements.period.value === "custom";
    range.hidden = !custom;
    const { from, to } = form.elements;
    if (custom && !(from.value && to.value)) return; // until both ends are set
    reload();
  });
  const recheck = whenNear(document.getElementById("journal-more"), () => loaded && load(false));

  return {
    shown() {
      if (loaded) return null;
      loaded = true;
      return reload();
    },
  };
}
