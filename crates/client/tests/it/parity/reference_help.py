"""Prints the reference client's own --help text for every command, as JSON lines
{"path": ["rollout", "status"], "help": "..."}: the text click prints for `vibectl PATH --help`."""
import json
import sys

import asyncclick as click
from vibectl.cli import cli


def walk(cmd, path, parent):
    ctx = click.Context(cmd, info_name=path[-1] if path else "vibectl", parent=parent)
    print(json.dumps({"path": path, "help": cmd.get_help(ctx)}))
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            walk(cmd.get_command(ctx, name), [*path, name], ctx)


walk(cli, [], None)
sys.stdout.flush()
