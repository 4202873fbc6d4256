"""Health and metrics end to end: the real Application between the New-Tel sandbox and the fake Bot API, its
monitoring listener asked over real loopback HTTP (``GET /healthz``, ``GET /metrics``), and the admins' /status."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from telegram.error import BadRequest
from telegram.ext import CommandHandler

import bot
from bot.config import Settings
from bot.monitor import Monitor, lag
from bot.ratelimit import PatientRateLimiter, _asked_to_wait
from localchat import FakeBotAPI
from localchat.settings import local_settings
from newtel.sandbox import Sandbox
from tests.bot.conftest import (
    ADMIN,
    GROUP,
    MANAGER,
    STRANGER,
    TOKEN,
    World,
    WorldFactory,
    database_locked,
    eventually,
)
from tests.bot.test_process import clean_env
from tests.conftest import at_noon

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (sample name, its labels) -> value
ALERT = "📵 <b>Пропущенный звонок</b>"


async def get(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}{path}") as answer:
        return answer.status, await answer.text()


async def healthz_until(port: int, wanted: Callable[[int, dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    """/healthz's JSON once ``wanted(status, json)`` holds, asking every 50 ms; fails past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status, text = await get(port, "/healthz")
        found = json.loads(text)
        if wanted(status, found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s; the last answer: {status} {found}")
        await asyncio.sleep(0.05)


async def scrape(port: int) -> Scrape:
    """GET /metrics, parsed as Prometheus parses it."""
    status, text = await get(port, "/metrics")
    assert status == 200
    return parsed(text)


def parsed(text: str) -> Scrape:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(scraped: Scrape, name: str, **labels: str) -> float | None:
    return scraped.get((name, tuple(sorted(labels.items()))))


def missed_call(sandbox: Sandbox, clid: str) -> None:
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=clid, status="no answer", start=now - 20, end=now)


async def test_healthz_holds_while_either_watcher_hears_new_tel_and_fails_past_their_windows(
    make_world: WorldFactory, unused_tcp_port: int
) -> None:
    port = unused_tcp_port
    # Windows: 3 intervals plus NEWTEL_TIMEOUT: the live check's 3 × 0.2 + 1 s, the reconcile's 3 × 0.3 + 1 s.
    async with make_world(
        jobs=True, poll_interval=0.3, live_interval=0.2, newtel_timeout=1, monitor_port=port
    ) as world:
        ok = await healthz_until(port, lambda status, _: status == 200, timeout=10)
        assert ok["checked"] == ["live_check", "reconcile", "database"]
        assert ok["window_seconds"] == {"live_check": 1.6, "reconcile": 1.9}
        assert (ok["stale"], ok["database"]) == ([], "writable")

        # The live watch alone fails: the reconcile still hears New-Tel, so the bot still does its job.
        world.sandbox.faults.fail(status=500, times=10**6, methods={"vpbx/get-active-calls"})
        degraded = await healthz_until(port, lambda _, found: found["stale"] == ["live_check"], timeout=10)
        status, _ = await get(port, "/healthz")
        assert status == 200 and degraded["status"] == "ok"

        # New-Tel down: 503 once neither has heard from it for longer than its window, and only then.
        world.sandbox.faults.fail(status=500, times=10**6)
        down = await healthz_until(port, lambda status, _: status == 503, timeout=15)
        assert (down["status"], down["stale"]) == ("unhealthy", ["live_check", "reconcile"])
        assert down["database"] == "writable"
        told = (await world.ask(ADMIN, "/status")).splitlines()
        assert told[2] == "⚠️ Проверка здоровья (/healthz) не проходит: давно не было живой проверки, сверки"
        assert down["age_seconds"]["reconcile"] >= down["window_seconds"]["reconcile"]  # (both rounded to 0.1 s)

        world.sandbox.faults.clear()  # back
        up = await healthz_until(port, lambda status, _: status == 200, timeout=15)
        assert "reconcile" not in up["stale"] and up["age_seconds"]["reconcile"] < 1.9
        for secret in (TOKEN, world.sandbox.access_key, world.sandbox.signing_key):
            assert secret not in json.dumps(up)


