"""Migration scripts, one per release step; see docs/architecture.md for the rules."""
