"""Reports in the Mini App: ``GET /app/api/report`` (``/report``'s figures, text and chart) and ``POST /app/api/export``
(``/export``'s spreadsheet, sent to the admin's private chat).

Both go through ``/report``'s and ``/export``'s own code (``bot.reports.commands``: ``make``, ``send_export``), as
``/report`` in a private chat counts them: the company's numbers by the company's standards. The figures come from the
same ``Figures``; the chart is the same PNG, drawn in a report thread when its link is fetched (the page's ``<img>``
cannot send the header), so the JSON answers without waiting for matplotlib.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from bot.formatting import duration
from bot.miniapp.api import ASKER, ApiError, read_period
from bot.reports.caption import period_label
from bot.reports.commands import make, send_export
from bot.reports.figures import Figures
from bot.texts import Texts

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)

CHART = "/api/report/chart"


def figures_of(found: Figures, texts: Texts) -> list[dict[str, str]]:
    """The period's totals as the page shows them, each a label and its value."""
    share = f" ({found.missed_percent}%)" if found.missed_percent is not None else ""
    return [
        {"label": Texts.unmarked(texts(f"app_figure_{key}")), "value": value}
        for key, value in (
            ("inbound", str(found.inbound)),
            ("answered", str(found.answered)),
            ("missed", f"{found.missed}{share}"),
            ("called_back", str(found.called_back)),
            ("lost", str(found.lost)),
            ("outbound", str(found.outbound)),
            ("talk", duration(found.talk_seconds)),
        )
    ]


@routes.get("/api/report")
async def report(request: web.Request) -> web.Response:
    asker = request[ASKER]
    svc, texts = asker.services, asker.texts
    _, start, end = read_period(asker, dict(request.query), "today")
    made = await make(svc, start, end, texts, "report_title", with_chart=False)
    assert made.figures is not None
    zone = svc.settings.zone
    first, last = datetime.fromtimestamp(start, zone), datetime.fromtimestamp(end, zone) - timedelta(seconds=1)
    calls = made.figures.inbound or made.figures.outbound
    chart = asker.link(CHART, **{"from": first.date().isoformat(), "to": last.date().isoformat()}) if calls else None
    title = texts("report_title", period=period_label(first, datetime.fromtimestamp(end, zone)))
    return web.json_response(
        {
            "title": Texts.unmarked(title),
            "figures": figures_of(made.figures, texts),
            "text": Texts.unmarked(made.caption),
            "chart": chart,
        }
    )


@routes.get(CHART)
async def chart(request: web.Request) -> web.Response:
    """The chart of ``/report`` for the days ``from``–``to`` (a link ``report`` gave)."""
    asker = request[ASKER]
    _, start, end = read_period(asker, {"period": "custom", **request.query}, "custom")
    made = await make(asker.services, start, end, asker.texts, "report_title")
    if made.png is None:
        raise ApiError(404, "not_found", asker.say("report_no_calls"))
    return web.Response(body=made.png, content_type="image/png", headers={"Cache-Control": "private, max-age=600"})


@routes.post("/api/export")
async def export(request: web.Request) -> web.Response:
    """``/export``'s file, made and sent to the admin's private chat in the background (a month takes a while; the
    chat says how far it is, as for ``/export``). One at a time for each admin."""
    asker = request[ASKER]
    asker.need("admin")
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_input")
    period, start, end = read_period(asker, body, "7d")
    running = request.app[EXPORTS]
    user_id, svc = asker.user.telegram_id, asker.services
    if user_id in running:
        raise ApiError(409, "conflict", asker.say("app_export_running"))
    running.add(user_id)
    sending = send_export(
        svc, asker.application.bot, user_id, asker.texts, user_id, period, start, end, origin="app"
    )  # its failures go to the bot's error handler, as a command's do
    task = asker.application.create_task(sending, name=f"miniapp-export-{user_id}")
    task.add_done_callback(lambda _: running.discard(user_id))
    zone = svc.settings.zone
    label = period_label(datetime.fromtimestamp(start, zone), datetime.fromtimestamp(end, zone))
    return web.json_response({"ok": True, "message": asker.say("app_export_started", period=label)})


EXPORTS = web.AppKey("exports_running", set[int])


def attach(app: web.Application) -> None:
    """Give the Mini App's ``app`` the set of admins whose export is under way."""
    app[EXPORTS] = set()
