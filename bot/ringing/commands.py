"""``/notify on|off``: whether a user gets a card when their desk phone rings (on unless they turn it off)."""

from __future__ import annotations

import time

from telegram import Update

from bot.access.checks import Caller, requires
from bot.context import Context
from bot.texts import Html, echo

_ON = ("on", "вкл", "да")
_OFF = ("off", "выкл", "нет")


@requires("manager", any_chat=True)
async def notify(update: Update, context: Context, caller: Caller) -> None:
    texts, user, svc = caller.texts, caller.user, caller.services
    typed = " ".join(context.args or []).strip()
    word = typed.lower()
    if not typed:
        state = texts("notify_is_on") if user.ringing_cards else texts("notify_is_off")
        await caller.reply(state if user.internal_number else Html(state + "\n" + texts("notify_no_phone")))
        return
    if word not in (*_ON, *_OFF):
        await caller.reply(texts("notify_usage", typed=echo(typed)))
        return
    on = word in _ON
    now = int(time.time())
    svc.storage.users.set_ringing_cards(user.telegram_id, on, now=now)
    svc.storage.audit.log(
        "user.notify", actor_id=user.telegram_id, target=str(user.telegram_id), details={"on": on}, now=now
    )
    text = texts("notify_on") if on else texts("notify_off")
    if on and not user.internal_number:
        text = Html(text + "\n" + texts("notify_no_phone"))
    await caller.reply(text)
