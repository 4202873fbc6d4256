"""The base of every response model and the one place a response's data becomes typed values."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast

import pydantic
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

from newtel._errors import ResponseError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class NewtelModel(BaseModel):
    """Fields are snake_case in Python and camelCase on the wire; unknown fields are kept, not refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="allow", frozen=True
    )


# Adapters for the single-property responses (``callDirection``, ``registeredNumbersList`` …).
TEXT: TypeAdapter[str] = TypeAdapter(str)
TEXTS: TypeAdapter[list[str]] = TypeAdapter(list[str])
TIME: TypeAdapter[datetime] = TypeAdapter(datetime)
# (mypy reads ``datetime | None`` as a value here, so the argument is passed as Any and the result typed.)
TIME_OR_NONE: TypeAdapter[datetime | None] = TypeAdapter(cast(Any, datetime | None))


def parse_model(model: type[M], data: dict[str, Any], method: str) -> M:
    """``data`` validated as ``model``; a shape the document does not describe is a ``ResponseError``."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise ResponseError(_describe(error), method=method) from None


def parse_field(adapter: TypeAdapter[T], data: dict[str, Any], key: str, method: str) -> T:
    """One documented property of ``data`` (e.g. ``callDirection``) validated as ``kind``."""
    if key not in data:
        raise ResponseError(f"The response has no {key}", method=method)
    try:
        return adapter.validate_python(data[key])
    except pydantic.ValidationError as error:
        raise ResponseError(_describe(error, key), method=method) from None


def _describe(error: pydantic.ValidationError, prefix: str | None = None) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in ((prefix,) if prefix else ()) + tuple(first["loc"]))
    return f"Unexpected response: {where or 'data'}: {first['msg']}"
