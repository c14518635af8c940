"""Rendering pages: one Jinja2 environment, the language, the CSRF token, the nav.

Contract: ``render(request, template, **context)`` returns an ``HTMLResponse``. Every
template gets ``_`` / ``gettext`` / ``ngettext`` (the page language's catalogue,
``web.i18n``), ``yuan`` (fen → "12.50") and ``money`` (fen → "12,345.67": the only
places money is formatted), the filters ``local`` (city time), ``word``, ``who`` and
``num`` (``core.words``), ``quarters``, ``lang``, ``csrf`` and ``actor`` (or None). ``?lang=en`` / ``?lang=zh-CN``
is remembered in the ``lang`` cookie.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from onecard.audit.queries import describe
from onecard.core.clock import local_text, quarter_choices, zone_label
from onecard.core.money import yuan
from onecard.core.words import grouped, who, word
from onecard.org.actors import CITY_READERS, Actor
from onecard.web.csrf import csrf_token
from onecard.web.i18n import request_lang, translations

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    # ``_``/``gettext``/``ngettext`` are given per request, in the page's language (the
    # environment is shared by concurrent requests, so nothing is installed on it).
    extensions=["jinja2.ext.i18n"],
)
env.globals["yuan"] = yuan


def percent_bp(bp: int) -> str:
    """Basis points as a person reads them: 50 → '0.50%', 9800 → '98.00%' (exact)."""
    sign = "-" if bp < 0 else ""
    return f"{sign}{abs(bp) // 100}.{abs(bp) % 100:02d}%"


env.globals["percent_bp"] = percent_bp


# ``{{ x.created_at|local }}``: every stored instant a page shows goes through here, in
# the city's zone (``ONECARD_TIMEZONE``) — never a raw UTC ``strftime`` in a template.
env.filters["local"] = local_text
env.globals["zone_label"] = zone_label


# ``{{ c.status|word("card") }}``: a stored code as a word in the page's language (the
# one vocabulary is ``core.words``; the page's ``_`` translates it).
@pass_context
def _word(context: Any, code: Any, domain: str) -> str:
    return str(context["_"](word(code, domain)))


@pass_context
def _who(context: Any, label: Any) -> str:
    return who(label, tr=context["_"])


# ``{{ r.before|describe }}``: an audit record's before/after/data in the page's language
# (field names and words through the page's ``_``; ``audit.queries.describe``).
@pass_context
def _describe(context: Any, value: Any) -> str:
    return describe(value, tr=context["_"], lang=context.get("lang", "zh-CN"))


def _num(n: Any) -> str:
    """Counts with thousands separators (1,679); other values as they are."""
    return grouped(n) if isinstance(n, int) and not isinstance(n, bool) else str(n)


def money(fen: int) -> str:
    """Yuan with thousands separators for a person to read: 1234567 → '12,345.67'."""
    return yuan(fen, grouped=True)


env.filters["word"] = _word
env.filters["who"] = _who
env.filters["num"] = _num
env.filters["describe"] = _describe
env.globals["money"] = money


def _quarters(request: Request, chosen: str) -> list[str]:
    """The quarters a page offers (last 8, this and the next, by the server's clock), with
    the chosen one kept in the list when it is older."""
    ctx = getattr(request.app.state, "ctx", None)
    today = ctx.clock.today() if ctx is not None else date.today()
    choices = quarter_choices(today)
    return choices if not chosen or chosen in choices else [*choices, chosen]


ROLE_HOME = (
    ("bureau_admin", "/bureau"),
    ("clearing_operator", "/bureau"),
    ("finance", "/bureau"),
    ("auditor", "/bureau"),
)


def nav_links(actor: Actor | None) -> list[tuple[str, str]]:
    """(href, Chinese label) for the pages this actor may open."""
    if actor is None:
        return [("/canteens", "食堂名录"), ("/login", "登录")]
    links = [("/me", "我的账户"), ("/me/code", "付款码")]
    if actor.is_bureau or actor.has("canteen_manager", "unit_admin"):
        links.append(("/till", "收银台"))
    if actor.has("waste_supervisor"):
        links.append(("/waste", "反浪费检查"))
    if actor.can_read_everything() or actor.has("canteen_manager", "unit_admin"):
        links.append(("/surveys", "满意度调查"))
    for role, unit_id, _ in sorted(actor.grants, key=lambda g: (g[0], g[1] or 0)):
        if role == "unit_admin" and unit_id is not None:
            links.append((f"/unit/{unit_id}", "单位管理"))
    for role, _, canteen_id in sorted(actor.grants, key=lambda g: (g[0], g[2] or 0)):
        if role == "canteen_manager" and canteen_id is not None:
            links.append((f"/shop/canteens/{canteen_id}", "菜品与超市"))
            links.append((f"/waste/canteens/{canteen_id}", "剩余登记"))
            links.append((f"/dishes/canteens/{canteen_id}", "菜品评价"))
    if actor.can_read_everything():
        links.append(("/bureau", "管理控制台"))
        links.append(("/bureau/dashboard", "数据看板"))
        links.append(("/bureau/shop", "商超参考价"))
    elif actor.holds(*CITY_READERS):  # a region's bureau or reader (issue 17 §1)
        links.append(("/bureau/org", "机构管理"))
        links.append(("/bureau/dashboard", "数据看板"))
    links.append(("/canteens", "食堂名录"))
    return links


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    actor: Actor | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = request_lang(request)
    tr = translations(lang)
    html = env.get_template(template).render(
        request=request,
        _=tr.gettext,
        gettext=tr.gettext,
        ngettext=tr.ngettext,
        lang=lang,
        csrf=csrf_token(request) if "session" in request.scope else "",
        actor=actor,
        nav=nav_links(actor),
        quarters=lambda chosen="": _quarters(request, chosen),
        **context,
    )
    resp = HTMLResponse(html, status_code=status_code)
    asked = request.query_params.get("lang")
    if asked in ("en", "zh-CN"):
        resp.set_cookie("lang", asked, max_age=365 * 86400, samesite="lax", httponly=True)
    return resp