async def test_healthz_fails_while_the_database_takes_no_writes_and_the_loop_never_waits_for_it(
    make_world: WorldFactory, unused_tcp_port: int
) -> None:
    port = unused_tcp_port
    async with make_world(monitor_port=port) as world:  # no jobs: only the probes write
        await world.app.bot_data.poller.reconcile.run()  # heard New-Tel: its window is three hours long
        assert (await healthz_until(port, lambda status, _: status == 200, timeout=5))["database"] == "writable"
        before = await scrape(port)
        with database_locked(world.settings.database_path):
            for _ in range(3):  # each probe waits the 200 ms busy timeout, in a worker thread
                await asyncio.sleep(1.0)  # a probe's result answers for a second
                status, text = await get(port, "/healthz")
                assert (status, json.loads(text)["database"]) == (503, "busy")
            during = await scrape(port)
            told = (await world.ask(ADMIN, "/status")).splitlines()  # an admin asks: answered all the same
            assert told[2] == "⚠️ Проверка здоровья (/healthz) не проходит: база данных занята другим подключением"
        assert (await healthz_until(port, lambda status, _: status == 200, timeout=5))["database"] == "writable"
    late = [
        sample(scraped, "bot_event_loop_lag_seconds_count")
        - sample(scraped, "bot_event_loop_lag_seconds_bucket", le="0.1")  # type: ignore[operator]
        for scraped in (before, during)
    ]
    assert late[1] == late[0]  # no wake-up of the ticker came 100 ms late meanwhile (a probe on the loop: 200 ms)


async def test_metrics_count_the_alerts_posted_telegram_and_new_tel_requests_and_the_loop_lag(
    make_world: WorldFactory, unused_tcp_port: int
) -> None:
    port = unused_tcp_port
    async with make_world(jobs=True, poll_interval=0.3, monitor_port=port) as world:
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
        poller = world.app.bot_data.poller
        await poller.wait_cycles(1)  # the first poll sets the baseline
        first = await scrape(port)
        lists = sample(first, "bot_newtel_requests_total", method="vpbx/get-calls-list")
        assert lists is not None and lists >= 1

        world.tg.faults.fail(status=500, times=1, methods={"sendMessage"})  # retried, posted once
        world.sandbox.faults.fail(status=500, times=1, methods={"vpbx/get-calls-list"})  # retried by the client
        missed_call(world.sandbox, "79160000051")
        missed_call(world.sandbox, "79160000052")
        await world.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, count=2, timeout=10, since=0)
        await poller.wait_cycles(2)
        later = await scrape(port)

        posted = [c for c in world.tg.calls if c.method == "sendMessage" and c.ok and ALERT in c.params["text"]]
        assert len(posted) == 2
        assert sample(later, "bot_alerts_posted_total") == len(posted)
        assert sample(later, "bot_alert_latency_seconds_count") == len(posted)
        assert 0 <= sample(later, "bot_alert_latency_seconds_sum") < 2 * 10  # type: ignore[operator]
        sends = [c for c in world.tg.calls if c.method == "sendMessage"]
        assert sample(later, "bot_telegram_requests_total", method="sendMessage") == len(sends)
        assert sample(later, "bot_telegram_retries_total", method="sendMessage", reason="unavailable") == 1
        assert sample(later, "bot_telegram_errors_total", method="sendMessage", error="NetworkError") is None
        assert sample(later, "bot_newtel_requests_total", method="vpbx/get-calls-list") > lists  # type: ignore[operator]
        assert sample(later, "bot_newtel_errors_total", method="vpbx/get-calls-list", error="ServerError") == 1
        assert sample(later, "bot_outbox_pending", kind="alert") == 0
        assert 0 <= sample(later, "bot_last_success_age_seconds", what="reconcile") < 1.5  # type: ignore[operator]
        assert sample(later, "bot_last_success_age_seconds", what="live_check") is None  # LIVE_INTERVAL=0
        assert sample(later, "bot_last_success_age_seconds", what="backup") is None  # none, and BACKUP_DIR unset
        assert sample(later, "bot_event_loop_lag_seconds_count") > 0  # type: ignore[operator]
        assert sample(later, "bot_info", version=bot.__version__) == 1

        # An alert Telegram will not take yet waits in the outbox; it goes once Telegram takes it.
        world.tg.faults.fail(status=500, times=10**6, methods={"sendMessage"})
        missed_call(world.sandbox, "79160000053")
        for _ in range(200):
            if sample(await scrape(port), "bot_outbox_pending", kind="alert") == 1:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the alert was never counted as waiting")
        world.tg.faults.clear()
        await world.tg.wait_for(
            "sendMessage",
            chat_id=GROUP,
            ok=True,
            since=0,
            timeout=15,
            predicate=lambda c: "916 000-00-53" in c.params["text"],
        )
        await poller.wait_cycles(1)
        world.services.storage.kv.set(
            "backup.last", {"at": int(time.time()) - 600, "path": "/b/1.db", "bytes": 9, "schema": 1}, now=1
        )
        last = await scrape(port)
        assert sample(last, "bot_outbox_pending", kind="alert") == 0
        assert sample(last, "bot_alerts_posted_total") == 3
        assert 600 <= sample(last, "bot_last_success_age_seconds", what="backup") < 610  # type: ignore[operator]
        _, text = await get(port, "/metrics")
        for secret in (TOKEN, world.sandbox.access_key, world.sandbox.signing_key):
            assert secret not in text


