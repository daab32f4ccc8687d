"""``mi prefect up|down|status``, ``mi flows serve|start|stop|status|run|list`` and ``mi demo``.

Registered in the ``marketintel.cli`` entry-point group (``pyproject.toml``): the library's ``mi`` finds
these commands without importing the flows. :func:`status_parts` and :func:`stop_parts` are the flows' parts
of ``mi status`` and ``mi stop`` (entry-point groups ``marketintel.status`` and ``marketintel.stop``).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from marketintel.exceptions import MarketIntelError


def use_prefect_server(start: bool = False) -> str:
    """Point this process's Prefect client at the server (starting the local one if asked); return its UI.

    Must run before ``prefect`` is imported: its settings are read at import.
    """
    from marketintel import config
    from marketintel.flows import server

    if os.environ.get("MI_PREFECT_API_URL"):
        api = config.prefect_api_url()
    else:
        running = server.up() if start else server.read_state()
        if running is None:
            raise MarketIntelError("the Prefect server is not running; start it with `mi prefect up`")
        api = running.api_url
    os.environ.update(server.client_environment(api))
    return api.removesuffix("/api")


def cmd_prefect_up(_args: argparse.Namespace) -> int:
    """Start the local Prefect server (idempotent) and print the UI address."""
    from marketintel.flows import server

    running = server.up()
    print(f"Prefect server: {running.ui_url}  (pid {running.pid}, SQLite under {running.home})")
    print(f"log: {running.log}")
    return 0


def cmd_prefect_down(_args: argparse.Namespace) -> int:
    """Stop the background flow runner (it polls the server) and the local Prefect server."""
    from marketintel.flows import runner, server

    stopped = runner.stop()
    if stopped is not None:
        print(f"flow runner stopped (pid {stopped.pid})")
    print("Prefect server stopped" if server.down() else "no Prefect server was running")
    return 0


def cmd_prefect_status(_args: argparse.Namespace) -> int:
    """Print whether the local Prefect server runs and answers."""
    from marketintel.flows import server

    running = server.read_state()
    if running is None:
        print("Prefect server: not running (mi prefect up)")
        return 1
    state = "healthy" if server.healthy(running.api_url) else "NOT answering"
    print(f"Prefect server: {running.ui_url} (pid {running.pid}), {state}")
    return 0 if state == "healthy" else 1


def _parse_sets(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise MarketIntelError(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def cmd_flows_run(args: argparse.Namespace) -> int:
    """Run one flow now against the Prefect server (its run appears in the UI) and print its reports."""
    ui = use_prefect_server(start=args.start_server)
    from marketintel.flows.params import NOTEBOOKS
    from marketintel.flows.pipeline import FLOWS

    if args.flow not in FLOWS:
        raise MarketIntelError(f"no flow {args.flow!r}; flows: {', '.join(FLOWS)}")
    model = NOTEBOOKS[args.flow][1]
    try:
        params = model(**_parse_sets(args.set))
    except Exception as exc:  # pydantic's message names each bad field and what was expected
        raise MarketIntelError(f"bad parameters for {args.flow}: {exc}") from None
    print(f"running {args.flow} {params.model_dump_json(exclude={'run_id'})} (Prefect UI: {ui})", flush=True)
    flow: Any = FLOWS[args.flow]
    out = flow(params)
    print(json.dumps(out, indent=1))
    return 0


def cmd_flows_serve(args: argparse.Namespace) -> int:
    """Register the deployments with their schedules and run them (in the background with --background)."""
    if args.background:
        return cmd_flows_start(args)
    from marketintel.flows import runner

    if args.api_url:  # the background runner is told which server it serves
        from marketintel.flows import server

        os.environ.update(server.client_environment(args.api_url))
        ui = args.api_url.removesuffix("/api")
    else:
        ui = use_prefect_server(start=True)
    from marketintel.flows import deployments

    if args.register_only:
        ids = deployments.register()
        for (flow_name, name, cron, tz, _), dep_id in zip(deployments.SCHEDULES, ids, strict=True):
            print(f"  {flow_name}/{name}: cron '{cron}' {tz}  ({dep_id})")
        print(f"{len(ids)} deployments registered; see them at {ui}/deployments")
        return 0
    background = runner.read_state()
    if background is not None and background.pid != os.getpid():
        raise MarketIntelError(
            f"the background flow runner (pid {background.pid}) already serves the deployments; "
            "stop it first with `mi flows stop`"
        )
    print(f"serving {len(deployments.SCHEDULES)} deployments on {ui} (Ctrl-C to stop)", flush=True)
    deployments.serve()
    return 0


def cmd_flows_start(args: argparse.Namespace) -> int:
    """Start the flow runner in the background (and the local Prefect server if needed); idempotent."""
    from marketintel.flows import runner

    running = runner.start(getattr(args, "api_url", None))
    ok, text = runner.describe(running)
    print(f"flow runner: {text}")
    print(f"Prefect UI: {running.api_url.removesuffix('/api')}/deployments")
    return 0 if ok else 1


def cmd_flows_stop(_args: argparse.Namespace) -> int:
    """Stop the background flow runner (its schedules are paused until it starts again)."""
    from marketintel.flows import runner

    stopped = runner.stop()
    print(f"flow runner stopped (pid {stopped.pid})" if stopped else "no flow runner was running")
    return 0


def cmd_flows_status(_args: argparse.Namespace) -> int:
    """Print whether the flow runner runs and serves every deployment (READY in Prefect)."""
    from marketintel.flows import runner

    ok, text = runner.describe(runner.read_state())
    print(f"flow runner: {text}")
    return 0 if ok else 1


def status_parts() -> list[tuple[str, bool, str]]:
    """Return the flows' parts of ``mi status``: (part, up?, text) of the Prefect server and the runner."""
    from marketintel import config
    from marketintel.flows import runner, server

    parts: list[tuple[str, bool, str]] = []
    if os.environ.get("MI_PREFECT_API_URL"):
        api = config.prefect_api_url()
        ok = server.healthy(api)
        answer = "healthy" if ok else "NOT answering"
        parts.append(("Prefect", ok, f"{api.removesuffix('/api')} (MI_PREFECT_API_URL), {answer}"))
    else:
        running = server.read_state()
        if running is None:
            parts.append(("Prefect", False, "not running (mi prefect up)"))
        else:
            ok = server.healthy(running.api_url)
            answer = "healthy" if ok else "NOT answering"
            parts.append(
                ("Prefect", ok, f"UI {running.ui_url}, {answer} (pid {running.pid}); log {running.log}")
            )
    ok, text = runner.describe(runner.read_state())
    parts.append(("flow runner", ok, text))
    return parts


