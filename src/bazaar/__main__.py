"""``python -m bazaar`` runs the command-line interface."""

from __future__ import annotations

from bazaar.cli import main

main()
