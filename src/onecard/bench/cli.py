"""``onecard bench``: the lunch rush at Chenzhou scale (and the quarter's runs).

Contract: ``app`` is the command (mounted by ``onecard.cli``). It only ever targets a
PostgreSQL server on this machine (127.0.0.1) and a database of its own, which it drops
and rebuilds; every load phase is bounded and the command stops by itself. It prints
the figures (and writes them as JSON with ``--json``); it exits 7 if the ledger does not
verify or the approved payments do not match the canteens' takings.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from onecard.bench.city import FULL, CityScale
from onecard.bench.face import FaceReport, run_face
from onecard.bench.load import KINDS, LoadResult
from onecard.bench.quarter import QuarterReport
from onecard.bench.run import (
    DEFAULT_URL,
    MODES,
    PhaseFigures,
    RushOptions,
    RushReport,
    run_city_quarter,
    run_rush,
)

# Wide enough for the figures table when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 170)


def app(
    database_url: Annotated[
        str, typer.Option("--database-url", help="the bench's own database (dropped and rebuilt)")
    ] = DEFAULT_URL,
    units: Annotated[int, typer.Option(help="单位 units")] = FULL.units,
    canteens: Annotated[int, typer.Option(help="食堂 canteens")] = FULL.canteens,
    staff: Annotated[int, typer.Option(help="职工 staff")] = FULL.staff,
    terminals_per_canteen: int = FULL.terminals_per_canteen,
    cities: Annotated[
        int,
        typer.Option(
            min=1, max=14, help="a province of N cities of this size (Hunan: 14), each its own fund"
        ),
    ] = 1,
    seconds: Annotated[float, typer.Option(help="closed loop and pgbench duration")] = 30.0,
    clients: Annotated[int, typer.Option(help="closed-loop terminals = pgbench clients")] = 32,
    rate: Annotated[
        str, typer.Option(help="open loop: payments/s offered, comma-separated phases")
    ] = "100,1000",
    open_seconds: Annotated[float, typer.Option(help="open loop duration (0: skip)")] = 15.0,
    modes: Annotated[str, typer.Option(help="any of single,batch,engine")] = ",".join(MODES),
    pgbench: Annotated[bool, typer.Option("--pgbench/--no-pgbench")] = True,
    pgbench_scale: Annotated[
        int, typer.Option(help="pgbench -s (≥ clients: no branch-row contention)")
    ] = 32,
    port: int = 8765,
    warmup: Annotated[
        float,
        typer.Option(help="unmeasured seconds of payments before each mode (cold database)"),
    ] = 15.0,
    server_workers: Annotated[
        int, typer.Option(min=1, max=16, help="server processes (onecard serve --workers)")
    ] = 2,
    profile: Annotated[
        Path | None, typer.Option(help="py-spy the server in the batch closed loop (raw stacks)")
    ] = None,
    quarter_payments: Annotated[
        int,
        typer.Option(help="city quarter: payments to bulk-load before the money runs (0: skip)"),
    ] = 7_500_000,
    quarter_only: Annotated[
        bool,
        typer.Option("--quarter-only", help="only the city quarter, on the city already built"),
    ] = False,
    pages_only: Annotated[
        bool,
        typer.Option(
            "--pages-only", help="only the bureau's pages, on the city and quarter already loaded"
        ),
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures")] = None,
    face: Annotated[
        bool, typer.Option("--face/--no-face", help="the 1:N face identification sub-benchmark")
    ] = True,
    face_only: Annotated[
        bool, typer.Option("--face-only", help="only the face sub-benchmark (no database)")
    ] = False,
    offline_only: Annotated[
        bool,
        typer.Option(
            "--offline-only",
            help="only offline terminals' working sets, on the city already built",
        ),
    ] = False,
    offline_terminals: Annotated[
        int, typer.Option(min=1, max=50, help="offline: terminals (distinct canteens)")
    ] = 3,
    offline_changes: Annotated[
        int, typer.Option(min=0, help="offline: people who pay by code before a refresh")
    ] = 100,
    face_people: Annotated[int, typer.Option(help="face: enrolled people")] = FULL.staff,
    face_requests: Annotated[int, typer.Option(help="face: identification requests")] = 2_000,
    face_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="rush: share of each canteen's terminals paying by face (0: card and code only)",
        ),
    ] = 0.0,
) -> None:
    """Lunch rush over HTTP against pgbench; ledger checks. 午高峰性能基准"""
    if staff < 10 or canteens < 1 or units < canteens:
        raise typer.BadParameter("need staff ≥ 10, canteens ≥ 1 and units ≥ canteens")
    opts = RushOptions(
        url=database_url,
        scale=CityScale(
            units=units,
            canteens=canteens,
            staff=staff,
            terminals_per_canteen=terminals_per_canteen,
        ),
        seconds=seconds,
        clients=clients,
        rates=tuple(float(r) for r in rate.split(",") if r.strip()),
        open_seconds=open_seconds,
        modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
        pgbench=pgbench,
        pgbench_scale=pgbench_scale,
        port=port,
        profile=str(profile) if profile else None,
        quarter_payments=quarter_payments,
        server_workers=server_workers,
        cities=cities,
        warmup=warmup,
        face_share=face_share,
    )
    from onecard.cli_kit import progress_bar

    if face_only:
        show_face(run_face(face_people, face_requests))
        return
    if offline_only:
        from onecard.bench.quarter import city_from_db
        from onecard.bench.run import time_city_offline

        off = time_city_offline(
            opts, city_from_db(database_url), offline_terminals, offline_changes
        )
        show_offline(off)
        if json_out:
            json_out.write_text(json.dumps({"offline": asdict(off)}, indent=2))
        return
    if pages_only:
        from onecard.bench.quarter import city_from_db
        from onecard.bench.run import time_city_pages

        pages = time_city_pages(opts, city_from_db(database_url), console.print)
        show_pages(pages)
        if json_out:
            json_out.write_text(
                json.dumps({"pages": pages_json(pages)}, ensure_ascii=False, indent=2)
            )
        return
    if quarter_only:
        from onecard.bench.quarter import city_from_db

        city = city_from_db(database_url)
        qr = run_city_quarter(opts, city, console.print)
        show_quarter(RushReport(opts, city, quarter=qr))
        if json_out:
            out = {"options": {"quarter_payments": quarter_payments}, "quarter": quarter_json(qr)}
            json_out.write_text(json.dumps(out, ensure_ascii=False, indent=2))
        if not qr.verify_ok:
            from onecard.core.errors import LedgerError

            raise LedgerError("bench: ledger verify failed after the quarter's runs")
        return

    with progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        report = run_rush(
            dataclasses.replace(opts, quarter_payments=0),
            say=bar.console.print,
            progress=progress,
        )
    show(report)
    if face:
        show_face(run_face(face_people, face_requests))
    if report.profile_text:
        console.print(report.profile_text)
    if json_out:
        json_out.write_text(json.dumps(to_json(report), ensure_ascii=False, indent=2))
    if opts.quarter_payments > 0:
        report.quarter = run_city_quarter(opts, report.city, console.print)
        show_quarter(report)
        if json_out:
            json_out.write_text(json.dumps(to_json(report), ensure_ascii=False, indent=2))
    if json_out:
        console.print(f"figures written to {json_out}")
    if not report.consistency.ok or (report.quarter and not report.quarter.verify_ok):
        from onecard.core.errors import LedgerError

        raise LedgerError("bench: the ledger does not match the payments")


def show_face(r: FaceReport) -> None:
    mb = 1024 * 1024
    console.print(
        f"\n[bold]face[/bold] {r.people:,} synthetic descriptors · sealed (AES-256-GCM) in"
        f" {r.seal_s:.1f} s · gallery built (decrypt + matrix) in {r.load_s:.1f} s ·"
        f" matrix {r.matrix_bytes / mb:,.1f} MB, gallery {r.gallery_bytes / mb:,.1f} MB ·"
        f" process RSS {r.rss_before / mb:,.0f} → {r.rss_after / mb:,.0f} MB"
    )
    t = Table(title="face identification 1:N per request (ms)")
    for h in ("request", "requests", "p50", "p99", "right person", "answers"):
        t.add_column(h)
    for kind, k in r.kinds.items():
        answers = ", ".join(f"{a} {n:,}" for a, n in sorted(k.answers.items()))
        t.add_row(
            kind, f"{k.requests:,}", f"{k.pct(50):.2f}", f"{k.pct(99):.2f}", f"{k.right:,}", answers
        )
    console.print(t)


def _ms(x: float) -> str:
    return f"{x:.1f}"


def _row(name: str, ph: PhaseFigures) -> list[str]:
    r = ph.load
    refused = sum(r.refused.values())
    return [
        name,
        f"{r.done:,}",
        f"{r.rate:,.0f}",
        _ms(r.pct(50)),
        _ms(r.pct(95)),
        _ms(r.pct(99)),
        f"{r.approved:,}",
        f"{refused:,} ({r.unexpected_refusals} unexp.)",
        f"{r.error_count}" + (f" {r.errors}" if r.errors else ""),
        f"{r.retries}/{r.retry_mismatches}",
        f"{ph.server_cpu / r.seconds:.2f}/{ph.postgres_cpu / r.seconds:.2f}/{r.client_cpu / r.seconds:.2f}",
        f"{ph.machine_util:.0%}",
    ]


def show(report: RushReport) -> None:
    c = report.city
    console.print(
        f"\n[bold]city[/bold] {c.counts.get('units', 0):,} units · {c.counts.get('canteens', 0):,}"
        f" canteens · {c.counts.get('staff', 0):,} staff · {c.counts.get('terminals', 0):,}"
        f" terminals · funded {c.funded_fen / 100:,.2f} yuan · built in {c.seconds:.1f} s"
    )
    t = Table(title="lunch rush 午高峰 (latency in ms)")
    for h in (
        "phase",
        "payments",
        "per s",
        "p50",
        "p95",
        "p99",
        "approved",
        "refused",
        "errors",
        "retries/mismatch",
        "CPU srv/pg/client",
        "machine",
    ):
        t.add_column(h)
    for m in report.modes:
        t.add_row(*_row(f"{m.mode} closed", m.closed))
        for o in m.opens:
            t.add_row(*_row(f"{m.mode} open @{o.load.offered_rate:g}/s", o))
    console.print(t)
    _show_kinds(report)
    if report.pgbench_tps:
        console.print(f"pgbench tpcb-like: [bold]{report.pgbench_tps:,.0f}[/bold] TPS")
    for m in report.modes:
        ratio = report.ratio(m)
        console.print(
            f"{m.mode}: {m.closed.load.rate:,.0f} payments/s"
            + (f" ÷ pgbench = [bold]{ratio:.2f}[/bold]" if ratio is not None else "")
            + f" · commits/payment {m.commits_per_payment:.2f}"
            + (
                f" · server peak RSS {m.peak_rss_mb:,.0f} MB"
                + (f" ({report.opts.server_workers} processes)" if m.mode != "engine" else "")
            )
            + (f" · profile {m.profile_path}" if m.profile_path else "")
        )
    k = report.consistency
    console.print(
        f"ledger verify: {'[green]OK[/green]' if k.verify_ok else '[red]FAILED[/red]'}"
        f" ({k.entries:,} entries, {k.postings:,} postings)"
        + "".join(f"\n  ✗ {p}" for p in k.verify_problems[:5])
    )
    console.print(
        f"approved {k.approved_count:,} = {k.approved_fen / 100:,.2f} yuan; canteens' takings"
        f" {k.takings_fen / 100:,.2f} yuan; terminals were told {k.told_approved_fen / 100:,.2f}"
        f" yuan ({k.lost_requests} requests unanswered) → "
        + ("[green]consistent[/green]" if k.ok else "[red]INCONSISTENT[/red]")
    )
    show_quarter(report)


def show_quarter(report: RushReport) -> None:
    qr = report.quarter
    if qr is not None:
        t = Table(
            title=f"city quarter 季度批处理 ({qr.payments:,} payments loaded in {qr.load_seconds:.0f} s)"
        )
        for h in ("run", "seconds", "bare SQL baseline", "seconds", "ratio"):
            t.add_column(h)
        for r in qr.runs:
            t.add_row(
                r.name,
                f"{r.seconds:.2f}",
                r.baseline,
                f"{r.baseline_seconds:.2f}",
                f"[red]failed[/red]: {r.error}" if r.error else f"{r.ratio:.1f}×",
            )
        console.print(t)
        console.print(
            "ledger verify after the runs: "
            + ("[green]OK[/green]" if qr.verify_ok else f"[red]FAILED[/red] {qr.problems[:3]}")
        )
        if qr.pages is not None:
            show_pages(qr.pages)


def show_offline(rep: Any) -> None:
    mb = 1024 * 1024
    t = Table(title="offline working sets 离线名单 (one terminal each; MB, seconds)")
    heads = (
        "terminal",
        "entries",
        "people",
        "full s",
        "full MB",
        "kept MB",
        "server heap MB",
        "terminal heap MB",
        "same s",
        "changed",
        "delta s",
        "delta MB",
        "delta kept KB",
    )
    for h in heads:
        t.add_column(h, justify="left" if h == "terminal" else "right")
    for f in rep.terminals:
        t.add_row(
            f.terminal,
            f"{f.entries:,}",
            f"{f.people:,}",
            f"{f.full_seconds:.2f}",
            f"{f.full_bytes / mb:.1f}",
            f"{f.stored_bytes / mb:.1f}",
            f"{f.server_peak_bytes / mb:.0f}",
            f"{f.terminal_bytes / mb:.0f}",
            f"{f.unchanged_seconds:.2f}",
            f"{f.incremental_upserts:,}/{f.changes:,}",
            f"{f.incremental_seconds:.2f}",
            f"{f.incremental_bytes / mb:.2f}",
            f"{f.incremental_stored_bytes / 1024:,.0f}",
        )
    console.print(t)


def show_pages(pages: Any) -> None:
    console.print(
        f"dashboard roll-ups: first fold of the loaded quarter {pages.fold_seconds:.1f} s "
        f"({pages.folded_rows:,} ids of payments, journal entries and refunds → {pages.rollup_rows:,} roll-up rows)"
    )
    t = Table(title="bureau pages 管理控制台页面 (in-process, signed in as bureau admin)")
    for h in ("page", "status", "size", "first s", "warm s"):
        t.add_column(h, justify="left" if h == "page" else "right")
    for p in pages.pages:
        t.add_row(
            p.path,
            str(p.status),
            f"{p.size / 1024:,.0f} KB",
            f"{p.first_seconds:.3f}",
            f"{p.warm_seconds:.3f}",
        )
    console.print(t)


def _show_kinds(report: RushReport) -> None:
    """Payments/s and latency per credential kind, when the rush had face payments."""
    if not any(m.closed.load.face for m in report.modes):
        return
    t = Table(title="by credential kind 按凭证 (latency in ms)")
    for h in ("phase", "kind", "payments", "per s", "p50", "p95", "p99", "asked 4 digits"):
        t.add_column(h)
    for m in report.modes:
        phases = [(f"{m.mode} closed", m.closed.load)]
        phases += [(f"{m.mode} open @{o.load.offered_rate:g}/s", o.load) for o in m.opens]
        for name, r in phases:
            for kind in KINDS:
                n = len(r.by_kind.get(kind, []))
                if not n:
                    continue
                t.add_row(
                    name,
                    kind,
                    f"{n:,}",
                    f"{n / r.seconds:,.0f}" if r.seconds else "—",
                    _ms(r.kind_pct(kind, 50)),
                    _ms(r.kind_pct(kind, 95)),
                    _ms(r.kind_pct(kind, 99)),
                    f"{r.need_digits:,}" if kind == "face" else "",
                )
    console.print(t)


def _load_json(r: LoadResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "seconds": round(r.seconds, 3),
        "payments": r.done,
        "per_second": round(r.rate, 1),
        "p50_ms": round(r.pct(50), 2),
        "p95_ms": round(r.pct(95), 2),
        "p99_ms": round(r.pct(99), 2),
        "approved": r.approved,
        "approved_fen": r.approved_fen,
        "refused": r.refused,
        "unexpected_refusals": r.unexpected_refusals,
        "errors": r.errors,
        "retries": r.retries,
        "retry_mismatches": r.retry_mismatches,
        "card": r.card,
        "code": r.code,
        "face": r.face,
        "face_need_digits": r.need_digits,
        "by_kind": {
            k: {"payments": len(v), "p50_ms": round(r.kind_pct(k, 50), 2)}
            for k, v in r.by_kind.items()
        },
        "client_cpu_s": round(r.client_cpu, 2),
        "offered_rate": r.offered_rate,
    }


def _phase_json(ph: PhaseFigures | None) -> dict[str, Any] | None:
    if ph is None:
        return None
    return {
        **_load_json(ph.load),
        "server_cpu_s": round(ph.server_cpu, 2),
        "postgres_cpu_s": round(ph.postgres_cpu, 2),
        "machine_util": round(ph.machine_util, 3),
    }


def to_json(report: RushReport) -> dict[str, Any]:
    o = report.opts
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(report.started)),
        "machine": {
            "cpus": report.cpu_count,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "options": {
            "scale": asdict(o.scale),
            "seconds": o.seconds,
            "clients": o.clients,
            "rates": list(o.rates),
            "open_seconds": o.open_seconds,
            "modes": list(o.modes),
            "pgbench_scale": o.pgbench_scale,
            "server_workers": o.server_workers,
        },
        "city": {"counts": report.city.counts, "build_seconds": round(report.city.seconds, 1)},
        "pgbench_tps": report.pgbench_tps,
        "modes": [
            {
                "mode": m.mode,
                "closed": _phase_json(m.closed),
                "open": [_phase_json(o) for o in m.opens],
                "ratio": report.ratio(m),
                "peak_rss_mb": round(m.peak_rss_mb, 1),
                "commits_per_payment": round(m.commits_per_payment, 3),
            }
            for m in report.modes
        ],
        "consistency": {**asdict(report.consistency), "ok": report.consistency.ok},
        "quarter": None if report.quarter is None else quarter_json(report.quarter),
    }


def pages_json(pages: Any) -> dict[str, Any] | None:
    return None if pages is None else asdict(pages)


def quarter_json(q: QuarterReport) -> dict[str, Any]:
    return {
        "payments": q.payments,
        "load_seconds": round(q.load_seconds, 1),
        "runs": [
            {
                "name": r.name,
                "seconds": round(r.seconds, 3),
                "baseline": r.baseline,
                "baseline_seconds": round(r.baseline_seconds, 3),
                "ratio": None if r.error else round(r.ratio, 2),
                "error": r.error,
            }
            for r in q.runs
        ],
        "verify_ok": q.verify_ok,
        "pages": pages_json(q.pages),
    }
