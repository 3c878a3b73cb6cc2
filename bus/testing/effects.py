"""An effect log for tests: every row a handler tried to insert, counted by an event id.

The tables a handler writes are usually unique by the event id or the entity key, so counting
their rows cannot reveal a double effect: the primary key or `ON CONFLICT` makes the count
right by construction. A `BEFORE INSERT` trigger fires for every row proposed for insertion,
before `ON CONFLICT` drops it, and its row commits or rolls back with the handler's
transaction. So `effect_counts` says how many times each event's effect was committed:

    async with asyncpg.create_pool(dsn) as pool:
        await install_effect_log(pool, "dpmptsp_izin_terbit_v1_history", "_event_id")
        ...                                       # run the handler, kill it, restart it
        counts = await effect_counts(pool, "dpmptsp_izin_terbit_v1_history")
        assert set(counts.values()) == {1}        # no event's effect committed twice

The table must exist before the trigger is installed (create it with the handler's own DDL).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg

__all__ = ["effect_counts", "install_effect_log"]

_LOG_DDL = """
CREATE TABLE IF NOT EXISTS bus_test_effects (
    table_name text NOT NULL,
    event_id   text NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


async def install_effect_log(pool: asyncpg.Pool[Any], table: str, column: str) -> None:
    """Log `column` of every row proposed for insertion into `table` in `bus_test_effects`."""
    function = "bus_test_log_" + hashlib.sha256(f"{table}.{column}".encode()).hexdigest()[:16]
    quoted_table = '"' + table.replace('"', '""') + '"'
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOG_DDL)
        await conn.execute(
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bus_test_effects (table_name, event_id)
        VALUES (TG_TABLE_NAME, (to_jsonb(NEW) ->> '{column.replace("'", "''")}'));
    RETURN NEW;
END $$"""
        )
        await conn.execute(
            f"CREATE OR REPLACE TRIGGER {function} BEFORE INSERT ON {quoted_table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )


async def effect_counts(
    pool: asyncpg.Pool[Any], table: str, *, before: datetime | None = None
) -> Counter[str]:
    """How many committed insert attempts into `table` each event id had (tried before
    `before`, a reading of the database's clock, if given)."""
    rows = await pool.fetch(
        "SELECT event_id, count(*) FROM bus_test_effects WHERE table_name = $1 "
        "AND ($2::timestamptz IS NULL OR logged_at < $2) GROUP BY 1",
        table,
        before,
    )
    return Counter({row[0]: row[1] for row in rows})
