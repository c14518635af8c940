"""The page tests' small city, signed-in staff and test client (``tests/web/conftest.py``)."""

from web.conftest import client, staff, w  # noqa: F401
