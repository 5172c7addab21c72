"""``bazaar dlq list/show/replay/purge``: dead letters, from the database of the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import orjson
import typer
from rich.table import Table

from bazaar.cli.common import SetOption, console, fail, load_settings

if TYPE_CHECKING:
    from bazaar.kernel.messaging import DeadLetter, DeadLetters

__all__ = ["app"]

app = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)

_T = TypeVar("_T")


def _with_dead_letters(set_: list[str] | None, work: Callable[[DeadLetters], Awaitable[_T]]) -> _T:
    from bazaar.bootstrap import build_container

    settings = load_settings(set_)

    async def run() -> _T:
        container = await build_container(settings)
        try:
            return await work(container.messaging.dead_letters)
        finally:
            await container.aclose()

    return asyncio.run(run())


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_cmd(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's letters.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    set_: SetOption = None,
) -> None:
    """List dead letters, newest first."""
    letters = _with_dead_letters(set_, lambda d: d.list(consumer=consumer, limit=limit))
    if not letters:
        console.print("no dead letters")
        return
    table = Table("id", "consumer", "type", "reason", "attempts", "failed at", "replayed", "error")
    for letter in letters:
        table.add_row(
            str(letter.id),
            letter.consumer,
            letter.type or "?",
            letter.reason,
            str(letter.attempts),
            _when(letter.failed_at),
            _when(letter.replayed_at),
            letter.error[:60],
        )
    console.print(table)


def _get(set_: list[str] | None, letter_id: int) -> DeadLetter:
    from bazaar.kernel.messaging import DeadLetterNotFoundError

    try:
        return _with_dead_letters(set_, lambda d: d.get(letter_id))
    except DeadLetterNotFoundError:
        fail(f"no dead letter {letter_id}", code=1)


@app.command("show")
def show_cmd(
    letter_id: Annotated[int, typer.Argument(help="The letter's id.")], set_: SetOption = None
) -> None:
    """Show one dead letter with its headers and original message."""
    letter = _get(set_, letter_id)
    table = Table(show_header=False, box=None)
    for name, value in (
        ("id", str(letter.id)),
        ("consumer", letter.consumer),
        ("topic/partition", f"{letter.topic}/{letter.partition}"),
        ("message id", letter.message_id or "-"),
        ("type", letter.type or "-"),
        ("key", letter.key),
        ("reason", letter.reason),
        ("attempts", str(letter.attempts)),
        ("failed at", _when(letter.failed_at)),
        ("replayed at", f"{_when(letter.replayed_at)} ({letter.replays} replays)"),
        ("error", letter.error),
        ("headers", orjson.dumps(letter.headers).decode()),
    ):
        table.add_row(f"[bold]{name}[/]", value)
    console.print(table)
    try:
        console.print_json(letter.data.decode())
    except (UnicodeDecodeError, ValueError):
        console.print(repr(letter.data[:2000]))


@app.command("replay")
def replay_cmd(
    letter_id: Annotated[int, typer.Argument(help="The letter's id.")], set_: SetOption = None
) -> None:
    """Publish a dead letter again to its topic (consumers that handled it skip it)."""
    from bazaar.kernel.messaging import DeadLetterNotFoundError

    try:
        letter = _with_dead_letters(set_, lambda d: d.replay(letter_id))
    except DeadLetterNotFoundError:
        fail(f"no dead letter {letter_id}", code=1)
    console.print(f"replayed {letter.id} to {letter.topic} ({letter.replays} replays so far)")


@app.command("purge")
def purge_cmd(
    letter_id: Annotated[int | None, typer.Argument(help="One letter; omit for a filter.")] = None,
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's letters.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Purge every dead letter.")] = False,
    set_: SetOption = None,
) -> None:
    """Delete dead letters: one by id, a consumer's, or --all."""
    if letter_id is None and consumer is None and not all_:
        fail("name a letter id, --consumer NAME, or --all")
    purged = _with_dead_letters(set_, lambda d: d.purge(letter_id=letter_id, consumer=consumer))
    console.print(f"purged {purged} dead letter{'s' if purged != 1 else ''}")
