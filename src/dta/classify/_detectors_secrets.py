"""Credential detectors: PEM private keys, AWS access key ids, JWTs, secrets assigned to names.

Rules this module enforces:

* ``private_key``: a PEM ``-----BEGIN ... PRIVATE KEY-----`` header (PKCS#1/#8, EC, DSA,
  OpenSSH, encrypted, PGP). VERY_LIKELY only as a complete block: the BEGIN line ends at its
  dashes; then, within :data:`PEM_SPAN` characters, optional header lines (``Name: value``,
  RFC 1421 continuation lines), blank lines, base64 lines holding at least
  :data:`PEM_MIN_PAYLOAD` characters (an OpenPGP ``=XXXX`` checksum line last) and, at a line
  start, the END line of the *same* label. Line breaks are LF, CRLF, or the escapes ``\\n`` /
  ``\\r\\n`` throughout. No accepted line holds ``-----``, so a block never reaches past
  another BEGIN or END line. Anything else: the header alone, LIKELY, and the scan goes on
  (a later block's own BEGIN is its own finding). The value (the fingerprint input) is the
  base64 payload without line breaks or spaces: never the header lines, the checksum line or
  the BEGIN/END lines, so the same key in LF, CRLF or escaped form, or with other armour
  comments, has one fingerprint.
* ``aws_access_key``: a known AWS key-id prefix (``AKIA``, ``ASIA``, ...) followed by 16
  base32 characters (``A-Z2-7``) on token boundaries.
* ``jwt``: three base64url segments whose header decodes to a JSON object with ``alg``.
* ``secret_assignment``: a password/secret/token/API-key name (English or Chinese; also a CSV
  column or JSON member of that name) assigned
  (``=``, ``:``, ``=>``) a value of >= 12 characters with Shannon entropy >= 3.0 bits per
  character that is not a placeholder (``changeme``, ``${VAR}``, ``<...>``, ``xxxx``, ``****``).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter

from dta._json import loads
from dta.classify._findings import Hit, Likelihood
from dta.errors import JSONError

__all__ = [
    "PEM_MIN_PAYLOAD",
    "PEM_SPAN",
    "aws_hit",
    "entropy",
    "is_secret_name",
    "jwt_hit",
    "pem_hit",
    "secret_hit",
    "value_hit",
]

_PEM = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
)
# A block may reach this far past its BEGIN line (the whole END line included): RSA keys up to
# 16384 bits and every OpenSSH/EC/DSA key fit; a larger block is reported by its header.
PEM_SPAN = 16384
# Fewest base64 characters a block's payload must have: an Ed25519 PKCS#8 key, the smallest
# private key any of these labels carries, is 48 bytes (64 characters).
PEM_MIN_PAYLOAD = 64


def _pem_body(eol: str, excl: str) -> re.Pattern[str]:
    """The text between a BEGIN line's dashes and ``-----END `` for one line-break style.

    Every piece is possessive and the pieces of one line are told apart by their first
    characters, so a match attempt never backtracks: it costs one pass over the text it reads.
    No accepted line holds ``-----``, so an attempt stops at the next BEGIN or END line.
    """
    val = rf"(?:[^{excl}\-]++|-(?!----))"  # a header character: no line break, no "-----"
    name = r"[A-Za-z](?:[A-Za-z0-9]|-(?!----)){0,63}+"
    header = rf"[ \t]*+{name}:{val}*+{eol}"  # Proc-Type: 4,ENCRYPTED / Version: ...
    cont = rf"[ \t]++(?:[^ \t{excl}\-]|-(?!----)){val}*+{eol}"  # RFC 1421 continuation line
    blank = rf"[ \t]*+{eol}"
    b64 = rf"[ \t]*+[A-Za-z0-9+/]++={{0,2}}+[ \t]*+{eol}"
    crc = rf"[ \t]*+=[A-Za-z0-9+/]{{4}}[ \t]*+{eol}"  # OpenPGP armour checksum (RFC 4880 6.2)
    return re.compile(
        rf"[ \t]*+{eol}"  # the rest of the BEGIN line
        rf"(?:{header}(?:{header}|{cont})*+)?+"  # then a blank line (or not: mangled copies)
        rf"((?:{b64}|{blank})++)"  # the payload lines (group 1)
        rf"(?:{crc}(?:{blank})*+)?+"
        r"[ \t]*+-----END "
    )


# Line breaks as in a file (LF or CRLF), or written as the escapes \n / \r\n (a key pasted into
# a JSON, YAML or .env string that is scanned as plain text).
_PEM_BODY = _pem_body(r"\r?\n", r"\r\n")
_PEM_BODY_ESCAPED = _pem_body(r"(?:\\r)?\\n", r"\r\n\\")


def _pem_payload(text: str, start: int, label: str) -> tuple[str, int] | None:
    """The payload and end offset of the block whose BEGIN line's dashes end at ``start``.

    None unless the BEGIN line ends there and is followed, within :data:`PEM_SPAN` characters,
    by optional header lines closed by a blank line, base64 lines (an OpenPGP checksum line
    last) and the END line of the same ``label``.
    """
    escaped = text.startswith(("\\n", "\\r\\n"), start)
    limit = min(len(text), start + PEM_SPAN)
    m = (_PEM_BODY_ESCAPED if escaped else _PEM_BODY).match(text, start, limit)
    if m is None:
        return None
    end_marker = f"-----END {label}-----"
    stop = m.end() - len("-----END ")
    if not text.startswith(end_marker, stop, limit):
        return None
    lines = m.group(1)
    if escaped:
        lines = lines.replace("\\r", "").replace("\\n", "")
    payload = "".join(lines.split())
    if len(payload) < PEM_MIN_PAYLOAD:
        return None
    return payload, stop + len(end_marker)


def pem_hit(text: str, pos: int) -> Hit | None:
    """Classify the PEM header at ``pos``, or return None when it is not a private key.

    A complete block (see :func:`_pem_payload`) is VERY_LIKELY with its base64 payload as the
    value; a header without one is LIKELY with the label as the value and covers the header
    alone, so a later block's own BEGIN line is still found.
    """
    m = _PEM.match(text, pos)
    if m is None:
        return None
    label = m.group(1)
    block = _pem_payload(text, m.end(), label)
    if block is not None:
        payload, end = block
        return Hit(
            pos,
            end,
            "private_key",
            Likelihood.VERY_LIKELY,
            "rule",
            f"PEM {label} block with matching END line",
            payload,
            label.lower(),
        )
    return Hit(
        pos,
        m.end(),
        "private_key",
        Likelihood.LIKELY,
        "none",
        f"PEM {label} header without a complete block",
        label,
        label.lower(),
    )


_AWS = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16}")


def aws_hit(text: str, pos: int) -> Hit | None:
    """Classify an AWS access key id at ``pos``, or return None."""
    m = _AWS.match(text, pos)
    if m is None:
        return None
    end = m.end()
    if pos > 0 and text[pos - 1].isascii() and text[pos - 1].isalnum():
        return None
    if end < len(text) and text[end].isascii() and text[end].isalnum():
        return None
    kind = "temporary (STS)" if m.group(0).startswith("ASIA") else "long-term"
    return Hit(
        pos,
        end,
        "aws_access_key",
        Likelihood.VERY_LIKELY,
        "rule",
        f"AWS {kind} access key id: known prefix and base32 body",
        m.group(0),
    )


_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{8,}")


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def jwt_hit(text: str, pos: int) -> Hit | None:
    """Classify a JWT at ``pos`` (header must decode to JSON with ``alg``), or return None."""
    m = _JWT.match(text, pos)
    if m is None:
        return None
    header = m.group(0).split(".", 1)[0]
    try:
        parsed = loads(_b64url(header))
    except (JSONError, binascii.Error, ValueError):
        parsed = None
    if not isinstance(parsed, dict) or "alg" not in parsed:
        return Hit(
            pos,
            m.end(),
            "jwt",
            Likelihood.POSSIBLE,
            "invalid",
            "JWT-shaped; header is not a JOSE header",
            m.group(0),
        )
    return Hit(
        pos,
        m.end(),
        "jwt",
        Likelihood.VERY_LIKELY,
        "valid",
        "JWT: three base64url segments, JOSE header with alg",
        m.group(0),
    )


_NAME = re.compile(
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|access[_\-]?key|auth[_\-]?key"
    r"|client[_\-]?secret|private[_\-]?key|credential|密码|口令|密钥|令牌|秘钥)"
    r"[A-Za-z0-9_\-]{0,24}[\"']?\s*(?:=>|=|:|：)?\Z",
    re.IGNORECASE,
)
VALUE_RE = re.compile(r"[=:：]>?[ \t]*[\"']?([A-Za-z0-9+/_\-.~!@#$%^&*]{12,200})")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:changeme|change_me|password|secret|example|placeholder|redacted|xxx+|\*+|none|null"
    r"|true|false|your[_\-].*|<.*>|\$\{.*\}|\{\{.*\}\}|%\(.*\)s|\.\.\.+)$"
)


def entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_secret_name(name: str) -> bool:
    """True when a CSV column or JSON member name names a secret (password, api_key, ...)."""
    return _NAME.search(name + ":") is not None


def value_hit(value: str, start: int, why: str) -> Hit | None:
    """Apply the length, placeholder and entropy rules to a value assigned to a secret name."""
    value = value.strip().rstrip(".,;")
    if len(value) < 12 or len(value) > 200 or any(c.isspace() for c in value):
        return None
    if _PLACEHOLDER.match(value) or value.startswith(("http", "/", "$")):
        return None
    h = entropy(value)
    if h < 3.0:
        return None
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    like = Likelihood.VERY_LIKELY if h >= 3.5 and classes >= 3 else Likelihood.LIKELY
    return Hit(
        start,
        start + len(value),
        "secret_assignment",
        like,
        "rule",
        f"{why}; entropy {h:.1f} bits/char",
        value,
    )


# Every alternative of _NAME contains one of these words, so a window holding none of them (in
# _NAME's case-insensitive sense) cannot match it. ASCII windows are lowered and searched
# case-sensitively (exact for ASCII); others with the same IGNORECASE flag as _NAME.
_HINTS = "pass|pwd|secret|token|key|credential|密码|口令|密钥|令牌|秘钥"
_HINT_LOWER = re.compile(_HINTS)
_HINT_ANYCASE = re.compile(_HINTS, re.IGNORECASE)


def _named(window: str) -> bool:
    """True when a secret-like name ends ``window`` (see :data:`_NAME`)."""
    if window.isascii():
        if _HINT_LOWER.search(window.lower()) is None:
            return False
    elif _HINT_ANYCASE.search(window) is None:
        return False
    return _NAME.search(window) is not None


def secret_hit(text: str, m: re.Match[str], extra: str) -> Hit | None:
    """Classify an assignment match (from :data:`VALUE_RE`), or return None."""
    op = m.start()
    window = text[max(0, op - 48) : op + 1]
    if not _named(window) and (not extra or not is_secret_name(extra)):
        return None
    return value_hit(m.group(1), m.start(1), "value assigned to a secret-like name")
