"""One meaning of "lost" for /lost, /report and /export: nobody called back, the customer did not get through, and
the deadline (the chat's /sla where asked in a subscribed chat, else ALERT_SLA_MINUTES) has passed. A miss still
within its deadline is open; one closed with Done is closed. End to end: the sandbox's calls, the poll, a Done press
in the group, then the three answers, in Russian and in English."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from bot.watch.poller import Baseline, poller
from tests.bot.conftest import ADMIN, GROUP, MANAGER, World

LOST, DONE, OPEN = "79160000031", "79160000032", "79160000033"


def shown(number: str) -> str:
    return f"+7 {number[1:4]} {number[4:7]}-{number[7:9]}-{number[9:11]}"


async def three_misses(world: World) -> None:
    """LOST missed three hours ago; DONE and OPEN two minutes ago, alerted in the group, DONE closed with Done there.
    The group's deadline is a minute, the company's 15."""
    svc, sandbox = world.services, world.sandbox
    sandbox.company.clear_calls()  # only these calls
    svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(sandbox.now()) - 3600)
    svc.storage.chats.set_sla(GROUP, 1, now=int(sandbox.now()))
    now = sandbox.now()
    Baseline(svc.storage.kv).set(int(now) - 3600, [], now=int(now))  # the bot has watched for the last hour
    sandbox.add_call("in", clid=LOST, status="no answer", start=now - 3 * 3600, end=now - 3 * 3600 + 20)
    sandbox.add_call("in", clid=DONE, status="no answer", start=now - 150, end=now - 130)
    sandbox.add_call("in", clid=OPEN, status="no answer", start=now - 140, end=now - 120)
    await poller(world.app).poll_once(world.app.bot)
    sent = await world.tg.wait_for(
        "sendMessage", chat_id=GROUP, ok=True, since=0, predicate=lambda c: shown(DONE) in c.params.get("text", "")
    )
    alert = world.tg.message(GROUP, sent.result["message_id"])
    assert alert is not None
    await world.press(MANAGER, alert, "✅ Готово")
    await world.edited(alert)


async def outcomes_in_export(world: World) -> dict[str, Any]:
    """The export's last column by customer, as the admin gets it."""
    world.tg.send_text(ADMIN, "/export")
    sent = await world.tg.wait_for("sendDocument", chat_id=ADMIN, ok=True, timeout=20)
    sheet = load_workbook(io.BytesIO(sent.files["document"].data)).active
    assert sheet is not None
    return {row[2]: row[-1] for row in list(sheet.iter_rows(values_only=True))[1:]}


async def caption_of_report(world: World, user: int, text: str) -> list[str]:
    world.tg.send_text(user, text)
    sent = await world.tg.wait_for("sendPhoto", chat_id=user, ok=True, timeout=20)
    return str(sent.result["caption"]).split("\n")


async def test_a_miss_within_its_deadline_is_open_and_one_closed_with_done_is_closed_everywhere(world: World) -> None:
    world.make_manager()
    await three_misses(world)

    lost = (await world.ask(MANAGER, "/lost")).split("\n")
    assert lost[1:] == [
        "Срок перезвона (15 мин) прошёл, а никто не перезвонил, и клиент больше не звонил. Больше попыток — выше.",
        "Не потеряны: закрыты вручную — 1, срок ещё не вышел — 1.",
        f"1. {shown(LOST)} — пропущено 1, последний {lost[-1].rsplit('последний ', 1)[1]}",
    ]
    assert lost[0].endswith(": 1")
    # In the group, by its own deadline of a minute: OPEN's two minutes are past it.
    in_group = (await world.ask(MANAGER, "/lost", chat_id=GROUP)).split("\n")
    assert in_group[0].endswith(": 2") and in_group[1].startswith("Срок перезвона (1 мин) прошёл")
    assert in_group[2] == "Не потеряны: закрыты вручную — 1."
    assert [line.split(" — ")[0] for line in in_group[3:]] == [f"1. {shown(OPEN)}", f"2. {shown(LOST)}"]

    caption = await caption_of_report(world, MANAGER, "/report 7d")
    assert caption[2] == "Перезвонили 0, ответили позже 0, потеряны 1, закрыты вручную 1, срок ещё не вышел 1"

    exported = await outcomes_in_export(world)
    assert (exported[shown(LOST)], exported[shown(OPEN)]) == ("потерян", "открыт")
    assert exported[shown(DONE)].startswith("закрыто вручную")


async def test_lost_open_and_closed_in_english(world: World) -> None:
    world.make_manager()
    await three_misses(world)
    await world.ask(MANAGER, "/lang en")
    await world.ask(ADMIN, "/lang en")

    lost = (await world.ask(MANAGER, "/lost")).split("\n")
    assert lost[0].endswith(": 1") and lost[1:3] == [
        "The callback deadline (15 min) has passed, nobody called back and the customer never called again. "
        "Most attempts first.",
        "Not lost: closed by hand — 1, still within the deadline — 1.",
    ]
    assert lost[3].startswith(f"1. {shown(LOST)} — 1 missed, last ")

    caption = await caption_of_report(world, MANAGER, "/report 7d")
    assert caption[2] == "Called back 0, answered later 0, lost 1, closed by hand 1, still within the deadline 1"

    exported = await outcomes_in_export(world)
    assert (exported[shown(LOST)], exported[shown(OPEN)]) == ("lost", "open")
    assert exported[shown(DONE)].startswith("closed by hand")
