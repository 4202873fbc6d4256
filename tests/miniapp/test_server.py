"""The Mini App's server as the page and anyone else on the network meet it: headers on every answer, who is let in,
what each refusal says, the rate limit, and that no secret ever leaves (in an answer or the log)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pydantic
import pytest

from bot.config import Settings, describe_errors
from bot.miniapp import auth, server
from localchat.settings import TOKEN
from tests.bot.conftest import ADMIN, MANAGER, MEMBER_NAME, STRANGER
from tests.miniapp.conftest import Answer, MiniApp, MiniAppFactory

CSP = (
    "default-src 'none'; script-src 'self' https://telegram.org/js/telegram-web-app.js; style-src 'self'; "
    "img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; frame-ancestors https://web.telegram.org https://*.telegram.org 'self'; "
    "base-uri 'none'; form-action 'none'"
)


def assert_headers(answer: Answer, *, api: bool) -> None:
    assert answer.headers["Content-Security-Policy"] == CSP
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    if api:
        assert answer.headers["Cache-Control"] == "no-store"


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The page's files (wt-page ships the real ones in bot/miniapp/static/)."""
    static = tmp_path / "static"
    (static / "vendor").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>desk</title>")
    (static / "app.js").write_text("export {};")
    (static / "vendor" / "lib.js").write_text("export const lib = 1;")
    (static / ".secret").write_text("hidden")
    monkeypatch.setattr(server, "STATIC", static)
    return static


async def test_the_page_and_its_files_are_served_with_the_headers(miniapp: MiniApp, page: Path) -> None:
    index = await miniapp.get("/app/", as_user=None)
    assert (index.status, index.body) == (200, b"<!doctype html><title>desk</title>")
    assert index.headers["Content-Type"].startswith("text/html")
    assert_headers(index, api=False)
    script = await miniapp.get("/app/static/app.js", as_user=None)
    assert (script.status, script.body) == (200, b"export {};")
    assert "javascript" in script.headers["Content-Type"]
    assert_headers(script, api=False)
    # Asked again on each open (a 304 when unchanged): an upgraded bot never pairs its API with an old app.js.
    assert index.headers["Cache-Control"] == script.headers["Cache-Control"] == "no-cache"
    assert (await miniapp.get("/app/static/vendor/lib.js", as_user=None)).status == 200
    for path in ("/app/static/.secret", "/app/static/../server.py", "/app/static/%2e%2e/server.py", "/app/nothing"):
        missing = await miniapp.get(path, as_user=None)
        assert missing.status == 404, path
        assert_headers(missing, api=False)


async def test_every_api_answer_has_the_headers(miniapp: MiniApp) -> None:
    ok = await miniapp.get("/app/api/me")
    assert ok.status == 200
    assert_headers(ok, api=True)
    for answer in (
        await miniapp.get("/app/api/me", as_user=None),
        await miniapp.get("/app/api/me", as_user=STRANGER),
        await miniapp.get("/app/api/nothing"),
        await miniapp.request("DELETE", "/app/api/me"),
    ):
        assert answer.status in (401, 403, 404, 400)
        assert_headers(answer, api=True)
        assert set(answer.json) == {"error", "message"}


def tampered(raw: str) -> str:
    """The same initData with another user id in it (the hash left as it was)."""
    pairs = parse_qsl(raw)
    return urlencode([(k, v.replace(f'"id":{MANAGER}', f'"id":{ADMIN}') if k == "user" else v) for k, v in pairs])


async def test_who_is_refused_and_what_they_are_told(miniapp: MiniApp) -> None:
    miniapp.world.make_manager()
    good = miniapp.init_data(MANAGER)
    assert (await miniapp.get("/app/api/me", init_data=good)).status == 200
    cases = [
        (None, 401, "auth_missing", "Откройте приложение из чата с ботом в Telegram: без этого не понять, кто вы."),
        (
            tampered(good),
            401,
            "auth_invalid",
            "Telegram не подтвердил, кто вы. Закройте приложение и откройте его снова из чата с ботом.",
        ),
        (
            miniapp.init_data(MANAGER, auth_date=int(time.time()) - 3601),
            401,
            "auth_expired",
            "Вход устарел. Закройте приложение и откройте его снова из чата с ботом.",
        ),
        (
            miniapp.init_data(MANAGER, auth_date=int(time.time()) - 3601, language_code="en"),
            401,
            "auth_expired",
            "Your sign-in is out of date. Close the app and open it again from the chat with the bot.",
        ),
        (
            miniapp.init_data(STRANGER),
            403,
            "stranger",
            "Нет доступа: приложение только для сотрудников компании. Отправьте боту /start в личном чате, чтобы "
            "запросить доступ.",
        ),
        (
            miniapp.init_data(STRANGER, language_code="en-GB"),
            403,
            "stranger",
            "No access: the app is for the company's staff only. Send /start to the bot in a private chat to ask for "
            "access.",
        ),
    ]
    for raw, status, code, words in cases:
        answer = await miniapp.get("/app/api/me", as_user=None, init_data=raw)
        assert (answer.status, answer.json) == (status, {"error": code, "message": words}), code
    other = await miniapp.get("/app/api/me", headers={"Authorization": f"Bearer {good}"}, as_user=None)
    assert (other.status, other.json["error"]) == (401, "auth_invalid")


