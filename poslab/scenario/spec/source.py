"""YAML documents that remember where every value came from.

Validation errors must name the file, the line and the field. PyYAML's
``compose`` keeps a mark on every node; this module keeps the composed node
tree next to the constructed data and maps a path (``("faults", 2, "toxic",
"type")`` — pydantic's ``loc`` or our own) back to the line of the deepest node
that exists. Duplicate mapping keys, which ``safe_load`` silently collapses to
the last one, are reported here as problems of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from poslab.errors import ScenarioError

#: libyaml's parser when PyYAML was built with it (about 10× faster); both keep marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: A path into a document: mapping keys and sequence indexes.
Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one file, located to a line and a field."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ScenarioInvalid(ScenarioError):
    """Every problem found in one or more files; ``str()`` is one line per problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_loc(loc: Iterable[str | int]) -> str:
    """``("faults", 2, "toxic")`` → ``faults[2].toxic``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True)
class SourceDocument:
    """A parsed YAML (or JSON) file with its node tree for locating problems."""

    path: str
    data: object
    root: yaml.Node | None

    @classmethod
    def parse(cls, text: str, path: str) -> SourceDocument:
        """Parse ``text``; a syntax error or a duplicate key raises :class:`ScenarioInvalid`."""
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            problems = list(_duplicate_keys(root, path)) if root is not None else []
            if problems:
                raise ScenarioInvalid(problems)
            data = loader.construct_document(root) if root is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 0
            reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
            raise ScenarioInvalid([Problem(path, line, "", f"not valid YAML: {reason}")]) from exc
        except yaml.YAMLError as exc:
            raise ScenarioInvalid([Problem(path, 0, "", f"not valid YAML: {exc}")]) from exc
        finally:
            loader.dispose()
        return cls(path=path, data=data, root=root)

    @classmethod
    def read(cls, path: Path) -> SourceDocument:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioInvalid([Problem(str(path), 0, "", f"cannot read: {exc}")]) from exc
        return cls.parse(text, str(path))

    def line_of(self, loc: Loc) -> int:
        """1-based line of the deepest node along ``loc`` (0 when the file is empty)."""
        node = self.root
        if node is None:
            return 0
        for part in loc:
            child = _child(node, part)
            if child is not None:  # else a union tag pydantic adds, or a missing field
                node = child
        return node.start_mark.line + 1

    def field_of(self, loc: Loc, *, missing_last: bool = True) -> str:
        """The dotted field for ``loc``, without pydantic's union tags.

        ``missing_last``: the last element may be absent from the file (a
        required field that is missing) and is still named.
        """
        kept: list[str | int] = []
        node = self.root
        for i, part in enumerate(loc):
            child = _child(node, part) if node is not None else None
            if child is not None:
                kept.append(part)
                node = child
            elif isinstance(part, int) or (
                missing_last
                and i == len(loc) - 1
                and (node is None or isinstance(node, yaml.MappingNode))
            ):
                kept.append(part)  # a missing field is still worth naming
        return format_loc(kept)

    def problem(self, loc: Loc, message: str, *, missing_last: bool = True) -> Problem:
        field = self.field_of(loc, missing_last=missing_last)
        return Problem(self.path, self.line_of(loc), field, message)

    def problems_from(self, exc: ValidationError, prefix: Loc = ()) -> list[Problem]:
        """Pydantic's errors, each placed at its line; ``prefix`` roots nested models.

        Several errors at one place (pydantic tries every member of a union) are
        reported once, with the first message.
        """
        out: dict[tuple[int, str], Problem] = {}
        for err in exc.errors(include_url=False):
            loc, message = _explain(prefix + tuple(err["loc"]), err)
            # Only a missing field is named although absent; anything else
            # absent at the end of a loc is a union tag (a model-level error).
            missing = err["type"] in ("missing", "union_tag_not_found")
            found = self.problem(loc, message, missing_last=missing)
            out.setdefault((found.line, found.field), found)
        return list(out.values())


def _explain(loc: Loc, err: ErrorDetails) -> tuple[Loc, str]:
    """A message a scenario author can act on, and where it belongs."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return loc, "unknown field"
    if kind == "missing":
        return loc, "required field missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "kind")).strip("'")
        expected = ctx.get("expected_tags", "")
        if kind == "union_tag_not_found":
            return (*loc, field), "required field missing"
        return (*loc, field), f"unknown {field} {ctx.get('tag')!r} (expected one of {expected})"
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return loc, msg.replace("Input should be", "must be", 1)


def _child(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value  # type: ignore[no-any-return]
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def _duplicate_keys(node: yaml.Node, path: str, loc: Loc = ()) -> Iterable[Problem]:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            line = key.start_mark.line + 1
            if name in seen:
                field = format_loc((*loc, name))
                yield Problem(path, line, field, f"duplicate key (first on line {seen[name]})")
            else:
                seen[name] = line
            yield from _duplicate_keys(value, path, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, path, (*loc, i))
