"""The saga record as stored: steps and data as JSON, times as epoch seconds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from bazaar.kernel.saga.model import SagaRecord, SagaState, StepRecord, StepStatus

__all__ = [
    "dump_data",
    "dump_steps",
    "epoch",
    "from_epoch",
    "load_data",
    "load_steps",
    "record_of",
    "row_values",
]


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def dump_steps(steps: tuple[StepRecord, ...]) -> str:
    return orjson.dumps(
        [
            {
                "name": step.name,
                "status": step.status.value,
                "attempts": step.attempts,
                "compensation_attempts": step.compensation_attempts,
                "started_at": None if step.started_at is None else epoch(step.started_at),
                "finished_at": None if step.finished_at is None else epoch(step.finished_at),
                "error": step.error,
            }
            for step in steps
        ]
    ).decode()


def load_steps(raw: str) -> tuple[StepRecord, ...]:
    return tuple(
        StepRecord(
            name=item["name"],
            status=StepStatus(item["status"]),
            attempts=item["attempts"],
            compensation_attempts=item["compensation_attempts"],
            started_at=None if item["started_at"] is None else from_epoch(item["started_at"]),
            finished_at=None if item["finished_at"] is None else from_epoch(item["finished_at"]),
            error=item["error"],
        )
        for item in orjson.loads(raw)
    )


def dump_data(data: Mapping[str, Any]) -> str:
    return orjson.dumps(dict(data)).decode()


def load_data(raw: str) -> dict[str, Any]:
    loaded = orjson.loads(raw)
    if not isinstance(loaded, dict):
        raise ValueError("saga data must be a JSON object")
    return loaded


def row_values(saga: SagaRecord) -> dict[str, Any]:
    """The columns a saga record fills (all but id, version, owner and lease)."""
    return {
        "name": saga.name,
        "tenant_id": saga.tenant_id,
        "state": saga.state.value,
        "steps": dump_steps(saga.steps),
        "data": dump_data(saga.data),
        "failure_reason": saga.failure_reason,
        "attention_reason": saga.attention_reason,
        "cancel_reason": saga.cancel_reason,
        "next_attempt_at": None if saga.next_attempt_at is None else epoch(saga.next_attempt_at),
        "created_at": epoch(saga.created_at),
        "updated_at": epoch(saga.updated_at),
    }


def record_of(row: Mapping[Any, Any]) -> SagaRecord:
    return SagaRecord(
        id=int(row["id"]),
        name=row["name"],
        tenant_id=int(row["tenant_id"]),
        state=SagaState(row["state"]),
        steps=load_steps(row["steps"]),
        data=load_data(row["data"]),
        version=int(row["version"]),
        created_at=from_epoch(row["created_at"]),
        updated_at=from_epoch(row["updated_at"]),
        failure_reason=row["failure_reason"],
        attention_reason=row["attention_reason"],
        cancel_reason=row["cancel_reason"],
        next_attempt_at=None
        if row["next_attempt_at"] is None
        else from_epoch(row["next_attempt_at"]),
    )
