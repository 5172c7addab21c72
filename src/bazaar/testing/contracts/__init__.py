"""Contract suites: one behaviour spec per port, run against every adapter on a real engine.

Adopters who write their own adapter subclass the suite and provide its factory fixture.
"""

from __future__ import annotations

__all__: list[str] = []
