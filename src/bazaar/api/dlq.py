"""``/api/v1/admin/dlq``: the dead letters, listed, shown and replayed (capabilities §6.4).

Lists follow api.md's convention: ``?limit=&cursor=`` → ``{items, next_cursor}``.

Ids are strings in JSON (Snowflake ids pass 2^53, where JavaScript numbers lose digits).
A dead letter's payload is shown decoded when its bytes are an envelope, else as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from bazaar.api.admin import ops_access
from bazaar.api.problems import ProblemError
from bazaar.bootstrap import Container
from bazaar.kernel.clock import utc_from_timestamp
from bazaar.kernel.messaging import DeadLetter, DeadLetterNotFoundError

__all__ = ["router"]

_Cursor = Annotated[
    str | None, Query(pattern=r"^\d{1,19}$", description="next_cursor of the previous page")
]

router = APIRouter(
    prefix="/api/v1/admin/dlq",
    tags=["admin"],
    dependencies=[Depends(ops_access(open_in_demo=False))],
)


class DeadLetterView(BaseModel):
    id: str
    consumer: str
    topic: str
    partition: int
    message_id: str | None
    type: str | None
    key: str
    reason: str
    error: str
    attempts: int
    headers: dict[str, str]
    failed_at: datetime
    replayed_at: datetime | None
    replays: int


class DeadLetterDetail(DeadLetterView):
    message: dict[str, Any] | str


def _view(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": str(letter.id),
        "consumer": letter.consumer,
        "topic": letter.topic,
        "partition": letter.partition,
        "message_id": letter.message_id,
        "type": letter.type,
        "key": letter.key,
        "reason": letter.reason,
        "error": letter.error,
        "attempts": letter.attempts,
        "headers": letter.headers,
        "failed_at": utc_from_timestamp(letter.failed_at),
        "replayed_at": None
        if letter.replayed_at is None
        else utc_from_timestamp(letter.replayed_at),
        "replays": letter.replays,
    }


def _message(data: bytes) -> dict[str, Any] | str:
    try:
        decoded = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", errors="replace")
    return decoded if isinstance(decoded, dict) else data.decode("utf-8", errors="replace")


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _letter_id(letter_id: str) -> int:
    if not letter_id.isdigit() or len(letter_id) > 19:
        raise ProblemError(404, "not-found", f"No dead letter {letter_id!r}.")
    return int(letter_id)


class DeadLetterPage(BaseModel):
    items: list[DeadLetterView]
    next_cursor: str | None


@router.get("", summary="Dead letters, newest first")
async def list_dead_letters(
    request: Request,
    consumer: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: _Cursor = None,
    include_replayed: bool = True,
) -> DeadLetterPage:
    letters = await _container(request).messaging.dead_letters.list(
        consumer=consumer,
        limit=limit,
        before_id=None if cursor is None else int(cursor),
        include_replayed=include_replayed,
    )
    # The cursor is the last id of the page: ids only grow, so the next page is "older".
    next_cursor = str(letters[-1].id) if len(letters) == limit else None
    return DeadLetterPage(
        items=[DeadLetterView(**_view(letter)) for letter in letters], next_cursor=next_cursor
    )


@router.get("/{letter_id}", summary="One dead letter with its original message")
async def show_dead_letter(letter_id: str, request: Request) -> DeadLetterDetail:
    try:
        letter = await _container(request).messaging.dead_letters.get(_letter_id(letter_id))
    except DeadLetterNotFoundError:
        raise ProblemError(404, "not-found", f"No dead letter {letter_id}.") from None
    return DeadLetterDetail(**_view(letter), message=_message(letter.data))


@router.post("/{letter_id}/replay", status_code=202, summary="Publish a dead letter again")
async def replay_dead_letter(letter_id: str, request: Request) -> DeadLetterView:
    try:
        letter = await _container(request).messaging.dead_letters.replay(_letter_id(letter_id))
    except DeadLetterNotFoundError:
        raise ProblemError(404, "not-found", f"No dead letter {letter_id}.") from None
    return DeadLetterView(**_view(letter))