async def longest_stall(work: Awaitable[object]) -> float:
    """Seconds: the longest the event loop went without running a task that wakes every millisecond, until ``work``
    is done."""
    job, longest, last = asyncio.ensure_future(work), 0.0, time.monotonic()
    while not job.done():
        await asyncio.sleep(0.001)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    await job
    return longest


async def test_a_full_garbage_collection_walks_only_what_came_after_start_up_whatever_thread_runs_it(
    world: World,
) -> None:
    # A collection holds the interpreter, and so the loop, even in a worker thread (an import's apply, an export).
    walked, kept = len(gc.get_objects()), gc.get_freeze_count()  # (~500 and ~110,000 in this process)
    assert walked < 0.1 * (walked + kept)
    assert await longest_stall(asyncio.to_thread(gc.collect)) < 0.05  # ~2 ms; 70 ms and more before


async def test_a_worker_thread_that_computes_lets_the_loop_run_within_a_millisecond_or_two(world: World) -> None:
    """Each time the loop lets go of the interpreter (to wait, to call SQLite), a thread that computes (an import's
    file read, an export) may take it, and the loop then waits for that thread's turn to end."""
    stop = threading.Event()

    def compute() -> None:
        while not stop.is_set():
            sum(range(1000))

    worker = threading.Thread(target=compute)
    worker.start()
    gaps, last = [], time.monotonic()
    try:
        for _ in range(200):
            await asyncio.sleep(0.001)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    finally:
        stop.set()
        worker.join()
    assert statistics.median(gaps) < 0.004  # ~2.4 ms; Python's 5 ms turns made it ~6.4 ms


def lag_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.monitor.lag" and r.levelno == logging.WARNING]


async def test_a_handler_that_holds_the_loop_is_named_in_one_warning_and_the_minute_s_longest_lag(
    make_world: WorldFactory, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lag, "LAG_WINDOW", 1.0)  # a second's window, not a minute's

    async def hog(update: object, context: object) -> None:
        time.sleep(0.2)  # noqa: ASYNC251 (what no handler should do: hold the loop 200 ms)

    caplog.set_level(logging.WARNING, logger="bot.monitor.lag")
    async with make_world(monitor_port=unused_tcp_port) as world:
        world.app.add_handler(CommandHandler("hog", hog), group=-2)
        world.tg.send_text(ADMIN, "/hog")
        await eventually(lambda: any(" in hog" in line for line in lag_warnings(caplog)), timeout=10)
        (line,) = [line for line in lag_warnings(caplog) if " in hog" in line]
        late = float(line.split("woke up to ", 1)[1].split(" ms late", 1)[0])
        assert 150 <= late < 1000, line  # the task wakes every 50 ms: 150-200 ms late, and the machine's own delays
        assert "task 'Application:" in line and "tests/bot/test_monitor.py:" in line, line
        longest = sample(await scrape(unused_tcp_port), "bot_event_loop_lag_longest_seconds")
    assert longest is not None and longest >= 0.15


