"""`fluxcat run|plan`: argument parsing, a rich progress bar and the end-of-run summary."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from fluxcat_cli.options import add_group, build_group, key_value, on_off

SAMPLE_CATALOG = "datasets/sample_catalog.parquet"
DEFAULT_OUTPUT = "outputs/demo"
# Which settings groups each command takes, and the flow parameter each group is.
RUN_GROUPS = ("RunScope", "Images", "References", "Dedupe", "Backend", "Review", "Storage", "Execution")
PLAN_GROUPS = ("RunScope", "Images", "References", "Dedupe", "Backend")
REFRESH_GROUPS = ("RefreshScope", "Images", "References", "Dedupe", "Backend", "Storage", "Execution")
PARAMETER = {"RunScope": "scope", "RefreshScope": "scope", "Images": "images", "References": "references",
             "Dedupe": "dedupe", "Backend": "backend", "Review": "review", "Storage": "storage", "Execution": "execution"}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    _quiet_environment()
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted: finished shards are kept; rerun the same command to finish the rest", file=sys.stderr)
        return 130
    except Exception as error:
        code = _error_status(error)
        if code is None:
            raise
        print(f"fluxcat: error: {error}", file=sys.stderr)
        return code


def _error_status(error: Exception) -> int | None:
    """The project's expected errors and their exit status: 2 bad configuration or catalog, 3 another writer has the
    output, 4 no Prefect API; None for anything else, a plain ValueError included (a bug: its traceback is wanted).
    A ValueError from the checks before any work is bad input: `configuration_checks` makes it a UserError."""
    from fluxcat.backends.base import BackendConfigError
    from fluxcat.errors import UserError
    from fluxcat.gpus import DeviceSpecError
    from fluxcat.lease import LeaseHeld, LeaseLost
    from fluxcat_cli.prefect_api import PrefectUnavailable

    for kinds, code in (((UserError, BackendConfigError, DeviceSpecError), 2), ((LeaseHeld, LeaseLost), 3),
                        ((PrefectUnavailable,), 4)):
        if isinstance(error, kinds):
            return code
    return None


class Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other expected error: one line that says what is wrong, no usage dump."""

    def error(self, message: str):
        self.exit(2, f"fluxcat: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from fluxcat import settings

    parser = Parser(prog="fluxcat", description="Turn a Parquet prompt catalog into an image catalog with FLUX.")
    commands = parser.add_subparsers(title="commands")
    run = commands.add_parser("run", help="generate images and a manifest (Prefect flow, ephemeral mode)")
    _add_catalog_arguments(run)
    for group in RUN_GROUPS:
        add_group(run, getattr(settings, group))
    run.set_defaults(handler=cmd_run)
    plan = commands.add_parser("plan", help="show what a run would do, without generating")
    _add_catalog_arguments(plan)
    for group in PLAN_GROUPS:
        add_group(plan, getattr(settings, group), exclude=("retry_failed", "dry_run"))
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(handler=cmd_plan)
    _add_serve_command(commands)
    _add_refresh_command(commands)
    _add_export_command(commands)
    return parser


def _add_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("catalog", help=f"Parquet catalog URL, e.g. {SAMPLE_CATALOG}")
    parser.add_argument("--output", "-o", default=None, help=f"output root URL (default {DEFAULT_OUTPUT})")


def _groups(args, names: tuple[str, ...]) -> dict:
    """The command's settings groups, by flow parameter name (scope, images, dedupe, backend, storage, execution)."""
    from fluxcat import settings

    return {PARAMETER[name]: build_group(getattr(settings, name), args) for name in names}


def _options(args, groups: dict):
    from fluxcat.settings import RunOptions

    backend = groups["backend"]
    if backend.api_key_block or any(key.endswith("_block") for key in backend.backend_options):
        import tasks.secrets  # noqa: F401  (Prefect Secret blocks resolve api_key_block= options)

    return RunOptions.from_groups(args.catalog, args.output or DEFAULT_OUTPUT, *groups.values(),
                                  storage_options=_storage_options())


def _key_values(pairs: list[str]) -> dict:
    return dict(key_value(pair) for pair in pairs)


def cmd_plan(args) -> int:
    from fluxcat.errors import configuration_checks
    from fluxcat.pipeline import check_options, open_run, plan
    from fluxcat.report import rejected_rows
    from fluxcat.store import Store

    with configuration_checks():
        options = _options(args, _groups(args, PLAN_GROUPS))
        if args.output is None:  # planning writes shards; keep them out of the user's output
            options.output = f"memory://fluxcat-plan-{os.getpid()}-{time.time_ns()}"
        check_options(options, to_send=False)  # an estimate needs no provider key
    with open_run(options) as run:
        report = plan(run)
    rejected = rejected_rows(Store(options.output, options.storage_options), [shard.name for shard in report.shards])
    if args.json:
        json.dump({**report.to_dict(), "rejected": rejected}, sys.stdout, indent=2, default=str)
        print()
    else:
        _print_plan(report, rejected)
    return 0


def _print_plan(report, rejected: list[dict]) -> None:
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table

    from fluxcat.dedupe.audit import kept_apart_markdown

    console = Console()
    console.print(f"[bold]{report.catalog.url}[/]: {report.catalog.num_rows} rows -> "
                  f"{report.images_to_generate} images to generate in {len(report.shards)} shards, "
                  f"estimated cost ${report.estimated_cost_usd:.4f}")
    table = Table("by", "value", "count")
    for status, count in sorted(report.statuses.items()):
        table.add_row("status", status, str(count))
    for model, count in sorted(report.models.items()):
        table.add_row("model", model, str(count))
    for size, count in sorted(report.sizes.items()):
        table.add_row("size", size, str(count))
    console.print(table)
    if rejected:
        _print_rejected(console, rejected)
    if report.duplicates:
        _print_duplicate_groups(console, report.duplicates)
    if report.kept_apart:
        console.print(Markdown(kept_apart_markdown(report.kept_apart)))


def _print_rejected(console, rejected: list[dict], limit: int = 50) -> None:
    """Each rejected row with its reason: what to fix in the catalog before a run."""
    from rich.table import Table

    table = Table("row", "id", "reason", title="rejected rows: not generated (the other rows run)")
    for row in rejected[:limit]:
        table.add_row(str(row["row_number"]), str(row["id"] or ""), row["reason"])
    console.print(table)
    if len(rejected) > limit:
        console.print(f"... and {len(rejected) - limit} more rejected rows (use --json for all)")


def _print_duplicate_groups(console, duplicates, limit: int = 50) -> None:
    """Each group: the row that is generated, then the rows that would reuse its image, with both prompts."""
    from rich.table import Table

    groups: dict[int, list] = {}
    for match in duplicates:
        groups.setdefault(match.canonical, []).append(match)
    table = Table("row", "similarity", "prompt", "why", title="duplicate groups: the first row is generated, "
                  "the others reuse its image (check before paying)")
    for canonical, matches in sorted(groups.items())[:limit]:
        table.add_row(str(canonical), "kept", matches[0].canonical_prompt, "", end_section=False)
        for match in matches:
            table.add_row(f"  {match.row_number}", f"{match.similarity:.3f}", match.prompt, match.reason)
        table.add_section()
    console.print(table)
    if len(groups) > limit:
        console.print(f"... and {len(groups) - limit} more groups (use --json for all)")


def cmd_run(args) -> int:
    return _with_prefect_api(_run, args)


def _with_prefect_api(command, args) -> int:
    from fluxcat_cli.prefect_api import PrefectApi

    api = PrefectApi.launch()  # first: Prefect's temporary server starts while the command checks its settings
    try:
        return command(args, api)
    finally:
        api.close()


def _run(args, api) -> int:
    from rich.console import Console

    from fluxcat.errors import configuration_checks
    from fluxcat.pipeline import check_options

    with configuration_checks():
        groups = _groups(args, RUN_GROUPS)
        options = _options(args, groups)
        check_options(options, to_send=not options.dry_run)  # bad configuration fails here, before any flow starts
        _check_review(groups["review"], api)
    console = Console(stderr=True)
    started = time.perf_counter()
    result = _run_flow_with_progress(options.catalog, options.output, groups, console, api)
    _print_summary(console, result, time.perf_counter() - started, options.output)
    return _exit_code(result.get("this_run", {}))


def _exit_code(made: dict) -> int:
    """1 when images this run tried to make failed, or when it made none of them (all over budget, say)."""
    from fluxcat.ledger import run_verdict

    return 1 if made.get("failed") or not run_verdict(made).ok else 0


def _run_flow_with_progress(catalog: str, output: str, groups: dict, console, api) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fluxcat import events
    from fluxcat.errors import hide_user_errors_in_logs
    from flows.catalog import generate_catalog
    from tasks.outcome import result_of

    hide_user_errors_in_logs(("prefect",))  # main() prints an expected error once, without Prefect's tracebacks
    _console_says_the_end_once()
    api.ready()

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        bar = progress.add_task("rows", total=None)

        def on_event(event: dict) -> None:
            if "planned_rows" in event:
                progress.update(bar, total=event["planned_rows"])
            elif "status" in event:
                progress.advance(bar)
            elif "rows_done" in event:
                progress.advance(bar, event["rows_done"])

        unsubscribe = events.subscribe(on_event)
        try:
            return result_of(lambda: generate_catalog(catalog=catalog, output=output, **groups, return_state=True))
        finally:
            unsubscribe()


def _check_review(review, api) -> None:
    """A review is answered in the Prefect UI: the temporary server a command starts has none."""
    if review.review != "off" and api.temporary:
        raise ValueError(f"--review {review.review} needs the Prefect UI to answer in: set PREFECT_API_URL to a "
                         "running server (`prefect server start`), or run the deployment")


class _EndsFailed(logging.Filter):
    """Prefect's closing "Finished in state Failed(...)" lines of the flow and of a task that ended on an expected
    error: the command ends with its own line instead (the error, or the summary and verdict), so the console says
    it once. The run's logs in the API keep them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name in ("prefect.flow_runs", "prefect.task_runs")
                    and record.getMessage().startswith("Finished in state Failed("))


def _console_says_the_end_once() -> None:
    from prefect.logging.handlers import PrefectConsoleHandler

    handlers = {handler for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs") for handler in logging.getLogger(name).handlers
                if isinstance(handler, PrefectConsoleHandler)}
    for handler in handlers:
        if not any(isinstance(f, _EndsFailed) for f in handler.filters):
            handler.addFilter(_EndsFailed())


def _print_summary(console, result: dict, seconds: float, output: str) -> None:
    if result.get("dry_run"):
        plan = result["plan"]
        console.print(f"dry run: {plan['images_to_generate']} images would be generated; "
                      f"estimated cost ${plan['estimated_cost_usd']:.4f}")
        return
    statuses = result["statuses"]
    parts = [f"{statuses.get(s, 0)} {label}" for s, label in
             (("generated", "generated"), ("existing", "existing"), ("duplicate", "duplicate"),
              ("rejected", "rejected"), ("failed", "failed"), ("skipped", "skipped (budget)"))]
    console.print(f"[bold]done[/] in {seconds:.1f}s: " + ", ".join(parts))
    if result.get("remade"):
        console.print(f"{result['remade']} of the generated images were remade: an earlier run had made them, and "
                      "they were missing from the output")
    if result.get("verdict"):
        console.print(f"verdict: {result['verdict']}")
    if result.get("rows") == 0:
        console.print("the catalog has no rows: the manifest is empty")
    if result.get("qa"):
        console.print("QA: " + ", ".join(f"{n} {s}" for s, n in sorted(result["qa"].items())) +
                      ("; flagged images come first in the contact sheet" if result["qa"].get("flagged") else ""))
    console.print(f"manifest: {result['manifest']}")
    console.print(f"contact sheet: {result['manifest'].rsplit('/', 1)[0]}/index.html")


def _add_serve_command(commands) -> None:
    serve = commands.add_parser("serve", help="serve POST /api/v1/flux/dev over a local backend (API key from FLUXCAT_SERVE_API_KEY)")
    serve.add_argument("--backend", "-b", default="auto", help="local backend: auto (default), tiny, diffusers, fixed")
    serve.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE", help="backend setting, repeatable")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--output", "-o", default="outputs/serve", help="store URL for generated images (default outputs/serve)")
    serve.add_argument("--image-format", choices=["png", "webp", "jpeg"], default="png")
    serve.add_argument("--rate-limit", type=int, default=60, help="requests per API key per window (default 60)")
    serve.add_argument("--rate-window", type=float, default=60.0, help="rate-limit window in seconds (default 60)")
    serve.add_argument("--workers", type=int, default=1, help="inference threads (default 1; requests queue for them)")
    serve.add_argument("--no-auth", action="store_true", help="accept requests without an API key (trusted networks only)")
    serve.add_argument("--inject-latency", type=float, default=0.0, metavar="SECONDS",
                       help="add this delay to every generation request (testing and benchmarks)")
    serve.add_argument("--public-url", default=None, metavar="URL",
                       help="base of returned image URLs, e.g. https://gpu-box.example.com (else the request's Host, if trusted)")
    serve.add_argument("--trusted-host", action="append", default=[], metavar="NAME",
                       help="a Host name image URLs may be built from, repeatable (always: localhost, 127.0.0.1, ::1, --host)")
    serve.add_argument("--max-queue", type=int, default=None,
                       help="generation requests waiting or running at once; more are answered 429 (default 16)")
    serve.add_argument("--max-body-bytes", type=int, default=None, help="request body cap; larger is 413 (default 16 KiB)")
    serve.add_argument("--auth-failure-limit", type=int, default=None,
                       help="failed API-key attempts per client address per minute before 429 (default 10)")
    serve.add_argument("--forwarded-allow-ips", default=None, metavar="IP,IP,...",
                       help="proxies whose X-Forwarded-For is believed (addresses or networks); default: none, the peer's "
                            "own address is the client's")
    serve.add_argument("--header-timeout", type=float, default=None, metavar="SECONDS",
                       help="a connection must send a request's headers within this, or is closed (default 10)")
    serve.add_argument("--max-connections", type=int, default=None,
                       help="open connections at once; more are closed as they arrive (default 1024)")
    serve.add_argument("--max-clients", type=int, default=None,
                       help="client addresses and keys each rate limiter remembers; past that the longest unseen is "
                            "forgotten (default 100000; memory grows with it)")
    serve.add_argument("--private-data-check", type=on_off, default=None, metavar="{on,off}",
                       help="refuse prompts holding an e-mail address, phone, card or SSN (default: on); blocked terms "
                            "are always refused")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args) -> int:
    import logging

    from fluxcat.errors import UserError, configuration_checks
    from fluxcat.serve import API_KEY_ENV, api_keys_from_env, serve

    with configuration_checks():
        keys = api_keys_from_env()
        if not keys and not args.no_auth:
            raise UserError(f"set {API_KEY_ENV} to the API key clients must send (Authorization: Bearer <key>), "
                            "or pass --no-auth to serve without authentication")
        settings, connections = serve_settings(args, keys)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    serve(args.backend, _key_values(args.backend_option), args.output, args.host, args.port, settings, connections)
    return 0


def serve_settings(args, keys: tuple[str, ...]):
    """`fluxcat serve`'s flags as the server's two settings objects, checked there before anything listens."""
    from fluxcat.serve import LOOPBACK_HOSTS, ConnectionSettings, ServeSettings

    settings = ServeSettings(api_keys=() if args.no_auth else keys, rate_limit=args.rate_limit,
                             rate_window_s=args.rate_window, image_format=args.image_format, workers=args.workers,
                             inject_latency_s=args.inject_latency, public_url=args.public_url,
                             trusted_hosts=LOOPBACK_HOSTS + tuple(args.trusted_host), **_given(
                                 max_queue=args.max_queue, max_body_bytes=args.max_body_bytes,
                                 auth_failure_limit=args.auth_failure_limit, max_clients=args.max_clients,
                                 private_data_check=args.private_data_check))
    connections = ConnectionSettings(**_given(
        forwarded_allow_ips=_comma_list(args.forwarded_allow_ips), header_timeout_s=args.header_timeout,
        max_connections=args.max_connections))
    return settings, connections


def _comma_list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(part.strip() for part in text.split(",") if part.strip())


def _given(**options) -> dict:
    """The options given on the command line; the rest keep the defaults declared where they are used."""
    return {key: value for key, value in options.items() if value is not None}


def _storage_options() -> dict:
    from fluxcat.storage_options import resolve_storage_options

    return resolve_storage_options()


def _add_refresh_command(commands) -> None:
    from fluxcat import settings

    refresh = commands.add_parser("refresh", help="regenerate only rows that are new, changed or missing their image")
    _add_catalog_arguments(refresh)
    for group in REFRESH_GROUPS:  # the run's settings and defaults: the same settings plan the same keys
        add_group(refresh, getattr(settings, group))
    refresh.set_defaults(handler=cmd_refresh)


def cmd_refresh(args) -> int:
    return _with_prefect_api(_refresh, args)


def _refresh(args, api) -> int:
    from rich.console import Console
    from rich.table import Table

    from fluxcat.errors import configuration_checks, hide_user_errors_in_logs
    from fluxcat.pipeline import check_options
    from flows.refresh import refresh_assets
    from tasks.outcome import result_of

    with configuration_checks():
        groups = _groups(args, REFRESH_GROUPS)
        options = _options(args, groups)
        check_options(options)  # bad configuration or catalog fails here, before any flow starts
    hide_user_errors_in_logs(("prefect",))
    _console_says_the_end_once()
    api.ready()
    result = result_of(lambda: refresh_assets(catalog=options.catalog, output=options.output, **groups,
                                                 return_state=True))
    console = Console(stderr=True)
    table = Table("catalog rows", "count", title="refresh")
    for action, count in result["counts"].items():
        table.add_row(action.replace("_", " "), str(count))
    console.print(table)
    made = result["made"]
    console.print(f"images made {made.get('generated', 0)}, already there {made.get('existing', 0)}, "
                  f"failed {made.get('failed', 0)}; pruned {result['pruned_images']}")
    console.print(f"manifest: {result['manifest']} (previous ones under manifests/)")
    return _exit_code(made)


def _add_export_command(commands) -> None:
    export = commands.add_parser("export", help="export a finished run for data tools: HF imagefolder or WebDataset shards")
    export.add_argument("output", help="the run's output root URL (where manifest.parquet is)")
    export.add_argument("--format", "-f", dest="export_format", choices=["hf", "webdataset"], required=True,
                        help="hf: images + metadata.parquet for datasets' imagefolder; webdataset: tar shards")
    export.add_argument("--dest", default=None, help="destination URL (default OUTPUT/exports/FORMAT)")
    export.add_argument("--samples-per-shard", type=int, default=1000, help="webdataset: samples per tar shard")
    export.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    from fluxcat.errors import configuration_checks
    from fluxcat.export import export

    with configuration_checks():
        storage_options = _storage_options()
    report = export(args.output, args.export_format, args.dest, storage_options,
                    samples_per_shard=args.samples_per_shard)
    left_out = ", ".join(f"{n} {status}" for status, n in sorted(report.without_image.items()))
    print(f"exported {report.exported} images to {report.dest}" + (f" (no image: {left_out})" if left_out else ""))
    return 0


def _quiet_environment() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


if __name__ == "__main__":
    sys.exit(main())
