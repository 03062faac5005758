"""Payload builders and a small catalogue for FakeShopify, shaped like the Admin REST 2025-01 responses."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

SHOP_ID = 548380009
LOCATION_IDS = (24826418, 24826419)
LOCATION_NAMES = {24826418: "Main Warehouse", 24826419: "Overflow Warehouse"}
LOCATION_ADDRESSES: dict[int, Json] = {
    24826418: {"address1": "1200 Industrial Pkwy", "address2": None, "city": "Louisville", "zip": "40209",
               "province": "Kentucky", "province_code": "KY", "phone": "+1 502-555-0110"},
    24826419: {"address1": "88 Commerce Dr", "address2": "Dock 3", "city": "Columbus", "zip": "43219",
               "province": "Ohio", "province_code": "OH", "phone": None},
}  # fmt: skip
LOCATIONS_CREATED_AT = "2025-01-06T09:00:00-05:00"
EVENT_STATUSES = frozenset(
    {
        "label_printed",
        "label_purchased",
        "attempted_delivery",
        "ready_for_pickup",
        "confirmed",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "failure",
        "carrier_picked_up",
        "picked_up",
        "delayed",
    }
)

PRODUCTS: tuple[Json, ...] = (
    {"title": "Canvas Tote", "variant_title": "Natural", "sku": "TOTE-NAT", "price": "24.00", "grams": 310},
    {"title": "Enamel Mug", "variant_title": "Forest", "sku": "MUG-FOR", "price": "18.50", "grams": 280},
    {"title": "Wool Beanie", "variant_title": "Charcoal", "sku": "BEANIE-CHR", "price": "29.00", "grams": 90},
    {"title": "Field Notebook", "variant_title": "3-pack", "sku": "NOTE-3PK", "price": "12.00", "grams": 240},
    {"title": "Linen Apron", "variant_title": "Rust", "sku": "APRON-RST", "price": "42.00", "grams": 350},
    {"title": "Gift Card", "variant_title": "$25", "sku": "", "price": "25.00", "grams": 0},
    {"title": "Camp Blanket", "variant_title": "Plaid", "sku": "BLKT-PLD", "price": "89.00", "grams": 1400},
)

ADDRESSES: tuple[Json, ...] = (
    {"first_name": "Bob", "last_name": "Norman", "address1": "Chestnut Street 92", "city": "Louisville",
     "province": "Kentucky", "province_code": "KY", "zip": "40202", "country": "United States",
     "country_code": "US", "phone": "+1(502)-459-2181", "company": None},
    {"first_name": "Ana", "last_name": "Okafor", "address1": "1600 Amphitheatre Pkwy", "address2": "Bldg 4",
     "city": "Mountain View", "province": "California", "province_code": "CA", "zip": "94043",
     "country": "United States", "country_code": "US", "phone": "+1 650-555-0143", "company": "Okafor Design"},
    {"first_name": "Luc", "last_name": "Tremblay", "address1": "350 Rue Sainte-Catherine O", "city": "Montréal",
     "province": "Quebec", "province_code": "QC", "zip": "H3B 1A2", "country": "Canada", "country_code": "CA",
     "phone": "+1 514-555-0199", "company": None},
    {"first_name": "Jana", "last_name": "Schulz", "address1": "Torstraße 12", "city": "Berlin", "province": None,
     "province_code": None, "zip": "10119", "country": "Germany", "country_code": "DE", "phone": None,
     "company": None},
)  # fmt: skip


def address(spec: Json) -> Json:
    name = f"{spec['first_name']} {spec['last_name']}"
    return {"address2": "", "latitude": None, "longitude": None, **spec, "name": name}


def line_item(line_id: int, spec: Json) -> Json:
    quantity = int(spec.get("quantity", 1))
    title = spec.get("title", "Item")
    return {
        "id": line_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
        "title": title,
        "variant_title": spec.get("variant_title"),
        "name": f"{title} - {spec['variant_title']}" if spec.get("variant_title") else title,
        "sku": spec.get("sku", ""),
        "vendor": "Waybill Demo Goods",
        "quantity": quantity,
        "current_quantity": quantity,
        "fulfillable_quantity": quantity,
        "fulfillment_status": None,
        "fulfillment_service": "manual",
        "price": spec.get("price", "10.00"),
        "grams": int(spec.get("grams", 100)),
        "requires_shipping": True,
        "taxable": True,
        "gift_card": False,
        "product_exists": True,
        "product_id": line_id + 7,
        "variant_id": line_id + 11,
        "properties": [],
        "tax_lines": [],
        "discount_allocations": [],
        "duties": [],
        "variant_inventory_management": "shopify",
        "total_discount": "0.00",
        "price_set": money_set(spec.get("price", "10.00")),
        "total_discount_set": money_set("0.00"),
    }


def money_set(amount: str, currency: str = "USD") -> Json:
    """Shopify's *_set money fields: the same amount in shop and presentment currency (one-currency fake shop)."""
    money = {"amount": amount, "currency_code": currency}
    return {"shop_money": dict(money), "presentment_money": dict(money)}


