"""Everything held about one user, read for their export."""

from __future__ import annotations

from gateway.store.records import ChatRow, ConsentRow, NoticeRow, UserData, UserMessageRow
from gateway.store.sql import Sql


class SqlExport:
    """The export reads over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def user_data(self, user_id: str) -> UserData:
        """Chats, consents, notices and messages of a user."""
        args = (user_id,)
        chats = await self._sql.all(
            "SELECT business_id, opened_at, last_seen FROM chats WHERE user_id = ? ORDER BY business_id", args
        )
        consents = await self._sql.all(
            "SELECT business_id, decision, decided_at FROM consents WHERE user_id = ? ORDER BY business_id",
            args,
        )
        notices = await self._sql.all(
            "SELECT business_id, revision, reason, notice_id, at FROM notices_sent WHERE user_id = ?"
            " ORDER BY at, notice_id",
            args,
        )
        messages = await self._sql.all(
            "SELECT message_id, business_id, direction, status, revision, created_at, updated_at"
            " FROM messages WHERE user_id = ? ORDER BY created_at, message_id",
            args,
        )
        return UserData(
            chats=tuple(ChatRow(str(b), float(o), float(s)) for b, o, s in chats),
            consents=tuple(ConsentRow(str(b), str(d), float(at)) for b, d, at in consents),
            notices=tuple(NoticeRow(str(b), int(r), str(x), str(n), float(at)) for b, r, x, n, at in notices),
            messages=tuple(
                UserMessageRow(str(m), str(b), str(d), str(s), int(r), float(c), float(u))
                for m, b, d, s, r, c, u in messages
            ),
        )
