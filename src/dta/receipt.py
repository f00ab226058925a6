"""Receipts: the recipient verifies a transfer and countersigns accepted or rejected.

Rules this module enforces: see :mod:`dta._receipt` (names the manifest digest; only the
manifest's recipient signs; decision ``accepted`` exactly when there are no discrepancies;
verification returns the body from the verified bytes after binding checks).
"""

from __future__ import annotations

from dta._receipt import RECEIPT_TYPE, create_receipt, tree_discrepancies, verify_receipt

__all__ = ["RECEIPT_TYPE", "create_receipt", "tree_discrepancies", "verify_receipt"]
