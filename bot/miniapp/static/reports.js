// Reports: a period, its figures and chart (the /report's own), and the same .xlsx as /export, which the bot sends
// to the user's chat (a Mini App cannot save a file everywhere; the chat can).
import { el, fill } from "./dom.js";

export function setUpReports({ me, api, t, toast, mediaFailed }) {
  const form = document.getElementById("report-filters");
  const range = form.querySelector(".range");
  const report = document.getElementById("report");
  const exportButton = document.getElementById("report-export");
  exportButton.hidden = !me.user.admin; // /export is an admin's, here as in the chat
  let loaded = false;
  let loading = null;
  let renewed = false; // the chart's link renewed once since the period was chosen

  function period() {
    const values = new FormData(form);
    const chosen = { period: values.get("period") };
    if (chosen.period === "custom") Object.assign(chosen, { from: values.get("from"), to: values.get("to") });
    return chosen;
  }

  function complete() {
    const { period: kind, from, to } = period();
    return kind !== "custom" || (from && to);
  }

  async function load() {
    if (!complete()) return;
    loading?.abort();
    const controller = (loading = new AbortController());
    report.setAttribute("aria-busy", "true");
    let shown;
    try {
      shown = await api(`report?${new URLSearchParams(period())}`, { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      report.replaceChildren(el("p", { class: "note", role: "alert" }, error.message));
      return;
    } finally {
      if (loading === controller) report.setAttribute("aria-busy", "false");
    }
    if (loading !== controller) return;
    const since = Date.now(); // the chart link's age
    const chartFailed = async (event) => {
      const chart = event.target;
      const words = await mediaFailed(chart.src, since);
      if (words === null && !renewed) {
        renewed = true; // once: a second failure is said
        load(); // a new link with the report
      } else chart.replaceWith(el("p", { class: "note", role: "alert" }, words || t("app_media_failed")));
    };
    fill(
      report,
      el("h2", {}, shown.title),
      el(
        "dl",
        { class: "figures" },
        shown.figures.map((figure) => el("div", {}, el("dt", {}, figure.label), el("dd", {}, figure.value))),
      ),
      shown.chart
        ? el("img", {
            class: "chart",
            src: shown.chart,
            alt: t("app_report_chart"),
            loading: "lazy",
            on: { error: chartFailed },
          })
        : null,
      shown.text ? el("details", {}, el("summary", {}, t("app_report_text")), el("p", { class: "plain" }, shown.text)) : null,
    );
  }

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", () => {
    renewed = false;
    range.hidden = form.elements.period.value !== "custom";
    load();
  });
  exportButton.addEventListener("click", async () => {
    if (!complete()) return;
    exportButton.disabled = true;
    try {
      toast((await api("export", { method: "POST", body: period() })).message);
    } catch (error) {
      toast(error.message);
    } finally {
      exportButton.disabled = false;
    }
  });

  return {
    shown() {
      if (loaded) return;
      loaded = true;
      load();
    },
  };
}
