"""``regwire demo``: the whole pipeline offline, over the bundled sample news site served on 127.0.0.1."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..query import SearchQuery
from .common import cli_context, cli_errors, cli_settings, console
from .run import run_pass, summary_table
from .search import snippet_markup

if TYPE_CHECKING:
    from ..alerts import Alert
    from ..tasks import TaskContext


def demo(
    home: Annotated[Path | None, typer.Option("--home", help="data directory (default: a fresh temporary one)")] = None,
    query: Annotated[str, typer.Option("--query", help="the example search")] = "Kazakhstan",
) -> None:
    """Serve the bundled sample news site on 127.0.0.1, run the pipeline over it, and search the result. Offline."""
    from ..alerts import AppriseSender
    from ..demo import LoopbackSite, Response, demo_sources_path
    from ..sources import load_sources

    home = home or Path(tempfile.mkdtemp(prefix="regwire-demo-"))
    with LoopbackSite() as site:
        # The demo site lives on loopback: exempt exactly that network from the address guard, nothing wider; the
        # demo always uses the embedded store.
        settings = cli_settings(home=home, allow_networks="127.0.0.0/8", host_delay=0.05, sources=None,
                                search_url=None)
        with cli_errors():
            configured = load_sources(demo_sources_path(), substitutions={"base_url": site.base_url})
        site.route("/hooks/alerts", Response(200, b"ok"))
        console.print(f"sample news site at [link]{site.base_url}[/link]; data in {home}")
        with cli_context(settings) as ctx:
            alert = _save_demo_alert(ctx, site.url("/hooks/alerts").replace("http://", "json://"))
            console.print(f"saved alert {alert.name!r}: {alert.q!r} with topic {', '.join(alert.topics)} "
                          "→ the demo's webhook on 127.0.0.1")
            reports, alerts = run_pass(ctx, configured, force=False, quiet=False,
                                       sender=AppriseSender(allowed_hosts={"127.0.0.1"}))
            delivered = [json.loads(body) for path, body in site.posted if path == "/hooks/alerts"]
            console.print(summary_table(reports))
            console.print(f"\n[bold]alert {alert.name!r}[/bold]: {alerts.get('matches', 0)} match(es), "
                          f"{len(delivered)} message(s) received by the webhook")
            for message in delivered:
                console.print(f"  [green]→[/green] {escape(message.get('title', ''))}")
            _show_search(ctx, query, home)
    ok = all(r.ok for r in reports) and alerts.get("ok", False)
    raise typer.Exit(0 if ok else 1)


def _show_search(ctx: TaskContext, query: str, home: Path) -> None:
    console.print(f"\n[bold]regwire search {query!r}[/bold]")
    result = ctx.store.search(SearchQuery(q=query, limit=5))
    console.print(f"{result.total} article(s) found")
    for hit in result.hits:
        console.print(f"  [cyan]{hit.id[:12]}[/cyan] [bold]{escape(hit.title)}[/bold] "
                      f"[magenta]{escape(' '.join(hit.jurisdictions + hit.topics))}[/magenta]")
        console.print(f"    {snippet_markup(hit.snippet)}")
    console.print(f"\nTry: REGWIRE_HOME={home} regwire search 'stablecoin OR CBDC' --jurisdiction HK")
    console.print(f"     REGWIRE_HOME={home} regwire show {result.hits[0].id[:12] if result.hits else 'ID'}")
    console.print(f"     REGWIRE_HOME={home} regwire alerts log")


def _save_demo_alert(ctx: TaskContext, webhook: str) -> Alert:
    from ..alerts import Alert

    alert = Alert(name="Kazakhstan crypto-to-cash", owner="demo analyst", q="Kazakhstan", topics=["fiat-ramp"],
                  channels=[webhook])
    ctx.backend.alert_store().save_alert(alert, datetime.now(UTC))
    return alert
