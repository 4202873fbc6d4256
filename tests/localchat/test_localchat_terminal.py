"""The terminal chat driven through a real pipe, with the toy PTB bot answering."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest

from localchat import FakeBotAPI, Person, run_terminal_chat
from tests.localchat.toybot import AUDIO, GROUP, PNG, USER, ToyBot

OLGA = 43


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
    await screen.expect("── bot → you #2 (")
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
    await screen.expect("── bot → Sales group #2 (")
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


async def test_a_number_presses_only_in_the_chat_written_in_and_press_reaches_the_other(
    tg: FakeBotAPI, chat: tuple[Screen, IO[str]]
) -> None:
    screen, keyboard = chat
    keyboard.write("!group\n/echo alert\n")
    await screen.expect("Echo: alert")
    keyboard.write("!private\n")
    await screen.expect("(now writing in your private chat with the bot)")
    keyboard.write("1\n")  # in the private chat, a number never presses the group's alert that arrived meanwhile
    await screen.expect("(the message just shown is in the other chat: which one did you mean?")
    assert not [call for call in tg.calls if call.method == "answerCallbackQuery"]
    keyboard.write("!press 2 1\n")
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


@pytest.fixture
async def chat_with_files(
    tg: FakeBotAPI, toy: ToyBot, pipe: tuple[IO[str], IO[str]], tmp_path: Path
) -> AsyncIterator[tuple[Screen, IO[str], Path]]:
    """The chat as the demo runs it: the files the bot sends saved in a folder, and two people to speak as."""
    reader, writer = pipe
    screen, saved = Screen(), tmp_path / "received"
    saved.mkdir()
    people = [Person("ivan", USER, "Ivan", "the first"), Person("olga", OLGA, "Olga", "a colleague")]
    task = asyncio.create_task(
        run_terminal_chat(
            tg, user_id=USER, group_chat_id=GROUP, stdin=reader, stdout=screen, people=people, files=saved
        )
    )
    await screen.expect(f"(the files the bot sends are saved in {saved})")
    yield screen, writer, saved
    if not writer.closed:
        writer.close()
    await asyncio.wait_for(task, 5)


async def test_a_file_goes_to_the_bot_and_what_the_bot_sends_is_saved_with_its_path_printed(
    tg: FakeBotAPI, chat_with_files: tuple[Screen, IO[str], Path], tmp_path: Path
) -> None:
    screen, keyboard, saved = chat_with_files
    sent = tmp_path / "my contacts.csv"
    sent.write_text("Имя;Телефон\nИван;+7 916 123-45-67\n", encoding="utf-8")
    keyboard.write(f'!file "{sent}" /import now\n')
    await screen.expect(f"(sent my contacts.csv, {sent.stat().st_size} B, with the caption /import now)")
    await screen.expect(f"Got my contacts.csv ({sent.stat().st_size} B): /import now")  # the bot downloaded it
    (document,) = [m for m in tg.chat(USER, include_user=True) if "document" in m]
    assert document["document"]["mime_type"] == "text/csv"

    keyboard.write("/chart\n")
    await screen.expect("🖼 photo 640×480: ")
    await screen.expect(f"💾 saved to {saved / '001-photo.png'}\n")
    assert (saved / "001-photo.png").read_bytes() == PNG
    keyboard.write("/record\n")
    await screen.expect(f"💾 saved to {saved / '002-call-17.mp3'}\n")
    assert (saved / "002-call-17.mp3").read_bytes() == AUDIO

    keyboard.write("!file /no/such/file.csv /import\n!file\n")
    await screen.expect("(no file /no/such/file.csv)")
    await screen.expect("(usage: !file PATH [caption], e.g. !file contacts.csv /import)")


async def test_a_number_presses_only_the_message_just_shown(
    tg: FakeBotAPI, chat_with_files: tuple[Screen, IO[str], Path]
) -> None:
    screen, keyboard, _ = chat_with_files
    keyboard.write("!group\n/echo alert\n")
    await screen.expect("Echo: alert\n[1] Call back  [2] Done\n")
    keyboard.write("!private\n/plain\n")
    await screen.expect("── bot → you #2 (")  # in the private chat: #1 is the user's /plain
    await screen.expect("Just text\n")
    keyboard.write("1\n")  # the message just shown has no buttons: the group's alert is not pressed
    await screen.expect("(the message just shown has no buttons: which one did you mean? The latest with buttons:\n")
    await screen.expect("  #2 in Sales group: [1] Call back  [2] Done\n !press 2 1 presses [1] of #2; !say 1 sends")
    assert [c for c in tg.calls if c.method == "answerCallbackQuery"] == []
    assert [m.get("text") for m in tg.chat(USER, include_user=True) if not m["from"]["is_bot"]][-1] == "/plain"
    keyboard.write("!press 2 1\n")
    await screen.expect("(pressed [1] Call back on message #2 in Sales group)")
    await screen.expect("── bot edited #2 in Sales group")


async def test_as_speaks_as_someone_else_and_shows_their_chat(
    tg: FakeBotAPI, chat_with_files: tuple[Screen, IO[str], Path]
) -> None:
    screen, keyboard, _ = chat_with_files
    keyboard.write("!as\n")
    await screen.expect("  !as ivan: Ivan, the first  ← speaking now\n  !as olga: Olga, a colleague\n")
    keyboard.write("!as olga\n/echo from Olga\n")
    await screen.expect("(now speaking as Olga, a colleague; writing in a private chat with the bot)")
    await screen.expect("── bot → you #2 (")
    assert tg.last_message(OLGA)["text"] == "Echo: from Olga"  # type: ignore[index]
    keyboard.write("!as ivan\n")
    await screen.expect("(now speaking as Ivan")
    keyboard.write("1\n")  # Olga's message: Ivan cannot press it
    await screen.expect("(message #2 is in Olga's chat: !as olga to press it)")
    keyboard.write("!as Ol\n1\n")
    await screen.expect("(pressed [1] Call back on message #2)")
    await screen.expect("(popup) got v1:call")
    keyboard.write("!as nobody\n")
    await screen.expect("(nobody called nobody: !as lists who there is)")
