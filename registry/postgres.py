"""PostgreSQL connections that give up: the registry's server can stop answering without
refusing (host down, partition, stuck failover), and then a request would hang for as long as
TCP takes to notice, holding a worker thread and a pooled connection. Imported only for a
PostgreSQL registry, so that SQLite installs never load psycopg."""

from __future__ import annotations

import math
from typing import Any

import psycopg
from psycopg import errors

#: How much longer than the statement timeout the client waits for an answer: the server
#: cancels a slow statement itself at the statement timeout and needs a moment to say so.
ANSWER_MARGIN_S = 1.0


class BoundedConnection(psycopg.Connection[Any]):
    """A connection that waits at most ``answer_timeout_s`` for any answer (a ping, a
    statement, a commit), then closes itself: a closed connection is one SQLAlchemy throws
    away, so the next checkout connects afresh (within the connect timeout) instead of
    reusing a connection to a server that may never answer on it again."""

    answer_timeout_s: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval, timeout or self.answer_timeout_s)
        # psycopg's own "no answer in time": a private class, the one its public ``wait``
        # documents raising; read against psycopg 3.3 (pyproject asks for >= 3.3).
        except errors._WaitTimeout:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the registry database did not answer within {self.answer_timeout_s} s; "
                "connection closed"
            ) from None


def connect(statement_timeout_s: float, *args: Any, **kwargs: Any) -> BoundedConnection:
    connection = BoundedConnection.connect(*args, **kwargs)
    connection.answer_timeout_s = statement_timeout_s + ANSWER_MARGIN_S
    return connection


def timeout_parameters(connect_timeout_s: float, statement_timeout_s: float) -> dict[str, Any]:
    """libpq parameters: ``connect_timeout`` (whole seconds, at least 2: libpq's rule), and
    ``statement_timeout``, which the server enforces on every session, so a statement stuck
    on a lock ends there and rolls back rather than only on the client."""
    return {
        "connect_timeout": max(2, math.ceil(connect_timeout_s)),
        "options": f"-c statement_timeout={round(statement_timeout_s * 1000)}",
    }
