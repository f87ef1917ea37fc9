"""JSON syntax checked as Go's ``encoding/json`` scanner checks it.

Toxiproxy reads a request body with ``json.NewDecoder(body).Decode``: the
scanner walks the bytes of the first value and stops at its end (what follows
is never looked at), and a syntax error is worded by the scanner state it
happened in — ``invalid character '}' looking for beginning of value``,
``... after object key``, ``unexpected EOF`` when the body ends inside a value,
``EOF`` when it holds nothing but spaces. Clients see these messages after
``bad request body: ``; this module reproduces them byte for byte (the states
of Go's ``scanner.go``), so that malformed bodies get the same answer from
either server. It only checks syntax: the value itself is then read by
Python's ``json`` (``api_json.parse_body``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["GoSyntaxError", "first_value_end"]

_SPACE = frozenset(b" \t\r\n")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = frozenset(b'bfnrt\\/"')

# What a step answers (Go's scanContinue, scanEnd, scanError; the ends of
# objects and arrays are told apart because the decoder checks them).
_CONTINUE, _END, _ERROR, _END_COMPOSITE = 0, 1, 2, 3
_OBJECT_KEY, _OBJECT_VALUE, _ARRAY_VALUE = 0, 1, 2

Step = Callable[[int], int]


class GoSyntaxError(ValueError):
    """The message Go's decoder returns (``str()``)."""


