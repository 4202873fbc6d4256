"""Telegram's initData as the Mini App checks it, and the server's own link tokens: whatever part is tampered with,
the request is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.miniapp import auth
from bot.miniapp.auth import AuthRefused, Links, check_init_data, init_data_for, sign_init_data

TOKEN = "123456:LOCAL-token-for-the-fake-bot-api"
OTHER_TOKEN = "654321:ANOTHER-token-for-another-bot-xx"
HOUR = 3600
NOW = 1_800_000_000

keys = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda k: k not in {"hash", "user", "auth_date"}
)
values = st.text(max_size=40)  # any characters: & = + % \n and non-ASCII are the ones that go wrong


def fields_of(extra: dict[str, str], *, auth_date: int = NOW, user_id: int = 42) -> dict[str, str]:
    user = {"id": user_id, "first_name": "Анна", "language_code": "en"}
    return {**extra, "auth_date": str(auth_date), "user": json.dumps(user, ensure_ascii=False)}


def check(raw: str, *, token: str = TOKEN, now: float = NOW) -> auth.InitData:
    return check_init_data(raw, token, max_age=HOUR, now=now)


def refused(raw: str, **options: object) -> str:
    with pytest.raises(AuthRefused) as caught:
        check(raw, **options)  # type: ignore[arg-type]
    return caught.value.code


def test_telegram_s_shape_is_read() -> None:
    raw = init_data_for(7, TOKEN, first_name="Анна", language_code="en", start_param="alert-12", auth_date=NOW)
    found = check(raw)
    assert found == auth.InitData(
        telegram_id=7,
        first_name="Анна",
        last_name=None,
        username=None,
        language_code="en",
        start_param="alert-12",
        auth_date=NOW,
    )


def test_the_hash_is_telegram_s() -> None:
    """Independently of the module: Telegram's recipe over the sorted, URL-decoded pairs (its documentation)."""
    raw = init_data_for(7, TOKEN, auth_date=NOW, start_param="x y&z")
    pairs = dict(parse_qsl(raw))
    given_hash = pairs.pop("hash")
    check_string = "\n".join(f"{k}={v}" for k, v in sorted(pairs.items()))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    assert given_hash == hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()


@settings(max_examples=200, deadline=None)
@given(extra=st.dictionaries(keys, values, max_size=5))
def test_any_fields_signed_pass_and_in_any_order(extra: dict[str, str]) -> None:
    raw = sign_init_data(fields_of(extra), TOKEN)
    assert check(raw).telegram_id == 42
    reordered = urlencode(list(reversed(parse_qsl(raw, keep_blank_values=True))))  # the order on the wire is free
    assert check(reordered).telegram_id == 42


@settings(max_examples=200, deadline=None)
@given(extra=st.dictionaries(keys, values, max_size=5), data=st.data())
def test_a_changed_field_is_refused(extra: dict[str, str], data: st.DataObject) -> None:
    fields = fields_of(extra)
    pairs = parse_qsl(sign_init_data(fields, TOKEN), keep_blank_values=True)
    name = data.draw(st.sampled_from(sorted(fields)))
    new = data.draw(values.filter(lambda v: v != fields[name]))
    tampered = urlencode([(k, new if k == name else v) for k, v in pairs])
    assert refused(tampered) == "auth_invalid"


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(keys, values, max_size=5), added=st.tuples(keys, values))
def test_an_added_field_is_refused(extra: dict[str, str], added: tuple[str, str]) -> None:
    raw = sign_init_data(fields_of(extra), TOKEN)
    key, value = added
    if key in extra:
        value = extra[key] + "x"
    assert refused(raw + "&" + urlencode({key: value})) == "auth_invalid"


def test_a_changed_hash_is_refused() -> None:
    raw = init_data_for(7, TOKEN, auth_date=NOW)
    pairs = parse_qsl(raw)
    good = dict(pairs)["hash"]
    for bad in (good[:-1] + ("0" if good[-1] != "0" else "1"), good.upper(), good[:-2], good + "00", ""):
        assert refused(urlencode([(k, bad if k == "hash" else v) for k, v in pairs])) == "auth_invalid"


def test_a_missing_hash_is_refused() -> None:
    raw = init_data_for(7, TOKEN, auth_date=NOW)
    assert refused(urlencode([(k, v) for k, v in parse_qsl(raw) if k != "hash"])) == "auth_invalid"