def order(order_id: int, number: int, items: list[Json], ship_to: Json, stamp: str) -> Json:
    subtotal = sum(float(item["price"]) * item["quantity"] for item in items)
    email = f"{ship_to['first_name'].lower()}.{ship_to['last_name'].lower()}@mail.example.com"
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "number": number - 1000,
        "email": email,
        "contact_email": email,
        "phone": None,
        "created_at": stamp,
        "updated_at": stamp,
        "processed_at": stamp,
        "cancelled_at": None,
        "cancel_reason": None,
        "closed_at": None,
        "financial_status": "paid",
        "fulfillment_status": None,
        "confirmed": True,
        "test": False,
        "currency": "USD",
        "presentment_currency": "USD",
        "subtotal_price": f"{subtotal:.2f}",
        "total_line_items_price": f"{subtotal:.2f}",
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "total_price": f"{subtotal:.2f}",
        "total_weight": sum(item["grams"] * item["quantity"] for item in items),
        "tags": "",
        "note": None,
        "source_name": "web",
        "line_items": items,
        "shipping_address": dict(ship_to),
        "billing_address": dict(ship_to),
        "shipping_lines": [{"code": "Standard", "price": "0.00", "source": "shopify", "title": "Standard"}],
        "customer": {
            "id": order_id + 3,
            "email": email,
            "first_name": ship_to["first_name"],
            "last_name": ship_to["last_name"],
            "state": "disabled",
            "verified_email": True,
        },
        "fulfillments": [],
        "refunds": [],
    }


def fulfillment_order(fo_id: int, order: Json, location_id: int, items: list[Json], line_ids: list[int]) -> Json:
    ship_to = order["shipping_address"] or {}
    return {
        "id": fo_id,
        "shop_id": SHOP_ID,
        "order_id": order["id"],
        "assigned_location_id": location_id,
        "fulfillment_service_handle": "manual",
        "request_status": "unsubmitted",
        "status": "open",
        "created_at": order["created_at"],
        "updated_at": order["created_at"],
        "fulfill_at": None,
        "fulfill_by": None,
        "supported_actions": ["create_fulfillment", "hold"],
        "destination": {
            key: ship_to.get(key)
            for key in (
                "first_name",
                "last_name",
                "company",
                "address1",
                "address2",
                "city",
                "province",
                "zip",
                "country",
                "phone",
            )
        }
        | {"id": fo_id + 5, "email": order["email"]},
        "line_items": [
            {
                "id": fo_line_id,
                "shop_id": SHOP_ID,
                "fulfillment_order_id": fo_id,
                "quantity": item["quantity"],
                "line_item_id": item["id"],
                "inventory_item_id": item["variant_id"] + 1,
                "fulfillable_quantity": item["quantity"],
                "variant_id": item["variant_id"],
            }
            for item, fo_line_id in zip(items, line_ids, strict=True)
        ],
        "international_duties": None,
        "fulfillment_holds": [],
        "delivery_method": {"method_type": "shipping"},
        "assigned_location": {
            "location_id": location_id,
            "name": LOCATION_NAMES.get(location_id),
            "country_code": "US",
            **{
                key: LOCATION_ADDRESSES[location_id][key]
                for key in ("address1", "address2", "city", "phone", "province", "zip")
            },
        },
        "merchant_requests": [],
    }


def apply_tracking(fulfillment: Json, info: Json) -> None:
    number, url = info.get("number"), info.get("url")
    fulfillment["tracking_company"] = info.get("company")
    fulfillment["tracking_number"] = number
    fulfillment["tracking_numbers"] = [number] if number else []
    fulfillment["tracking_url"] = url
    fulfillment["tracking_urls"] = [url] if url else []


def fulfillment(fulfillment_id: int, order: Json, shipped: list[Json], tracking: Json, stamp: str) -> Json:
    record = {
        "id": fulfillment_id,
        "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fulfillment_id}",
        "order_id": order["id"],
        "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
        "status": "success",
        "service": "manual",
        "created_at": stamp,
        "updated_at": stamp,
        "shipment_status": None,
        "location_id": None,
        "origin_address": None,
        "receipt": {},
        "line_items": shipped,
    }
    apply_tracking(record, tracking)
    return record


def event(event_id: int, fulfillment: Json, status: str, message: str | None, stamp: str) -> Json:
    return {
        "id": event_id,
        "admin_graphql_api_id": f"gid://shopify/FulfillmentEvent/{event_id}",
        "fulfillment_id": fulfillment["id"],
        "order_id": fulfillment["order_id"],
        "shop_id": SHOP_ID,
        "status": status,
        "message": message,
        "happened_at": stamp,
        "created_at": stamp,
        "updated_at": stamp,
        "city": None,
        "province": None,
        "country": None,
        "zip": None,
        "address1": None,
        "latitude": None,
        "longitude": None,
        "estimated_delivery_at": None,
    }


def location(location_id: int) -> Json:
    """A GET locations.json entry in the Admin REST 2026-07 shape (the 2015 shape's `deleted_at` is gone)."""
    place = LOCATION_ADDRESSES[location_id]
    return {
        "id": location_id,
        "name": LOCATION_NAMES[location_id],
        "address1": place["address1"],
        "address2": place["address2"],
        "city": place["city"],
        "zip": place["zip"],
        "province": place["province"],
        "country": "US",
        "phone": place["phone"],
        "created_at": LOCATIONS_CREATED_AT,
        "updated_at": LOCATIONS_CREATED_AT,
        "country_code": "US",
        "country_name": "United States",
        "province_code": place["province_code"],
        "legacy": False,
        "active": True,
        "admin_graphql_api_id": f"gid://shopify/Location/{location_id}",
        "localized_country_name": "United States",
        "localized_province_name": place["province"],
    }