async def test_a_garbage_collection_in_another_thread_is_named_when_it_held_the_loop(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lag, "LAG_WINDOW", 1.0)
    monkeypatch.setattr(lag, "LAG_WARN", 0.03)  # whatever this machine's speed, 1,200,000 objects take longer
    caplog.set_level(logging.WARNING, logger="bot.monitor.lag")

    def collect() -> None:
        """A heap built since start-up (not frozen: a full collection walks it), collected whole."""
        heap = [[[]] for _ in range(600_000)]
        gc.collect()
        del heap

    async with make_world():
        collector = threading.Thread(target=collect, name="collector")
        collector.start()
        await eventually(lambda: not collector.is_alive(), timeout=30)
        await eventually(lambda: any("in thread collector" in line for line in lag_warnings(caplog)), timeout=10)
    line = next(line for line in lag_warnings(caplog) if "in thread collector" in line)
    assert "a garbage collection (generation 2) of" in line, line


async def test_the_rate_limiter_counts_each_request_each_retry_and_each_final_failure() -> None:
    monitor, other = Monitor(), Monitor()  # registries of their own: two bots in one process never collide
    limiter, answers = PatientRateLimiter(monitor, overall_max_rate=0), []

    async def telegram(data: dict[str, object]) -> bool:
        answers.append(data)
        if len(answers) == 1:
            raise _asked_to_wait(0.05)  # waited out, then made again
        if data.get("text") == "refused":
            raise BadRequest("Message text is empty")  # final
        return True

    assert await limiter.process_request(telegram, ({"chat_id": 1},), {}, "sendMessage", {"chat_id": 1}, None)
    refused = {"chat_id": 1, "text": "refused"}
    with pytest.raises(BadRequest):
        await limiter.process_request(telegram, (refused,), {}, "editMessageText", refused, None)
    counted = parsed(generate_latest(monitor.registry).decode())
    assert sample(counted, "bot_telegram_requests_total", method="sendMessage") == 2
    assert sample(counted, "bot_telegram_retries_total", method="sendMessage", reason="rate_limited") == 1
    assert sample(counted, "bot_telegram_requests_total", method="editMessageText") == 1
    assert sample(counted, "bot_telegram_errors_total", method="editMessageText", error="BadRequest") == 1
    assert sample(counted, "bot_telegram_errors_total", method="sendMessage", error="RetryAfter") is None
    untouched = parsed(generate_latest(other.registry).decode())
    assert sample(untouched, "bot_telegram_requests_total", method="sendMessage") is None


@at_noon
async def test_status_tells_an_admin_how_the_bot_is(world: World) -> None:
    world.sandbox.faults.fail(status=500, times=1, methods={"company/get-state"})
    assert (await world.ask(ADMIN, "/balance")).startswith("💰 Баланс:")  # after one error, retried
    await world.app.bot_data.poller.reconcile.run()
    backup = {"at": int(time.time()) - 2 * 3600 - 90, "path": "/var/backups/bot.db", "bytes": 12_900_000, "schema": 20}
    world.services.storage.kv.set("backup.last", backup, now=1)
    lines = (await world.ask(ADMIN, "/status")).splitlines()
    assert lines[0] == "Состояние бота"
    assert lines[1].startswith(f"Версия {bot.__version__}, работает ") and lines[1].endswith("; Telegram: long polling")
    assert lines[2:6] == [
        "✅ Проверка здоровья (/healthz): всё в порядке",
        "Живая проверка звонков: отключена (LIVE_INTERVAL=0)",
        "Сверка с «Нью-Тел»: 0\u00a0с назад",
        "Ошибок «Нью-Тел» за час: 1",
    ]
    assert lines[6].startswith("База данных: ") and ", журнал WAL: " in lines[6]
    assert lines[7] == "Резервная копия: 09:58 (2\u00a0ч 01\u00a0мин назад), 12,3\u00a0МБ"
    assert len(lines) == 8

    world.services.storage.kv.delete("backup.last")
    await world.ask(ADMIN, "/lang en")
    lines = (await world.ask(ADMIN, "/status")).splitlines()
    assert lines[0] == "Bot status"
    assert lines[2] == "✅ Health check (/healthz): all is well"
    assert lines[7] == "Last backup: backups off (BACKUP_DIR is not set)"


