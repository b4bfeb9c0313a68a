"""Editors' answers: a newsletter is edited by people, who accept or decline a submission after it was
delivered (`budbringer mark`). Kept apart from the deliveries: the delivery succeeded either way."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from budbringer.ledger.database import _aware, now
from budbringer.ledger.schema import editor_answers
from budbringer.ledger.states import Answer

ANSWERS = tuple(Answer)


@dataclass(frozen=True)
class EditorAnswer:
    message_id: str
    forum: str
    answer: Answer
    note: str
    marked_at: dt.datetime


def _answer(row: sa.RowMapping) -> EditorAnswer:
    return EditorAnswer(message_id=row["message_id"], forum=row["forum"], answer=Answer(row["answer"]),
                        note=row["note"] or "", marked_at=_aware(row["marked_at"]))


class AnswerStore:
    """The ledger's editors' answers, on `engine`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record_answer(self, message_id: str, forum: str, answer: str, note: str = "") -> EditorAnswer:
        """Record what a newsletter's editor said about a submission. A later answer replaces an earlier one
        in `answers()`; every answer stays in the table."""
        if answer not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}, not {answer!r}")
        with self.engine.begin() as conn:
            new_id = conn.execute(editor_answers.insert().values(
                message_id=message_id, forum=forum, answer=answer, note=note, marked_at=now(),
            )).inserted_primary_key[0]
            row = conn.execute(editor_answers.select().where(editor_answers.c.id == new_id)).mappings().one()
        return _answer(row)

    def answers(self, message_id: str | None = None) -> list[EditorAnswer]:
        """The latest answer for each (message, forum), in message and forum order."""
        query = editor_answers.select().order_by(editor_answers.c.id)
        if message_id:
            query = query.where(editor_answers.c.message_id == message_id)
        latest: dict[tuple[str, str], EditorAnswer] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                answer = _answer(row)
                latest[(answer.message_id, answer.forum)] = answer
        return [latest[key] for key in sorted(latest)]
