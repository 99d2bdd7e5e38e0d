"""Reading Stripe's balance transactions from a file.

Two formats are accepted (chosen by the file's first non-blank character: `[` or `{` is JSON,
anything else CSV):

- JSON: a list of BalanceTransaction objects as the API returns them (or a list object,
  `{"object": "list", "data": [...]}`). Used: `id`, `currency`, `amount`, `fee`, `net`
  (integers in the currency's minor unit, signed), `reporting_category` (else `type`),
  `source` (a string or an expanded object with an `id`) and `created` (Unix seconds).
- CSV: Stripe's itemized balance change report ("Balance change from activity", itemized).
  Required columns: `balance_transaction_id`, `currency`, `gross`, `fee`, `net`; optional:
  `reporting_category`, `source_id`, `created` or `created_utc` ("YYYY-MM-DD HH:MM:SS", UTC).
  Amounts are decimal in the currency's major unit, as Stripe exports them ("25.00",
  "-1.75"), converted exactly with the currency's exponent; other columns are ignored.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import ledger
from liventix.reports.errors import StripeImportError
from liventix.reports.models import StripeTransaction

CSV_REQUIRED = ("balance_transaction_id", "currency", "gross", "fee", "net")


def _minor(value: str | None, currency: str) -> int:
    """A CSV amount in the currency's major unit ("25.00") in minor units, exactly."""
    exponent = ledger.CURRENCY_EXPONENTS.get(currency.upper())
    if exponent is None:
        raise StripeImportError(f"unknown currency {currency!r}")
    try:
        # A short row leaves the cell None; Decimal reads "" as an error below.
        amount = Decimal((value or "").strip().replace(",", ""))
    except InvalidOperation as error:
        raise StripeImportError(f"not an amount: {value!r}") from error
    # Decimal reads "Infinity" and "NaN": no amount, and int() of them would raise.
    if not amount.is_finite():
        raise StripeImportError(f"not a finite amount: {value!r}")
    # "1e999999999" is finite, but scaling it overflows the decimal context (and its int()
    # would take the process's memory): refuse what no ledger amount reaches, first.
    # Likewise a nonzero amount below the minor unit ("1e-99999999" would round to 0).
    beyond = StripeImportError(f"{value!r} is beyond any amount the ledger keeps")
    decimals = StripeImportError(f"{value!r} has more decimals than {currency.upper()} allows")
    if amount and amount.adjusted() + exponent > len(str(ledger.MAX_AMOUNT)):
        raise beyond
    if amount and amount.adjusted() + exponent < 0:
        raise decimals
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise decimals
    if abs(scaled) > ledger.MAX_AMOUNT:
        raise beyond
    return int(scaled)


def _integer(obj: dict[str, Any], name: str, default: int | None = None) -> int:
    value = obj.get(name, default)
    # JSON's numbers are exact here only as integers: 1.9 or "1" is a malformed file, not 1.
    if type(value) is not int:
        raise StripeImportError(
            f"balance transaction {obj.get('id')!r}: {name} must be an integer, not {value!r}"
        )
    return value


def _from_object(obj: dict[str, Any]) -> StripeTransaction:
    source = obj.get("source")
    if isinstance(source, dict):
        source = source.get("id")
    txn_id = obj.get("id")
    if not isinstance(txn_id, str) or not txn_id:
        raise StripeImportError(f"not a balance transaction (no id): {str(obj)[:200]}")
    currency = str(obj.get("currency") or "").upper()
    if currency not in ledger.CURRENCY_EXPONENTS:
        raise StripeImportError(f"balance transaction {txn_id!r}: unknown currency {currency!r}")
    created = obj.get("created")
    if created is not None and type(created) is not int:
        raise StripeImportError(f"balance transaction {txn_id!r}: bad created {created!r}")
    try:
        moment = None if created is None else datetime.fromtimestamp(created, UTC)
    except (ValueError, OverflowError, OSError) as error:
        raise StripeImportError(
            f"balance transaction {txn_id!r}: bad created {created!r}"
        ) from error
    return StripeTransaction(
        id=txn_id,
        currency=currency,
        amount=_integer(obj, "amount"),
        fee=_integer(obj, "fee", 0),
        net=_integer(obj, "net"),
        reporting_category=str(obj.get("reporting_category") or obj.get("type") or ""),
        source=None if source is None else str(source),
        created=moment,
    )


def _unique(transactions: list[StripeTransaction]) -> list[StripeTransaction]:
    seen: set[str] = set()
    for txn in transactions:
        if txn.id in seen:
            raise StripeImportError(f"balance transaction {txn.id!r} appears twice")
        seen.add(txn.id)
    return transactions


def parse_json(content: str) -> list[StripeTransaction]:
    """Balance transactions from a JSON list (or a Stripe list object)."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        raise StripeImportError(f"not JSON: {error}") from error
    if isinstance(data, dict) and data.get("object") == "list":
        data = data.get("data")
    if not isinstance(data, list) or not all(isinstance(o, dict) for o in data):
        raise StripeImportError("expected a JSON list of BalanceTransaction objects")
    return _unique([_from_object(o) for o in data])


def parse_csv(content: str) -> list[StripeTransaction]:
    """Balance transactions from Stripe's itemized balance change CSV export."""
    reader = csv.DictReader(io.StringIO(content))
    missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise StripeImportError(f"CSV lacks column(s): {', '.join(missing)}")
    out = []
    for line, row in enumerate(reader, start=2):
        txn_id = (row["balance_transaction_id"] or "").strip()
        if not txn_id:
            raise StripeImportError(f"CSV line {line}: no balance_transaction_id")
        cur = (row["currency"] or "").strip().upper()
        created_text = (row.get("created_utc") or row.get("created") or "").strip()
        try:
            created = (
                datetime.fromisoformat(created_text).replace(tzinfo=UTC) if created_text else None
            )
        except ValueError as error:
            raise StripeImportError(f"not a time: {created_text!r}") from error
        out.append(
            StripeTransaction(
                id=txn_id,
                currency=cur,
                amount=_minor(row["gross"], cur),
                fee=_minor(row["fee"], cur),
                net=_minor(row["net"], cur),
                reporting_category=(row.get("reporting_category") or "").strip(),
                source=(row.get("source_id") or "").strip() or None,
                created=created,
            )
        )
    return _unique(out)


def load_balance_transactions(path: Path) -> list[StripeTransaction]:
    """Balance transactions from a JSON or CSV file (see the module's documentation)."""
    content = path.read_text(encoding="utf-8-sig")
    if content.lstrip()[:1] in ("[", "{"):
        return parse_json(content)
    return parse_csv(content)


def to_csv(transactions: list[StripeTransaction]) -> str:
    """Write transactions as the itemized CSV this module reads (for tests and exports)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            *CSV_REQUIRED[:1],
            "created_utc",
            "currency",
            "gross",
            "fee",
            "net",
            "reporting_category",
            "source_id",
        ]
    )
    for t in transactions:
        exponent = ledger.CURRENCY_EXPONENTS[t.currency]

        def major(v: int, e: int = exponent) -> str:
            return str(Decimal(v).scaleb(-e).quantize(Decimal(1).scaleb(-e)))

        writer.writerow(
            [
                t.id,
                "" if t.created is None else t.created.strftime("%Y-%m-%d %H:%M:%S"),
                t.currency.lower(),
                major(t.amount),
                major(t.fee),
                major(t.net),
                t.reporting_category,
                t.source or "",
            ]
        )
    return buffer.getvalue()
