"""Credential detectors: PEM private keys, AWS access key ids, JWTs, secrets assigned to names.

Rules this module enforces:

* ``private_key``: a PEM ``-----BEGIN ... PRIVATE KEY-----`` header (PKCS#1/#8, EC, DSA,
  OpenSSH, encrypted, PGP). VERY_LIKELY only as a complete block whose payload has at least
  :data:`PEM_MIN_PAYLOAD` characters and :data:`PEM_MIN_ENTROPY` bits per character (so
  placeholders such as ``"A"*64`` or ``REDACTED`` repeated are not keys). A block is, first,
  by the strict grammar: the BEGIN line ends at its dashes; then, within :data:`PEM_SPAN`
  characters, optional header lines (``Name: value``, RFC 1421 continuation lines), blank
  lines, base64 lines (an OpenPGP ``=XXXX`` checksum line last) and, at a line start, the END
  line of the *same* label. Line breaks are LF, CRLF, or the escapes ``\\n`` / ``\\r\\n``
  throughout. Else, as a re-encoded block (source-code string concatenation, ``> `` quoting,
  comment prefixes, ``\\/``-escaped JSON, ``&#10;``, ``<br>``, CR-only breaks, doubly escaped
  ``\\\\n``): the first ``-----`` after the BEGIN line opens the END line of the same label
  within :data:`PEM_SPAN`, and base64 runs of at least :data:`PEM_MIN_RUN` characters make up
  at least :data:`PEM_MIN_SHARE` of the text between (ASCII whitespace and header lines
  aside). Neither way reaches past another ``-----``, so a block never spans another BEGIN or
  END line. Anything else: the header alone, LIKELY, and the scan goes on (a later block's own
  BEGIN is its own finding). The value (the fingerprint input) is the base64 payload without
  line breaks, spaces, header lines, the checksum line or the BEGIN/END lines, so the same key
  in LF, CRLF, escaped or re-encoded form, or with other armour comments, has one fingerprint.
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
    "PEM_MIN_ENTROPY",
    "PEM_MIN_PAYLOAD",
    "PEM_MIN_RUN",
    "PEM_MIN_SHARE",
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
# Fewest bits per character (Shannon entropy) of a payload. Base64 of random or DER bytes has
# ~5.9-6; the smallest key's 64 characters average 5.08 (s.d. 0.10; 4.65 the least of 20,000
# Ed25519 keys). 4.5 bits needs at least 23 distinct characters, so "A"*64, "REDACTED"*8,
# digit runs and spelled-out "YOURPRIVATEKEYGOESHERE" (<= 3.6) are placeholders, not keys.
PEM_MIN_ENTROPY = 4.5
# A re-encoded block (no strict grammar): fewest characters of one base64 run that counts as
# payload, and the least share of the non-whitespace text between BEGIN and END the runs must
# make. English prose is in the base64 alphabet but its words are shorter than 16 characters;
# a quoting, comment or string-literal prefix costs 1-6 characters per 64-character line.
PEM_MIN_RUN = 16
PEM_MIN_SHARE = 0.75


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


def _pem_strict(text: str, start: int, label: str, limit: int) -> tuple[str, int] | None:
    """The payload and end offset of the PEM body after the BEGIN line whose dashes end at
    ``start``, read by the strict grammar (:func:`_pem_body`); None when it does not match.

    The body must be followed, before ``limit``, by the END line of the same ``label``.
    """
    escaped = text.startswith(("\\n", "\\r\\n"), start)
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
    return "".join(lines.split()), stop + len(end_marker)


# Line-break spellings of re-encodings (string escapes, doubly escaped ones included; XML
# character references; HTML breaks; a bare CR), each group tried only when its first
# characters occur; each becomes a line break before the runs are taken.
_BREAKS = (
    (b"\\", ("\\r", "\\n")),
    (b"&#", ("&#10;", "&#13;", "&#xA;", "&#xa;", "&#xD;", "&#xd;")),
    (b"<", ("<br>", "<br/>", "<br />", "<BR>", "<BR/>", "<BR />")),
    (b"\r", ("\r",)),
)
# A base64 run with its padding, not led by another base64 character or "=" (so an OpenPGP
# armour checksum "=XXXX" is no run); the long ones are the payload of a re-encoded block.
_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]++={0,2}+")
_LONG_RUN = re.compile(rf"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{{{PEM_MIN_RUN},}}+={{0,2}}+")
# UTF-8 bytes -> "a" for a base64 or "=" character, " " for ASCII whitespace (the whitespace of
# the share rule), "x" else. A run of m >= PEM_MIN_RUN characters lies in an "a"-run of L >= m
# bytes (a run starts where its "a"-run does, so one run per "a"-run), which holds
# floor(L / PEM_MIN_RUN) >= 1 disjoint copies of _A_CHUNK: the runs' total size is at most
# 2 * PEM_MIN_RUN times the count of _A_CHUNK, a C-speed bound that rejects prose before the
# regex pass.
_CLASSES = bytes(
    ord("a")
    if chr(b) in "+/=" or (chr(b).isascii() and chr(b).isalnum())
    else ord(" ")
    if chr(b) in " \t\n\r\f\v"
    else ord("x")
    for b in range(256)
)
# Every byte but the first ones of a _BREAKS group, "\\/" and a header line's ":" (deleted in
# one pass to see whether normalising has anything to do).
_PLAIN = bytes(b for b in range(256) if chr(b) not in "\\&<\r:")
_A_CHUNK = b"a" * PEM_MIN_RUN
# An armour header line (Proc-Type, DEK-Info, Version, Comment), after any quoting, comment or
# string-literal prefix (">", "#", " * ", '"', b"): neither payload nor counted against it.
_HEADER_LINES = re.compile(
    r"^[^A-Za-z0-9\n]*+(?:[A-Za-z]{1,2}[\"'])?+[A-Za-z][A-Za-z0-9-]{0,63}+:[^\n]*+", re.MULTILINE
)


def _pem_reencoded(text: str, start: int, label: str, limit: int) -> tuple[str, int] | None:
    """The payload and end offset of a re-encoded block (see the module rules), else None.

    The first ``-----`` after ``start`` must open the END line of the same ``label`` before
    ``limit``; the text between, its line-break spellings made line breaks, ``\\/`` made ``/``
    and armour header lines dropped, must hold base64 runs of at least :data:`PEM_MIN_RUN`
    characters that make up at least :data:`PEM_MIN_SHARE` of its characters other than ASCII
    whitespace.
    The payload is those runs in order, then the longest shorter run after the last of them
    (the block's last line) when it makes the length a multiple of 4, as base64 is. Every
    step is a C-level pass over the text between (no backtracking; prose is rejected by the
    ``_AS_A`` bound before the regex pass), so an attempt costs O(length) and, as it stops at
    the next ``-----``, all attempts together O(n).
    """
    stop = text.find("-----", start, limit)
    end_marker = f"-----END {label}-----"
    if stop < 0 or not text.startswith(end_marker, stop, limit):
        return None
    between = text[start:stop]
    raw = between.encode("utf-8", "surrogatepass")
    special = raw.translate(None, _PLAIN)
    if special:
        for first, spellings in _BREAKS:
            if first in raw:
                for spelling in spellings:
                    between = between.replace(spelling, "\n")
        if b"\\/" in raw:
            between = between.replace("\\/", "/")
        if b":" in special:
            between = _HEADER_LINES.sub("", between)
        raw = between.encode("utf-8", "surrogatepass")
    classes = raw.translate(_CLASSES)
    chars = len(between) - classes.count(b" ")
    bound = 2 * PEM_MIN_RUN * classes.count(_A_CHUNK)
    if bound < max(PEM_MIN_PAYLOAD, PEM_MIN_SHARE * chars):
        return None
    runs = _LONG_RUN.findall(between)
    size = sum(map(len, runs))
    if size < PEM_MIN_PAYLOAD or size < PEM_MIN_SHARE * chars:
        return None
    last = between.rindex(runs[-1]) + len(runs[-1])
    tail = max(_RUN.findall(between, last), key=len, default="")
    if (size + len(tail)) % 4 == 0:
        runs.append(tail)
    return "".join(runs), stop + len(end_marker)


def pem_hit(text: str, pos: int) -> Hit | None:
    """Classify the PEM header at ``pos``, or return None when it is not a private key.

    A complete block (strict grammar, else a re-encoded one; see the module rules) whose
    payload has at least :data:`PEM_MIN_PAYLOAD` characters and :data:`PEM_MIN_ENTROPY` bits
    per character is VERY_LIKELY with its base64 payload as the value; a header without one is
    LIKELY with the label as the value and covers the header alone, so a later block's own
    BEGIN line is still found.
    """
    m = _PEM.match(text, pos)
    if m is None:
        return None
    label = m.group(1)
    limit = min(len(text), m.end() + PEM_SPAN)
    how = ""
    block = _pem_strict(text, m.end(), label, limit)
    if block is None:
        how = " (re-encoded)"
        block = _pem_reencoded(text, m.end(), label, limit)
    if block is not None:
        payload, end = block
        if len(payload) >= PEM_MIN_PAYLOAD and entropy(payload) >= PEM_MIN_ENTROPY:
            return Hit(
                pos,
                end,
                "private_key",
                Likelihood.VERY_LIKELY,
                "rule",
                f"PEM {label} block with matching END line{how}",
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
