"""The operations guide documents every setting, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from onecard.core.config import Settings

FACE_KEY = "A" * 43 + "="  # 32 bytes as base64 (production wants a face key)

DOC = Path(__file__).parents[2] / "docs" / "operations.md"


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`ONECARD_([A-Z_]+)`", text))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from docs/operations.md"
    assert documented - fields == set(), "docs/operations.md names settings that do not exist"


def test_only_development_takes_the_default_secret() -> None:
    import pytest
    from pydantic import ValidationError

    from onecard.core.config import DEFAULT_SECRET

    for env in ("production", "test"):
        with pytest.raises(ValidationError, match="ONECARD_SECRET_KEY"):
            Settings(env=env)
        with pytest.raises(ValidationError, match="ONECARD_SECRET_KEY"):
            Settings(env=env, secret_key="")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env="production", secret_key="short-secret")
    assert (
        Settings(env="production", secret_key="x" * 32, face_key=FACE_KEY, partner_key=FACE_KEY).env
        == "production"
    )
    assert Settings(env="test", secret_key="test-secret").env == "test"
    assert Settings(env="development").secret_key == DEFAULT_SECRET
