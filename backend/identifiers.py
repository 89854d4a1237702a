"""The one spelling of a NIP or a username, applied wherever one enters the system.

Phones, spreadsheets and keyboards add paddings a person cannot see: a trailing space or tab,
a no-break space, an ideographic space (U+3000), a zero-width space, full-width digits from an
IME. Every limit and every lookup must see the same string, or each padding is a fresh set of
tries at a limit that the padded value then passes. So: NFKC (full-width digits become ASCII),
then every whitespace, control and format character removed, anywhere in the value (NIPs are
often written in groups: ``19900101 202012 1 001``).
"""

from __future__ import annotations

import unicodedata

# Control (Cc) and format (Cf: zero-width space and joiners, BOM, soft hyphen, bidi marks);
# the separators (Zs, Zl, Zp) are what str.isspace() already covers with the ASCII controls.
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def compact(raw: str) -> str:
    """NFKC with every whitespace, control and format character removed."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(
        ch for ch in text if not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE
    )


def nip(raw: str) -> str:
    """A NIP (ASN, PPPK) or a contract staff number as stored and looked up."""
    return compact(raw)


def username(raw: str) -> str:
    """An admin's username as stored and looked up (case kept, as it is stored)."""
    return compact(raw)


def username_key(raw: str) -> str:
    """What sign-in failures are counted under: one count for every spelling of an account."""
    return compact(raw).casefold()
