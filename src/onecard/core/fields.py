"""Field types the API's schemas share.

``ClientKey``: an id the client chooses so that a retry is recognised (a terminal's
``txn_id``, a refund's ``request_id``). 1–64 characters, none of them a control
character: PostgreSQL's text cannot hold NUL, and a key that people read in logs and on
pages must not hide characters. The pattern is in the OpenAPI document, so a client
learns the rule from it (``web.nul_guard`` still refuses a NUL in any other field).
``has_control_character`` applies the same rule to keys that arrive outside a schema (a
terminal's signed offline records).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StrictStr

CLIENT_KEY_PATTERN = r"^[^\x00-\x1f\x7f]+$"

ClientKey = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=CLIENT_KEY_PATTERN)]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def has_control_character(text: str) -> bool:
    return _CONTROL.search(text) is not None
