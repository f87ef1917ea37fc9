"""How the lab's asyncio servers run: their event loop and their ISO codec path.

Event loop: uvloop when it is there.

The acquirer, the issuer and the embedded proxy spend a large share of their
CPU in the event loop itself (a callback per read, transports, timers).
uvloop (libuv, compiled) does the same work for a fraction of the cost. It is
optional: ``auto`` uses it when it can be imported and otherwise asyncio's own
loop; ``asyncio`` and ``uvloop`` force one (uvloop missing is then a
configuration error, not a silent fallback).

Codec: the ISO 8583 codec compiled from the CUP spec, or pyiso8583 alone
(``poslab.iso8583.use_codec``): the same bytes and errors, the library being the
reference to compare against when in doubt.

Each server's command line takes ``--loop asyncio|uvloop|auto`` (default
``$LAB_EVENT_LOOP``, else ``auto``) and, where it speaks ISO 8583,
``--codec compiled|pyiso8583`` (default ``$LAB_CODEC``, else ``compiled``): the
environment switches a whole stack or test run without touching how services
are launched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any, TypeVar

from poslab.errors import ConfigError
from poslab.iso8583 import CodecPath, codec_in_use

__all__ = [
    "CODEC_ENV",
    "LOOP_ENV",
    "LoopChoice",
    "add_codec_option",
    "add_loop_option",
    "describe",
    "loop_factory",
    "run",
    "running_loop",
]

LOOP_ENV = "LAB_EVENT_LOOP"
CODEC_ENV = "LAB_CODEC"

T = TypeVar("T")


class LoopChoice(Enum):
    AUTO = "auto"
    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_factory(choice: LoopChoice | str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What ``asyncio.Runner`` should build the loop with (None: asyncio's own)."""
    choice = LoopChoice(choice)
    if choice is LoopChoice.ASYNCIO:
        return None
    factory = _uvloop_factory()
    if factory is None and choice is LoopChoice.UVLOOP:
        raise ConfigError("--loop uvloop: uvloop is not installed (pip install uvloop)")
    return factory


def run(main: Coroutine[Any, Any, T], choice: LoopChoice | str = LoopChoice.AUTO) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    try:
        factory = loop_factory(choice)
    except ConfigError:
        main.close()  # never awaited: say so quietly instead of warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def running_loop() -> str:
    """``uvloop`` or ``asyncio``: what the current thread's loop is (for logs)."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


E = TypeVar("E", bound=Enum)


def describe() -> str:
    """``event loop uvloop, codec compiled``: for a server's ready line."""
    return f"event loop {running_loop()}, codec {codec_in_use().value}"


def _parse_as(enum: type[E]) -> Callable[[str], E]:
    def parse(text: str) -> E:
        try:
            return enum(text)
        except ValueError:
            names = ", ".join(str(member.value) for member in enum)
            raise argparse.ArgumentTypeError(f"expected one of {names}, got {text!r}") from None

    return parse


def _add_choice(
    parser: argparse.ArgumentParser,
    flags: tuple[str, ...],
    dest: str,
    enum: type[E],
    default: str,
    help_text: str,
) -> None:
    parser.add_argument(
        *flags,
        dest=dest,
        type=_parse_as(enum),
        default=default,  # a string: argparse converts it, so a bad $VAR is an error too
        metavar="{" + ",".join(str(member.value) for member in enum) + "}",
        help=help_text,
    )


def add_loop_option(parser: argparse.ArgumentParser, *flags: str) -> None:
    """``--loop`` (or ``flags``) on a server's command line; default from $LAB_EVENT_LOOP."""
    _add_choice(
        parser,
        flags or ("--loop",),
        "loop",
        LoopChoice,
        os.environ.get(LOOP_ENV, LoopChoice.AUTO.value),
        f"event loop (default: ${LOOP_ENV}, else auto = uvloop when installed)",
    )


def add_codec_option(parser: argparse.ArgumentParser, *flags: str) -> None:
    """``--codec`` (or ``flags``): the ISO 8583 codec path; default from $LAB_CODEC."""
    _add_choice(
        parser,
        flags or ("--codec",),
        "codec",
        CodecPath,
        os.environ.get(CODEC_ENV, CodecPath.COMPILED.value),
        f"ISO 8583 codec (default: ${CODEC_ENV}, else compiled; pyiso8583 = the library alone)",
    )
