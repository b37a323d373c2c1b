"""`hwnas devices list | show NAME | detect`: the device catalog on the command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def _catalog(args: argparse.Namespace):
    from devices.catalog import load_catalog

    return load_catalog(args.device_file or ())


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "kind", "reach", "runtimes", "from", box=None, pad_edge=False)
    for entry in _catalog(args):
        device = entry.device
        name = device.name if entry.origin != "local" else f"local ({device.name})"
        table.add_row(
            name, device.kind, device.reach, ", ".join(device.runtimes) or "-", entry.origin
        )
    Console(width=200).print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    entry = _catalog(args).entry(args.name)
    print(f"# from: {entry.origin}")
    print(entry.device.to_toml(), end="")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from devices.catalog import user_devices_dir
    from devices.description import local_device

    device = local_device(args.name)
    text = device.to_toml()
    if not args.save:
        print(text, end="")
        return 0
    folder = user_devices_dir()
    path = folder / f"{device.name}.toml"
    if path.exists() and not args.force:
        from devices.description import DeviceError

        raise DeviceError(f"{path} exists; pass --force to replace it, or --name to pick another")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"saved: {path}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `hwnas devices` and its `list`, `show` and `detect` subcommands."""
    devices = subparsers.add_parser(
        "devices", help="the device catalog: literature devices, this machine, your boards"
    )
    sub = devices.add_subparsers(dest="devices_command", required=True)

    def with_files(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--device-file",
            type=Path,
            action="append",
            help="a device description (TOML) to add; repeatable",
        )
        return parser

    listing = with_files(sub.add_parser("list", help="every known device and how it is reached"))
    listing.set_defaults(func=cmd_list)
    show = with_files(sub.add_parser("show", help="one device's description as TOML"))
    show.add_argument("name", help="a device name, or 'local' for this machine")
    show.set_defaults(func=cmd_show)
    detect = sub.add_parser("detect", help="describe this machine as TOML")
    detect.add_argument("--name", help="device name (default local-<host>)")
    detect.add_argument("--save", action="store_true", help="write it to the user device folder")
    detect.add_argument("--force", action="store_true", help="with --save, replace a file")
    detect.set_defaults(func=cmd_detect)
