"""The customer book and its imports: names by number, searched by name or digits; an import applied whole, once,
or not at all — a kill -9 half-way through leaves the book as it was."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage import Contact, ImportResult, Storage
from storage.contacts import CardEdit, Note, apply_import, known_names

IVAN, PETR, ANNA = "79161234567", "79035551122", "74951234567"


def test_a_name_is_set_renamed_and_removed_with_who_and_when(storage: Storage) -> None:
    book = storage.contacts
    assert book.set(IVAN, "Иван", by=7, now=100) == (None, Contact(IVAN, "Иван", 7, 7, 100, 100))
    before, after = book.set(IVAN, "Иван Петров", by=8, now=200)
    assert (before, after) == (Contact(IVAN, "Иван", 7, 7, 100, 100), Contact(IVAN, "Иван Петров", 7, 8, 100, 200))
    assert book.names([IVAN, PETR]) == {IVAN: "Иван Петров"}
    assert book.remove(IVAN) == after and book.remove(IVAN) is None
    assert book.get(IVAN) is None and book.count() == 0


def test_a_removed_name_is_restored_as_first_given_unless_named_again_meanwhile(storage: Storage) -> None:
    book = storage.contacts
    book.set(IVAN, "Иван", by=7, now=100)
    removed = book.remove(IVAN)
    assert removed == Contact(IVAN, "Иван", 7, 7, 100, 100)
    assert book.restore(removed, by=9, now=300) is True
    assert book.get(IVAN) == Contact(IVAN, "Иван", 7, 9, 100, 300)
    assert [c.number for c in book.search("иван", 10)] == [IVAN]  # searchable again
    assert book.restore(removed, by=9, now=400) is False  # there already: nothing changes
    assert book.get(IVAN) == Contact(IVAN, "Иван", 7, 9, 100, 300)


def test_setting_the_name_a_customer_already_has_rewrites_nothing(storage: Storage) -> None:
    book = storage.contacts
    book.set(IVAN, "Иван", by=7, now=100)
    assert book.set(IVAN, "Иван", by=8, now=200) == (Contact(IVAN, "Иван", 7, 7, 100, 100),) * 2


def test_search_by_any_case_of_the_name_or_digits_of_the_number(storage: Storage) -> None:
    book = storage.contacts
    book.set(IVAN, "Иван Ёлкин", by=1, now=100)
    book.set(PETR, "ООО «Ромашка»", by=1, now=300)
    book.set(ANNA, "anna", by=1, now=200)
    assert [c.number for c in book.search("елкин", 10)] == [IVAN]
    assert [c.number for c in book.search("РОМАШ", 10)] == [PETR]
    assert [c.number for c in book.search("555", 10)] == [PETR]
    assert [c.name for c in book.search("", 10)] == ["anna", "Иван Ёлкин", "ООО «Ромашка»"]
    assert [c.number for c in book.recent(2)] == [PETR, ANNA]


def test_search_by_other_digits_a_number_may_hold(storage: Storage) -> None:
    book = storage.contacts
    book.apply([(IVAN, "Иван"), (PETR, "Пётр"), (ANNA, "Анна")], by=1, now=100)
    assert [c.number for c in book.search("8916", 10, digits=["7916", "7903"])] == [IVAN, PETR]
    assert [c.number for c in book.search("Анна", 10, digits=["7903"])] == [ANNA, PETR]
    assert [c.number for c in book.search("ПЁТР", 10, digits=[""])] == [PETR]  # an empty one matches nothing


def test_an_import_is_applied_once_and_counts_what_it_changed(storage: Storage) -> None:
    storage.contacts.set(IVAN, "Иван", by=1, now=100)
    storage.contacts.set(PETR, "Пётр", by=1, now=100)
    imports = storage.contacts.imports
    staged = imports.create(by=5, chat_id=5, rows=[(IVAN, "Иван Петров"), (PETR, "Пётр"), (ANNA, "Анна")], now=200)
    assert (staged.state, staged.size, staged.message_id, staged.decided_at) == ("previewed", 3, None, None)
    imports.shown(staged.id, 42)
    assert imports.apply(staged.id, now=300) == ImportResult(added=1, updated=1, unchanged=1)
    assert imports.apply(staged.id, now=301) is None  # a second confirm writes nothing
    assert imports.cancel(staged.id, now=302) is False
    got = imports.get(staged.id)
    assert got is not None and (got.state, got.message_id, got.decided_at) == ("applied", 42, 300)
    assert storage.contacts.names([IVAN, PETR, ANNA]) == {IVAN: "Иван Петров", PETR: "Пётр", ANNA: "Анна"}
    assert storage.contacts.get(PETR) == Contact(PETR, "Пётр", 1, 1, 100, 100)  # unchanged: not rewritten
    assert storage.contacts.get(ANNA) == Contact(ANNA, "Анна", 5, 5, 300, 300)


def test_a_cancelled_import_writes_nothing_and_cannot_be_applied(storage: Storage) -> None:
    imports = storage.contacts.imports
    staged = imports.create(by=5, chat_id=5, rows=[(IVAN, "Иван")], now=200)
    assert imports.cancel(staged.id, now=250) is True
    assert imports.apply(staged.id, now=300) is None
    assert storage.contacts.count() == 0
    got = imports.get(staged.id)
    assert got is not None and (got.state, got.size) == ("cancelled", 0)


def test_an_import_that_fails_half_way_leaves_the_book_and_the_import_as_they_were(storage: Storage) -> None:
    imports = storage.contacts.imports
    staged = imports.create(by=5, chat_id=5, rows=[(IVAN, "Иван"), (PETR, "   ")], now=200)  # the book's CHECK
    with pytest.raises(Exception, match="CHECK"):
        imports.apply(staged.id, now=300)
    assert storage.contacts.count() == 0
    got = imports.get(staged.id)
    assert got is not None and got.state == "previewed"


def test_an_import_naming_a_number_twice_keeps_the_last_name_and_counts_the_number_once(storage: Storage) -> None:
    storage.contacts.set(PETR, "Пётр", by=1, now=100)
    rows = [(IVAN, "Иван"), (PETR, "Петя"), (IVAN, "Иван Ёлкин"), (PETR, "Пётр")]
    staged = storage.contacts.imports.create(by=5, chat_id=5, rows=rows, now=200)
    assert storage.contacts.imports.apply(staged.id, now=300) == ImportResult(added=1, updated=0, unchanged=1)
    assert storage.contacts.names([IVAN, PETR]) == {IVAN: "Иван Ёлкин", PETR: "Пётр"}
    assert [c.number for c in storage.contacts.search("елкин", 10)] == [IVAN]  # folded as /name folds it


def test_an_import_applied_in_a_worker_thread_builds_no_object_per_row(db_path: Path) -> None:
    """No garbage collection while 20,000 rows are applied: a collection holds the event loop, whichever thread runs
    it, and the rows' lists and tuples made a hundred of them, one of them full (bench/archive.py part 5)."""
    rows = [(f"7916{n:07d}", f"Клиент {n}") for n in range(20_000)]
    with Storage.open(db_path) as storage:
        staged = storage.contacts.imports.create(by=5, chat_id=5, rows=rows, now=200)
    collections: list[int] = []

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()  # the count of new objects starts from nothing
    gc.callbacks.append(collected)
    try:
        assert apply_import(db_path, staged.id, now=300) == ImportResult(added=20_000, updated=0)
    finally:
        gc.callbacks.remove(collected)
    assert collections == []


