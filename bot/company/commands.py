"""/balance, /members and /numbers: the company as New-Tel describes it now."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.access.checks import Caller, requires, show_typing
from bot.context import Context
from bot.formatting import format_for_people, money
from bot.texts import Html


@requires("manager")
async def balance(update: Update, context: Context, caller: Caller) -> None:
    await show_typing(update, context)
    state = await caller.services.newtel.company.get_state()
    texts, lang = caller.texts, caller.texts.lang
    text = texts(
        "balance",
        balance=money(state.balance, state.currency, lang),
        credit=money(state.credit, state.currency, lang),
        day=money(state.day_traffic_cost, state.currency, lang),
        month=money(state.month_traffic_cost, state.currency, lang),
        status=texts.account_status(state.status),
    )
    if state.is_blocked:
        text = Html(text + "\n\n" + texts("account_blocked"))
    await caller.reply(text)


@requires("manager")
async def members(update: Update, context: Context, caller: Caller) -> None:
    await show_typing(update, context)
    svc, texts = caller.services, caller.texts
    vpbx = svc.newtel.vpbx
    people, online, ringing, talking = await asyncio.gather(
        svc.directory.members(),
        vpbx.get_registered_numbers_list(),
        vpbx.get_ringing_numbers_list(),
        vpbx.get_active_numbers_list(),
    )
    rows = []
    for person in people:
        number = person.internal_number
        if number in talking:
            icon, state = "📞", texts("member_talking")
        elif number in ringing:
            icon, state = "🔔", texts("member_ringing")
        elif number in online:
            icon, state = "🟢", texts("member_online")
        else:
            icon, state = "⚪️", texts("member_offline")
        rows.append(
            texts(
                "member_row",
                icon=icon,
                name=person.name,
                internal=number or "—",
                personal=format_for_people(person.personal_number),
                state=state,
            )
        )
    await caller.reply_lines([texts("members_header"), *rows])


@requires("manager")
async def numbers(update: Update, context: Context, caller: Caller) -> None:
    await show_typing(update, context)
    found, texts = await caller.services.directory.numbers(), caller.texts

    def listed(items: list[str]) -> str:
        return ", ".join(format_for_people(n) for n in items) if items else "—"

    await caller.reply(
        texts(
            "numbers", external=listed(found.external), internal=listed(found.internal), virtual=listed(found.virtual)
        )
    )
