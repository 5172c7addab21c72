"""``bazaar tour``: scripted scenarios that show each pattern working against a live system."""

from __future__ import annotations

from bazaar.tour.runner import Scenario, Story, TourConfig, TourFailedError, run_scenarios
from bazaar.tour.scenarios import SCENARIOS

__all__ = ["SCENARIOS", "Scenario", "Story", "TourConfig", "TourFailedError", "run_scenarios"]
