"""bazaar: a multi-tenant commerce backend built from the backend system-design playbook."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