async def test_status_is_for_admins_in_private_only(world: World, manager: object) -> None:
    asked = len(world.sandbox.requests)
    assert await world.ask(MANAGER, "/status") == "Эта команда доступна только администраторам."
    assert await world.ask(STRANGER, "/status") == (
        "Извините, этот бот работает только для сотрудников компании. Отправьте /start, чтобы запросить доступ."
    )
    assert await world.ask(ADMIN, "/status", chat_id=GROUP) == (
        "Эта команда работает только в личном чате с ботом: в группе ответ увидели бы все."
    )
    assert len(world.sandbox.requests) == asked
    assert "/status — состояние бота" in await world.ask(ADMIN, "/help")


def test_the_monitoring_listener_is_on_loopback_port_8082_unless_told(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    fields = Settings.model_fields
    assert (fields["monitor_listen"].default, fields["monitor_port"].default) == ("127.0.0.1", 8082)
    assert local_settings(sandbox, tg, tmp_path / "bot.db").monitor_port == 0  # demos and tests: off unless given one


async def test_the_listener_serves_loopback_only_says_where_and_port_0_turns_it_off(
    make_world: WorldFactory, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.web")
    port = unused_tcp_port
    async with make_world(monitor_port=port):
        assert (await get(port, "/healthz"))[0] == 200
        with pytest.raises(OSError):  # another loopback address: not listened on
            await asyncio.open_connection("127.0.0.2", port)
        assert (await get(port, "/newtel/anything"))[0] == 404  # neither the doorbell nor the webhook is here
    assert (
        f"Health and metrics (/healthz, /metrics): listening on 127.0.0.1:{port}, on loopback only: only this host can "
        "reach it (MONITOR_LISTEN=0.0.0.0 listens on every address)"
    ) in caplog.messages
    with pytest.raises(OSError):  # stopped with the bot
        await asyncio.open_connection("127.0.0.1", port)

    caplog.clear()
    async with make_world(monitor_port=0) as world:
        assert world.app.bot_data.monitoring is None
        assert world.services.monitor.freshness()  # measuring all the same
    assert not [message for message in caplog.messages if "Health and metrics" in message]


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
async def test_a_bot_on_a_webhook_serves_health_and_metrics_apart(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> None:
    webhook, monitoring = unused_tcp_port_factory(), unused_tcp_port_factory()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=clean_env(
            tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url, NEWTEL_API_URL=sandbox.url,
            NEWTEL_ACCESS_KEY=sandbox.access_key, NEWTEL_SIGNING_KEY=sandbox.signing_key, ADMIN_IDS=str(ADMIN),
            DATABASE_PATH=str(tmp_path / "bot.db"), WEBHOOK_URL=f"http://127.0.0.1:{webhook}/hook",
            WEBHOOK_PORT=str(webhook), WEBHOOK_SECRET="webhook-secret-123", MONITOR_PORT=str(monitoring),
        ),
    )  # fmt: skip
    try:
        await tg.wait_for("setWebhook", timeout=30)
        for _ in range(200):  # it listens just after setWebhook
            try:
                status, text = await get(monitoring, "/healthz")
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
                continue
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert (status, json.loads(text)["status"]) == (200, "ok")
        assert sample(await scrape(monitoring), "bot_info", version=bot.__version__) == 1
        assert (await get(webhook, "/metrics"))[0] == 404  # not beside the webhook
        process.send_signal(2)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert (
        f"Health and metrics (/healthz, /metrics): listening on 127.0.0.1:{monitoring}, on loopback only"
    ) in output.decode()
    assert "Traceback" not in output.decode()
