"""The permission table: one declared rule for every route and page.

Contract:
- ``RULES`` maps ``(method, path template)`` to a ``Rule``: the clauses that admit a
  caller, each a *who* (anyone, any signed-in person, a terminal, the bank's signed
  callback, or a role) and a *scope* (what the caller may reach: only its own, the person
  or object it owns, the unit it administers, the canteen it manages, the whole city).
  It is the one declared source of who may do what; ``docs/api.md`` ("Permissions") is
  rendered from it (``python -m onecard.web.permissions``) and a test keeps the two equal.
- ``install(app)`` indexes the app's routes against the table once, at start-up. Every
  request that names a person (``deps.get_actor``) or a terminal (``deps.get_terminal``)
  then passes ``admit_person`` / ``admit_terminal`` before the route runs: a caller whom
  no clause's *who* admits is refused (403) there. A route missing from the table is
  refused to everyone (and logged): a new route is closed until it is declared.
- The *scope* half is enforced where the object is known — ``web.scopes`` for pages and
  the services (``Actor.require_*``), which check the actor again — and
  ``tests/web/test_permissions.py`` asserts the whole table against real answers: every
  route × every kind of caller, admitted (2xx/3xx) or refused (401/403/404) as declared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from starlette.requests import Request

from onecard.core.errors import Forbidden
from onecard.org.actors import Actor

log = logging.getLogger(__name__)


class Who(StrEnum):
    ANYONE = "anyone"  # no sign-in at all
    PERSON = "person"  # any signed-in person (every member of staff is also a diner)
    TERMINAL = "terminal"  # a terminal's device key (Authorization: Terminal …)
    BANK = "bank"  # the bank's callback, signed with HMAC-SHA256 over the body
    PARTNER = "partner"  # a partner system's OC-HMAC-SHA256 signed request (partners/)
    UNIT_ADMIN = "unit_admin"
    CANTEEN_MANAGER = "canteen_manager"
    WASTE_SUPERVISOR = "waste_supervisor"
    BUREAU_ADMIN = "bureau_admin"
    CLEARING_OPERATOR = "clearing_operator"
    FINANCE = "finance"
    AUDITOR = "auditor"


ROLES = frozenset(
    w for w in Who if w not in (Who.ANYONE, Who.PERSON, Who.TERMINAL, Who.BANK, Who.PARTNER)
)


class Scope(StrEnum):
    PUBLIC = "public"  # nothing anyone owns
    SELF = "self"  # only the caller's own, chosen by who asks: nothing in the request names another
    OWN = "own"  # the person, card, payment or transaction named must be the caller's own
    UNIT = "unit"  # the unit named (or the unit of the person/canteen named) is one it administers
    CANTEEN = "canteen"  # the canteen named (or of the payment named) is one it manages
    CITY = "city"  # anything in the deployment: a role granted for the whole of it
    # anything in the region the role is granted for and the regions below it (a role
    # granted for the whole deployment: anything); ``Actor.scope``, issue 17 §1
    REGION = "region"


@dataclass(frozen=True)
class Clause:
    who: Who
    scope: Scope

    def __str__(self) -> str:
        return f"{self.who} ({self.scope})"


@dataclass(frozen=True)
class Rule:
    clauses: tuple[Clause, ...]
    note: str = ""

    def __add__(self, other: Rule) -> Rule:
        note = "; ".join(n for n in (self.note, other.note) if n)
        return Rule(self.clauses + other.clauses, note)

    def whos(self) -> frozenset[Who]:
        return frozenset(c.who for c in self.clauses)

    def admits(self, actor: Actor) -> bool:
        """The *who* half for a signed-in person: anyone, any person, or a role it holds —
        a city role held for one region only where the clause's scope is ``REGION``."""
        for c in self.clauses:
            if c.who in (Who.ANYONE, Who.PERSON):
                return True
            if c.who in ROLES:
                held = actor.holds if c.scope is Scope.REGION else actor.has
                if held(c.who.value):
                    return True
        return False


def rule(*clauses: tuple[Who, Scope], note: str = "") -> Rule:
    return Rule(tuple(Clause(w, s) for w, s in clauses), note)


def of(who: Who, scope: Scope) -> Rule:
    return rule((who, scope))


