"""Just enough SQL lexing for the HTTP endpoint: statement kind, FORMAT clause, and where INSERT data starts.

The engine parses SQL itself; the endpoint only needs to know (a) where an ``INSERT ... FORMAT X`` statement
ends and its data begins inside a request body, (b) which output format a query asks for, and (c) which
kind of statement it is, to enforce users' roles. The lexer skips string literals, quoted identifiers and
comments, so keywords inside them are never taken for clauses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

from marketintel.store.endpoint.errors import ClickHouseError

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_SPACE = " \t\r\n\f\v"


class Kind(Enum):
    """What a statement does, as far as access control is concerned."""

    READ = "read"  # SELECT, WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN, CHECK: produces a result
    INSERT = "insert"
    SESSION = "session"  # SET, USE: changes only the session
    WRITE = "write"  # DELETE, UPDATE, OPTIMIZE: changes data, not the schema
    DDL = "ddl"  # CREATE, DROP, ALTER, RENAME, TRUNCATE, ATTACH, DETACH, SYSTEM, GRANT, KILL ...
    UNKNOWN = "unknown"  # not a statement keyword: let the engine answer (usually a syntax error)


_READ = {"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK", "VALUES"}
_SESSION = {"SET", "USE"}
_WRITE = {"DELETE", "UPDATE", "OPTIMIZE"}
_DDL = {
    "CREATE",
    "DROP",
    "ALTER",
    "RENAME",
    "TRUNCATE",
    "ATTACH",
    "DETACH",
    "EXCHANGE",
    "UNDROP",
    "SYSTEM",
    "GRANT",
    "REVOKE",
    "KILL",
    "BACKUP",
    "RESTORE",
    "MOVE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "REPLACE",
}


@dataclass(frozen=True)
class Token:
    """A lexical token: ``kind`` is ``word``, ``punct``, ``string`` or ``quoted``."""

    kind: str
    text: str
    start: int
    end: int


class IncompleteError(Exception):
    """The text ended inside a literal or comment: more input is needed."""


def iter_tokens(text: str, start: int = 0) -> Iterator[Token]:
    """Yield the tokens of SQL text lazily, skipping whitespace and comments.

    Lazy on purpose: an INSERT's binary data follows its statement, and must never be lexed.

    Parameters
    ----------
    text : str
        SQL text (bytes decoded as latin-1 keep their offsets).
    start : int
        Offset to start at.

    Raises
    ------
    IncompleteError
        If the text ends inside a string literal, a quoted identifier or a block comment.
    """
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c in _SPACE:
            i += 1
        elif text.startswith("--", i) or c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise IncompleteError
            i = j + 2
        elif c in "'\"`":
            j = i + 1
            while True:
                if j >= n:
                    raise IncompleteError
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:  # a doubled quote escapes itself
                        j += 2
                        continue
                    break
                j += 1
            yield Token("string" if c == "'" else "quoted", text[i : j + 1], i, j + 1)
            i = j + 1
        else:
            m = _WORD.match(text, i)
            if m:
                yield Token("word", m.group(), i, m.end())
                i = m.end()
            else:
                yield Token("punct", c, i, i + 1)
                i += 1


def tokens(text: str, start: int = 0) -> list[Token]:
    """Return all tokens of SQL text (see :func:`iter_tokens`)."""
    return list(iter_tokens(text, start))


def first_keyword(sql: str) -> str:
    """Return the statement's first keyword, upper-case (``""`` if there is none).

    Lexes lazily, so text after the first word (an INSERT's data) is never read.
    """
    try:
        for t in iter_tokens(sql):
            if t.kind == "word":
                return t.text.upper()
            if t.text != "(":
                return ""
    except IncompleteError:
        pass
    return ""


def classify(sql: str) -> Kind:
    """Return the :class:`Kind` of a statement."""
    word = first_keyword(sql)
    if word in _READ:
        return Kind.READ
    if word == "INSERT":
        return Kind.INSERT
    if word in _SESSION:
        return Kind.SESSION
    if word in _WRITE:
        return Kind.WRITE
    if word in _DDL:
        return Kind.DDL
    return Kind.UNKNOWN


def _format_clauses(sql: str) -> list[tuple[Token, Token]]:
    """Return the top-level ``FORMAT name`` clauses of a statement as (keyword, name) token pairs."""
    try:
        toks = tokens(sql)
    except IncompleteError:
        return []
    depth = 0
    found: list[tuple[Token, Token]] = []
    for k, t in enumerate(toks):
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.kind == "word" and t.text.upper() == "FORMAT" and k + 1 < len(toks):
            nxt = toks[k + 1]
            if nxt.kind in ("word", "quoted"):
                found.append((t, nxt))
    return found


def output_format(sql: str) -> str | None:
    """Return the top-level ``FORMAT name`` of a query, or None when it has none."""
    clauses = _format_clauses(sql)
    return clauses[-1][1].text.strip('`"') if clauses else None


@dataclass(frozen=True)
class InsertSplit:
    """An ``INSERT ... FORMAT X`` statement separated from the data that follows it.

    ``statement`` is the INSERT without its FORMAT clause (what ``send_insert`` takes), ``fmt`` the input
    format and ``data_offset`` the offset in the text where the data begins.
    """

    statement: str
    fmt: str
    data_offset: int


def split_insert(text: str, at_eof: bool) -> InsertSplit | None:
    """Find where an INSERT's data begins.

    Parameters
    ----------
    text : str
        The start of the request: the query, then possibly data (bytes decoded as latin-1).
    at_eof : bool
        Whether ``text`` is everything there is (no more input will come).

    Returns
    -------
    InsertSplit or None
        None when the statement is an INSERT without inline data (``INSERT ... SELECT``), or when more
        input is needed to tell (only when ``at_eof`` is false).

    Raises
    ------
    IncompleteError
        If more input is needed to find the end of the statement.
    """
    depth = 0
    toks_iter = iter_tokens(text)
    prev: Token | None = None
    for t in toks_iter:
        if t.end >= len(text) and not at_eof:
            raise IncompleteError  # the token may continue in the next read
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.kind == "word":
            word = t.text.upper()
            if word == "FORMAT" and (prev is None or prev.text.upper() not in ("INTO", "TABLE", ".")):
                name = next(toks_iter, None)
                if name is None or (name.end >= len(text) and not at_eof):
                    raise IncompleteError
                return InsertSplit(
                    text[: t.start].rstrip(), name.text.strip('`"'), _data_start(text, name.end)
                )
            if word == "VALUES" and (prev is None or prev.text.upper() not in ("INTO", "TABLE", ".")):
                return InsertSplit(text[: t.start].rstrip(), "Values", t.end)
            if word in ("SELECT", "WITH"):
                return None
        prev = t
    if at_eof:
        return None
    raise IncompleteError


def _data_start(text: str, pos: int) -> int:
    """Skip spaces and tabs after the format name, then at most one line break (as ClickHouse does)."""
    n = len(text)
    while pos < n and text[pos] in " \t":
        pos += 1
    if text.startswith("\r\n", pos):
        return pos + 2
    if pos < n and text[pos] == "\n":
        return pos + 1
    return pos


#: Table functions (and scalar functions) that reach outside the store: the server's files, the network,
#: other databases, processes, the host Python interpreter. Matched by prefix, case-insensitively
#: (``deltaSum`` or ``URLHash`` are analytics, hence ``deltalake`` and the exact ``url`` names).
EXTERNAL_PREFIXES = (
    "file", "s3", "gcs", "oss", "cosn", "hdfs", "azure", "iceberg", "deltalake", "hudi", "paimon", "remote",
    "cluster", "mysql", "postgres", "mongo", "redis", "sqlite", "jdbc", "odbc", "executable", "python",
    "arrowflight", "ytsaurus", "hive",
)  # fmt: skip
EXTERNAL_NAMES = frozenset({"url", "urlcluster"})


def external_access(sql: str) -> str | None:
    """Return what in ``sql`` reaches outside the store (a function call or INTO OUTFILE), or None.

    Function calls are names followed by ``(`` outside string literals and comments; ``INTO OUTFILE``
    and ``FROM INFILE`` clauses write or read the server's files.
    """
    prev: Token | None = None
    try:
        for tok in iter_tokens(sql):
            if prev is not None and prev.kind in ("word", "quoted"):
                word = prev.text.strip('`"').lower()
                if tok.text == "(" and (word in EXTERNAL_NAMES or word.startswith(EXTERNAL_PREFIXES)):
                    return f"{prev.text}()"
                if tok.kind == "word" and (word, tok.text.lower()) in (
                    ("into", "outfile"),
                    ("from", "infile"),
                ):
                    return f"{prev.text.upper()} {tok.text.upper()}"
            prev = tok
    except IncompleteError:
        return None
    return None


def strip_format(sql: str) -> str:
    """Return ``sql`` without its top-level ``FORMAT name`` clauses and trailing semicolons."""
    for keyword, name in reversed(_format_clauses(sql)):
        sql = sql[: keyword.start] + " " + sql[name.end :]
    return sql.rstrip().rstrip(";").rstrip()


def replace_tables(sql: str, replacements: dict[tuple[str, str], str]) -> str:
    """Replace qualified table names (``db.table``, case-sensitive, quoted or not) by SQL text.

    Used to show the endpoint's own view of ``system.processes`` and ``system.query_log``: a name is
    replaced only where it appears as ``db . table`` outside literals and comments.
    """
    if not replacements:
        return sql
    try:
        toks = tokens(sql)
    except IncompleteError:
        return sql
    out: list[str] = []
    last = 0
    k = 0
    while k + 2 < len(toks):
        a, dot, b = toks[k], toks[k + 1], toks[k + 2]
        if a.kind in ("word", "quoted") and dot.text == "." and b.kind in ("word", "quoted"):
            key = (a.text.strip('`"'), b.text.strip('`"'))
            follows = toks[k + 3].text if k + 3 < len(toks) else ""
            precedes = toks[k - 1].text if k > 0 else ""
            if key in replacements and follows != "." and precedes != ".":
                out.append(sql[last : a.start])
                out.append(replacements[key])
                last = b.end
                k += 3
                continue
        k += 1
    out.append(sql[last:])
    return "".join(out)


@dataclass(frozen=True)
class KillQuery:
    """A parsed ``KILL QUERY WHERE expr [SYNC|ASYNC|TEST] [FORMAT f]`` statement."""

    where: str
    mode: str  # SYNC, ASYNC or TEST
    fmt: str | None


def parse_kill_query(sql: str) -> KillQuery | None:
    """Return the parts of a ``KILL QUERY`` statement, or None if ``sql`` is not one."""
    try:
        toks = tokens(sql)
    except IncompleteError:
        return None
    words = [t.text.upper() if t.kind == "word" else t.text for t in toks]
    if words[:2] != ["KILL", "QUERY"]:
        return None
    try:
        where_at = words.index("WHERE")
    except ValueError:
        raise_syntax("KILL QUERY needs a WHERE clause, e.g. KILL QUERY WHERE query_id = '...'")
    end = len(toks)
    fmt = None
    if end - 2 > where_at and words[end - 2] == "FORMAT":
        fmt = toks[end - 1].text.strip('`"')
        end -= 2
    kill_mode = "SYNC" if "SYNC" in words[end - 1 : end] else "ASYNC"
    if words[end - 1] in ("SYNC", "ASYNC", "TEST"):
        kill_mode = words[end - 1]
        end -= 1
    if end <= where_at + 1:
        raise_syntax("KILL QUERY WHERE needs a condition")
    return KillQuery(sql[toks[where_at + 1].start : toks[end - 1].end], kill_mode, fmt)


def raise_syntax(message: str) -> NoReturn:
    """Raise a ClickHouse SYNTAX_ERROR."""
    raise ClickHouseError.named("SYNTAX_ERROR", message)


def settings_assignments(sql: str) -> list[tuple[str, str]]:
    """Return every ``name = value`` a statement assigns to a setting: ``SET ...`` and ``SETTINGS ...``.

    Every ``SETTINGS`` clause counts, at any depth (subqueries, views, table functions), so that what the
    engine would apply is never missed; a value is the literal's text (digits, a quoted string or a word).
    """
    try:
        toks = tokens(sql)
    except IncompleteError:
        return []
    out: list[tuple[str, str]] = []
    k = 0
    while k < len(toks):
        word = toks[k].text.upper() if toks[k].kind == "word" else ""
        if word == "SETTINGS" or (word == "SET" and k == 0):
            k += 1
            while k + 1 < len(toks) and toks[k].kind in ("word", "quoted") and toks[k + 1].text == "=":
                name = toks[k].text.strip('`"')
                k += 2
                start = k
                while k < len(toks) and (k == start or toks[k].start == toks[k - 1].end):
                    if k > start and toks[k].text in (",", ")"):
                        break
                    k += 1
                value = sql[toks[start].start : toks[k - 1].end] if k > start else ""
                out.append((name, value))
                if k < len(toks) and toks[k].text == ",":
                    k += 1
                else:
                    break
        else:
            k += 1
    return out


@dataclass(frozen=True)
class InsertTarget:
    """The table a plain ``INSERT INTO [db.]table [(columns)] [SETTINGS ...]`` writes to.

    ``database`` is None when the statement does not name one (the request's database applies);
    ``settings`` are the names the statement's ``SETTINGS`` clause assigns.
    """

    database: str | None
    table: str
    settings: tuple[str, ...] = ()


def _identifier(tok: Token) -> str | None:
    """Return the name a word or quoted-identifier token spells, or None for any other token."""
    if tok.kind == "word":
        return tok.text
    if tok.kind == "quoted" and "\\" not in tok.text:
        quote = tok.text[0]
        return tok.text[1:-1].replace(quote * 2, quote)
    return None


def insert_target(statement: str) -> InsertTarget | None:
    """Return the target of a plain INSERT statement, or None if ``statement`` is anything else.

    Plain means exactly ``INSERT INTO [TABLE] [db.]table [(col, ...)] [SETTINGS name = value, ...]``: the
    statement as :func:`split_insert` leaves it once its ``FORMAT name`` / ``VALUES`` and data are taken
    away. ``INSERT INTO FUNCTION``, ``INSERT ... SELECT``, column lists with anything but names (``*``,
    ``COLUMNS(...)``, expressions), ``FROM INFILE``, several statements and any other clause give None.

    Parameters
    ----------
    statement : str
        The INSERT statement without its input format clause and data.
    """
    try:
        toks = tokens(statement)
    except IncompleteError:
        return None
    while toks and toks[-1].text == ";":
        toks.pop()
    words = [t.text.upper() if t.kind == "word" else "" for t in toks]
    if words[:2] != ["INSERT", "INTO"]:
        return None
    k = 3 if words[2:3] == ["TABLE"] else 2
    names: list[str] = []
    while k < len(toks):
        name = _identifier(toks[k])
        if name is None or words[k] == "FUNCTION":
            return None
        names.append(name)
        k += 1
        if k < len(toks) and toks[k].text == "." and len(names) == 1:
            k += 1
            continue
        break
    if not names or toks[k - 1].text == "." or words[k - 1] in ("SETTINGS", "FORMAT", "VALUES", "SELECT"):
        return None
    if k < len(toks) and toks[k].text == "(":  # the column list: names separated by commas
        k += 1
        while True:
            if k + 1 >= len(toks) or _identifier(toks[k]) is None or toks[k + 1].text not in (",", ")"):
                return None
            k += 2
            if toks[k - 1].text == ")":
                break
    settings: list[str] = []
    if k < len(toks) and words[k] == "SETTINGS":
        k += 1
        while True:  # name = value [, name = value ...]; a value is one literal: no calls, no subqueries
            if k + 2 >= len(toks) or toks[k].kind not in ("word", "quoted") or toks[k + 1].text != "=":
                return None
            settings.append(toks[k].text.strip('`"'))
            k += 2
            start = k
            while k < len(toks) and toks[k].text != ",":
                if toks[k].text in ("(", ")", ";") or (k > start and toks[k].start != toks[k - 1].end):
                    return None
                k += 1
            if k == start:
                return None
            if k == len(toks):
                break
            k += 1
    if k != len(toks):
        return None
    return InsertTarget(names[0] if len(names) == 2 else None, names[-1], tuple(settings))