async def test_a_manager_whose_member_is_gone_is_refused_in_words(miniapp: MiniApp) -> None:
    miniapp.world.make_manager()
    company = miniapp.world.sandbox.company
    company.members[:] = [m for m in company.members if m.name != MEMBER_NAME]
    miniapp.world.services.directory.ttl = 0  # the cached list has expired
    answer = await miniapp.get("/app/api/me", as_user=MANAGER)
    assert answer.status == 403
    assert answer.json == {
        "error": "member_gone",
        "message": f"Сотрудника «{MEMBER_NAME}», от имени которого вы работаете, больше нет в «Нью-Тел», поэтому "
        "данные компании вам сейчас недоступны. Обратитесь к администратору.",
    }
    (told,) = await miniapp.world.replies(ADMIN)  # as when a command is refused: the admins hear of it once
    assert MEMBER_NAME in told["text"]


async def test_too_many_requests_get_429_for_that_user_only(miniapp: MiniApp) -> None:
    miniapp.world.make_manager()
    raw = miniapp.init_data(ADMIN)
    began = time.monotonic()
    answers = await asyncio.gather(*(miniapp.get("/app/api/nothing", init_data=raw) for _ in range(80)))
    took = time.monotonic() - began
    served = [a for a in answers if a.status == 404]
    slowed = [a for a in answers if a.status == 429]
    assert len(served) + len(slowed) == 80
    assert len(served) <= server.BURST + server.RATE * took + 1
    assert slowed, "the burst was let through"
    assert slowed[0].json == {
        "error": "slow_down",
        "message": "Слишком много запросов. Подождите секунду и попробуйте ещё раз.",
    }
    assert int(slowed[0].headers["Retry-After"]) >= 1
    assert (await miniapp.get("/app/api/me", as_user=MANAGER)).status == 200  # another user is not held back


async def test_a_link_token_opens_its_own_resource_only(miniapp: MiniApp) -> None:
    """A URL the browser fetches itself (an <audio src>) carries a token bound to the user and the resource."""
    links = auth.Links(TOKEN)
    own = links.token(ADMIN, "/app/api/me")
    assert (await miniapp.get("/app/api/me", as_user=None, params={"t": own})).status == 200
    elsewhere = await miniapp.get("/app/api/journal", as_user=None, params={"t": own})
    assert (elsewhere.status, elsewhere.json["error"]) == (401, "auth_invalid")
    stranger = links.token(STRANGER, "/app/api/me")
    assert (await miniapp.get("/app/api/me", as_user=None, params={"t": stranger})).status == 403
    expired = links.token(ADMIN, "/app/api/me", now=time.time() - auth.LINK_SECONDS - 1)
    late = await miniapp.get("/app/api/me", as_user=None, params={"t": expired})
    assert (late.status, late.json["error"]) == (401, "auth_expired")