# The recurring rules, by name.
PUBLIC = of(Who.ANYONE, Scope.PUBLIC)
HOLDER = of(Who.PERSON, Scope.SELF)
OWNER = of(Who.PERSON, Scope.OWN)
TERMINAL = of(Who.TERMINAL, Scope.SELF)
TERMINAL_OWN = of(Who.TERMINAL, Scope.OWN)
# A partner system: what its agreement's scopes allow (partners.service.Caller.require).
PARTNER = rule((Who.PARTNER, Scope.SELF), note="the agreement's scope, see Partner API")
BUREAU = rule((Who.BUREAU_ADMIN, Scope.CITY), (Who.CLEARING_OPERATOR, Scope.CITY))
BUREAU_ADMIN = of(Who.BUREAU_ADMIN, Scope.CITY)
READERS = BUREAU + rule((Who.FINANCE, Scope.CITY), (Who.AUDITOR, Scope.CITY))
# The same, for a region's bureau and readers too (org administration, the dashboard and
# reports): the service checks the object's region (``Actor.require_region``).
REGION_BUREAU = rule((Who.BUREAU_ADMIN, Scope.REGION), (Who.CLEARING_OPERATOR, Scope.REGION))
REGION_READERS = REGION_BUREAU + rule((Who.FINANCE, Scope.REGION), (Who.AUDITOR, Scope.REGION))
UNIT_ADMIN = of(Who.UNIT_ADMIN, Scope.UNIT)
REGION_UNIT_WRITERS_FIELDS = Rule(
    (UNIT_ADMIN + REGION_BUREAU).clauses, note="the bureau's fields: the bureau only"
)
REGION_APPOINTERS = Rule(
    (UNIT_ADMIN + REGION_BUREAU).clauses,
    note="city roles: bureau_admin only, within its region, never wider than its own",
)
UNIT_ADMIN_SELF = of(Who.UNIT_ADMIN, Scope.SELF)
CANTEEN_MANAGER = of(Who.CANTEEN_MANAGER, Scope.CANTEEN)
UNIT_WRITERS = UNIT_ADMIN + BUREAU  # Actor.manages_unit
UNIT_READERS = UNIT_ADMIN + READERS  # web.scopes.unit_scope
CANTEEN_RUNNERS = CANTEEN_MANAGER + UNIT_ADMIN + BUREAU  # Actor.manages_canteen
# A file import names its units row by row: a row of a unit the admin does not administer
# is refused as a row error (422 import_rejected), nothing written.
IMPORTERS = (
    rule((Who.UNIT_ADMIN, Scope.SELF), note="rows of other units are refused row by row (422)")
    + BUREAU
)
REGION_IMPORTERS = (
    rule((Who.UNIT_ADMIN, Scope.SELF), note="rows of other units are refused row by row (422)")
    + REGION_BUREAU
)
# A unit's admin edits its own unit's and canteens' rows, but not the bureau's fields.
UNIT_WRITERS_FIELDS = Rule(UNIT_WRITERS.clauses, note="the bureau's fields: the bureau only")
# Roles in a unit (its admins, its canteens' managers): that unit's admin or the bureau;
# the city's roles: the bureau admin only.
APPOINTERS = Rule(UNIT_WRITERS.clauses, note="city roles: bureau_admin only")
# A person's activation code, reset and unlock: their unit's admin or the bureau; a person
# holding a city role, the bureau admin only (web.account_activation).
ACCOUNT_KEEPERS = Rule(UNIT_WRITERS.clauses, note="city-role holders: bureau_admin only")
# Anti-waste supervisors (R-R4) inspect the canteens of the unit they are appointed in;
# the bureau too. What they record is read by them, whoever runs the canteen and the city.
WASTE_SUPERVISOR = of(Who.WASTE_SUPERVISOR, Scope.UNIT)
WASTE_INSPECTORS = WASTE_SUPERVISOR + BUREAU  # Actor.supervises_unit
WASTE_INSPECTORS_SELF = of(Who.WASTE_SUPERVISOR, Scope.SELF) + BUREAU  # their own units
WASTE_READERS = WASTE_SUPERVISOR + CANTEEN_MANAGER + UNIT_ADMIN + READERS  # scopes.waste_scope
# Satisfaction surveys (R-S3): published by the bureau (the whole city, or canteens) or by
# whoever runs a canteen (for it); results read by the city's readers and, for their
# canteens only, by whoever runs them; any diner answers a survey whose audience holds them.
SURVEY_RUNNERS_SELF = rule(
    (Who.CANTEEN_MANAGER, Scope.SELF), (Who.UNIT_ADMIN, Scope.SELF), note="their canteens'"
)
SURVEY_READERS = CANTEEN_MANAGER + UNIT_ADMIN + READERS  # surveys.queries.visible_canteens
SURVEY_ANSWER = rule((Who.PERSON, Scope.SELF), note="a survey whose audience holds the caller")
SIGNING_IN = rule((Who.PERSON, Scope.SELF), note="also a session part-way through sign-in")

API = "/api/v1"

