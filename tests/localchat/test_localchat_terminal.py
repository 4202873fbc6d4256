"""The terminal chat driven through a real pipe, with the toy PTB bot answering."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import IO

import pytest

from localchat import FakeBotAPI, run_terminal_chat
from tests.localchat.toybot import GROUP, USER, ToyBot


class Screen:
    """A stdout that tests can wait on, pexpect-style: ``expect`` searches after the previous match."""

    def __init__(self) -> None:
        self.text = ""
        self._seen = 0
        self._changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.text += text
        self._changed.set()
        return len(text)

    def flush(self) -> None:
        pass

    async def expect(self, needle: str, timeout: float = 5.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while (found := self.text.find(needle, self._seen)) < 0:
                    self._changed = asyncio.Event()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"{needle!r} not printed; screen after the last match:\n{self.text[self._seen :]}"
            ) from None
        self._seen = found + len(needle)


@pytest.fixture
def pipe() -> Iterator[tuple[IO[str], IO[str]]]:
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "r"), os.fdopen(write_fd, "w", buffering=1)
    yield reader, writer
    for end in (writer, reader):
        if not end.closed:
            end.close()


@pytest.fixture
async def chat(tg: FakeBotAPI, toy: ToyBot, pipe: tuple[IO[str], IO[str]]) -> AsyncIterator[tuple[Screen, IO[str]]]:
    reader, writer = pipe
    screen = Screen()
    task = asyncio.create_task(run_terminal_chat(tg, user_id=USER, group_chat_id=GROUP, stdin=reader, stdout=screen))
    await screen.expect("!help lists the local commands")
    yield screen, writer
    if not writer.closed:
        writer.close()  # EOF ends the chat
    await asyncio.wait_for(task, 5)


async def test_type_read_press_and_quit(tg: FakeBotAPI, chat: tuple[Screen, IO[str]]) -> None:
    screen, keyboard = chat
    keyboard.write("/echo hello <world>\n")
    await screen.expect("» /echo hello <world>")
    await screen.expect("── bot → you (")
    await screen.expect("Echo: hello <world>\n[1] Call back  [2] Done\n")

    keyboard.write("2\n")
    await screen.expect("(pressed [2] Done on message #2)")
    await screen.expect("(popup) got v1:done")
    await screen.expect("── bot edited #2 (")
    await screen.expect("You chose v1:done\n")

    keyboard.write("3\n")  # no message has buttons any more, so this is a plain message
    await screen.expect("» 3")
    assert tg.chat(USER, include_user=True)[-1]["text"] == "3"

    keyboard.write("!quit\n")
    await screen.expect("(bye)")


async def test_group_contact_audio_and_help(tg: FakeBotAPI, chat: tuple[Screen, IO[str]]) -> None:
    screen, keyboard = chat
    keyboard.write("!group\n")
    await screen.expect("(now writing in Sales group)")
    keyboard.write("/echo team\n")
    await screen.expect("── bot → Sales group (")
    await screen.expect("Echo: team")
    keyboard.write("1\n")
    await screen.expect("(pressed [1] Call back on message #2 in Sales group)")
    await screen.expect("── bot edited #2 in Sales group")

    keyboard.write("!private\n!contact +7 916 111-22-33\n")
    await screen.expect("» !contact +7 916 111-22-33")
    contact = tg.chat(USER, include_user=True)[-1]["contact"]
    assert contact == {"phone_number": "+7 916 111-22-33", "first_name": "Ivan", "last_name": "Petrov", "user_id": USER}

    keyboard.write("/record\n")
    await screen.expect("(bot is sending a voice message…)")
    await screen.expect("🎵 audio: call-17.mp3, 3 KB\nRecording of call 17")

    keyboard.write("!help\n!dance\n")
    await screen.expect("!contact <phone>")
    await screen.expect("(unknown command !dance; !help lists them)")


async def test_a_number_presses_the_latest_buttons_in_either_chat(tg: FakeBotAPI, chat: tuple[Screen, IO[str]]) -> None:
    screen, keyboard = chat
    keyboard.write("!group\n/echo alert\n")
    await screen.expect("Echo: alert")
    keyboard.write("!private\n")
    await screen.expect("(now writing in your private chat with the bot)")
    keyboard.write("1\n")  # still in the private chat: the group's buttons are the latest shown
    await screen.expect("(pressed [1] Call back on message #2 in Sales group)")
    await screen.expect("── bot edited #2 in Sales group")
    assert [m["text"] for m in tg.chat(USER, include_user=True)] == []  # nothing was sent as text


async def test_failed_bot_calls_are_shown(tg: FakeBotAPI, chat: tuple[Screen, IO[str]]) -> None:
    screen, keyboard = chat
    keyboard.write("/long\n")
    await screen.expect("(the bot's sendMessage failed: 400 Bad Request: message is too long)")


async def test_end_of_input_ends_the_chat(chat: tuple[Screen, IO[str]]) -> None:
    screen, keyboard = chat
    keyboard.close()
    await screen.expect("(bye)")
