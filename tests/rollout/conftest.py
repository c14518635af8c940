"""The page tests' fixtures (a funded world, its staff, a test client)."""

from __future__ import annotations

from web.conftest import client, staff, w

__all__ = ["client", "staff", "w"]
