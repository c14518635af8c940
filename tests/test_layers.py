"""The house has floors: every import of ``onecard`` runs down (or sideways inside one
area), and no modules import each other in a circle.

How a module is placed (read this before adding an area or a module):

1. Its *tier* (``TIERS``, lowest first: core, tables, services, kit, edges, entry) is
   given by the first of ``RULES`` whose pattern matches its dotted name below
   ``onecard.`` (fnmatch: ``*.models`` is every area's tables); a module no rule names is
   a service of its area. A tier may use the tiers below it, never one above.
2. In the ``services`` tier the *area* (first part of the name) matters too: an area may
   use the areas listed before it in ``AREAS``, never one after it. Two modules of one
   area may use each other (as long as they make no circle).
3. ``edges`` (routes, CLI groups, pages) are leaves: an edge may use an edge of its own
   area (``funding.bank_routes`` the ``funding.routes`` router), never another area's,
   and a page (``web.*``) never another page; what they share goes in a non-edge module
   (``web.pages``, ``cli_kit``, the area's service, schema or read-model module). Only
   the ``entry`` tier (``web.app``, ``cli``) mounts them.

A new area (say ``rollout/``): add its name to ``AREAS`` at the place that says what it
may use (after every area it imports, before every area that imports it); its
``models.py`` / ``routes.py`` / ``cli.py`` / ``schemas.py`` are placed by the tier
patterns already. A new kind of module that fits no pattern lands in ``services`` of its
area. Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy
import is still an arrow between rooms.
"""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatchcase
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
PKG = SRC / "onecard"

# The tiers, lowest first.
TIERS = ["core", "tables", "services", "kit", "edges", "entry"]

# Which tier a module is in: the first rule whose pattern matches its dotted name below
# ``onecard.`` (fnmatch); a module no rule names is in ``services`` of its area.
RULES: list[tuple[str, str]] = [
    # Plumbing every area may use; knows no business area.
    ("", "core"),
    ("core", "core"),
    ("core.*", "core"),
    ("migrations.runner", "core"),
    # What mounts the edges and runs the whole: the app, the CLI, the demo, the bench,
    # operations, and migrations (a revision freezes what it needs, see 0001).
    ("web.app", "entry"),
    ("web.asgi", "entry"),
    ("cli", "entry"),
    ("demo", "entry"),
    ("bench", "entry"),
    ("bench.*", "entry"),
    ("ops", "entry"),
    ("ops.*", "entry"),
    ("migrations*", "entry"),
    # Tables (and who acts: the Actor type reads only org's tables): any area may name
    # any area's tables; reading another area's rows is not a reaction.
    ("*.models", "tables"),
    ("*.session_models", "tables"),
    ("models", "tables"),
    ("org.actors", "tables"),
    # Which region keeps the money, and which lie below: a reading of org's regions table
    # that the Actor's scope, the ledger's verify and the payment path all need.
    ("org.fund_regions", "tables"),
    # What the pages, the API and the commands share: dependencies, error mapping,
    # templates, sessions, page helpers (``web.pages``), the CLI's console and context.
    ("web", "kit"),
    ("web.accounts", "kit"),
    ("web.account_activation", "kit"),
    ("web.csrf", "kit"),
    ("web.deps", "kit"),
    ("web.errors", "kit"),
    ("web.forms", "kit"),
    ("web.headers", "kit"),
    ("web.i18n", "kit"),
    ("web.phrases", "kit"),
    ("web.signin", "kit"),
    ("web.openapi", "kit"),
    ("web.pages", "kit"),
    ("web.permissions", "kit"),
    ("web.scopes", "kit"),
    ("web.sessions", "kit"),
    ("web.templating", "kit"),
    ("web.throttle", "kit"),
    ("cli_kit", "kit"),
    # Routes, CLI groups and pages: thin leaves.
    ("*.routes", "edges"),
    ("*_routes", "edges"),
    ("*.*_route", "edges"),
    ("*.cli", "edges"),
    ("*_cli", "edges"),
    ("web.*", "edges"),
]

# The services tier, lowest first: an area may use the ones before it.
AREAS: list[str] = [
    "ledger",
    "audit",
    "org",
    "faces",
    "rollout",
    "channels",
    "catalogue",
    "pay",
    "terminals",
    "funding",
    "interregion",
    "community",
    "feedback",
    "menus",
    "waste",
    "reports",
    "partners",
    "sourcing",
    "surveys",
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every ``onecard`` module this one imports (``from a import b`` names ``a.b`` when
    that is a module, else ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "onecard")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "onecard":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in MODULES else target)
    out.discard(name)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def tier(module: str) -> int:
    short = module.removeprefix("onecard").removeprefix(".")
    for pattern, name in RULES:
        if fnmatchcase(short, pattern):
            return TIERS.index(name)
    return TIERS.index("services")


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


