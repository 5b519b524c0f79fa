"""The `stockledger` command line (typer): the composition root outside HTTP.

One module per group of commands: serving (`serve`, `dev`), the pipeline's roles run alone,
ledger maintenance, reports and exports, seed and bench. They are registered here, in the
order `stockledger --help` lists them."""

from __future__ import annotations

import typer

from . import ledger, pipeline, reports, seeding, serving

app = typer.Typer(help="stockledger: an event-sourced inventory ledger", no_args_is_help=True)

app.command()(ledger.migrate)
app.command()(serving.serve)
app.command()(pipeline.relay)
app.command()(pipeline.project)
app.command()(ledger.replay)
app.command()(ledger.republish)
app.command()(reports.export)
app.add_typer(reports.report, name="report")
app.command()(reports.recall)
app.command("verify-export")(reports.verify_export_file)
app.command()(ledger.verify)
app.command()(seeding.seed)
app.command()(pipeline.expire)
app.command()(pipeline.webhooks)
app.command()(seeding.bench)
app.command()(serving.dev)
