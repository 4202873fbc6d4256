"""``python -m newtel METHOD [key=value ...]``: call one New-Tel method and print its data as JSON.

Reads NEWTEL_API_URL, NEWTEL_ACCESS_KEY and NEWTEL_SIGNING_KEY from the environment or ``.env``, and
NEWTEL_RECORDING_HOSTS (where a recording's link may lead; New-Tel's hosts by default) as the bot does.
Example: ``python -m newtel call/start-simple-call srcNumber=101 dstNumber="+7 916 111-22-33" callerId=74951234567``
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from newtel._client import DEFAULT_BASE_URL, NewtelClient
from newtel._errors import NewtelError
from newtel._links import DEFAULT_LINK_HOSTS, parse_link_hosts

_PYTHON_NAMES = {"async": "asynchronous"}  # parameters whose documented name is a Python keyword
_INTEGERS = {"timeout"}


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_prefix="NEWTEL_", extra="ignore")

    api_url: str = DEFAULT_BASE_URL
    access_key: SecretStr
    signing_key: SecretStr
    recording_hosts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_LINK_HOSTS  # comma-separated

    @field_validator("recording_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return parse_link_hosts(value) if isinstance(value, str) else value


def _python_name(parameter: str) -> str:
    return _PYTHON_NAMES.get(parameter) or re.sub(r"(?<!^)(?=[A-Z])", "_", parameter).lower()


def _parse_arguments(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise SystemExit(f"error: expected key=value, got {pair!r}")
        params[key] = int(value) if key in _INTEGERS and value.isdigit() else value
    return params


async def _call(client: NewtelClient, method: str, params: dict[str, Any]) -> Any:
    """The typed method when the name is documented (so parameters are validated), else a raw request."""
    group_name, _, action = method.strip("/").partition("/")
    group = getattr(client, group_name, None) if group_name in ("company", "user", "call", "vpbx") else None
    function = getattr(group, action.replace("-", "_"), None) if group is not None else None
    if function is None:
        return await client.request(method, params)
    kwargs = {_python_name(key): value for key, value in params.items()}
    if method == "call/start-password-call" and "asynchronous" in kwargs:
        flag = str(kwargs["asynchronous"])  # the documented 0 or 1; anything else is refused below
        kwargs["asynchronous"] = {"0": False, "1": True}.get(flag, flag)
    try:
        return await function(**kwargs)
    except TypeError as error:  # a parameter the method does not take, or one missing
        raise SystemExit(f"error: {method}: {error}") from None


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, by_alias=True)


async def _run(method: str, params: dict[str, Any]) -> int:
    try:
        settings = CliSettings()  # filled from the environment
    except ValidationError as error:
        missing = ", ".join("NEWTEL_" + str(e["loc"][0]).upper() for e in error.errors())
        print(f"error: set {missing} in the environment or .env", file=sys.stderr)
        return 2
    try:
        async with NewtelClient(
            settings.access_key, settings.signing_key, settings.api_url, link_hosts=settings.recording_hosts
        ) as client:
            result = await _call(client, method, params)
    except NewtelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(_jsonable(result), ensure_ascii=False, indent=2, default=str))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    return asyncio.run(_run(args[0], _parse_arguments(args[1:])))


if __name__ == "__main__":
    sys.exit(main())
