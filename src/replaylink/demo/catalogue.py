"""What the demo shop sells, and the checkout rules that fail on purpose.

Three inputs break the checkout on the backend, each with its own exception:

- the card ``4000 0000 0000 0002`` is declined (:class:`PaymentDeclinedError`);
- Express shipping asks a carrier that never answers (:class:`CarrierTimeoutError`);
- splitting the bill between 0 people divides by zero (``ZeroDivisionError``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

DECLINED_CARD = "4000000000000002"
GOOD_CARD = "4242424242424242"
CARRIER_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Decimal
    blurb: str


PRODUCTS: tuple[Product, ...] = (
    Product("mug", "Replay mug", Decimal("12.00"), "Holds 350 ml of coffee and one rewound afternoon."),
    Product("tee", "Timeline T-shirt", Decimal("24.50"), "Organic cotton, with a scrubber across the chest."),
    Product("socks", "Stack-trace socks", Decimal("9.90"), "Two pairs; each sock knows where it came from."),
    Product(
        "lamp", "Marker-lane lamp", Decimal("48.00"), "Red for backend errors, amber for failed requests."
    ),
)
BY_SKU = {product.sku: product for product in PRODUCTS}
SHIPPING = {"standard": Decimal("4.90"), "express": Decimal("14.90")}


class PaymentDeclinedError(Exception):
    """The card was refused."""


class CarrierTimeoutError(TimeoutError):
    """The shipping carrier did not answer in time."""


class UnknownProductError(ValueError):
    """A SKU that is not in the catalogue."""


def subtotal(lines: list[tuple[str, int]]) -> Decimal:
    total = Decimal("0")
    for sku, quantity in lines:
        product = BY_SKU.get(sku)
        if product is None:
            raise UnknownProductError(f"there is no product {sku[:40]!r}")
        total += product.price * quantity
    return total


async def _carrier_quote(method: str) -> Decimal:
    if method == "express":
        await asyncio.sleep(3600)  # the express carrier's API hangs
    return SHIPPING[method]


async def shipping_quote(method: str) -> Decimal:
    """The carrier's price; Express times out after :data:`CARRIER_TIMEOUT_SECONDS`."""
    try:
        return await asyncio.wait_for(_carrier_quote(method), CARRIER_TIMEOUT_SECONDS)
    except TimeoutError:
        raise CarrierTimeoutError(
            f"the {method} carrier did not answer the shipping quote within {CARRIER_TIMEOUT_SECONDS:g} s"
        ) from None


def share_per_person(total: Decimal, people: int) -> float:
    """What each person pays when the bill is split (0 people: division by zero, as in real bugs)."""
    return round(float(total) / people, 2)


def charge(card_number: str, amount: Decimal) -> str:
    """A pretend payment gateway: the decline test card is refused, every other card is charged."""
    digits = "".join(ch for ch in card_number if ch.isdigit())
    if digits == DECLINED_CARD:
        raise PaymentDeclinedError(f"card ending {digits[-4:]} was declined by the bank: insufficient funds")
    return f"ch_{digits[-4:]}_{int(amount * 100)}"
