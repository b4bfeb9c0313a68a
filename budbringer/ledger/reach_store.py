"""Reach readings (`budbringer.reach`): one per delivery key and point, stored once. A second collection at the
same point stores nothing (the unique key says so, even when two collections run at once)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from budbringer.ledger.database import _aware
from budbringer.ledger.schema import reach_readings
from budbringer.reach_reading import Measure, Reach, ReachReading


class ReachStore:
    """The ledger's reach readings, on `engine`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, reach: Reach) -> bool:
        """Store a reading unless one is stored for its delivery and point; True if this call stored it."""
        row = {"key": reach.key, "message_id": reach.message_id, "forum": reach.forum, "channel": reach.channel,
               "point": reach.point, "measure": str(reach.reading.measure),
               "figures": json.dumps(dict(reach.reading.figures), sort_keys=True), "reason": reach.reading.reason,
               "delivered_at": reach.delivered_at, "read_at": reach.read_at}
        try:
            with self.engine.begin() as conn:
                exists = conn.execute(sa.select(reach_readings.c.id).where(
                    (reach_readings.c.key == reach.key) & (reach_readings.c.point == reach.point))).first()
                if exists is not None:
                    return False
                conn.execute(reach_readings.insert().values(**row))
        except sa.exc.IntegrityError:  # another collection stored it between the look and the insert
            return False
        return True

    def readings(self, message_id: str | None = None) -> list[Reach]:
        """Every reading (of one message), in message, forum and point order."""
        query = reach_readings.select().order_by(reach_readings.c.message_id, reach_readings.c.forum,
                                                 reach_readings.c.point)
        if message_id:
            query = query.where(reach_readings.c.message_id == message_id)
        with self.engine.connect() as conn:
            return [_reach(row) for row in conn.execute(query).mappings()]


def _reach(row: sa.RowMapping) -> Reach:
    reading = ReachReading(Measure(row["measure"]), json.loads(row["figures"] or "{}"), row["reason"] or "")
    return Reach(key=row["key"], message_id=row["message_id"], forum=row["forum"], channel=row["channel"],
                 point=row["point"], read_at=_aware(row["read_at"]), delivered_at=_aware(row["delivered_at"]),
                 reading=reading)
