"""What an entitled user may not reach besides the rows the engine's row policies filter.

Row policies filter the platform's tables whatever SQL reaches them (:mod:`marketintel.access.policy`).
What they cannot cover is refused here before the engine runs the statement, with a clear error:

- databases without row policies: those created after the engine started (they get policies at the next
  start) and the endpoint's own (``mi_system``);
- ``system`` tables other than the metadata clients read (settings, functions, formats, databases,
  tables, columns, parts, ...): mutations, logs, errors, dictionaries and the like expose data, other
  users' activity or the engine's files;
- functions that read tables around the policies or expose storage: ``merge()``, ``mergeTree*()``,
  ``dictionary()``, ``dictGet*()``/``dictHas()``.

Functions that leave the store (``file``, ``url``, ``remote``, ``s3``, ``Python`` ...) are refused for
every non-admin user already (:func:`marketintel.store.endpoint.sqltext.external_access`).
"""

from __future__ import annotations

from collections.abc import Iterable

from marketintel.store.endpoint.sqltext import IncompleteError, Token, iter_tokens

#: ``system`` tables an entitled user may read: metadata and constants, no rows of any table. ``tables`` and
#: ``parts`` show table- and part-level row counts and sizes (the hourly rollup's read needs the parts' block
#: numbers); ``processes`` and ``query_log`` are the endpoint's views, a user's own queries only
OPEN_SYSTEM_TABLES = frozenset(
    {
        "one", "numbers", "numbers_mt", "zeros", "zeros_mt", "settings", "functions", "formats",
        "table_functions", "data_type_families", "time_zones", "collations", "build_options", "contributors",
        "licenses", "aggregate_function_combinators", "table_engines", "database_engines", "keywords",
        "databases", "tables", "columns", "processes", "query_log", "current_roles", "enabled_roles",
        "parts",
    }
)  # fmt: skip
#: metadata databases (views over the open system tables)
OPEN_DATABASES = frozenset({"information_schema", "INFORMATION_SCHEMA"})
#: function names (lowercase) that read around row policies or expose storage
CLOSED_FUNCTIONS = frozenset({"merge", "dictionary", "dicthas", "dictisin"})
CLOSED_PREFIXES = ("mergetree", "dictget")


def _name(tok: Token) -> str:
    return tok.text.strip('`"')


def database_refusal(database: str, covered: Iterable[str]) -> str | None:
    """Return why an entitled user may not use ``database`` as the current database, or None."""
    if database in covered or database in OPEN_DATABASES:
        return None
    if database == "system":
        return "the system database cannot be the current database of an entitled user"
    return (
        f"database {database!r} has no entitlement row policies (it is not a platform database, or was "
        "created after the store started: restart the store to cover it)"
    )


def refusal(sql: str, covered: Iterable[str], known: Iterable[str]) -> str | None:
    """Return why an entitled user may not run ``sql``, or None.

    Parameters
    ----------
    sql : str
        The statement (or a query parameter's value, which may name a table).
    covered : iterable of str
        Databases with row policies.
    known : iterable of str
        Every database the engine has (a qualified name ``a.b`` is a table only when ``a`` is one).
    """
    covered = set(covered)
    known = set(known)
    try:
        toks = list(iter_tokens(sql))
    except IncompleteError:
        return None  # the engine answers a syntax error
    words = [t.text.upper() for t in toks[:2] if t.kind == "word"]
    if words and words[0] == "USE" and len(toks) > 1:
        why = database_refusal(_name(toks[1]), covered)
        if why:
            return why
    for i, tok in enumerate(toks):
        if tok.kind not in ("word", "quoted"):
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if nxt is not None and nxt.text == "(":
            fn = _name(tok).lower()
            if fn in CLOSED_FUNCTIONS or fn.startswith(CLOSED_PREFIXES):
                return f"{_name(tok)}() reads tables around the entitlement row policies or exposes storage"
            continue
        if nxt is None or nxt.text != "." or i + 2 >= len(toks) or toks[i + 2].kind not in ("word", "quoted"):
            continue
        if i > 0 and toks[i - 1].text == ".":
            continue  # the middle of a.b.c: a column path, not a database
        db, table = _name(tok), _name(toks[i + 2])
        if db.lower() == "system" and db not in covered:
            if table.lower() not in OPEN_SYSTEM_TABLES:
                return f"system.{table} exposes the store's data or other users' activity"
        elif db in known and db not in covered and db not in OPEN_DATABASES:
            return database_refusal(db, covered)
    return None
