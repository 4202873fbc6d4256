"""One error tree for everything the client can report, and the one function that maps responses onto it.

Every error carries the method name, the HTTP status and the server's own message where there was one;
none carries a key or a token (the transport never passes them in).
"""

from __future__ import annotations


class NewtelError(Exception):
    """The root: catch this to handle anything the New-Tel client raises."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        http_status: int | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.http_status = http_status
        self.server_message = server_message

    def __str__(self) -> str:
        context = [part for part in (self.method, self.http_status and f"HTTP {self.http_status}") if part]
        return f"{self.message} ({', '.join(map(str, context))})" if context else self.message

    @property
    def may_have_run(self) -> bool:
        """Whether the server may have carried the request out although it failed: for a call start, whether
        the phone may ring anyway, so that "try again" could ring twice. A refusal or an error found before
        sending says no."""
        return False


class ConfigurationError(NewtelError, ValueError):
    """The client was constructed with unusable settings (e.g. a key of the wrong shape)."""


class ValidationError(NewtelError, ValueError):
    """A parameter breaks the documented rules; raised before any network traffic."""

    def __init__(self, parameter: str, rule: str, *, method: str | None = None) -> None:
        super().__init__(f"{parameter}: {rule}", method=method)
        self.parameter = parameter
        self.rule = rule


# --- transport: the request did not produce an HTTP response -------------------------------------------


class TransportError(NewtelError):
    """No usable HTTP response. ``maybe_sent`` tells whether the server may have received the request."""

    def __init__(self, message: str, *, method: str | None = None, maybe_sent: bool = True) -> None:
        super().__init__(message, method=method)
        self.maybe_sent = maybe_sent

    @property
    def may_have_run(self) -> bool:
        return self.maybe_sent


class NetworkError(TransportError):
    """The connection failed or broke."""


class Timeout(TransportError):
    """No response within the configured time."""


# --- the response could not be trusted or understood ---------------------------------------------------


class ResponseError(NewtelError):
    """The server answered with something that is not a well-formed New-Tel response."""

    @property
    def may_have_run(self) -> bool:
        return True  # an answer that cannot be read or trusted may well be a success


class SignatureMismatch(ResponseError):
    """The response's ``Signature`` header does not match its body: it may have been tampered with."""


class SignatureMissing(SignatureMismatch):
    """A successful response has no ``Signature`` header, though the server signs every answer to a signed
    request: it may not come from New-Tel."""


# --- HTTP-level refusals (status error) ------------------------------------------------------------------


class APIError(NewtelError):
    """The server refused the request as a whole (``status: "error"``).

    ``retry_after``: the server's ``Retry-After`` hint in seconds (with 429 and 503), when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        http_status: int | None = None,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, http_status=http_status, server_message=server_message)
        self.retry_after = retry_after


class AuthError(APIError):
    """Authentication failed: wrong keys, a bad signature or a request time outside the ±10 min window."""


class PermissionDenied(APIError):
    """The keys are valid but not allowed to use this method (keys may be issued per product)."""


class AccountBlocked(PermissionDenied):
    """The company's account is blocked; only ``company/get-state`` answers."""


class MethodNotFound(APIError):
    """The server does not know the method."""


class InvalidParameters(APIError):
    """The server rejected the parameters."""


class RateLimited(APIError):
    """Too many requests (HTTP 429); ``retry_after`` says for how long, when the server said."""


class ServerError(APIError):
    """The server failed (HTTP 5xx)."""

    @property
    def may_have_run(self) -> bool:
        return True  # it may have failed after doing the work


# --- method-level errors (HTTP 200, data.result == "error") ---------------------------------------------


class MethodError(NewtelError):
    """The method ran and reported an error of its own."""


class CallNotFound(MethodError):
    """No call with that id (or it has left the 24-hour cache)."""


class MemberNotFound(MethodError):
    """No company member with that name."""


class RecordNotFound(MethodError):
    """The call has no recording."""


class LinkRefused(RecordNotFound):
    """New-Tel's link to a file (or a redirect on the way to it) is not an http(s) URL on the hosts links may lead
    to: it is not followed, so to the caller there is no recording. Its text never carries the link."""


class SameSourceAndDestination(MethodError):
    """``srcNumber`` and ``dstNumber`` are the same."""


class CallerIdNotAllowed(MethodError):
    """The company may not show that ``callerId``."""


class InboundCallOnly(MethodError):
    """The method works on inbound calls only."""


class OutboundCallOnly(MethodError):
    """The method works on outbound calls only."""


_METHOD_ERRORS: dict[str, type[MethodError]] = {
    "call not found": CallNotFound,
    "call not found or unavailable": CallNotFound,
    "member not found": MemberNotFound,
    "record not found": RecordNotFound,
    "destination and source numbers must not match": SameSourceAndDestination,
    "specified caller id not allowed": CallerIdNotAllowed,
    "method for inbound call only": InboundCallOnly,
    "method for outbound call only": OutboundCallOnly,
}

_HTTP_ERRORS: dict[int, type[APIError]] = {
    400: InvalidParameters,
    401: AuthError,
    403: PermissionDenied,
    404: MethodNotFound,
    429: RateLimited,
}

_ACCOUNT_BLOCKED = "company account is blocked"


def method_error(method: str, message: str | None) -> MethodError:
    """The error for ``data.result == "error"``, chosen by the documented message."""
    text = message or "The method reported an error"
    cls = _METHOD_ERRORS.get(text.strip().rstrip(".").lower(), MethodError)
    return cls(text, method=method, http_status=200, server_message=message)


def api_error(method: str, http_status: int, message: str | None, retry_after: float | None = None) -> APIError:
    """The error for a refused request, chosen by HTTP status (and the message where the status is shared)."""
    text = message or f"HTTP {http_status}"
    cls = _HTTP_ERRORS.get(http_status, ServerError if http_status >= 500 else APIError)
    if http_status == 403:
        if text.strip().rstrip(".").lower() == _ACCOUNT_BLOCKED:
            cls = AccountBlocked
        else:
            text = f"{text}: these API keys may not be allowed to use {method}"
    return cls(text, method=method, http_status=http_status, server_message=message, retry_after=retry_after)
