"""The canteen's shop pages (/shop, R-F5, R-A11) and the bureau's reference prices
(/bureau/shop).

Contract: ``/shop/canteens/{id}`` is a canteen's dishes (price, category, portion,
allergens, nutrition), goods (barcode, unit, price against its reference, stock on hand:
the moves' count less the till's sales, ``catalogue.stock``; ``?good=`` adds that good's
moves and sales, newest first) and
the goods now above their reference, with forms to add or change a dish or a good and
to move stock; ``goods.xlsx`` the goods as a file. Only who runs the canteen writes
(``catalogue.service`` checks again); city readers may look. ``/bureau/shop`` is the
reference prices published (history kept) and every good above its reference, a form to
publish one price and a file import previewed before it is published (row errors:
nothing written). Pages call services and read models only.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from onecard.catalogue import imports, queries, service
from onecard.core.context import Context
from onecard.core.errors import ImportRejected, InvalidInput, NotFound, OneCardError
from onecard.core.tables import Table, to_xlsx
from onecard.org.actors import Actor
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdPath, OptionalIdQuery
from onecard.web.forms import parse_yuan
from onecard.web.i18n import request_lang
from onecard.web.pages import xlsx_response
from onecard.web.scopes import bureau_scope, canteen_scope
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

Text = Annotated[str, Form(max_length=200)]


def _catalogue(ctx: Context, actor: Actor, canteen_id: int) -> dict[str, Any]:
    got = queries.canteen_items(ctx, canteen_id)
    if not got:
        raise NotFound(what="食堂")
    canteen_scope(actor, canteen_id, got["unit_id"])
    return got


def _canteen_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    status_code: int = 200,
    **kw: Any,
) -> Response:
    got = _catalogue(ctx, actor, canteen_id)
    good = kw.pop("good", None)
    chosen = next((g for g in got["goods"] if g["id"] == good), None)
    history = queries.stock_history(ctx, chosen["id"], kw.pop("limit", 50)) if chosen else None
    return render(
        request,
        "shop/canteen.html",
        status_code=status_code,
        actor=actor,
        canteen=got,
        chosen=chosen,
        history=history,
        writable=actor.manages_canteen(canteen_id, got["unit_id"]),
        over=queries.goods_over_reference(ctx, canteen_id),
        **kw,
    )


@router.get("/shop/canteens/{canteen_id}")
def canteen_page(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    saved: str = "",
    good: OptionalIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """``good``: show that good's stock moves and till sales (newest first, ``limit``)."""
    return _canteen_page(request, ctx, actor, canteen_id, saved=saved[:60], good=good, limit=limit)


def _opt_int(text: str) -> int | None:
    t = text.strip()
    if not t:
        return None
    if not t.isdigit():
        raise InvalidInput(f"{t} 不是非负整数")
    return int(t)


def _grams_mg(text: str) -> int | None:
    """Grams as people write them ("12.5") → milligrams (integers, no floats)."""
    t = text.strip()
    if not t:
        return None
    whole, _, frac = t.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 3)):
        raise InvalidInput(f"{t} 应为克数，至多三位小数")
    return int(whole) * 1000 + int((frac + "000")[:3])


@router.post("/shop/canteens/{canteen_id}/dishes")
def post_dish(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    sku: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=60)],
    price: Annotated[str, Form(max_length=20)],
    category: Annotated[str, Form(max_length=20)] = "",
    portion_g: Annotated[str, Form(max_length=10)] = "",
    allergens: Text = "",
    energy_kj: Annotated[str, Form(max_length=10)] = "",
    energy_kcal: Annotated[str, Form(max_length=10)] = "",
    protein_g: Annotated[str, Form(max_length=12)] = "",
    fat_g: Annotated[str, Form(max_length=12)] = "",
    carbohydrate_g: Annotated[str, Form(max_length=12)] = "",
    salt_g: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    try:
        spec = service.DishSpec(
            sku=sku.strip(),
            name=name.strip(),
            price_fen=parse_yuan(price),
            category=category.strip(),
            portion_g=_opt_int(portion_g),
            allergens=allergens.strip(),
            energy_kj=_opt_int(energy_kj),
            energy_kcal=_opt_int(energy_kcal),
            protein_mg=_grams_mg(protein_g),
            fat_mg=_grams_mg(fat_g),
            carbohydrate_mg=_grams_mg(carbohydrate_g),
            salt_mg=_grams_mg(salt_g),
        )
        service.save_dish(ctx, actor, canteen_id, spec)
    except OneCardError as exc:
        return _canteen_page(
            request, ctx, actor, canteen_id, 422, error=exc.message(request_lang(request))
        )
    return RedirectResponse(f"/shop/canteens/{canteen_id}?saved={spec.sku}", status_code=303)


@router.post("/shop/canteens/{canteen_id}/goods")
def post_good(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    sku: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=60)],
    price: Annotated[str, Form(max_length=20)],
    barcode: Annotated[str, Form(max_length=32)] = "",
    unit: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        spec = service.GoodSpec(
            sku=sku.strip(),
            name=name.strip(),
            price_fen=parse_yuan(price),
            barcode=barcode.strip() or None,
            unit=unit.strip(),
        )
        service.save_good(ctx, actor, canteen_id, spec)
    except OneCardError as exc:
        return _canteen_page(
            request, ctx, actor, canteen_id, 422, error=exc.message(request_lang(request))
        )
    return RedirectResponse(f"/shop/canteens/{canteen_id}?saved={spec.sku}", status_code=303)


