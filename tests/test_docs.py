"""The docs stay honest (datasette-style): ``--help`` lists every command with a line of
help, and the README's first section gives the two set-up commands that really exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from onecard.cli import app

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}


def _is_group(cmd: Any) -> bool:
    # Typer ships its own copy of click, so test by shape rather than by class.
    return isinstance(getattr(cmd, "commands", None), dict)


def _groups() -> list[tuple[list[str], Any]]:
    """Every command group, as (path of names, group), the root first."""
    root = typer.main.get_command(app)
    assert _is_group(root)
    out: list[tuple[list[str], Any]] = []
    todo: list[tuple[list[str], Any]] = [([], root)]
    while todo:
        path, group = todo.pop(0)
        out.append((path, group))
        for name, sub in group.commands.items():
            if _is_group(sub):
                todo.append(([*path, name], sub))
    return out


def test_the_kernel_commands_exist() -> None:
    root: Any = typer.main.get_command(app)
    assert {"db", "ledger", "demo", "serve"} <= set(root.commands)
    assert "verify" in root.commands["ledger"].commands
    assert "upgrade" in root.commands["db"].commands


@pytest.mark.parametrize(
    ("path", "group"), _groups(), ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_help_lists_every_command_with_its_help(path: list[str], group: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="onecard", env=WIDE)
    assert result.exit_code == 0, result.output
    for name, cmd in group.commands.items():
        assert re.search(rf"\b{re.escape(name)}\b", result.output), f"`{name}` missing from help"
        assert (cmd.help or cmd.short_help or "").strip(), (
            f"`{' '.join([*path, name])}` has no help"
        )


def test_every_leaf_command_has_help_that_runs() -> None:
    for path, group in _groups():
        for name, cmd in group.commands.items():
            if _is_group(cmd):
                continue
            result = CliRunner().invoke(app, [*path, name, "--help"], env=WIDE)
            assert result.exit_code == 0, (path, name, result.output)


def test_readme_first_section_gives_exactly_the_two_setup_commands() -> None:
    assert "make demo" in README and "make test" in README
    first_block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", README, re.S)
    assert first_block is not None, "README needs a code block with the set-up commands"
    commands = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_the_makefile_has_the_targets_the_readme_promises() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"


ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = ARCHITECTURE.index(title)
    rest = ARCHITECTURE[start + len(title) :]
    ends = [i for i in (rest.find("\n## "), rest.find("\n### ")) if i >= 0]
    return rest[: min(ends)] if ends else rest


def _exists(path: str) -> bool:
    """A path as the architecture names it: from the repository's root, or below
    ``src/onecard/`` (where the code's own paths start)."""
    path = path.rstrip("/")
    pkg = ROOT / "src" / "onecard"
    if (ROOT / path).exists() or (pkg / path).exists():
        return True
    # A bare file name ("the area's `routes.py`") is one that areas have.
    return "/" not in path and any(pkg.glob(f"*/{path}"))


def test_every_path_in_where_each_change_goes_exists() -> None:
    table = _section("### Where each kind of change goes")
    named = {t for t in re.findall(r"`([^`\s]+)`", table) if "/" in t or t.endswith((".py", ".md"))}
    assert len(named) > 20, "the table names the files to touch"
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_the_layout_table_names_every_area_and_nothing_else() -> None:
    layout = _section("## Layout")
    named = set(re.findall(r"^\| `([^`]+)` \|", layout, flags=re.M))
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"the layout table names what does not exist: {missing}"
    pkg = ROOT / "src" / "onecard"
    areas = {f"{d.name}/" for d in pkg.iterdir() if (d / "__init__.py").exists()}
    assert not sorted(areas - named), f"areas missing from the layout table: {areas - named}"
