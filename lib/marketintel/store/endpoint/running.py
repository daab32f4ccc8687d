"""Running queries by the client's ``query_id``: duplicates, ``system.processes``, ``KILL QUERY``, progress.

chDB gives every query an id of its own and has no way to take the client's. The endpoint therefore keeps
the running queries itself, under the ``query_id`` the client sent (or one it made up), and marks each
statement it hands to the engine with a trailing comment ``/* mi:<tag> */``. The tag links the client's id
to the engine's row in ``system.processes``, so that:

- a second query with the id of a running one is refused (QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING), or
  replaces it with ``replace_running_query=1``, as in ClickHouse;
- ``system.processes`` read through the endpoint shows the clients' ids, users and query texts;
- ``KILL QUERY WHERE ...`` matches on that view and cancels the engine's query.
"""

from __future__ import annotations

import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from marketintel.store.endpoint.errors import ClickHouseError

TAG_PREFIX = "mi:"
#: query texts are cut to this length in system.processes and the query log [characters]
#: (ClickHouse's log_queries_cut_to_length default)
QUERY_TEXT_LIMIT = 100_000
TAG_PATTERN = r"mi:([0-9a-f]{24})"


def sql_string(text: str) -> str:
    """Quote ``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tag_comment(tag: str) -> str:
    """Return the comment that marks a statement as the endpoint's query ``tag``."""
    return f"\n/* {TAG_PREFIX}{tag} */"


def strip_tag(text: str) -> str:
    """Remove the endpoint's tag comment from text (an engine error message or a query)."""
    at = text.find(f"/* {TAG_PREFIX}")
    if at < 0:
        return text
    end = text.find(" */", at)
    head = text[:at].removesuffix("\n")
    return head + (text[end + 3 :] if end >= 0 else "")


@dataclass
class Running:
    """A query the endpoint is running."""

    query_id: str
    user: str
    sql: str
    tag: str = field(default_factory=lambda: secrets.token_hex(12))
    started_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    progress: dict[str, int] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    #: what the statement does (``Kind.value``): reads are cancelled at shutdown, inserts completed
    kind: str = "read"
    #: the client's connection, watched for a hang-up while the query runs
    sock: socket.socket | None = None
    #: why the endpoint cancelled it (client gone, shutdown), if it did
    cancelled_because: str = ""

    @property
    def elapsed_ns(self) -> int:
        """Time since the query started [ns]."""
        return int((time.monotonic() - self.started) * 1e9)


class RunningQueries:
    """The queries running now, by client query id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Running] = {}

    def start(
        self,
        query_id: str,
        user: str,
        sql: str,
        *,
        replace: bool,
        wait_s: float,
        cancel: Callable[[Running], None],
    ) -> Running:
        """Register a query; refuse (or replace) one with the same id that is still running.

        Raises
        ------
        ClickHouseError
            QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING, with ClickHouse's wording.
        """
        deadline = time.monotonic() + wait_s
        while True:
            with self._lock:
                old = self._by_id.get(query_id)
                if old is None:
                    run = Running(query_id, user, sql)
                    self._by_id[query_id] = run
                    return run
            if old.user != user:
                raise ClickHouseError.named(
                    "QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING",
                    f"Query with id = {query_id} is already running by user {old.user}.",
                )
            if not replace:
                raise ClickHouseError.named(
                    "QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING", f"Query with id = {query_id} is already running."
                )
            cancel(old)
            if not old.done.wait(max(0.0, deadline - time.monotonic())):
                raise ClickHouseError.named(
                    "QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING",
                    f"Query with id = {query_id} is already running and can't be stopped",
                )

    def finish(self, run: Running) -> None:
        """Take a query off the list."""
        with self._lock:
            if self._by_id.get(run.query_id) is run:
                del self._by_id[run.query_id]
        run.done.set()

    def hung_up(self) -> list[Running]:
        """Return the running queries (not inserts) whose client has closed its connection."""
        runs = [
            r
            for r in self.snapshot()
            if r.sock is not None and r.kind != "insert" and not r.cancelled_because
        ]
        if not runs:
            return []
        poller = select.poll()
        by_fd: dict[int, Running] = {}
        for run in runs:
            try:
                fd = run.sock.fileno()  # type: ignore[union-attr]
            except OSError:
                continue
            if fd >= 0:
                by_fd[fd] = run
                poller.register(fd, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        gone = []
        for fd, _events in poller.poll(0):
            run = by_fd[fd]
            try:  # a half-close with data still unread (a pipelined request) is not a hang-up
                alive = run.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""  # type: ignore[union-attr]
            except BlockingIOError:
                alive = True
            except OSError:
                alive = False
            if not alive:
                gone.append(run)
        return gone

    def snapshot(self) -> list[Running]:
        """Return the running queries now."""
        with self._lock:
            return list(self._by_id.values())

    def processes_view(self, only_user: str | None = None) -> str:
        """Return SQL text that reads ``system.processes`` as the clients see it.

        Rows are the endpoint's own queries only (the engine's internal ones are left out), with the
        client's query id and user and the query text the client sent. ``only_user`` limits
        the rows to one user's queries.
        """
        runs = self.snapshot()
        tags = "CAST([" + ", ".join(sql_string(r.tag) for r in runs) + "], 'Array(String)')"
        ids = "CAST([" + ", ".join(sql_string(r.query_id) for r in runs) + "], 'Array(String)')"
        users = "CAST([" + ", ".join(sql_string(r.user) for r in runs) + "], 'Array(String)')"
        texts = (
            "CAST([" + ", ".join(sql_string(r.sql[:QUERY_TEXT_LIMIT]) for r in runs) + "], 'Array(String)')"
        )
        tag = "__mi_tag"
        where = f"{tag} IN {tags}"
        if only_user is not None:
            where += f" AND transform({tag}, {tags}, {users}, '') = {sql_string(only_user)}"
        return (
            "(SELECT * EXCEPT (__mi_tag) REPLACE ("
            f"transform({tag}, {tags}, {ids}, query_id) AS query_id, "
            f"transform({tag}, {tags}, {ids}, initial_query_id) AS initial_query_id, "
            f"transform({tag}, {tags}, {users}, user) AS user, "
            f"transform({tag}, {tags}, {users}, initial_user) AS initial_user, "
            f"transform({tag}, {tags}, {texts}, query) AS query) "
            f"FROM (SELECT *, extract(query, '{TAG_PATTERN}') AS __mi_tag FROM system.processes) "
            f"WHERE {where})"
        )
