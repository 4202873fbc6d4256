"""Reports in the Mini App: the figures, text and chart of /report for the same period, worked out from the seeded
calls alone and compared with what /report sends; and Export, which sends /export's spreadsheet to the admin's chat."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from openpyxl import load_workbook

from tests.bot.conftest import ADMIN, MANAGER, STRANGER
from tests.bot.test_export import document_to, expected_rows
from tests.bot.test_reports import (
    PNG,
    ZONE,
    Seeded,
    archive,
    expected_caption,
    history,
    in_period,
    period_label,
    photo_to,
)
from tests.miniapp.conftest import MiniApp


def asked(seeded: Seeded) -> dict[str, str]:
    first = datetime.fromtimestamp(seeded.start, ZONE).date()
    last = datetime.fromtimestamp(seeded.end - 1, ZONE).date()
    return {"period": "custom", "from": first.isoformat(), "to": last.isoformat()}


def figures(seeded: Seeded) -> list[tuple[str, str]]:
    calls = in_period(seeded)
    inbound = [c for c in calls if c.direction == "in"]
    missed = sum(c.is_missed for c in inbound)
    lines = expected_caption(seeded, "")
    called_back = lines[2].split(",")[0].removeprefix("Перезвонили ").split(" ")[0]
    lost = lines[2].split("потеряны ")[1].split(",")[0]
    talk = lines[-1 - next(i for i, line in enumerate(reversed(lines)) if line.startswith("Исходящие"))]
    return [
        ("Входящие", str(len(inbound))),
        ("Приняты", str(sum(c.status == "answered" for c in inbound))),
        ("Пропущены", f"{missed} ({round(100 * missed / len(inbound))}%)"),
        ("Перезвонили", called_back),
        ("Потеряны", lost),
        ("Исходящие", str(sum(c.direction == "out" for c in calls))),
        ("Разговоры", talk.split("разговоры ")[1]),
    ]


async def test_the_report_is_reports_own_figures_text_and_chart(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    seeded = history()
    archive(world, seeded)
    got = await miniapp.get("/app/api/report", as_user=MANAGER, params=asked(seeded))
    assert got.status == 200, got.body
    report = got.json
    title = f"📊 Звонки за {period_label(seeded)}"
    assert report["title"] == title
    assert report["text"].split("\n") == expected_caption(seeded, title)
    assert [(f["label"], f["value"]) for f in report["figures"]] == figures(seeded)
    world.tg.send_text(MANAGER, f"/report {seeded.typed}")
    sent, message = await photo_to(world, MANAGER)
    assert message["caption"] == report["text"]  # /report's, word for word
    chart = await miniapp.get(report["chart"], as_user=None)
    assert (chart.status, chart.headers["Content-Type"]) == (200, "image/png")
    assert chart.headers["Cache-Control"] == "private, max-age=600"  # its link's life: the phone keeps it that long
    assert chart.body.startswith(PNG) and chart.body == sent.files["photo"].data  # the same chart


async def test_a_period_is_read_as_reports_are_and_a_bad_one_is_said(miniapp: MiniApp) -> None:
    archive(miniapp.world, history())  # days ago
    today = datetime.now(ZONE).date()
    empty = (await miniapp.get("/app/api/report", params={"period": "today"})).json
    assert (empty["chart"], empty["text"]) == (None, f"📊 Звонки за {today:%d.%m.%Y}\nЗвонков нет.")
    assert [f["value"] for f in empty["figures"]] == ["0", "0", "0", "0", "0", "0", "0:00"]
    month = (await miniapp.get("/app/api/report", params={"period": "month"})).json
    first = today.replace(day=1)
    assert month["title"] == (
        f"📊 Звонки за {today:%d.%m.%Y}" if first == today else f"📊 Звонки за {first:%d.%m}–{today:%d.%m.%Y}"
    )
    for period in ("7d", "30d", "yesterday"):
        assert (await miniapp.get("/app/api/report", params={"period": period})).status == 200
    tomorrow = (today + timedelta(days=1)).isoformat()
    for params, said in (
        ({"period": "week"}, "Такого периода нет: «week»."),
        ({"period": "custom", "from": "2026-02-30", "to": "2026-03-01"}, "Такого периода нет"),
        ({"period": "custom", "from": today.isoformat()}, "Такого периода нет"),
        ({"period": "custom", "from": tomorrow, "to": tomorrow}, "— ещё впереди: сегодня"),
        ({"period": "custom", "from": today.isoformat(), "to": (today - timedelta(days=3)).isoformat()},
         "начало позже конца"),
        ({"period": "custom", "from": "2024-01-01", "to": today.isoformat()}, "длиннее 366 дней"),
    ):  # fmt: skip
        refused = await miniapp.get("/app/api/report", params=params)
        assert (refused.status, refused.json["error"]) == (400, "bad_input"), params
        assert said in refused.json["message"], refused.json["message"]
    assert miniapp.world.sent("sendPhoto") == []


async def test_a_chart_link_is_its_users_and_its_periods_alone(miniapp: MiniApp) -> None:
    seeded = history()
    archive(miniapp.world, seeded)
    link = (await miniapp.get("/app/api/report", params=asked(seeded))).json["chart"]
    assert (await miniapp.get(link, as_user=None)).status == 200
    other = link.replace(asked(seeded)["from"], datetime.fromtimestamp(seeded.start - 86_400, ZONE).date().isoformat())
    assert (await miniapp.get(other, as_user=None)).json["error"] == "auth_invalid"
    stranger = await miniapp.get("/app/api/report", as_user=STRANGER, params=asked(seeded))
    assert (stranger.status, stranger.json["error"]) == (403, "stranger")


async def test_export_sends_exports_own_file_to_the_admins_chat(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    seeded = history()
    archive(world, seeded)
    body: dict[str, Any] = asked(seeded)
    refused = await miniapp.request("POST", "/app/api/export", as_user=MANAGER, body=body)
    assert (refused.status, refused.json["error"]) == (403, "admins_only")
    bad = await miniapp.request("POST", "/app/api/export", body={"period": "custom", "from": "x"})
    assert (bad.status, bad.json["error"]) == (400, "bad_input")
    assert world.sent("sendDocument") == [] and world.services.storage.audit.recent(action="export") == []

    started = await miniapp.request("POST", "/app/api/export", body=body)
    assert started.status == 200
    assert started.json == {
        "ok": True,
        "message": f"Готовлю файл за {period_label(seeded)} — пришлю его в чат с ботом.",
    }
    sent, message = await document_to(world, ADMIN)
    rows = list(load_workbook(io.BytesIO(sent.files["document"].data)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[1:] == expected_rows(seeded, {}, {})
    assert message["caption"] == f"📄 Звонки за {period_label(seeded)}: {len(rows) - 1}"
    (entry,) = world.services.storage.audit.recent(action="export")
    assert (entry.actor_id, entry.target) == (ADMIN, f"{body['from'][8:]}.{body['from'][5:7]}.{body['from'][:4]}-"
                                              f"{body['to'][8:]}.{body['to'][5:7]}.{body['to'][:4]}")  # fmt: skip
    assert entry.details == {"start": seeded.start, "end": seeded.end, "origin": "app", "rows": len(rows) - 1}
