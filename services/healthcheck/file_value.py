"""A track_file's value, read as keepalived reads it (track_file.c process_track_file; pure).

keepalived reads at most 127 bytes and parses them with strtol(buf, NULL, 0):
leading blanks, an optional sign, then a hexadecimal (0x), octal (leading 0)
or decimal number, anything after it ignored. No digits at all (garbage, an
empty or missing file) reads as 0. A number outside the 32-bit range is logged
and ignored: the previous value stays.
"""

from __future__ import annotations

import re

READ_LIMIT = 127
INT32_MIN = -(2**31)
INT32_MAX_PLUS_ONE = 2**31  # keepalived's bound, inclusive
_NUMBER = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def parse_value(data: bytes) -> int | None:
    """The value of a file's first bytes; None if it is out of range (to be ignored)."""
    match = _NUMBER.match(data[:READ_LIMIT])
    if match is None:
        return 0
    sign, digits = match.groups()
    if digits[:2] in (b"0x", b"0X"):
        value = int(digits[2:], 16)
    elif digits.startswith(b"0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    if sign == b"-":
        value = -value
    if not INT32_MIN <= value <= INT32_MAX_PLUS_ONE:
        return None
    return value


def init_text(value: int) -> str:
    """What `init_file VALUE` writes (keepalived's "%d\\n")."""
    return f"{value}\n"