SERVICES = TIERS.index("services")
EDGES = TIERS.index("edges")


def _why_not(src: str, dst: str) -> str | None:
    ts, td = tier(src), tier(dst)
    if td > ts:
        return f"{TIERS[ts]} imports {TIERS[td]}"
    if ts == td == SERVICES and area(src) != area(dst):
        a, b = area(src), area(dst)
        for x in (a, b):
            if x not in AREAS:
                return f"area `{x}` is not placed in AREAS (tests/test_layers.py)"
        if AREAS.index(b) > AREAS.index(a):
            return f"area {a} imports area {b}, which stands above it in AREAS"
    if ts == td == EDGES and (area(src) != area(dst) or area(src) == "web"):
        return "an edge imports another area's edge or page (share through a non-edge module)"
    return None


def test_every_area_is_placed() -> None:
    unplaced = sorted({area(m) for m in MODULES if tier(m) == SERVICES and area(m) not in AREAS})
    assert not unplaced, f"place these areas in AREAS (tests/test_layers.py): {unplaced}"


def test_no_import_runs_up_the_layers() -> None:
    bad = [
        f"{src} -> {dst}: {why}"
        for src, targets in sorted(GRAPH.items())
        for dst in sorted(targets)
        if (why := _why_not(src, dst))
    ]
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    assert not _cycles(GRAPH), f"modules that import each other in a circle: {_cycles(GRAPH)}"


def test_the_checks_can_fail() -> None:
    """The checker itself sees a circle, an upward import and an edge importing an edge."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _why_not("onecard.ledger.service", "onecard.pay.service")
    assert _why_not("onecard.core.context", "onecard.channels.bank")
    assert _why_not("onecard.web.bureau", "onecard.web.unit")
    assert _why_not("onecard.pay.service", "onecard.ledger.service") is None


# Where the roles are defined: everywhere else asks the Actor (``is_bureau``,
# ``require_bureau``, ``require_city_reader`` …).
ROLE_DEFINITIONS = {"onecard.org.actors", "onecard.org.models", "onecard.org.schemas"}
BUREAU_PAIR = re.compile(r"""["']bureau_admin["']\s*,\s*["']clearing_operator["']""")


def test_the_bureau_is_asked_of_the_actor_not_spelled() -> None:
    spelled = [
        name
        for name, path in MODULES.items()
        if name not in ROLE_DEFINITIONS and BUREAU_PAIR.search(path.read_text(encoding="utf-8"))
    ]
    assert not spelled, f"use Actor.is_bureau / require_bureau instead of the role pair: {spelled}"


def test_api_types_live_in_schemas_modules() -> None:
    """Routes are thin: the API's pydantic types are in the area's ``schemas.py``."""
    inline = [
        f"{name}.{node.name}"
        for name, path in MODULES.items()
        if fnmatchcase(name, "*routes") or fnmatchcase(name, "*_route")
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id == "BaseModel" for b in node.bases)
    ]
    assert not inline, f"move these to the area's schemas.py: {inline}"


