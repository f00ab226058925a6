# Stub for the optional C extension built from _speedups.c (see _json_walk.py).
from typing import Any

def levels(value: Any, max_depth: int, allow_float: bool, /) -> int: ...
def order_safe(data: bytes, /) -> bool: ...
def canonical_line(data: bytes, max_depth: int, /) -> bool: ...
def canonical_members(data: bytes, max_depth: int, /) -> int: ...
def parse_canonical(data: bytes, max_depth: int, default: object, /) -> Any: ...

# --- _speedups_files.h (issue 5: transfer verify) ---
def hash_small_run(
    dir_fd: int,
    names: list[bytes],
    start: int,
    small: int,
    sizes: list[int],
    digests: list[bytes],
    /,
) -> tuple[int, bool]: ...
def hash_sha256_backend(choice: str, /) -> str: ...
def paths_safe_distinct(paths: list[str], /) -> bool: ...
def chunk_matches(
    index: dict[str, int],
    rels: list[str],
    want_sizes: Any,
    want_hexes: str,
    got_sizes: tuple[int, ...],
    got_hexes: str,
    /,
) -> bool: ...
def manifest_columns(items: list[Any], /) -> tuple[list[str], bytes, str] | None: ...
def scan_names(dir_fd: int, /) -> tuple[list[str], list[str], int]: ...

# --- _speedups_classify.h (issue 4: classification) ---
def classify_candidates(
    text: str, /
) -> tuple[list[int], list[int], list[int], list[int], list[int]]: ...
def classify_fullwidth_utf8(data: bytes, /) -> bool: ...
def classify_window(
    text: str, start: int, end: int, extra: str, before: int, after: int, /
) -> str: ...

# --- _speedups_chain.h (issue 3: audit-log verify) ---
def chain_run(
    lines: list[bytes] | tuple[bytes, ...],
    pos: int,
    index: int,
    prev_hex: bytes,
    head: bytes,
    tail: int,
    leaves: list[bytes],
    max_depth: int,
    /,
) -> tuple[int, bytes, int]: ...
