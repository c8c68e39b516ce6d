"""The `hakeeper` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from conf.check import check_files
from conf.diagnostics import EXIT_CONFIG_FATAL
from conf.dump import to_json_document, to_text
from conf.load import load

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
    return parser


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--use-file", dest="file", default=DEFAULT_CONFIG, metavar="FILE",
                        help=f"configuration file (default {DEFAULT_CONFIG})")
    parser.add_argument("-i", "--config-id", default=None, metavar="ID",
                        help="id for @ID conditional lines (default: the short host name)")


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


def main(argv: Sequence[str] | None = None) -> int:
    # User text can hold any bytes; never let printing it raise.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    handlers = {"check-config": _check_config, "dump-config": _dump_config}
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
