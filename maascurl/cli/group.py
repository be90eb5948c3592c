"""The group behind `maascurl`: commands loaded on demand, every failure one stderr line.

Listing the commands (`maascurl --help`, `maascurl <TAB>`) takes their
summaries from the group's table, so it imports none of their modules; a
command's module is imported when the command runs, when its help is asked
for, or when TAB completes its arguments (Click's lazy group pattern).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import click
from click.shell_completion import CompletionItem

from maascurl.errors import EXIT_INTERRUPTED, EXIT_USAGE, MaascurlError

# The request commands: a method typed in capitals (`maascurl GET machines`) is one of these.
METHODS = ("get", "post", "put", "patch", "delete")


class Lazy(NamedTuple):
    """A command the group knows by name and summary until it is needed.

    MODULE defines it as the attribute named like the command ('-' as '_').
    HELP is the first paragraph of its help, SHORT_HELP its short_help when it
    has one: what listings show, exactly as the command itself would give it.
    """

    module: str
    help: str = ""
    short_help: str = ""


class MaascurlGroup(click.Group):
    """A group whose `main` turns every failure into one stderr line and an exit code.

    It also takes a command's options before the command (`maascurl -p prod get
    machines`, as curl users type) and methods in capitals (`maascurl GET machines`).
    """

    def __init__(self, *args: Any, lazy: Mapping[str, Lazy] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    # ---- commands on demand

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            name = self.lazy[cmd_name].module
            # __import__ rather than importlib.import_module: `python -X importtime`
            # (and tests/test_fast_paths.py, which reads it) sees only the former.
            __import__(name)
            command = getattr(sys.modules[name], cmd_name.replace("-", "_"))
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def _listed(self, name: str) -> click.Command:
        """NAME's command once loaded, else a stand-in holding its summary."""
        if name in self.commands:
            return self.commands[name]
        entry = self.lazy[name]
        return click.Command(name, help=entry.help or None, short_help=entry.short_help or None)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As Click lists commands, from the summaries: no command module is imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._listed(name).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Command names with their summaries (none imported), then the group's options."""
        found = [
            CompletionItem(name, help=self._listed(name).get_short_help_str())
            for name in self.list_commands(ctx)
            if name.startswith(incomplete)
        ]
        return found + click.Command.shell_complete(self, ctx, incomplete)

    # ---- options before the command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._command_first(ctx, args))

    def _command_first(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move options typed before the command to just after it."""
        params = self.get_params(ctx)  # with --help: it needs no command's options
        own = {name for param in params for name in param.opts + param.secondary_opts}
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "--" or arg in own or not arg.startswith("-"):
                break
            index += 1 + self._takes_value(ctx, arg)
        if index >= len(args) or args[index] in own or args[index] == "--":
            return args
        name = args[index]
        if name.lower() in METHODS:
            name = name.lower()
        if index == 0:
            return [name, *args[1:]]
        return [name, *args[:index], *args[index + 1 :]]

    def _takes_value(self, ctx: click.Context, arg: str) -> bool:
        if arg.startswith("--") and "=" in arg:
            return False
        # The request commands' options stand for all (loaded only when options come first).
        command = self.get_command(ctx, "get")
        for param in command.params if command is not None else ():
            if isinstance(param, click.Option) and arg in param.opts + param.secondary_opts:
                return not param.is_flag
        # A cluster of short flags ("-ki"), or an unknown option Click will report.
        return len(arg) == 2 and arg in ("-p", "-o", "-H", "-m")

    # ---- failures

    def invoke(self, ctx: click.Context) -> Any:
        # Click's own main would turn a broken pipe into exit status 1.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_broken_pipe()

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        if "_MAASCURL_COMPLETE" in os.environ:
            # A TAB press: use maascurl's own bash/zsh/fish glue (imports only click).
            import maascurl.cli.shellcomplete  # noqa: F401
        try:
            code = super().main(*args, **kwargs)
        except MaascurlError as exc:
            _fail(str(exc), exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message())
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            _fail(_click_message(exc), exc.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Exception as exc:  # a bug: report it without leaking secrets
            _internal_error(exc)
        sys.exit(code if isinstance(code, int) else 0)


def _click_message(exc: click.ClickException) -> str:
    # Click lays some messages out on several lines ("Choose from:\n\tbash,\n\tzsh"):
    # an error is one line.
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        return f"{message} (see `{exc.ctx.command_path} --help`)"
    return message


def _fail(message: str, code: int) -> None:
    from maascurl.errors import redact_secrets
    from maascurl.termsafe import safe_line

    message = safe_line(redact_secrets(message))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    print(f"maascurl: error: {message}", file=sys.stderr)
    sys.exit(code)


def _internal_error(exc: Exception) -> None:
    from maascurl.errors import redact_secrets

    if os.environ.get("MAASCURL_DEBUG"):
        import traceback

        sys.stderr.write(redact_secrets("".join(traceback.format_exception(exc))))
    message = redact_secrets(f"{type(exc).__name__}: {exc}")
    _fail(f"internal error: {message} (MAASCURL_DEBUG=1 shows a traceback)", 1)


def _quiet_broken_pipe() -> None:
    # The reader went away (`| head`): point stdout at /dev/null so the final
    # flush at exit cannot raise again, and leave quietly.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
