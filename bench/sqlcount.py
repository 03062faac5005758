"""Counting the SQL statements tortoise sends: each is logged at DEBUG on `tortoise.db_client`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

SQL_VERBS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The statement is the first argument ("%s: %s", query, values); no need to format the values.
        text = str(record.args[0] if isinstance(record.args, tuple) and record.args else record.msg).lstrip()
        if text.split(" ", 1)[0].upper() in SQL_VERBS:
            self.messages.append(text[:160])


@contextlib.contextmanager
def counting_queries() -> Iterator[_Counter]:
    """Only around untimed work: DEBUG logging has a cost of its own."""
    logger = logging.getLogger("tortoise.db_client")
    handler, level, propagate = _Counter(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