def _quote_char(byte: int) -> str:
    """Go's ``quoteChar``: the byte as a rune, quoted as ``strconv.Quote`` does."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    char = chr(byte)
    if char.isprintable():
        return f"'{char}'"
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes["\v"] = "\\v"
    if char in escapes:
        return f"'{escapes[char]}'"
    return f"'\\x{byte:02x}'" if byte < 0x80 else f"'\\u{byte:04x}'"


class _Scanner:
    def __init__(self) -> None:
        self.step: Step = self.begin_value
        self.stack: list[int] = []
        self.error: str | None = None

    def fail(self, byte: int, context: str) -> int:
        self.step = self.failed
        self.error = f"invalid character {_quote_char(byte)} {context}"
        return _ERROR

    def failed(self, byte: int) -> int:
        return _ERROR

    # --- values -----------------------------------------------------------------------

    def begin_value_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c == ord("]"):
            return self.end_value(c)
        return self.begin_value(c)

    def begin_value(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c == ord("{"):
            self.step = self.begin_string_or_empty
            self.stack.append(_OBJECT_KEY)
        elif c == ord("["):
            self.step = self.begin_value_or_empty
            self.stack.append(_ARRAY_VALUE)
        elif c == ord('"'):
            self.step = self.in_string
        elif c == ord("-"):
            self.step = self.neg
        elif c == ord("0"):
            self.step = self.zero
        elif ord("1") <= c <= ord("9"):
            self.step = self.one
        elif c == ord("t"):
            self.step = self._literal(b"rue", "true")
        elif c == ord("f"):
            self.step = self._literal(b"alse", "false")
        elif c == ord("n"):
            self.step = self._literal(b"ull", "null")
        else:
            return self.fail(c, "looking for beginning of value")
        return _CONTINUE

    def begin_string_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c == ord("}"):
            self.stack[-1] = _OBJECT_VALUE
            return self.end_value(c)
        return self.begin_string(c)

    def begin_string(self, c: int) -> int:
        if c in _SPACE:
            return _CONTINUE
        if c == ord('"'):
            self.step = self.in_string
            return _CONTINUE
        return self.fail(c, "looking for beginning of object key string")

    def end_value(self, c: int) -> int:
        if not self.stack:
            self.step = self.end_top
            return self.end_top(c)
        if c in _SPACE:
            self.step = self.end_value
            return _CONTINUE
        state = self.stack[-1]
        if state == _OBJECT_KEY:
            if c == ord(":"):
                self.stack[-1] = _OBJECT_VALUE
                self.step = self.begin_value
                return _CONTINUE
            return self.fail(c, "after object key")
        if state == _OBJECT_VALUE:
            if c == ord(","):
                self.stack[-1] = _OBJECT_KEY
                self.step = self.begin_string
                return _CONTINUE
            if c == ord("}"):
                return self.pop()
            return self.fail(c, "after object key:value pair")
        if c == ord(","):
            self.step = self.begin_value
            return _CONTINUE
        if c == ord("]"):
            return self.pop()
        return self.fail(c, "after array element")

    def pop(self) -> int:
        self.stack.pop()
        self.step = self.end_top if not self.stack else self.end_value
        return _END_COMPOSITE

    def end_top(self, c: int) -> int:
        # Go notes a non-space here for a later call; the decoder has its value.
        return _END

    # --- strings ----------------------------------------------------------------------

    def in_string(self, c: int) -> int:
        if c == ord('"'):
            self.step = self.end_value
        elif c == ord("\\"):
            self.step = self.in_string_escape
        elif c < 0x20:
            return self.fail(c, "in string literal")
        return _CONTINUE

    def in_string_escape(self, c: int) -> int:
        if c in _ESCAPES:
            self.step = self.in_string
            return _CONTINUE
        if c == ord("u"):
            self.step = self._hex(4)
            return _CONTINUE
        return self.fail(c, "in string escape code")

    def _hex(self, left: int) -> Step:
        def step(c: int) -> int:
            if c not in _HEX:
                return self.fail(c, "in \\u hexadecimal character escape")
            self.step = self.in_string if left == 1 else self._hex(left - 1)
            return _CONTINUE

        return step

    # --- numbers and literals -------------------------------------------------------------

    def neg(self, c: int) -> int:
        if c == ord("0"):
            self.step = self.zero
            return _CONTINUE
        if ord("1") <= c <= ord("9"):
            self.step = self.one
            return _CONTINUE
        return self.fail(c, "in numeric literal")

    def one(self, c: int) -> int:
        if c in _DIGITS:
            return _CONTINUE
        return self.zero(c)

    def zero(self, c: int) -> int:
        if c == ord("."):
            self.step = self.dot
            return _CONTINUE
        if c in (ord("e"), ord("E")):
            self.step = self.exponent
            return _CONTINUE
        return self.end_value(c)

    def dot(self, c: int) -> int:
        if c in _DIGITS:
            self.step = self.dot_digits
            return _CONTINUE
        return self.fail(c, "after decimal point in numeric literal")

    def dot_digits(self, c: int) -> int:
        if c in _DIGITS:
            return _CONTINUE
        if c in (ord("e"), ord("E")):
            self.step = self.exponent
            return _CONTINUE
        return self.end_value(c)

    def exponent(self, c: int) -> int:
        if c in (ord("+"), ord("-")):
            self.step = self.exponent_sign
            return _CONTINUE
        return self.exponent_sign(c)

    def exponent_sign(self, c: int) -> int:
        if c in _DIGITS:
            self.step = self.exponent_digits
            return _CONTINUE
        return self.fail(c, "in exponent of numeric literal")

    def exponent_digits(self, c: int) -> int:
        if c in _DIGITS:
            return _CONTINUE
        return self.end_value(c)

    def _literal(self, rest: bytes, word: str) -> Step:
        def step(c: int) -> int:
            if c != rest[0]:
                return self.fail(c, f"in literal {word} (expecting {_quote_char(rest[0])})")
            self.step = self.end_value if len(rest) == 1 else self._literal(rest[1:], word)
            return _CONTINUE

        return step


def first_value_end(raw: bytes) -> int:
    """Where the first JSON value of ``raw`` ends, as Go's ``Decoder.Decode``
    finds it; raises :class:`GoSyntaxError` with Go's message otherwise."""
    scanner = _Scanner()
    for index, byte in enumerate(raw):
        answer = scanner.step(byte)
        if answer == _END:
            return index
        if answer == _END_COMPOSITE and scanner.end_value(ord(" ")) == _END:
            return index + 1
        if answer == _ERROR:
            raise GoSyntaxError(scanner.error)
    if scanner.step(ord(" ")) == _END:
        return len(raw)
    if any(byte not in _SPACE for byte in raw):
        raise GoSyntaxError("unexpected EOF")
    raise GoSyntaxError("EOF")
