"""``onecard audit …``: check the audit trail's chain, list and export its events.

``verify`` exits 7 (docs/operations.md) when any event was edited, deleted or reordered,
0 when the chain holds; it prints the head (``#seq hash``) to keep somewhere else as an
anchor for a later ``verify --anchor``. Times are shown in Beijing time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from onecard.cli_kit import DbOpt, console, context
from onecard.core.errors import AuditChainBroken, InvalidInput

app = typer.Typer(no_args_is_help=True)

AnchorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor",
        help="SEQ:HASH printed by an earlier verify (repeatable) 此前记下的链头",
    ),
]


def _anchors(values: list[str] | None) -> list[tuple[int, str]]:
    out = []
    for v in values or []:
        seq, sep, digest = v.partition(":")
        if not sep or not seq.strip().lstrip("#").isdigit() or len(digest.strip()) != 64:
            raise InvalidInput(f"锚点格式应为 序号:哈希（64 位十六进制）：{v}")
        out.append((int(seq.strip().lstrip("#")), digest.strip().lower()))
    return out


@app.command("verify")
def verify_cmd(anchor: AnchorOpt = None, database_url: DbOpt = None) -> None:
    """Walk the hash chain; exit 7 if any record was edited, deleted or reordered. 核验操作记录"""
    from onecard.audit.verify import verify_database

    anchors = _anchors(anchor)
    rep = verify_database(context(database_url), anchors)
    console.print(f"操作记录 events {rep.events:,} · 链头 head #{rep.head_seq} {rep.head_hash}")
    if rep.ok:
        console.print("[green]操作记录核验通过 audit verify: OK[/green]")
        return
    for p in rep.problems:
        console.print(f"[red]✗ {p}[/red]")
    if rep.more:
        console.print(f"[red]… 另有 {rep.more} 处 ({rep.more} more)[/red]")
    raise AuditChainBroken(rep.problems[0])


PersonOpt = Annotated[str, typer.Option("--person", help="工号或姓名 staff no or name")]
UnitOpt = Annotated[str | None, typer.Option("--unit", help="单位代码 unit code")]
KindOpt = Annotated[str, typer.Option("--kind", help="类别 kind (card, roster, sign_in, …)")]


@app.command("list")
def list_cmd(
    person: PersonOpt = "",
    unit: UnitOpt = None,
    kind: KindOpt = "",
    since: Annotated[str | None, typer.Option("--since", help="起 YYYY-MM-DD（北京时间）")] = None,
    until: Annotated[str | None, typer.Option("--until", help="止 YYYY-MM-DD（含）")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    database_url: DbOpt = None,
) -> None:
    """List the newest events, filtered by person, unit, kind and date. 查看操作记录"""
    from onecard.audit import queries

    ctx = context(database_url)
    q = queries.AuditQuery.parse(person, unit or "", kind, since or "", until or "")
    rows = queries.search(ctx, q, limit=limit)
    t = RichTable(title="操作记录（北京时间）")
    for h in ("#", "时间", "操作人", "来源", "类别", "操作", "对象", "变更前", "变更后"):
        t.add_column(h)
    for r in rows:
        t.add_row(
            str(r["seq"]),
            r["at_local"],
            r["actor_name"],
            r["origin"],
            r["kind_zh"],
            r["action_zh"],
            r["target"],
            r["before_text"],
            r["after_text"],
        )
    console.print(t)


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="输出文件 .xlsx")],
    person: PersonOpt = "",
    unit: UnitOpt = None,
    kind: KindOpt = "",
    since: Annotated[str | None, typer.Option("--since", help="起 YYYY-MM-DD（北京时间）")] = None,
    until: Annotated[str | None, typer.Option("--until", help="止 YYYY-MM-DD（含）")] = None,
    database_url: DbOpt = None,
) -> None:
    """Export the filtered events to Excel (Beijing time). 导出操作记录"""
    from onecard.audit import queries
    from onecard.core.tables import to_xlsx

    if out.suffix.lower() != ".xlsx":
        raise InvalidInput("输出文件须以 .xlsx 结尾")
    ctx = context(database_url)
    q = queries.AuditQuery.parse(person, unit or "", kind, since or "", until or "")
    rows = queries.search(ctx, q, limit=queries.EXPORT_LIMIT)
    out.write_bytes(to_xlsx(queries.as_table(rows)))
    console.print(f"[green]已写入 {out}[/green]（{len(rows)} 条）")
