"""Print docs/CLI.md: the reference of every `digest` command, from its --help.

Run `make docs` after changing a command; a test fails when the file is stale.
"""

from __future__ import annotations

import click

from alliance_digest.cli import cli


def render() -> str:
    out = ["# `digest` command reference", "",
           "Generated from `--help` by `scripts/cli_docs.py` (`make docs`); do not edit by hand.", ""]
    root = click.Context(cli, info_name="digest", help_option_names=["-h", "--help"])
    out += ["## digest", "", "```", cli.get_help(root), "```", ""]
    for name in sorted(cli.list_commands(root)):
        command = cli.get_command(root, name)
        ctx = click.Context(command, info_name=name, parent=root, help_option_names=["-h", "--help"])
        out += [f"## digest {name}", "", "```", command.get_help(ctx), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
