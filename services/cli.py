"""The `hakeeper` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bus.endpoints import (
    DEFAULT_RUNTIME_DIR,
    RUNTIME_DIR_ENV,
    Curve,
    EndpointError,
    TcpEndpoint,
    fresh_curve_keys,
    load_curve_keys,
    runtime_dir,
    write_curve_keys,
)
from conf.check import check_files
from conf.diagnostics import EXIT_CONFIG_FATAL
from conf.dump import to_json_document, to_text
from conf.load import load
from services.bus_cli import NoHub, fetch_status, render_status, stream_events
from services.bus_service import serve, settings_from

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
    service.add_argument("name", choices=["bus"], help="the service")
    _runtime_dir_option(service)
    service.add_argument(
        "-f",
        "--use-file",
        dest="file",
        default=None,
        metavar="FILE",
        help="configuration file (for the hakeeper_bus_* keywords of global_defs)",
    )
    service.add_argument(
        "--bus-tcp", metavar="[ADDRESS:]PORT", help="also serve remote subscribers over TCP (address default 127.0.0.1)"
    )
    service.add_argument("--bus-curve-key", metavar="FILE", help="the hub's CURVE certificate (secret) file")
    service.add_argument("--bus-curve-clients", metavar="DIR", help="only these clients' public keys may connect")
    service.add_argument("--bus-history", type=int, metavar="N", help="events kept for resuming subscribers")

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
    report = check_files(args.file, args.peer, config_id=args.config_id, strict_env=args.strict_env)
    for line in report.lines():
        print(line, file=sys.stderr)
    return report.exit_code


def _dump_config(args: argparse.Namespace) -> int:
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
    where = _bus_where(args)
    document = fetch_status(where, curve=where.curve if isinstance(where, TcpEndpoint) else None)
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render_status(document, sys.stdout)
    return 0


def _events(args: argparse.Namespace) -> int:
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
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    settings = settings_from(args.file, args.bus_tcp, args.bus_curve_key, args.bus_curve_clients, args.bus_history)
    return serve(runtime_dir(args.runtime_dir), settings)


def _bus_keys(args: argparse.Namespace) -> int:
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
    }
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except (NoHub, EndpointError) as exc:
        print(f"hakeeper: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
