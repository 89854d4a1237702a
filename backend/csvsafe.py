"""The one CSV writer: no file the server or the CLI writes can carry a spreadsheet formula.

Every CSV goes through ``writer`` (tests/test_csvsafe.py fails on any other ``csv.writer``):

- A text cell that starts with ``= + - @``, a tab, CR or LF (or their full-width forms, which
  some Excel locales read as the ASCII ones) is a formula when opened: it gets a leading
  apostrophe, the OWASP advice, which spreadsheets take as "this is text". That covers a
  contract staff number like ``-K.001`` and a sign-in name like ``=HYPERLINK(...)``.
- Indonesian Excel splits a file at ``;`` (the locale's list separator) and English Excel at
  ``,``, and a reader that splits at the other one does not honour our quotes after the first
  split; so ``Budi;=HYPERLINK(...)`` can become two cells, the second a formula. The same
  apostrophe goes after every ``,`` or ``;`` that a dangerous character follows, and after
  every line break (such a reader also ends the record at a line break inside our quotes).
- Every field is quoted, so a reader that does use our separator keeps each field whole.

Numbers stay numbers (an ``int`` -5 is not text a person typed). The employee import reads
its own export back: ``unescape`` drops the apostrophe again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_DANGER = "=+\\-@\t\r\n\uff1d\uff0b\uff0d\uff20"
_SIGNS = "=+\\-@\uff1d\uff0b\uff0d\uff20"  # what makes a formula once a cell has started
# A segment that a reader may take as a cell's start: the cell's own start, or just after a
# ',' or ';' (a reader splitting at the other separator); quotes and spaces before the
# dangerous character do not make it safe (some readers trim them).
_AT_START = re.compile(f'^(?=["\\s]*[{_DANGER}])')
_AFTER_SEPARATOR = re.compile(f'([,;]|\r\n|\r|\n)(?=["\\s]*[{_SIGNS}])')
_ESCAPED_START = re.compile(f"""^'(?=["\\s]*[{_DANGER}])""")
_ESCAPED_AFTER_SEPARATOR = re.compile(f"""([,;]|\r\n|\r|\n)'(?=["\\s]*[{_SIGNS}])""")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def neutralise(value: T) -> T | str:
    """A cell as it may be written: wherever a reader could see a cell start with a formula
    (the start, or after a ',' or ';'), an apostrophe comes first."""
    if not isinstance(value, str):
        return value
    return _AT_START.sub("'", _AFTER_SEPARATOR.sub("\\1'", value))


def neutralise_start(value: T) -> T | str:
    """Only the start (XLSX: a cell is never split, but text starting with "=" is a formula)."""
    if not isinstance(value, str):
        return value
    return _AT_START.sub("'", value)


def unescape(value: str) -> str:
    """The text a neutralised cell stood for (imports of our own exports)."""
    return _ESCAPED_START.sub("", _ESCAPED_AFTER_SEPARATOR.sub("\\1", value))


class SafeWriter:
    """``csv.writer`` with every field quoted and every cell neutralised."""

    def __init__(self, out: _Writable) -> None:
        self._writer = csv.writer(out, quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Writable) -> SafeWriter:
    return SafeWriter(out)


def text(rows: Iterable[Iterable[object]], *, bom: bool = True) -> str:
    """A whole small file; with a byte-order mark so spreadsheets read Indonesian names right."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer(out).writerows(rows)
    return out.getvalue()
