"""ClickHouse-style errors: ``Code: N. DB::Exception: message. (NAME)``, with ClickHouse's HTTP statuses."""

from __future__ import annotations

import re

#: Error codes the endpoint raises itself (the engine's own errors carry their code in the message).
CODES: dict[str, int] = {
    "UNSUPPORTED_METHOD": 1,
    "CANNOT_READ_ALL_DATA": 33,
    "BAD_ARGUMENTS": 36,
    "LOGICAL_ERROR": 49,
    "NOT_IMPLEMENTED": 48,
    "UNKNOWN_TABLE": 60,
    "SYNTAX_ERROR": 62,
    "UNKNOWN_FORMAT": 73,
    "UNKNOWN_DATABASE": 81,
    "UNKNOWN_SETTING": 115,
    "INCORRECT_DATA": 117,
    "READONLY": 164,
    "REQUIRED_PASSWORD": 194,
    "NOT_ENOUGH_SPACE": 243,
    "TOO_MANY_SIMULTANEOUS_QUERIES": 202,
    "QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING": 216,
    "QUERY_IS_TOO_LARGE": 229,
    "CANNOT_DECOMPRESS": 271,
    "SESSION_NOT_FOUND": 372,
    "SESSION_IS_LOCKED": 373,
    "HTTP_LENGTH_REQUIRED": 381,
    "QUERY_WAS_CANCELLED": 394,
    "SETTING_CONSTRAINT_VIOLATION": 452,
    "ACCESS_DENIED": 497,
    "AUTHENTICATION_FAILED": 516,
    "UNKNOWN_EXCEPTION": 1002,
}

# HTTP statuses by error name, as ClickHouse's exceptionCodeToHTTPStatus maps them.
_STATUS_BY_NAME: dict[str, int] = {"REQUIRED_PASSWORD": 401}
for _n in (
    "UNKNOWN_USER",
    "WRONG_PASSWORD",
    "AUTHENTICATION_FAILED",
    "SET_NON_GRANTED_ROLE",
    "ACCESS_DENIED",
):
    _STATUS_BY_NAME[_n] = 403
for _n in [
    "BAD_ARGUMENTS",
    "CANNOT_COMPILE_REGEXP",
    "CANNOT_PARSE_TEXT",
    "CANNOT_PARSE_ESCAPE_SEQUENCE",
    "CANNOT_PARSE_QUOTED_STRING",
    "CANNOT_PARSE_DATE",
    "CANNOT_PARSE_DATETIME",
    "CANNOT_PARSE_NUMBER",
    "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
    "CANNOT_PARSE_IPV4",
    "CANNOT_PARSE_IPV6",
    "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    "CANNOT_PARSE_UUID",
    "DUPLICATE_COLUMN",
    "ILLEGAL_COLUMN",
    "UNKNOWN_ELEMENT_IN_AST",
    "UNKNOWN_TYPE_OF_AST_NODE",
    "THERE_IS_NO_COLUMN",
    "TOO_DEEP_AST",
    "TOO_BIG_AST",
    "UNEXPECTED_AST_STRUCTURE",
    "SYNTAX_ERROR",
    "INCORRECT_DATA",
    "TYPE_MISMATCH",
    "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    "CANNOT_DECOMPRESS",
]:
    _STATUS_BY_NAME[_n] = 400
for _n in [
    "UNKNOWN_TABLE",
    "UNKNOWN_FUNCTION",
    "UNKNOWN_IDENTIFIER",
    "UNKNOWN_TYPE",
    "UNKNOWN_STORAGE",
    "UNKNOWN_DATABASE",
    "UNKNOWN_SETTING",
    "UNKNOWN_DIRECTION_OF_SORTING",
    "UNKNOWN_AGGREGATE_FUNCTION",
    "UNKNOWN_FORMAT",
    "UNKNOWN_DATABASE_ENGINE",
    "UNKNOWN_TYPE_OF_QUERY",
    "UNKNOWN_ROLE",
]:
    _STATUS_BY_NAME[_n] = 404
_STATUS_BY_NAME.update(
    {
        "QUERY_IS_TOO_LARGE": 413,
        "NOT_IMPLEMENTED": 501,
        "SOCKET_TIMEOUT": 503,
        "CANNOT_OPEN_FILE": 503,
        "HTTP_LENGTH_REQUIRED": 411,
        "TIMEOUT_EXCEEDED": 408,
        "CANNOT_SCHEDULE_TASK": 503,
        "TOO_MANY_SIMULTANEOUS_QUERIES": 503,
        "UNSUPPORTED_MEDIA_TYPE": 415,
    }
)

_ENGINE_MESSAGE = re.compile(
    r"Code: (\d+)\. (DB::Exception: .*?)(?: \(([A-Z0-9_]+)\))?(?: \(version [^)]*\))?\s*$", re.S
)


class ClickHouseError(Exception):
    """An error to answer the way ClickHouse does.

    Parameters
    ----------
    code : int
        The ClickHouse error code (``X-ClickHouse-Exception-Code``).
    name : str
        The error name, e.g. ``SYNTAX_ERROR``.
    message : str
        The message without the ``Code: N. DB::Exception:`` prefix.
    """

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    @classmethod
    def named(cls, name: str, message: str) -> ClickHouseError:
        """Build an error from its ClickHouse name."""
        return cls(CODES.get(name, 1002), name, message)

    @classmethod
    def from_engine(cls, exc: BaseException) -> ClickHouseError:
        """Wrap an exception raised by chDB, keeping the engine's code and message."""
        text = str(exc)
        start = text.find("Code: ")
        if start >= 0:
            m = _ENGINE_MESSAGE.match(text[start:].strip())
            if m:
                body = m.group(2).removeprefix("DB::Exception: ")
                return cls(int(m.group(1)), m.group(3) or "", body)
        return cls(1002, "UNKNOWN_EXCEPTION", text.strip() or type(exc).__name__)

    @property
    def http_status(self) -> int:
        """The HTTP status ClickHouse answers this error with."""
        return _STATUS_BY_NAME.get(self.name, 500)

    def render(self, version: str) -> str:
        """Return the error text ClickHouse puts in a response body."""
        suffix = f" ({self.name})" if self.name else ""
        return f"Code: {self.code}. DB::Exception: {self.message}{suffix} (version {version})\n"
