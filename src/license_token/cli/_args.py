"""The CLI's ``argparse``: no abbreviations, messages in plain words, "did you mean".

Every parser of ``license-token`` is an ``ArgumentParser``: an option is taken only
as spelled in full (``--lic`` is not ``--license-arn``), an unknown option is reported by
the command it was given to, with that command's usage and the nearest option it has,
and a missing sub-command names the commands to choose from.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from ._common import EXIT_USAGE, escape, write

__all__ = ["ArgumentParser", "ArgumentRefused"]


class ArgumentRefused(SystemExit):
    """argparse refused the command line (already reported on stderr): exit 2, with the
    message for the ``--json`` line."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands whose ``--help`` opens with the line the command list shows for them."""

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if "help" in kwargs:
            kwargs.setdefault("description", kwargs["help"])
        return super().add_parser(name, **kwargs)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` with full option names only, escaped messages and helpful refusals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            write(message.rstrip("\n"), file)

    def error(self, message: str) -> NoReturn:
        """Print this command's usage and ``message`` on stderr; raise ``ArgumentRefused``.

        Args:
            message: argparse's message.

        Raises:
            ArgumentRefused: always.
        """
        commands = self._commands()
        if commands is not None and message.startswith(
                "the following arguments are required: COMMAND"):
            message = f"a command is missing: {self.prog} needs one of {', '.join(commands)}"
        self.print_usage(sys.stderr)
        write(f"{self.prog}: error: {escape(message)}")
        raise ArgumentRefused(message)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        """Parse ``args``; a command (a parser without sub-commands) refuses what it does
        not know itself, before it checks what is required, naming its nearest option."""
        words = list(sys.argv[1:] if args is None else args)
        if self._commands() is None:
            self._refuse_unknown_options(words)
        parsed, extras = super().parse_known_args(words, namespace)
        if extras and self._commands() is None:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def _commands(self) -> list[str] | None:
        """The names of this parser's sub-commands, or ``None`` for a command."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return list(action.choices)
        return None

    def _refuse_unknown_options(self, words: list[str]) -> None:
        known = sorted(self._option_string_actions)
        for word in words:
            if word == "--":
                return
            if not word.startswith("--"):
                continue
            name = word.split("=", 1)[0]
            if name in self._option_string_actions:
                continue
            near = [o for o in known if o.startswith(name)] if len(name) > 2 else []
            if len(near) != 1:  # an abbreviation of one option, else the closest spelling
                near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else f"; {self.prog} takes " + \
                ", ".join(o for o in known if o.startswith("--"))
            self.error(f"unrecognized arguments: {name}{hint}")