def test_a_worker_thread_reads_names_through_its_own_read_only_connection(db_path: Path) -> None:
    with Storage.open(db_path) as storage:
        storage.contacts.set(IVAN, "Иван", by=1, now=100)
        assert known_names(db_path, [IVAN, PETR]) == {IVAN: "Иван"}


KILLED_MID_IMPORT = """
import os, signal, sys
from storage import Storage

storage = Storage.open(sys.argv[1])
steps = 0

def kill_after_a_while() -> int:
    global steps
    steps += 1
    if steps == 4_600:  # about half of the 5,000 rows written (the upsert writes them from ~3,000 to ~6,150)
        os.kill(os.getpid(), signal.SIGKILL)
    return 0

storage.db.conn.set_progress_handler(kill_after_a_while, 100)
storage.contacts.imports.apply(int(sys.argv[2]), now=300)
print("not killed")
"""


def test_kill_9_during_an_import_leaves_nothing_half_applied(db_path: Path) -> None:
    rows = [(f"7916{n:07d}", f"Клиент {n}") for n in range(5_000)]
    with Storage.open(db_path) as storage:
        staged = storage.contacts.imports.create(by=5, chat_id=5, rows=rows, now=200)
    script = textwrap.dedent(KILLED_MID_IMPORT)
    done = subprocess.run(
        [sys.executable, "-c", script, str(db_path), str(staged.id)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -9, done.stdout + done.stderr
    with Storage.open(db_path) as storage:
        assert storage.contacts.count() == 0
        got = storage.contacts.imports.get(staged.id)
        assert got is not None and got.state == "previewed"
        assert storage.contacts.imports.apply(staged.id, now=400) == ImportResult(added=5_000, updated=0)
        assert storage.contacts.count() == 5_000


def test_previews_left_undecided_expire_and_let_their_rows_go(storage: Storage) -> None:
    imports = storage.contacts.imports
    old = imports.create(by=5, chat_id=5, rows=[(IVAN, "Иван Петров")], now=100)
    fresh = imports.create(by=5, chat_id=5, rows=[(PETR, "Пётр")], now=900)
    applied = imports.create(by=5, chat_id=5, rows=[(ANNA, "Анна")], now=100)
    imports.apply(applied.id, now=150)
    assert imports.expire(before=500, now=1_000) == 1
    expired = imports.get(old.id)
    assert expired is not None and (expired.state, expired.size) == ("cancelled", 0)
    assert imports.apply(old.id, now=1_001) is None and storage.contacts.get(IVAN) is None
    assert [imports.get(i.id).state for i in (fresh, applied)] == ["previewed", "applied"]  # type: ignore[union-attr]


def test_a_cards_name_and_note_are_written_together_with_their_audit_and_only_when_changed(storage: Storage) -> None:
    book = storage.contacts
    first = book.edit(IVAN, name="Иван", note="Просил счёт", by=7, now=100, origin="app")
    assert first == CardEdit(None, "Иван", None, "Просил счёт") and first.changed
    assert book.get(IVAN) == Contact(IVAN, "Иван", 7, 7, 100, 100)
    assert book.note(IVAN) == Note(IVAN, "Просил счёт", 7, 100)
    same = book.edit(IVAN, name="Иван", note="Просил счёт", by=8, now=200, origin="app")
    assert not same.changed and book.note(IVAN) == Note(IVAN, "Просил счёт", 7, 100)
    assert book.edit(IVAN, name="", note="", by=8, now=300, origin="app") == CardEdit("Иван", None, "Просил счёт", None)
    assert book.get(IVAN) is None and book.note(IVAN) is None
    entries = [(e.action, e.actor_id, e.target, dict(e.details)) for e in reversed(storage.audit.recent())]
    assert entries == [
        ("contact.set", 7, IVAN, {"name": "Иван", "before": None, "origin": "app"}),
        ("contact.note", 7, IVAN, {"note": "Просил счёт", "before": None, "origin": "app"}),
        ("contact.remove", 8, IVAN, {"name": "Иван", "origin": "app"}),
        ("contact.note", 8, IVAN, {"note": None, "before": "Просил счёт", "origin": "app"}),
    ]