def stop_parts() -> list[str]:
    """Stop the flow runner, then the local Prefect server (``mi stop``); return what was done."""
    from marketintel.flows import runner, server

    stopped = runner.stop()
    out = [f"flow runner stopped (pid {stopped.pid})" if stopped else "flow runner: not running"]
    out.append("Prefect server stopped" if server.down() else "Prefect server: not running")
    return out


def cmd_flows_list(_args: argparse.Namespace) -> int:
    """List the flows, their notebooks and the scheduled deployments."""
    from marketintel.flows.params import NOTEBOOKS

    for name, (stem, model) in NOTEBOOKS.items():
        fields = ", ".join(f"{k}={v.default!r}" for k, v in model.model_fields.items() if k != "run_id")
        print(f"{name}: notebooks/{stem}.ipynb ({fields})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi prefect ...``, ``mi flows ...`` and ``mi demo``."""
    pre = sub.add_parser("prefect", help="the local Prefect server (SQLite under MI_DATA_DIR)")
    psub = pre.add_subparsers(dest="prefect_command", required=True, metavar="COMMAND")
    psub.add_parser("up", help="start the server (idempotent) and print the UI address").set_defaults(
        func=cmd_prefect_up
    )
    psub.add_parser("down", help="stop the server").set_defaults(func=cmd_prefect_down)
    psub.add_parser("status", help="is the server running?").set_defaults(func=cmd_prefect_status)
    fl = sub.add_parser("flows", help="the Prefect flows (ingest, build_curves, backtest, data_quality)")
    fsub = fl.add_subparsers(dest="flows_command", required=True, metavar="COMMAND")
    fsub.add_parser("list", help="flows, notebooks and default parameters").set_defaults(func=cmd_flows_list)
    p = fsub.add_parser("run", help="run one flow now (reports under reports/<flow>/<date>/)")
    p.add_argument("flow")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a parameter (repeatable)")
    p.add_argument("--start-server", action="store_true", help="start the local Prefect server if needed")
    p.set_defaults(func=cmd_flows_run)
    p = sub.add_parser("demo", help="the whole pipeline on the embedded store, on recorded data")
    p.add_argument(
        "--no-pipeline", dest="pipeline", action="store_false", help="only the store and the sample"
    )
    p.set_defaults(func=lambda args: __import__("marketintel.flows.demo", fromlist=["run"]).run(args))
    p = fsub.add_parser("serve", help="register the deployments with their schedules and run them")
    p.add_argument("--register-only", action="store_true", help="register and exit (the UI lists them)")
    p.add_argument("--background", action="store_true", help="the same as `mi flows start`")
    p.add_argument("--api-url", default=None, help="Prefect API to serve on (default: the local server)")
    p.set_defaults(func=cmd_flows_serve)
    p = fsub.add_parser(
        "start", help="serve the deployments in the background (log under $MI_DATA_DIR/prefect); idempotent"
    )
    p.set_defaults(func=cmd_flows_start)
    fsub.add_parser("stop", help="stop the background flow runner").set_defaults(func=cmd_flows_stop)
    p = fsub.add_parser("status", help="does the flow runner run and serve every deployment (READY)?")
    p.set_defaults(func=cmd_flows_status)