@pytest.mark.parametrize(
    ("method", "path", "as_user", "query", "body", "refusal"),
    [
        ("GET", "/app/api/recording/x", None, {"t": "².1.a"}, None, (401, "auth_invalid")),  # before sign-in
        ("GET", "/app/api/recording/x", None, {"t": "1.²³.a"}, None, (401, "auth_invalid")),
        ("GET", "/app/api/journal", ADMIN, {"limit": "²"}, None, (400, "bad_input")),
        ("POST", "/app/api/customer/79161234567/callback", ADMIN, None, {"confirm": "².e30.a"}, (400, "bad_input")),
        ("POST", "/app/api/misses/١/take", ADMIN, None, {}, (404, "not_found")),  # another script's digit: no route
    ],
)
async def test_digits_that_are_not_ascii_are_refused_in_words_and_log_no_error(
    miniapp: MiniApp,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    as_user: int | None,
    query: dict[str, str] | None,
    body: object,
    refusal: tuple[int, str],
) -> None:
    """``str.isdigit`` takes "²", which ``int`` refuses: every number from outside is read as ASCII digits only."""
    caplog.set_level(logging.WARNING)
    answer = await miniapp.request(method, path, as_user=as_user, params=query, body=body)
    assert (answer.status, answer.json["error"]) == refusal, answer.body
    assert answer.json["message"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_start_with_digits_that_are_not_ascii_opens_no_miss(miniapp: MiniApp) -> None:
    """``startapp`` is anyone's to write in a t.me link."""
    answer = await miniapp.get("/app/api/me", init_data=miniapp.init_data(ADMIN, start_param="alert-²"))
    assert (answer.status, answer.json["start"]) == (200, None)


async def test_a_big_body_is_refused(miniapp: MiniApp) -> None:
    answer = await miniapp.request("POST", "/app/api/me", body={"note": "x" * (server.MAX_BODY + 1)})
    assert (answer.status, answer.json["error"]) == (400, "bad_input")


async def test_no_secret_in_any_answer_or_the_log(miniapp: MiniApp, caplog: pytest.LogCaptureFixture) -> None:
    """initData is a credential (it is the user for an hour): it is never logged, nor any key shown."""
    caplog.set_level(logging.DEBUG)
    miniapp.world.make_manager()
    settings = miniapp.world.settings
    raw = miniapp.init_data(MANAGER)
    answers = [
        await miniapp.get("/app/api/me", init_data=raw),
        await miniapp.get("/app/api/journal", init_data=raw, params={"q": "Иван"}),
        await miniapp.get("/app/api/nothing", init_data=raw),
        await miniapp.get("/app/api/me", init_data=tampered(raw)),
        await miniapp.get("/app/api/journal", init_data=raw, params={"before": "bad"}),
    ]
    secrets = [
        TOKEN,
        TOKEN.split(":")[1],
        settings.newtel_access_key.get_secret_value(),
        settings.newtel_signing_key.get_secret_value(),
        raw,
        dict(parse_qsl(raw))["hash"],
    ]
    for answer in answers:
        shown = answer.body.decode() + repr(dict(answer.headers))
        assert not [s for s in secrets if s in shown]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert not [s for s in secrets if s in logged]


async def test_it_is_served_when_polling_and_says_where(
    make_miniapp: MiniAppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.web")
    async with make_miniapp() as app:
        port = app.base.rsplit(":", 1)[1]
        said = [r.getMessage() for r in caplog.records if r.name == "bot.web"]
        assert any(f"the Mini App (/app/): listening on 127.0.0.1:{port}" in line for line in said), said
        assert (await app.get("/newtel/anything", as_user=None)).status == 404  # no doorbell without its secret


async def test_it_is_off_without_miniapp_url(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp(miniapp_url=None) as app:
        assert app.world.app.bot_data.web is None  # no server at all: nothing else asked for one


def test_miniapp_settings_as_an_operator_writes_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    keys = {"telegram_bot_token": "1:" + "x" * 30, "newtel_access_key": "a" * 48, "newtel_signing_key": "b" * 48}
    default = Settings(**keys)
    assert (default.miniapp_url, default.miniapp_auth_max_age, default.miniapp_short_name) == (None, 3600, None)
    monkeypatch.setenv("MINIAPP_URL", "https://bot.example.com/app")
    monkeypatch.setenv("MINIAPP_SHORT_NAME", "desk_app")
    monkeypatch.setenv("MINIAPP_AUTH_MAX_AGE", "600")
    given = Settings(**keys)
    assert (given.miniapp_url, given.miniapp_auth_max_age, given.miniapp_short_name) == (
        "https://bot.example.com/app/",  # the page's base: its files and API are beside it
        600,
        "desk_app",
    )
    for name, value, said in (
        ("MINIAPP_URL", "bot.example.com/app", "MINIAPP_URL must be the page's address, https://your.host/app/"),
        ("MINIAPP_URL", "https://bot.example.com/app/?x=1", "MINIAPP_URL must be the page's address"),
        ("MINIAPP_SHORT_NAME", "t.me/bot/app", "MINIAPP_SHORT_NAME must be the app's short name from BotFather"),
        ("MINIAPP_AUTH_MAX_AGE", "5", "MINIAPP_AUTH_MAX_AGE"),
    ):
        with monkeypatch.context() as bad:
            bad.setenv(name, value)
            with pytest.raises(pydantic.ValidationError) as raised:
                Settings(**keys)
            assert said in describe_errors(raised.value), name
