"""Background and scheduled jobs on top of the messaging block (capabilities §6.6)."""

from __future__ import annotations

from bazaar.kernel.jobs.cron import CronClaims, CronSchedule, CronScheduler
from bazaar.kernel.jobs.errors import InvalidScheduleError, JobsError, UnknownJobError
from bazaar.kernel.jobs.queue import JOBS_CONSUMER, JOBS_TOPIC, Job, JobQueue, jobs_subscription

__all__ = [
    "JOBS_CONSUMER",
    "JOBS_TOPIC",
    "CronClaims",
    "CronSchedule",
    "CronScheduler",
    "InvalidScheduleError",
    "Job",
    "JobQueue",
    "JobsError",
    "UnknownJobError",
    "jobs_subscription",
]
