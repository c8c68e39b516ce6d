# ruff: noqa: PLC0415  (imports are local to the command that needs them; see SUPERVISED)
"""The `hakeeper` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bus.runtime_dir import DEFAULT_RUNTIME_DIR, RUNTIME_DIR_ENV, EndpointError, runtime_dir
from services.registry import SERVICES

if TYPE_CHECKING:
    from bus.endpoints import TcpEndpoint

# Each command imports what it needs when it runs: a node runs a process per service, and
# every module a service does not use costs memory in each of them.
SUPERVISED = (*SERVICES, "bus")

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hakeeper", description="keepalived, as a supervised stack of services")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check-config",
        help="check a keepalived.conf; exit codes as keepalived -t",
        description="Check a configuration. Exit 0: clean or warnings only; 4: cannot run; "
        "5: errors, but it would run; 6: script security violation.",
    )
    _config_options(check)
    check.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="FILE[@ID]",
        help="another node's configuration (with its config id after '@' if it differs): "
        "simulate failovers between the nodes (repeatable)",
    )
    check.add_argument(
        "--strict-env",
        action="store_true",
        help="treat missing interfaces, scripts and users as errors, as keepalived does",
    )

    dump = commands.add_parser("dump-config", help="print the normalised configuration with defaults filled in")
    _config_options(dump)
    dump.add_argument("--json", action="store_true", help="print the documented JSON form")

    status = commands.add_parser("status", help="the node's current state, from the bus")
    _bus_client_options(status)
    status.add_argument("--json", action="store_true", help="print the documented JSON form")

    events = commands.add_parser("events", help="the node's events, from the bus history and live")
    _bus_client_options(events)
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.add_argument("--follow", action="store_true", help="keep printing new events (across bus restarts)")
    events.add_argument("--since", type=int, metavar="SEQ", help="start after this event sequence number")
    events.add_argument("--topic", default="", metavar="PREFIX", help="only events whose topic starts with PREFIX")

    service = commands.add_parser("service", help="run one of the node's services in the foreground")
    service.add_argument("name", choices=["bus", *SERVICES], help="the service")
    _runtime_dir_option(service)
    service.add_argument(
        "-f",
        "--use-file",
        dest="file",
        default=None,
        metavar="FILE",
        help="configuration file (default $HAKEEPER_CONFIG or /etc/keepalived/keepalived.conf)",
    )
    service.add_argument("-i", "--config-id", default=None, metavar="ID", help="id for @ID conditional lines")
    service.add_argument(
        "--bus-tcp", metavar="[ADDRESS:]PORT", help="also serve remote subscribers over TCP (address default 127.0.0.1)"
    )
    service.add_argument("--bus-curve-key", metavar="FILE", help="the hub's CURVE certificate (secret) file")
    service.add_argument("--bus-curve-clients", metavar="DIR", help="only these clients' public keys may connect")
    service.add_argument("--bus-history", type=int, metavar="N", help="events kept for resuming subscribers")

    run = commands.add_parser(
        "run",
        help="run the node (supervisord and its services) in the foreground",
        description="Run the node in the foreground. SIGTERM/SIGINT stop it in order and release what it "
        "installed; SIGHUP reloads every service in place.",
    )
    _config_options(run)
    _runtime_dir_option(run)
    run.add_argument("-P", "--vrrp", dest="vrrp_only", action="store_true", help="only run the VRRP side")
    run.add_argument("-C", "--check", dest="check_only", action="store_true", help="only run the checkers (LVS)")
    run.add_argument("-V", "--dont-release-vrrp", action="store_true", help="leave VIPs and VMACs in place at stop")
    run.add_argument("-I", "--dont-release-ipvs", action="store_true", help="leave IPVS services in place at stop")
    run.add_argument("-l", "--log-console", action="store_true", help="services log to this terminal")
    run.add_argument("-S", "--log-facility", default=None, metavar="N", help="syslog facility local0..local7 (0-7)")
    run.add_argument("-n", "--dont-fork", action="store_true", help="accepted for keepalived compatibility")
    run.add_argument("--supervisord-conf", metavar="FILE", help="another supervisord.conf than the shipped one")

    control = commands.add_parser("ctl", help="start, stop, restart or show the node's services")
    _runtime_dir_option(control)
    control.add_argument("action", choices=["start", "stop", "restart", "status"])
    control.add_argument("service", nargs="?", choices=SUPERVISED, help="one service (default: all)")

    reload = commands.add_parser("reload", help="reload the running node's configuration (as SIGHUP)")
    _runtime_dir_option(reload)

    keys = commands.add_parser("bus-keys", help="create a CURVE key pair for the bus's TCP endpoint")
    keys.add_argument("directory", help="where to write NAME.key (public) and NAME.key_secret")
    keys.add_argument("--name", default="hub", help="file name stem (default: hub)")
    return parser


def _runtime_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime-dir",
        default=None,
        metavar="DIR",
        help=f"the node's runtime directory (default ${RUNTIME_DIR_ENV} or {DEFAULT_RUNTIME_DIR})",
    )


def _bus_client_options(parser: argparse.ArgumentParser) -> None:
    _runtime_dir_option(parser)
    parser.add_argument("--connect", metavar="ADDRESS:PORT", help="a remote node's bus TCP endpoint instead")
    parser.add_argument("--bus-server-key", metavar="FILE", help="the remote hub's public CURVE key file")
    parser.add_argument("--bus-client-key", metavar="FILE", help="our CURVE certificate (default: a fresh one)")


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--use-file",
        dest="file",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"configuration file (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "-i",
        "--config-id",
        default=None,
        metavar="ID",
        help="id for @ID conditional lines (default: the short host name)",
    )


def _check_config(args: argparse.Namespace) -> int:
    from conf.check import check_files

    report = check_files(args.file, args.peer, config_id=args.config_id, strict_env=args.strict_env)
    for line in report.lines():
        print(line, file=sys.stderr)
    return report.exit_code


def _dump_config(args: argparse.Namespace) -> int:
    from conf.diagnostics import EXIT_CONFIG_FATAL
    from conf.dump import to_json_document, to_text
    from conf.load import load

    loaded = load(args.file, config_id=args.config_id)
    for diagnostic in loaded.diagnostics.sorted():
        print(diagnostic.render(), file=sys.stderr)
    code = loaded.diagnostics.exit_code()
    if code == EXIT_CONFIG_FATAL:
        return code
    if args.json:
        json.dump(to_json_document(loaded.config), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(to_text(loaded.config))
    return code


def _bus_where(args: argparse.Namespace) -> Path | TcpEndpoint:
    from bus.endpoints import Curve, TcpEndpoint, fresh_curve_keys, load_curve_keys

    if args.connect is None:
        return runtime_dir(args.runtime_dir)
    host, _, port = args.connect.rpartition(":")
    if not host or not port.isdigit():
        raise EndpointError(f"--connect wants ADDRESS:PORT, not {args.connect!r}")
    curve = None
    if args.bus_server_key:
        server = load_curve_keys(args.bus_server_key, need_secret=False)
        mine = load_curve_keys(args.bus_client_key) if args.bus_client_key else fresh_curve_keys()
        curve = Curve(mine.public, mine.secret, server.public)
    return TcpEndpoint(host.strip("[]"), int(port), curve, remote=True)


def _status(args: argparse.Namespace) -> int:
    from bus.endpoints import TcpEndpoint
    from services.bus_cli import fetch_status, render_status

    where = _bus_where(args)
    document = fetch_status(where, curve=where.curve if isinstance(where, TcpEndpoint) else None)
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render_status(document, sys.stdout)
    return 0


def _events(args: argparse.Namespace) -> int:
    from bus.endpoints import TcpEndpoint
    from services.bus_cli import stream_events

    where = _bus_where(args)
    return stream_events(
        where,
        sys.stdout,
        as_json=args.json,
        follow=args.follow,
        since=args.since,
        topic=args.topic,
        curve=where.curve if isinstance(where, TcpEndpoint) else None,
    )


def _service(args: argparse.Namespace) -> int:
    if args.name != "bus":
        from services.registry import service_class
        from services.service_options import ServiceOptions

        options = ServiceOptions.from_environment(runtime_dir(args.runtime_dir), args.file, args.config_id)
        return service_class(args.name)(options).main()
    from services.bus_service import serve, settings_from

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    config_file = args.file or os.environ.get("HAKEEPER_CONFIG")
    settings = settings_from(config_file, args.bus_tcp, args.bus_curve_key, args.bus_curve_clients, args.bus_history)
    return serve(runtime_dir(args.runtime_dir), settings)


def _run(args: argparse.Namespace) -> int:
    from services.node import Node, NodeOptions

    if args.vrrp_only and args.check_only:
        print("hakeeper: --vrrp and --check exclude each other", file=sys.stderr)
        return 2
    facility = "daemon" if args.log_facility is None else f"local{args.log_facility}"
    options = NodeOptions(
        config_file=args.file,
        runtime_dir=runtime_dir(args.runtime_dir),
        config_id=args.config_id,
        dont_release_vrrp=args.dont_release_vrrp,
        dont_release_ipvs=args.dont_release_ipvs,
        vrrp_only=args.vrrp_only,
        check_only=args.check_only,
        log_console=args.log_console,
        log_facility=facility,
        supervisord_conf=Path(args.supervisord_conf) if args.supervisord_conf else None,
    )
    return Node(options).run()


def _ctl(args: argparse.Namespace) -> int:
    from services.ctl import ctl

    return ctl(runtime_dir(args.runtime_dir), args.action, args.service)


def _reload(args: argparse.Namespace) -> int:
    from services.ctl import reload as reload_node

    return reload_node(runtime_dir(args.runtime_dir))


def _bus_keys(args: argparse.Namespace) -> int:
    from bus.endpoints import write_curve_keys

    public, secret = write_curve_keys(Path(args.directory), args.name)
    print(f"public key:  {public}\nsecret key:  {secret}  (keep it on the node, mode 0600)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # User text can hold any bytes; never let printing it raise.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    handlers = {
        "check-config": _check_config,
        "dump-config": _dump_config,
        "status": _status,
        "events": _events,
        "service": _service,
        "bus-keys": _bus_keys,
        "run": _run,
        "ctl": _ctl,
        "reload": _reload,
    }
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"hakeeper: {exc}", file=sys.stderr)
        return 1


def _user_errors() -> tuple[type[Exception], ...]:
    """What a command reports in one line: no node, no hub, a refusal of supervisord."""
    from services.bus_cli import NoHub
    from services.ctl import NoNode
    from services.supervisor_client import SupervisorError

    return (NoHub, EndpointError, NoNode, SupervisorError)


if __name__ == "__main__":
    sys.exit(main())