@router.post("/shop/goods/{item_id}/stock")
def post_stock(
    request: Request,
    item_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    kind: Annotated[str, Form(pattern="^(in|out|count)$")],
    qty: Annotated[str, Form(max_length=8)],
    note: Text = "",
) -> Response:
    canteen_id = queries.item_canteen(ctx, item_id)
    if canteen_id is None:
        raise NotFound(what="商品")
    try:
        n = _opt_int(qty)
        service.move_stock(ctx, actor, item_id, kind, 0 if n is None else n, note.strip())
    except OneCardError as exc:
        return _canteen_page(
            request, ctx, actor, canteen_id, 422, error=exc.message(request_lang(request))
        )
    return RedirectResponse(f"/shop/canteens/{canteen_id}", status_code=303)


@router.get("/shop/canteens/{canteen_id}/goods.xlsx")
def goods_xlsx(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    got = _catalogue(ctx, actor, canteen_id)
    table = Table(
        "goods",
        "超市商品",
        [
            "编码",
            "条码",
            "商品名称",
            "单位",
            "售价（元）",
            "参考价（元）",
            "库存",
            "高于参考价",
            "请盘点",
        ],
        [
            [
                g["sku"],
                g["barcode"] or "",
                g["name"],
                g["unit"],
                g["price_fen"],
                g["reference_fen"],
                g["stock_qty"],
                "是" if g["over"] else "",
                "是" if g["needs_count"] else "",
            ]
            for g in got["goods"]
        ],
        money_cols={4, 5},
    )
    return xlsx_response(to_xlsx(table), f"goods-{canteen_id}.xlsx")


# --- the bureau ----------------------------------------------------------------------------
def _bureau_page(
    request: Request, ctx: Context, actor: Actor, status_code: int = 200, **kw: Any
) -> Response:
    bureau_scope(actor)
    return render(
        request,
        "shop/bureau.html",
        status_code=status_code,
        actor=actor,
        references=queries.reference_list(ctx),
        over=queries.goods_over_reference(ctx),
        writable=actor.is_bureau,
        **kw,
    )


@router.get("/bureau/shop")
def bureau_page(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    return _bureau_page(request, ctx, actor)


@router.get("/bureau/shop/over.xlsx")
def over_xlsx(actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    table = Table(
        "over",
        "高于参考价的商品",
        ["食堂", "编码", "条码", "商品名称", "售价（元）", "参考价（元）", "参考价起始日"],
        [
            [
                o.canteen,
                o.sku,
                o.barcode or "",
                o.name,
                o.price_fen,
                o.reference_fen,
                o.valid_from.isoformat(),
            ]
            for o in queries.goods_over_reference(ctx)
        ],
        money_cols={4, 5},
    )
    return xlsx_response(to_xlsx(table), "goods-over-reference.xlsx")


@router.get("/bureau/shop/references-template.xlsx")
def references_template(actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return xlsx_response(imports.template(ctx), "reference-prices-template.xlsx")


@router.post("/bureau/shop/references")
def post_reference(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    name: Annotated[str, Form(max_length=60)],
    price: Annotated[str, Form(max_length=20)],
    valid_from: Annotated[date, Form()],
    barcode: Annotated[str, Form(max_length=32)] = "",
    store: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    bureau_scope(actor)
    try:
        region = queries.city_id(ctx)
        if region is None:
            raise NotFound(what="城市")
        row = service.ReferenceRow(
            name=name.strip(),
            price_fen=parse_yuan(price),
            barcode=barcode.strip() or None,
            store=store.strip(),
        )
        service.publish_references(ctx, actor, region, valid_from, [row])
    except OneCardError as exc:
        return _bureau_page(request, ctx, actor, 422, error=exc.message(request_lang(request)))
    return RedirectResponse("/bureau/shop", status_code=303)


@router.post("/bureau/shop/import")
async def post_import(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    form = await request.form()
    try:
        confirm = form.get("confirm") == "yes"
        upload = form.get("file")
        filename = str(form.get("filename") or "")[:200]
        since = str(form.get("valid_from") or "")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read()
            filename = upload.filename[:200]
        else:
            try:
                data = base64.b64decode(str(form.get("payload") or ""), validate=True)
            except (binascii.Error, ValueError):
                data = b""
    finally:
        await form.close()
    lang = request_lang(request)
    try:
        valid_from = date.fromisoformat(since)
    except ValueError:
        return _bureau_page(request, ctx, actor, 422, error=InvalidInput("起始日期").message(lang))
    if not data:
        return _bureau_page(request, ctx, actor, 422, error=InvalidInput("参考价表").message(lang))
    try:
        res = await run_in_threadpool(
            lambda: imports.import_references(
                ctx, actor, data, valid_from, filename=filename, dry_run=not confirm
            )
        )
    except ImportRejected as exc:
        return _bureau_page(
            request, ctx, actor, 422, error=exc.message(lang), rows=getattr(exc, "rows", [])
        )
    except OneCardError as exc:
        return _bureau_page(request, ctx, actor, 422, error=exc.message(lang))
    return _bureau_page(
        request,
        ctx,
        actor,
        preview=res,
        payload="" if confirm else base64.b64encode(data).decode(),
        filename=filename,
    )