RULES: dict[tuple[str, str], Rule] = {
    # --- public: documents, health, the canteen directory, signing in ---------------------
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/static"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/status"): PUBLIC,
    ("GET", "/canteens"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/me/security"): HOLDER,
    ("POST", "/me/security/sign-out-everywhere"): HOLDER,
    ("GET", "/login/password"): SIGNING_IN,
    ("POST", "/login/password"): SIGNING_IN,
    ("GET", "/login/totp"): SIGNING_IN,
    ("POST", "/login/totp"): SIGNING_IN,
    ("GET", "/activate"): PUBLIC,
    ("POST", "/activate"): PUBLIC,
    ("POST", f"{API}/accounts/activate"): PUBLIC,
    # --- terminals --------------------------------------------------------------------
    ("POST", f"{API}/terminal/payments"): TERMINAL,
    ("GET", f"{API}/terminal/payments/{{txn_id}}"): TERMINAL_OWN,
    ("POST", f"{API}/terminal/payments/{{txn_id}}/reversal"): TERMINAL_OWN,
    ("GET", f"{API}/terminal/today"): TERMINAL,
    ("POST", f"{API}/terminal/offline/key"): TERMINAL,
    ("GET", f"{API}/terminal/offline/working-set"): TERMINAL,
    ("POST", f"{API}/terminal/offline/uploads"): TERMINAL,
    ("POST", f"{API}/terminal/face-payments"): TERMINAL,
    ("POST", f"{API}/channels/bank/notify"): of(Who.BANK, Scope.SELF),
    ("GET", "/bureau/partners"): READERS,
    ("POST", "/bureau/partners"): BUREAU_ADMIN,
    ("POST", "/bureau/partners/{client_id}/rotate"): BUREAU_ADMIN,
    ("POST", "/bureau/partners/{client_id}/revoke"): BUREAU_ADMIN,
    ("GET", f"{API}/partner/canteens"): PARTNER,
    ("POST", f"{API}/terminal/ecny/payments"): TERMINAL,
    ("GET", f"{API}/terminal/ecny/payments/{{txn_id}}"): TERMINAL_OWN,
    ("POST", f"{API}/channels/ecny/notify"): rule(
        (Who.BANK, Scope.SELF), note="the e-CNY acquirer, signed the same way"
    ),
    # --- canteens: refunds ----------------------------------------------------------------
    ("POST", f"{API}/payments/{{payment_id}}/refunds"): CANTEEN_RUNNERS,
    ("POST", f"{API}/ecny/orders/{{order_no}}/refunds"): CANTEEN_RUNNERS,
    # --- the diner's own API and pages ----------------------------------------------------
    ("GET", f"{API}/me/balances"): HOLDER,
    ("GET", f"{API}/me/transactions"): HOLDER,
    ("GET", f"{API}/me/paycode-secret"): HOLDER,
    ("POST", f"{API}/me/paycode-secret/rotate"): HOLDER,
    ("POST", f"{API}/me/phone-lost"): HOLDER,
    ("POST", f"{API}/me/cards/{{card_no}}/lost"): OWNER,
    ("POST", f"{API}/me/cards/{{card_no}}/unfreeze"): OWNER,
    ("POST", f"{API}/me/topups"): HOLDER,
    ("POST", f"{API}/me/topups/ecny"): HOLDER,
    ("POST", f"{API}/me/withdrawals"): HOLDER,
    ("GET", "/me"): HOLDER,
    ("GET", "/me/transactions"): HOLDER,
    ("GET", "/me/code"): HOLDER,
    ("GET", "/me/rate/{payment_id}"): OWNER,
    ("POST", "/me/rate/{payment_id}"): OWNER,
    ("POST", "/me/cards/{card_no}/lost"): OWNER,
    ("POST", "/me/cards/{card_no}/unfreeze"): OWNER,
    ("POST", "/me/paycode/rotate"): HOLDER,
    ("POST", "/me/phone-lost"): HOLDER,
    ("GET", "/me/topup"): HOLDER,
    ("POST", "/me/topup"): HOLDER,
    # --- face pay: the person themself, their unit's admin (consent recorded first) -------
    ("GET", "/me/face"): HOLDER,
    ("POST", "/me/face"): HOLDER,
    ("POST", "/me/face/withdraw"): HOLDER,
    ("GET", f"{API}/people/{{person_id}}/face"): OWNER + UNIT_WRITERS,
    ("PUT", f"{API}/people/{{person_id}}/face"): OWNER + UNIT_WRITERS,
    ("DELETE", f"{API}/people/{{person_id}}/face"): OWNER + UNIT_WRITERS,
    ("PUT", f"{API}/admin/terminals/{{code}}/face"): CANTEEN_RUNNERS,
    # --- administration API: cards, payment codes, terminals, canteen rules ---------------
    ("POST", f"{API}/admin/people/{{person_id}}/cards"): UNIT_WRITERS,
    ("POST", f"{API}/admin/cards/{{card_no}}/lost"): UNIT_WRITERS,
    ("POST", f"{API}/admin/cards/{{card_no}}/unfreeze"): UNIT_WRITERS,
    ("POST", f"{API}/admin/cards/{{card_no}}/replace"): UNIT_WRITERS,
    ("POST", f"{API}/admin/cards/{{card_no}}/cancel"): UNIT_WRITERS,
    ("POST", f"{API}/admin/people/{{person_id}}/paycode/rotate"): UNIT_WRITERS,
    ("POST", f"{API}/admin/terminals"): BUREAU,
    ("POST", f"{API}/admin/terminals/{{code}}/revoke"): BUREAU,
    ("GET", f"{API}/admin/canteens/{{canteen_id}}/rules"): CANTEEN_RUNNERS,
    ("PUT", f"{API}/admin/canteens/{{canteen_id}}/rules"): UNIT_WRITERS,
    ("PUT", f"{API}/admin/canteens/{{canteen_id}}/meal-periods/{{code}}"): UNIT_WRITERS,
    # --- funding API --------------------------------------------------------------------
    ("POST", f"{API}/funding/notices"): REGION_BUREAU,
    ("GET", f"{API}/funding/notices/{{quarter}}"): READERS + UNIT_ADMIN_SELF,
    ("POST", f"{API}/funding/receipts"): REGION_BUREAU,
    ("POST", f"{API}/funding/receipts/{{bank_serial}}/assign"): BUREAU,
    ("POST", f"{API}/funding/transfers"): REGION_BUREAU,
    ("POST", f"{API}/funding/distributions"): REGION_BUREAU,
    ("POST", f"{API}/funding/people/{{person_id}}/leave"): UNIT_WRITERS,
    ("POST", f"{API}/funding/people/{{person_id}}/cash-refund"): UNIT_WRITERS,
    ("PUT", f"{API}/funding/canteens/{{canteen_id}}/quality-rule"): UNIT_WRITERS,
    ("PUT", f"{API}/funding/canteens/{{canteen_id}}/scores/{{quarter}}"): UNIT_WRITERS,
    ("POST", f"{API}/funding/settlements"): REGION_BUREAU,
    ("POST", f"{API}/funding/year-end"): REGION_BUREAU,
    ("POST", f"{API}/funding/returns"): REGION_BUREAU,
    ("POST", f"{API}/funding/region-funds"): BUREAU,
    ("POST", f"{API}/funding/reconciliations"): READERS,
    ("GET", f"{API}/funding/audit"): READERS,
    ("GET", f"{API}/funding/statements/canteens/{{canteen_id}}/{{quarter}}"): UNIT_READERS,
    ("GET", f"{API}/funding/statements/units/{{unit_id}}/{{quarter}}"): UNIT_READERS,
    ("GET", f"{API}/funding/statements/people/{{person_id}}"): OWNER + UNIT_READERS,
    ("GET", f"{API}/funding/unit-info/template"): READERS + UNIT_ADMIN_SELF,
    ("POST", f"{API}/funding/unit-info/import"): IMPORTERS,
    ("GET", f"{API}/funding/roster/template"): UNIT_WRITERS,
    ("POST", f"{API}/funding/roster/import"): IMPORTERS,
    ("POST", f"{API}/funding/bank/statements/import"): BUREAU,
    ("POST", f"{API}/funding/bank/returns/import"): BUREAU,
    ("POST", f"{API}/funding/bank/batches"): BUREAU,
    ("GET", f"{API}/funding/bank/files"): READERS,
    # --- organisation API: regions, units, canteens, their administrators -------------------
    ("GET", f"{API}/org/regions"): REGION_READERS,
    ("POST", f"{API}/org/regions"): REGION_BUREAU,
    ("PATCH", f"{API}/org/regions/{{region_id}}"): REGION_BUREAU,
    ("POST", f"{API}/org/regions/{{region_id}}/retire"): REGION_BUREAU,
    ("GET", f"{API}/org/units"): REGION_READERS + UNIT_ADMIN_SELF,
    ("POST", f"{API}/org/units"): REGION_BUREAU,
    ("GET", f"{API}/org/units/{{unit_id}}"): UNIT_ADMIN + REGION_READERS,
    ("PATCH", f"{API}/org/units/{{unit_id}}"): REGION_UNIT_WRITERS_FIELDS,
    ("POST", f"{API}/org/units/{{unit_id}}/retire"): REGION_BUREAU,
    ("GET", f"{API}/org/canteens"): UNIT_ADMIN + REGION_READERS,
    ("POST", f"{API}/org/canteens"): REGION_BUREAU,
    ("GET", f"{API}/org/canteens/{{canteen_id}}"): UNIT_ADMIN + REGION_READERS,
    ("PATCH", f"{API}/org/canteens/{{canteen_id}}"): REGION_UNIT_WRITERS_FIELDS,
    ("POST", f"{API}/org/canteens/{{canteen_id}}/retire"): REGION_BUREAU,
    ("POST", f"{API}/org/canteens/{{canteen_id}}/payouts/retry"): BUREAU,
    ("GET", f"{API}/org/admins"): UNIT_ADMIN + REGION_READERS,
    ("POST", f"{API}/org/admins"): REGION_APPOINTERS,
    ("POST", f"{API}/org/grants/{{grant_id}}/revoke"): REGION_APPOINTERS,
    ("GET", f"{API}/org/info-table/template"): REGION_READERS,
    # --- accounts: activation codes, reset, unlock ---------------------------------------
    ("POST", f"{API}/admin/people/{{person_id}}/activation-code"): ACCOUNT_KEEPERS,
    ("POST", f"{API}/admin/people/{{person_id}}/reset"): ACCOUNT_KEEPERS,
    ("POST", f"{API}/admin/people/{{person_id}}/unlock"): ACCOUNT_KEEPERS,
    ("POST", f"{API}/admin/units/{{unit_id}}/activation-codes"): ACCOUNT_KEEPERS,
    ("POST", f"{API}/org/info-table/import"): REGION_IMPORTERS,
    # --- rollout and acceptance API (R-R1, R-R3) -------------------------------------------
    ("GET", f"{API}/rollout/plan"): READERS,
    ("POST", f"{API}/rollout/canteens/{{canteen_id}}/plan"): BUREAU,
    ("GET", f"{API}/rollout/terminals"): READERS,
    ("POST", f"{API}/rollout/terminals/{{terminal_id}}/install"): BUREAU,
    ("POST", f"{API}/rollout/terminals/{{terminal_id}}/accept"): BUREAU,
    ("POST", f"{API}/rollout/terminals/{{terminal_id}}/live"): BUREAU,
    ("POST", f"{API}/rollout/terminals/{{terminal_id}}/revoke"): BUREAU,
    ("POST", f"{API}/rollout/canteens/{{canteen_id}}/inspections"): BUREAU,
    ("POST", f"{API}/rollout/canteens/{{canteen_id}}/live"): BUREAU_ADMIN,
    ("GET", f"{API}/rollout/progress"): READERS,
    ("GET", f"{API}/rollout/supervision"): READERS,
    ("GET", f"{API}/rollout/supervision.xlsx"): READERS,
    ("POST", f"{API}/rollout/notices"): BUREAU_ADMIN,
    ("GET", f"{API}/rollout/units/{{unit_id}}/notices"): UNIT_READERS,
    ("POST", f"{API}/rollout/units/{{unit_id}}/notices/{{notice_id}}/acknowledge"): UNIT_ADMIN,
    # --- the catalogue and shop API (R-F5, R-A11) -------------------------------------------
    ("GET", f"{API}/catalogue/canteens/{{canteen_id}}"): CANTEEN_RUNNERS + READERS,
    ("PUT", f"{API}/catalogue/canteens/{{canteen_id}}/dishes/{{sku}}"): CANTEEN_RUNNERS,
    ("PUT", f"{API}/catalogue/canteens/{{canteen_id}}/goods/{{sku}}"): CANTEEN_RUNNERS,
    ("POST", f"{API}/catalogue/goods/{{item_id}}/stock"): CANTEEN_RUNNERS,
    ("GET", f"{API}/catalogue/goods/{{item_id}}/stock"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/catalogue/reference-prices"): READERS
    + rule((Who.CANTEEN_MANAGER, Scope.CITY), (Who.UNIT_ADMIN, Scope.CITY)),
    ("POST", f"{API}/catalogue/reference-prices"): BUREAU,
    ("POST", f"{API}/catalogue/reference-prices/import"): BUREAU,
    ("GET", f"{API}/catalogue/over-reference"): READERS
    + Rule(CANTEEN_RUNNERS.clauses[:2], note="a canteen's own with canteen_id"),
    ("PUT", f"{API}/catalogue/units/{{unit_id}}/shop-rule"): UNIT_WRITERS,
    # --- the catalogue and shop pages ---------------------------------------------------------
    ("GET", "/shop/canteens/{canteen_id}"): CANTEEN_RUNNERS + READERS,
    ("GET", "/shop/canteens/{canteen_id}/goods.xlsx"): CANTEEN_RUNNERS + READERS,
    ("POST", "/shop/canteens/{canteen_id}/dishes"): CANTEEN_RUNNERS,
    ("POST", "/shop/canteens/{canteen_id}/goods"): CANTEEN_RUNNERS,
    ("POST", "/shop/goods/{item_id}/stock"): CANTEEN_RUNNERS,
    ("GET", "/bureau/shop"): READERS,
    ("GET", "/bureau/shop/over.xlsx"): READERS,
    ("GET", "/bureau/shop/references-template.xlsx"): READERS,
    ("POST", "/bureau/shop/references"): BUREAU,
    ("POST", "/bureau/shop/import"): BUREAU,
    # --- waste supervision API (R-R4, R-S5) ----------------------------------------------
    ("POST", f"{API}/waste/canteens/{{canteen_id}}/inspections"): WASTE_INSPECTORS,
    ("GET", f"{API}/waste/canteens/{{canteen_id}}/inspections"): WASTE_READERS,
    ("POST", f"{API}/waste/canteens/{{canteen_id}}/weights"): CANTEEN_RUNNERS,
    ("POST", f"{API}/me/clean-plates"): HOLDER,
    ("GET", f"{API}/me/clean-plates"): HOLDER,
    ("GET", f"{API}/waste/per-diner"): READERS,
    ("GET", f"{API}/waste/per-diner.xlsx"): READERS,
    ("GET", f"{API}/waste/notices"): UNIT_ADMIN_SELF + READERS,
    ("POST", f"{API}/waste/notices"): BUREAU_ADMIN,
    ("POST", f"{API}/waste/notices/{{notice_id}}/acknowledge"): UNIT_ADMIN,
    ("POST", f"{API}/waste/canteens/{{canteen_id}}/quality-score"): UNIT_WRITERS,
    # --- the till -----------------------------------------------------------------------
    ("GET", "/till"): CANTEEN_RUNNERS,
    ("POST", "/till/pay"): CANTEEN_RUNNERS,
    ("POST", "/till/reverse"): CANTEEN_RUNNERS,
    ("GET", "/till/ratings"): CANTEEN_RUNNERS,
    ("GET", "/till/forecast"): CANTEEN_RUNNERS,
    ("GET", "/till/report"): CANTEEN_RUNNERS,
    ("POST", "/till/ecny/check"): CANTEEN_RUNNERS,  # ask again about a pending e-CNY payment
    ("POST", "/till/face"): CANTEEN_RUNNERS,  # face pay at the till (the terminal takes faces)
    # --- unit admin pages ------------------------------------------------------------------
    ("GET", "/unit/{unit_id}"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/info"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/info.xlsx"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/canteens/{canteen_id}"): UNIT_READERS,
    ("POST", "/unit/{unit_id}/canteens/{canteen_id}/rules"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/canteens/{canteen_id}/periods"): UNIT_WRITERS,
    ("GET", "/unit/{unit_id}/quality"): UNIT_READERS,
    ("POST", "/unit/{unit_id}/quality"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/quality/bands"): UNIT_WRITERS,
    ("GET", "/unit/{unit_id}/reports"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/reports.xlsx"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/funding"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/funding.xlsx"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/import"): UNIT_READERS,
    ("GET", "/unit/{unit_id}/roster.xlsx"): UNIT_READERS,
    ("POST", "/unit/{unit_id}/import"): UNIT_WRITERS,
    ("GET", "/unit/{unit_id}/people/{person_id}"): UNIT_READERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/cards"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/paycode"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/leave"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/face"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/face/withdraw"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/sessions/end"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/enrolment-code"): BUREAU_ADMIN,
    ("POST", "/unit/{unit_id}/people/{person_id}/activation-code"): ACCOUNT_KEEPERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/reset"): ACCOUNT_KEEPERS,
    ("POST", "/unit/{unit_id}/people/{person_id}/unlock"): ACCOUNT_KEEPERS,
    ("POST", "/unit/{unit_id}/activation-codes"): ACCOUNT_KEEPERS,
    ("GET", "/unit/{unit_id}/org"): UNIT_READERS,
    ("POST", "/unit/{unit_id}/org"): UNIT_WRITERS_FIELDS,
    ("GET", "/unit/{unit_id}/org/canteens/{canteen_id}"): UNIT_READERS,
    ("POST", "/unit/{unit_id}/org/canteens/{canteen_id}"): UNIT_WRITERS_FIELDS,
    ("POST", "/unit/{unit_id}/org/admins"): APPOINTERS,
    ("POST", "/unit/{unit_id}/org/grants/{grant_id}/revoke"): APPOINTERS,
    # --- the bureau console ----------------------------------------------------------------
    ("GET", "/bureau"): READERS,
    ("POST", "/bureau/canteens/{canteen_id}/rollout"): BUREAU_ADMIN,
    ("GET", "/bureau/terminals"): READERS,
    ("POST", "/bureau/terminals"): BUREAU,
    ("POST", "/bureau/terminals/{code}/revoke"): BUREAU,
    ("GET", "/bureau/notices"): REGION_READERS,
    ("POST", "/bureau/receipts/{bank_serial}/assign"): BUREAU,
    ("GET", "/bureau/audit"): REGION_READERS,
    ("GET", "/bureau/audit.xlsx"): REGION_READERS,
    ("GET", "/bureau/runs"): REGION_READERS,
    ("POST", "/bureau/runs/{kind}"): REGION_BUREAU,
    ("GET", "/bureau/settlements"): REGION_READERS,
    ("GET", "/bureau/settlements/{canteen_id}.{fmt}"): REGION_READERS,
    ("GET", "/bureau/reconciliation"): READERS,
    ("GET", "/bureau/ecny"): READERS,  # e-CNY: the acquirer's day file against our orders
    ("POST", "/bureau/ecny/reconcile"): BUREAU,
    ("POST", "/bureau/ecny/refund"): BUREAU,  # give back an e-CNY payment (pay.ecny.refund)
    ("POST", "/bureau/ecny/check"): BUREAU,  # 再次查询 a pending order (pay.ecny.check_order)
    ("POST", "/bureau/ecny/refund/check"): BUREAU,  # … a pending refund (check_refund)
    # the canteen's own e-CNY payments and their refunds (web.till_ecny; the service checks
    # the payment's canteen again: another canteen's is 403)
    ("GET", "/till/ecny/payments"): CANTEEN_RUNNERS,
    ("POST", "/till/ecny/refund"): CANTEEN_RUNNERS,
    ("POST", "/till/ecny/refund/check"): CANTEEN_RUNNERS,  # ask again about a pending refund
    ("GET", "/bureau/offline"): READERS,  # offline uploads per terminal and day, debts
    ("GET", "/bureau/offline/debts.xlsx"): READERS,
    ("POST", "/bureau/reconciliation"): READERS,
    ("POST", "/bureau/reconciliation/statement"): BUREAU,
    ("POST", "/bureau/reconciliation/assign"): BUREAU,
    ("POST", "/bureau/reconciliation/batch"): BUREAU,
    ("GET", "/bureau/reconciliation/files/{file_id}"): READERS,
    ("POST", "/bureau/reconciliation/returns"): BUREAU,
    ("GET", "/bureau/reconciliation/sandbox-statement"): READERS,
    ("POST", "/bureau/settlements/{settlement_id}/retry"): BUREAU,
    ("GET", "/bureau/org"): REGION_READERS,
    ("POST", "/bureau/org/regions"): REGION_BUREAU,
    ("POST", "/bureau/org/regions/{region_id}"): REGION_BUREAU,
    ("POST", "/bureau/org/regions/{region_id}/retire"): REGION_BUREAU,
    ("POST", "/bureau/org/units"): REGION_BUREAU,
    ("GET", "/bureau/org/units/{unit_id}"): REGION_READERS,
    ("POST", "/bureau/org/units/{unit_id}"): REGION_BUREAU,
    ("POST", "/bureau/org/units/{unit_id}/retire"): REGION_BUREAU,
    ("POST", "/bureau/org/units/{unit_id}/canteens"): REGION_BUREAU,
    ("POST", "/bureau/org/units/{unit_id}/admins"): REGION_BUREAU,
    ("POST", "/bureau/org/units/{unit_id}/grants/{grant_id}/revoke"): REGION_BUREAU,
    ("GET", "/bureau/org/canteens/{canteen_id}"): REGION_READERS,
    ("POST", "/bureau/org/canteens/{canteen_id}"): REGION_BUREAU,
    ("POST", "/bureau/org/canteens/{canteen_id}/retire"): REGION_BUREAU,
    ("POST", "/bureau/org/canteens/{canteen_id}/payouts/retry"): BUREAU,
    ("GET", "/bureau/org/admins"): REGION_READERS,
    ("POST", "/bureau/org/admins"): REGION_BUREAU,
    ("POST", "/bureau/org/grants/{grant_id}/revoke"): REGION_BUREAU,
    ("GET", "/bureau/org/import"): REGION_READERS,
    ("GET", "/bureau/org/info-table.xlsx"): REGION_READERS,
    ("POST", "/bureau/org/import"): REGION_BUREAU,
    ("GET", "/waste"): WASTE_INSPECTORS_SELF,
    ("POST", "/waste/inspections"): WASTE_INSPECTORS,
    ("GET", "/waste/inspections/{inspection_id}/photo"): WASTE_READERS,
    ("GET", "/waste/canteens/{canteen_id}"): WASTE_READERS,
    ("POST", "/waste/canteens/{canteen_id}/weights"): CANTEEN_RUNNERS,
    ("GET", "/bureau/waste"): READERS,
    ("GET", "/bureau/waste.xlsx"): READERS,
    ("POST", "/bureau/waste/notices"): BUREAU_ADMIN,
    ("GET", "/unit/{unit_id}/waste"): UNIT_READERS,
    ("POST", "/unit/{unit_id}/waste/notices/{notice_id}/ack"): UNIT_ADMIN,
    ("POST", "/unit/{unit_id}/waste/weights"): UNIT_WRITERS,
    ("POST", "/unit/{unit_id}/waste/score"): UNIT_WRITERS,
    ("POST", "/me/clean-plate"): HOLDER,
    ("GET", "/bureau/rollout"): READERS,
    ("GET", "/bureau/rollout/supervision.xlsx"): READERS,
    ("POST", "/bureau/rollout/plan"): BUREAU,
    ("POST", "/bureau/rollout/notices"): BUREAU_ADMIN,
    ("GET", "/bureau/rollout/canteens/{canteen_id}"): READERS,
    ("POST", "/bureau/rollout/canteens/{canteen_id}/plan"): BUREAU,
    ("POST", "/bureau/rollout/canteens/{canteen_id}/terminals/{terminal_id}/{move}"): BUREAU,
    ("POST", "/bureau/rollout/canteens/{canteen_id}/inspections"): BUREAU,
    ("POST", "/bureau/rollout/canteens/{canteen_id}/live"): BUREAU_ADMIN,
    ("POST", "/unit/{unit_id}/rollout/notices/{notice_id}/ack"): UNIT_ADMIN,
    ("GET", "/bureau/dashboard"): REGION_READERS,
    ("GET", "/bureau/dashboard/report.pdf"): REGION_READERS,
    ("GET", "/bureau/dashboard/{key}.json"): REGION_READERS,
    ("GET", "/bureau/dashboard/{key}.xlsx"): REGION_READERS,
    # --- cross-region dining (issue 17 §2): each side's bureau (interregion.service's
    # writes: a bureau reaching the side it acts for, checked by require_region_bureau) ------
    ("GET", f"{API}/interregion/agreements"): READERS,
    ("POST", f"{API}/interregion/agreements"): REGION_BUREAU,
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/accept"): REGION_BUREAU,
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/suspend"): REGION_BUREAU,
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/resume"): REGION_BUREAU,
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/end"): REGION_BUREAU,
    ("GET", f"{API}/interregion/statements"): READERS,
    ("POST", f"{API}/interregion/statements"): REGION_BUREAU,
    ("GET", f"{API}/interregion/statements/{{statement_id}}"): READERS,
    ("GET", f"{API}/interregion/statements/{{statement_id}}.xlsx"): READERS,
    ("POST", f"{API}/interregion/statements/{{statement_id}}/confirm"): REGION_BUREAU,
    ("POST", f"{API}/interregion/statements/{{statement_id}}/book"): REGION_BUREAU,
    ("GET", "/bureau/interregion"): REGION_READERS,
    ("GET", "/bureau/interregion/statements/{statement_id}.xlsx"): REGION_READERS,
    ("POST", "/bureau/interregion/agreements"): REGION_BUREAU,
    ("POST", "/bureau/interregion/agreements/{agreement_id}/{action}"): REGION_BUREAU,
    ("POST", "/bureau/interregion/statements"): REGION_BUREAU,
    ("POST", "/bureau/interregion/statements/{statement_id}/confirm"): REGION_BUREAU,
    ("POST", "/bureau/interregion/statements/{statement_id}/book"): REGION_BUREAU,
    # --- community canteens for residents (issue 17 §4): the civil affairs bureau's work,
    # done by the bureau until it has a role of its own -----------------------------------
    ("GET", f"{API}/community/rules"): READERS,
    ("PUT", f"{API}/community/rules"): BUREAU,
    ("GET", f"{API}/community/residents"): READERS,
    ("POST", f"{API}/community/residents"): BUREAU,
    ("POST", f"{API}/community/residents/{{resident_id}}/topups"): BUREAU,
    ("POST", f"{API}/community/canteens"): BUREAU,
    ("PUT", f"{API}/community/canteens/{{cc_id}}/dishes"): BUREAU,
    ("POST", f"{API}/community/canteens/{{cc_id}}/meals"): BUREAU,
    ("POST", f"{API}/community/canteens/{{cc_id}}/claims"): BUREAU,
    ("POST", f"{API}/community/canteens/{{cc_id}}/ratings"): BUREAU,
    ("GET", f"{API}/community/claims/{{claim_id}}"): READERS,
    ("GET", f"{API}/community/claims/{{claim_id}}.xlsx"): READERS,
    ("POST", f"{API}/community/claims/lines/{{line_id}}"): BUREAU,
    ("POST", f"{API}/community/claims/{{claim_id}}/approve"): BUREAU,
    ("GET", "/bureau/community"): READERS,
    ("POST", "/bureau/community/claims"): BUREAU,
    ("GET", "/bureau/community/claims/{claim_id}"): READERS,
    ("GET", "/bureau/community/claims/{claim_id}.xlsx"): READERS,
    ("POST", "/bureau/community/claims/{claim_id}/lines/{line_id}"): BUREAU,
    ("POST", "/bureau/community/claims/{claim_id}/approve"): BUREAU,
    # --- dish ratings and the diner's nutrition (R-S1) -------------------------------------
    ("GET", f"{API}/me/meals/{{payment_id}}/dishes"): OWNER,
    ("POST", f"{API}/me/meals/{{payment_id}}/dishes/{{item_id}}/rating"): OWNER,
    ("GET", f"{API}/me/nutrition"): HOLDER,
    ("GET", f"{API}/dishes/ratings"): READERS,
    ("GET", f"{API}/dishes/ratings.xlsx"): READERS,
    ("GET", f"{API}/dishes/canteens/{{canteen_id}}/ratings"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/dishes/canteens/{{canteen_id}}/ratings.xlsx"): CANTEEN_RUNNERS + READERS,
    ("GET", "/me/meals/{payment_id}"): OWNER,
    ("POST", "/me/meals/{payment_id}/dishes/{item_id}"): OWNER,
    ("GET", "/me/nutrition"): HOLDER,
    ("GET", "/dishes/canteens/{canteen_id}"): CANTEEN_RUNNERS + READERS,
    ("GET", "/dishes/canteens/{canteen_id}/ratings.xlsx"): CANTEEN_RUNNERS + READERS,
    ("GET", "/bureau/dishes"): READERS,
    ("GET", "/bureau/dishes.xlsx"): READERS,
    # --- menus and pre-orders (R-S2, R-S3) ------------------------------------------------
    ("GET", f"{API}/menus/canteens/{{canteen_id}}"): of(Who.PERSON, Scope.PUBLIC),
    ("PUT", f"{API}/menus/canteens/{{canteen_id}}/days/{{day}}/{{meal}}"): CANTEEN_RUNNERS,
    ("PUT", f"{API}/menus/canteens/{{canteen_id}}/rule"): CANTEEN_RUNNERS,
    ("GET", f"{API}/menus/canteens/{{canteen_id}}/counts"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/menus/canteens/{{canteen_id}}/counts.xlsx"): CANTEEN_RUNNERS + READERS,
    ("POST", f"{API}/me/preorders"): HOLDER,
    ("GET", f"{API}/me/preorders"): HOLDER,
    ("POST", f"{API}/me/preorders/{{preorder_id}}/cancel"): OWNER,
    ("POST", f"{API}/terminal/preorders/pickup"): TERMINAL,
    ("GET", "/me/menu"): HOLDER,
    ("POST", "/me/menu/preorder"): HOLDER,
    ("POST", "/me/menu/preorders/{preorder_id}/cancel"): OWNER,
    ("GET", "/till/preorders"): CANTEEN_RUNNERS,
    ("GET", "/till/preorders.xlsx"): CANTEEN_RUNNERS,
    ("POST", "/till/pickup"): CANTEEN_RUNNERS,
    ("GET", "/till/menu"): CANTEEN_RUNNERS,
    ("POST", "/till/menu"): CANTEEN_RUNNERS,
    ("POST", "/till/menu/rule"): CANTEEN_RUNNERS,
    # --- purchasing and traceability (R-S2, R-S4): a canteen's own sourcing is written by
    # who runs it; the traces are its runners' and the city readers' ----------------------
    ("GET", f"{API}/sourcing/canteens/{{canteen_id}}"): CANTEEN_RUNNERS + READERS,
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/ingredients"): CANTEEN_RUNNERS,
    ("PUT", f"{API}/sourcing/canteens/{{canteen_id}}/recipes/{{dish_id}}"): CANTEEN_RUNNERS,
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/suppliers"): CANTEEN_RUNNERS,
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/batches"): CANTEEN_RUNNERS,
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/uses"): CANTEEN_RUNNERS,
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/purchase-list"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/sourcing/canteens/{{canteen_id}}/meal-trace"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/sourcing/canteens/{{canteen_id}}/meal-trace.xlsx"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/sourcing/batches/{{batch_id}}/trace"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/sourcing/batches/{{batch_id}}/trace.xlsx"): CANTEEN_RUNNERS + READERS,
    ("GET", f"{API}/sourcing/batches"): READERS,
    ("GET", f"{API}/sourcing/cost"): READERS,
    ("GET", "/sourcing/canteens/{canteen_id}"): CANTEEN_RUNNERS + READERS,
    ("POST", "/sourcing/canteens/{canteen_id}/ingredients"): CANTEEN_RUNNERS,
    ("POST", "/sourcing/canteens/{canteen_id}/recipes"): CANTEEN_RUNNERS,
    ("POST", "/sourcing/canteens/{canteen_id}/suppliers"): CANTEEN_RUNNERS,
    ("POST", "/sourcing/canteens/{canteen_id}/batches"): CANTEEN_RUNNERS,
    ("POST", "/sourcing/canteens/{canteen_id}/uses"): CANTEEN_RUNNERS,
    ("GET", "/sourcing/canteens/{canteen_id}/purchase"): CANTEEN_RUNNERS + READERS,
    ("GET", "/sourcing/canteens/{canteen_id}/purchase.xlsx"): CANTEEN_RUNNERS + READERS,
    ("GET", "/sourcing/canteens/{canteen_id}/meal"): CANTEEN_RUNNERS + READERS,
    ("GET", "/sourcing/canteens/{canteen_id}/meal.xlsx"): CANTEEN_RUNNERS + READERS,
    ("GET", "/sourcing/batches/{batch_id}"): CANTEEN_RUNNERS + READERS,
    ("GET", "/sourcing/batches/{batch_id}.xlsx"): CANTEEN_RUNNERS + READERS,
    ("GET", "/bureau/sourcing"): READERS,
    ("GET", "/bureau/sourcing/meal"): READERS,
    # --- satisfaction surveys (R-S3) ----------------------------------------------------
    ("POST", f"{API}/surveys"): Rule(CANTEEN_RUNNERS.clauses, note="the whole city: the bureau"),
    ("GET", f"{API}/surveys"): SURVEY_RUNNERS_SELF + READERS,
    ("GET", f"{API}/surveys/{{survey_id}}/results"): SURVEY_READERS,
    ("GET", f"{API}/surveys/{{survey_id}}/results.xlsx"): SURVEY_READERS,
    ("POST", f"{API}/surveys/{{survey_id}}/close"): CANTEEN_RUNNERS,
    ("GET", f"{API}/me/surveys"): HOLDER,
    ("GET", f"{API}/me/surveys/{{survey_id}}"): SURVEY_ANSWER,
    ("POST", f"{API}/me/surveys/{{survey_id}}/responses"): SURVEY_ANSWER,
    ("GET", f"{API}/reports/per-capita"): REGION_READERS,
    ("GET", "/bureau/per-capita"): REGION_READERS,
    ("GET", "/bureau/per-capita.xlsx"): REGION_READERS,
    ("GET", "/surveys"): SURVEY_RUNNERS_SELF + READERS,
    ("POST", "/surveys"): Rule(CANTEEN_RUNNERS.clauses, note="the whole city: the bureau"),
    ("GET", "/surveys/{survey_id}"): SURVEY_READERS,
    ("GET", "/surveys/{survey_id}/results.xlsx"): SURVEY_READERS,
    ("POST", "/surveys/{survey_id}/close"): CANTEEN_RUNNERS,
    ("GET", "/me/surveys"): HOLDER,
    ("GET", "/me/surveys/{survey_id}"): SURVEY_ANSWER,
    ("POST", "/me/surveys/{survey_id}"): SURVEY_ANSWER,
}


# --- the app's routes against the table -------------------------------------------------
def app_routes(app: Any) -> list[tuple[str, str, Any]]:
    """Every (method, path template, route object) the app serves; a mount is one
    ``GET`` of its prefix. ``HEAD`` rides along with ``GET`` and is not listed."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        pairs = [(r, r.path, getattr(r, "methods", None)) for r in app.routes]
    else:
        pairs = [(rc.original_route, rc.path, rc.methods) for rc in iter_route_contexts(app.routes)]
    out = []
    for route, path, methods in pairs:
        for method in sorted(methods or {"GET"}):
            if method != "HEAD":
                out.append((method, str(path), route))
    return out


def undeclared(app: Any) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in app_routes(app) if (m, p) not in RULES]


def install(app: Any) -> None:
    """Index the app's routes by route object, so a request finds its rule in O(1)."""
    index: dict[tuple[int, str], tuple[str, Rule | None]] = {}
    for method, path, route in app_routes(app):
        index[(id(route), method)] = (path, RULES.get((method, path)))
    app.state.permission_index = index
    for method, path in undeclared(app):
        log.error("no declared permission rule for %s %s: it is refused to everyone", method, path)


def rule_of(request: Request) -> Rule | None:
    """The declared rule of the route serving this request (None: undeclared)."""
    index = getattr(request.app.state, "permission_index", None)
    route = request.scope.get("route")
    if index is None or route is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    found = index.get((id(route), method))
    return found[1] if found else None


def admit_person(request: Request, actor: Actor) -> None:
    found = rule_of(request)
    if found is None or not found.admits(actor):
        raise Forbidden()


def admit_partner(request: Request) -> None:
    found = rule_of(request)
    if found is None or Who.PARTNER not in found.whos():
        raise Forbidden()


def admit_terminal(request: Request) -> None:
    found = rule_of(request)
    if found is None or Who.TERMINAL not in found.whos():
        raise Forbidden()


# --- the table as Markdown (docs/api.md) ---------------------------------------------------
def markdown() -> str:
    lines = ["| method | path | who (scope) |", "| --- | --- | --- |"]
    for (method, path), r in sorted(RULES.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        who = ", ".join(str(c) for c in r.clauses)
        if r.note:
            who += f" — {r.note}"
        lines.append(f"| {method} | `{path}` | {who} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