def test_a_duplicate_key_is_refused() -> None:
    """Whichever of the two a parser keeps, the request is not taken: not even the same value twice."""
    raw = init_data_for(7, TOKEN, auth_date=NOW)
    pairs = parse_qsl(raw)
    user = dict(pairs)["user"]
    stranger = json.dumps({"id": 666, "first_name": "Eve"})
    assert refused(raw + "&" + urlencode({"user": stranger})) == "auth_invalid"
    assert refused(urlencode([("user", stranger), *pairs])) == "auth_invalid"
    assert refused(raw + "&" + urlencode({"user": user})) == "auth_invalid"
    assert refused(raw + "&" + urlencode({"hash": dict(pairs)["hash"]})) == "auth_invalid"


def test_signed_unsorted_is_refused() -> None:
    """The check string is sorted by key: a signer who did not sort signed something else."""
    fields = fields_of({"query_id": "AAE"})
    unsorted = "\n".join(f"{k}={v}" for k, v in fields.items())  # query_id, auth_date, user
    assert unsorted != "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    signed = hmac.new(secret, unsorted.encode(), hashlib.sha256).hexdigest()
    assert refused(urlencode({**fields, "hash": signed})) == "auth_invalid"


def test_another_bot_s_token_is_refused() -> None:
    assert refused(init_data_for(7, OTHER_TOKEN, auth_date=NOW)) == "auth_invalid"
    assert refused(init_data_for(7, TOKEN, auth_date=NOW), token=OTHER_TOKEN) == "auth_invalid"


@pytest.mark.parametrize(
    ("age", "code"),
    [
        (0, None),
        (HOUR, None),
        (HOUR + 1, "auth_expired"),
        (-60, None),
        (-61, "auth_expired"),
        (10 * HOUR, "auth_expired"),
    ],
)
def test_age(age: int, code: str | None) -> None:
    """At most MINIAPP_AUTH_MAX_AGE old, and at most a minute ahead of the server's clock."""
    raw = init_data_for(7, TOKEN, auth_date=NOW - age, language_code="en")
    if code is None:
        assert check(raw).telegram_id == 7
    else:
        with pytest.raises(AuthRefused) as caught:
            check(raw)
        assert (caught.value.code, caught.value.language) == (code, "en")  # signed: said in the user's language


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        "a=1&&b=2",
        "user=%FF%FE&auth_date=1&hash=00",  # not UTF-8
        "x" * (auth.MAX_INIT_DATA + 1),
    ],
)
def test_malformed_is_refused(raw: str) -> None:
    assert refused(raw) == "auth_invalid"


def test_nothing_is_missing() -> None:
    assert refused("") == "auth_missing"


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_date": str(NOW)},  # no user
        {"auth_date": str(NOW), "user": "not json"},
        {"auth_date": str(NOW), "user": json.dumps({"first_name": "no id"})},
        {"auth_date": "soon", "user": json.dumps({"id": 7})},
        {"user": json.dumps({"id": 7})},  # no auth_date
    ],
)
def test_signed_but_malformed_is_refused(fields: dict[str, str]) -> None:
    assert refused(sign_init_data(fields, TOKEN)) == "auth_invalid"


def test_a_link_token_is_bound_to_its_user_resource_and_time() -> None:
    links = Links(TOKEN)
    resource = auth.resource_of("/app/api/recording/12", {})
    token = links.token(7, resource, now=NOW)
    assert links.check(token, resource, now=NOW + auth.LINK_SECONDS) == 7
    with pytest.raises(AuthRefused, match="auth_expired"):
        links.check(token, resource, now=NOW + auth.LINK_SECONDS + 1)
    for other in ("/app/api/recording/13", "/app/api/recording/12?x=1"):
        with pytest.raises(AuthRefused, match="auth_invalid"):
            links.check(token, other, now=NOW)
    user, expires, mac = token.split(".")
    for forged in (f"8.{expires}.{mac}", f"{user}.{int(expires) + 600}.{mac}", f"{user}.{expires}", "", "a.b.c"):
        with pytest.raises(AuthRefused, match="auth_invalid"):
            links.check(forged, resource, now=NOW)
    with pytest.raises(AuthRefused, match="auth_invalid"):
        Links(OTHER_TOKEN).check(token, resource, now=NOW)


def test_a_link_s_query_is_part_of_its_resource_in_any_order() -> None:
    links = Links(TOKEN)
    token = links.token(7, auth.resource_of("/app/api/chart", {"period": "7d", "b": "2"}), now=time.time())
    assert links.check(token, auth.resource_of("/app/api/chart", [("b", "2"), ("period", "7d"), ("t", token)])) == 7
    with pytest.raises(AuthRefused):
        links.check(token, auth.resource_of("/app/api/chart", {"period": "30d", "b": "2"}))