# --- the one shape of an area (docs/architecture.md, "The shape of an area") -------------
# Every area has these faces, each a module named so (``service`` may be split by subject
# into more modules; ``service.py`` is then its front). A face an area genuinely does not
# have is listed here with the reason; prefer giving the area the module.
FACES = ("models", "service", "queries", "schemas", "routes", "cli")
NO_FACE: dict[str, dict[str, str]] = {
    "ledger": {
        # Balances are read inside other areas' read models and services through the
        # connection-level helpers of ledger.service (account_id, balances): no page
        # asks the ledger alone.
        "queries": "read through ledger.service's helpers inside other areas' reads",
        # Nobody calls the ledger from outside: other areas' services post to it, and
        # ``onecard ledger verify`` checks it.
        "schemas": "no API",
        "routes": "no API",
    },
    "audit": {
        # The trail is read on the bureau's audit page and by ``onecard audit``; it is
        # written by every area's services (audit.records), never over HTTP.
        "schemas": "no API",
        "routes": "no API",
    },
    "org": {
        # Services split by subject, each its own module: admin, grants, imports,
        # leavers, retirement, bank_accounts, start, sessions, account_codes.
        "service": "services by subject (org.admin, org.grants, org.imports, ...)",
    },
    "funding": {
        # One module per money run or chore: notices, distribution, settlement, payouts,
        # year_end, reconciliation, bank_files, payees.
        "service": "services by run (funding.distribution, funding.settlement, ...)",
    },
    "channels": {
        # The bank's adapters (gateway, file exchange, statements, the sandbox): used by
        # pay and funding services; its files are shown on funding's pages and API.
        "service": "adapters by subject (channels.bank, channels.files, channels.store)",
        "queries": "shown through funding's read models and pages",
        "schemas": "no API of its own (funding.bank_routes)",
        "routes": "no API of its own (funding.bank_routes)",
    },
    "feedback": {
        # A diner rates a meal on the diner's page (web.diner); dish ratings have an API.
        "cli": "no command",
    },
    "reports": {
        # Each report is its own read model (dashboard, figures, directory, overview),
        # shown on pages and as Excel; its only writes fold the dashboard's roll-ups
        # (reports.service.catch_up, reports.models).
        "queries": "read models by report (reports.dashboard, .directory, .overview)",
    },
    "surveys": {
        # Published, answered and read on the pages and the API; nothing to run.
        "cli": "no command",
    },
}


def _missing_faces(area_name: str) -> list[str]:
    folder = PKG / area_name
    return [f for f in FACES if not (folder / f"{f}.py").exists()]


def test_every_area_has_the_one_shape() -> None:
    assert sorted(AREAS) == sorted(
        p.name for p in PKG.iterdir() if p.is_dir() and p.name in AREAS
    ), "every area in AREAS is a folder of src/onecard"
    bad = {
        a: [f for f in _missing_faces(a) if f not in NO_FACE.get(a, {})]
        for a in AREAS
        if any(f not in NO_FACE.get(a, {}) for f in _missing_faces(a))
    }
    assert not bad, f"give these areas the module (or list it in NO_FACE with why): {bad}"
    stale = {a: f for a, faces in NO_FACE.items() for f in faces if f not in _missing_faces(a)}
    assert not stale, f"these areas have the module now: drop it from NO_FACE: {stale}"


def test_read_models_only_read() -> None:
    """A ``queries`` module opens read transactions only (writes belong to services)."""
    writes = [
        name
        for name, path in MODULES.items()
        if name.endswith(".queries") and ".begin(" in path.read_text(encoding="utf-8")
    ]
    assert not writes, f"queries modules that write (move the write to a service): {writes}"


# --- pages call services and read models; they do not touch the database ----------------
# The kit modules below own sign-in's transactions (they are its services, kept beside
# the pages that use them) or ask the database itself a question; every other module
# under web/ reaches the database only through an area's service or read model.
WEB_DB_ALLOWED = {
    "onecard.web.accounts": "sign-in, passwords, second factor: one transaction each",
    "onecard.web.account_activation": "activation codes and resets: one transaction each",
    "onecard.web.throttle": "sign-in failure counters, inside accounts' transactions",
    "onecard.web.status": "the readiness probe asks the database itself (SELECT 1)",
}


def _touches_database(tree: ast.AST) -> list[int]:
    """Lines that run SQL (``….execute(``) or take the database from a context
    (``ctx.db``, ``frame.ctx.db``)."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "execute"
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "db":
            base = node.value
            name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            if name == "ctx":
                lines.append(node.lineno)
    return sorted(set(lines))


def test_pages_do_not_touch_the_database() -> None:
    found = {
        name: _touches_database(ast.parse(path.read_text(encoding="utf-8")))
        for name, path in MODULES.items()
        if name.startswith("onecard.web.")
    }
    bad = {n: lines for n, lines in found.items() if lines and n not in WEB_DB_ALLOWED}
    assert not bad, (
        "web modules that run SQL or open transactions (move the read to the area's "
        f"queries.py, the write to its service): {bad}"
    )
    stale = [n for n in WEB_DB_ALLOWED if not found.get(n)]
    assert not stale, f"no longer touch the database: drop from WEB_DB_ALLOWED: {stale}"


def test_the_page_check_can_fail() -> None:
    src = (
        "def f(ctx, frame):\n    with ctx.db.read() as c:\n        c.execute(q)\n    frame.ctx.db\n"
    )
    assert _touches_database(ast.parse(src)) == [2, 3, 4]
    assert _touches_database(ast.parse("def f(ctx):\n    return ctx.clock.now()\n")) == []
