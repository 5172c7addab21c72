"""Orders over HTTP (api.md "Orders (checkout saga)") on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from orders_http_support import OrdersApi, order_body

from bazaar.psp.testing import PspHarness
from bazaar.testing.identity import assert_problem, bearer
from bazaar.testing.statements import count_statements

STEPS = [
    "reserve_inventory",
    "authorize_payment",
    "capture_payment",
    "create_shipment",
    "confirm_order",
]


class TestPlacing:
    async def test_placing_answers_202_with_location_and_the_pending_order(
        self, api: OrdersApi
    ) -> None:
        store = await api.store()
        product = await api.product(store, stock=3, price="12.50")
        customer = await api.customer(store)

        response = await api.place(customer, order_body(product, 2))

        assert response.status_code == 202, response.text
        order = response.json()
        assert response.headers["location"] == f"/api/v1/orders/{order['id']}"
        assert order["status"] == "pending"
        assert order["total"] == {"amount": "25.00", "currency": "EUR"}
        assert order["items"] == [
            {
                "product_id": product,
                "quantity": 2,
                "unit_price": {"amount": "12.50", "currency": "EUR"},
            }
        ]
        assert order["saga"]["state"] == "running"
        assert [step["name"] for step in order["saga"]["steps"]] == STEPS
        assert "card_token" not in response.text

    async def test_tok_ok_completes_with_its_timeline(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        placed = (await api.place(customer, order_body(product, 2))).json()

        order = await api.settled(customer, placed["id"])

        assert order["status"] == "completed"
        assert order["failure_reason"] is None
        assert order["saga"]["state"] == "completed"
        for step in order["saga"]["steps"]:
            assert step["status"] == "succeeded"
            assert step["attempts"] == 1
            assert step["error"] is None
            assert step["started_at"] <= step["finished_at"]
        assert await api.stock(store, product) == {"available": 1, "reserved": 0}

    async def test_tok_declined_is_cancelled_and_the_stock_restored(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        placed = (await api.place(customer, order_body(product, 3, card="tok_declined"))).json()

        order = await api.settled(customer, placed["id"])

        assert (order["status"], order["failure_reason"]) == ("cancelled", "payment_declined")
        assert order["saga"]["state"] == "compensated"
        assert await api.stock(store, product) == {"available": 3, "reserved": 0}

    async def test_an_unknown_product_is_a_422_naming_the_line(self, api: OrdersApi) -> None:
        store = await api.store()
        customer = await api.customer(store)

        response = await api.place(customer, order_body("123456789"))

        assert_problem(response, 422, "validation", field="items[0].product_id")

    async def test_bad_bodies_are_422_and_store_nothing(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        bad = order_body(product, 101)
        bad["shipping_address"] = {**bad["shipping_address"], "country": "Germany"}

        response = await api.place(customer, bad, key="same-key")

        body = assert_problem(response, 422, "validation")
        assert {"items.0.quantity", "shipping_address.country"} <= {
            e["field"] for e in body["errors"]
        }
        fixed = await api.place(customer, order_body(product, 1), key="same-key")
        assert fixed.status_code == 202  # the key was not spent on the refused request

    async def test_a_merchant_cannot_place_orders(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)

        response = await api.place(store.merchant_token, order_body(product))

        assert_problem(response, 403, "forbidden")


class TestIdempotentPlacement:
    async def test_a_replay_returns_the_same_order(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        first = await api.place(customer, order_body(product), key="order-1")

        again = await api.place(customer, order_body(product), key="order-1")

        assert again.status_code == 202
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        await api.settled(customer, first.json()["id"])
        assert await api.stock(store, product) == {"available": 2, "reserved": 0}

    async def test_the_same_key_with_another_body_is_422(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        await api.place(customer, order_body(product), key="order-2")

        other = await api.place(customer, order_body(product, 2), key="order-2")

        assert_problem(other, 422, "idempotency-key-reused")

    async def test_no_key_is_400(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)

        response = await api.place(customer, order_body(product), key=None)

        assert_problem(response, 400, "idempotency-key-missing")


class TestVisibility:
    async def test_customers_see_their_own_orders_merchants_the_tenants(
        self, api: OrdersApi
    ) -> None:
        store = await api.store()
        product = await api.product(store, stock=5)
        alice, bob = await api.customer(store), await api.customer(store)
        order = (await api.place(alice, order_body(product))).json()
        await api.settled(alice, order["id"])

        hidden = await api.client.get(f"/api/v1/orders/{order['id']}", headers=bearer(bob))
        assert_problem(hidden, 404, "not-found")
        merchant = await api.client.get(
            f"/api/v1/orders/{order['id']}", headers=bearer(store.merchant_token)
        )
        assert merchant.status_code == 200
        bobs = await api.client.get("/api/v1/orders", headers=bearer(bob))
        assert bobs.json() == {"items": [], "next_cursor": None}
        tenant = await api.client.get("/api/v1/orders", headers=bearer(store.merchant_token))
        assert [o["id"] for o in tenant.json()["items"]] == [order["id"]]

    async def test_another_tenants_order_is_404(self, api: OrdersApi) -> None:
        store, other = await api.store("Acme"), await api.store("Other")
        product = await api.product(store, stock=5)
        customer = await api.customer(store)
        order = (await api.place(customer, order_body(product))).json()

        response = await api.client.get(
            f"/api/v1/orders/{order['id']}", headers=bearer(other.merchant_token)
        )

        assert_problem(response, 404, "not-found")


class TestListing:
    async def test_pages_newest_first_with_a_cursor(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=10)
        customer = await api.customer(store)
        ids = [(await api.place(customer, order_body(product))).json()["id"] for _ in range(5)]

        first = (await api.client.get("/api/v1/orders?limit=3", headers=bearer(customer))).json()
        rest = await api.client.get(
            f"/api/v1/orders?limit=3&cursor={first['next_cursor']}", headers=bearer(customer)
        )

        assert [o["id"] for o in first["items"]] == ids[::-1][:3]
        assert [o["id"] for o in rest.json()["items"]] == ids[::-1][3:]
        assert rest.json()["next_cursor"] is None

    async def test_listing_costs_the_same_statements_for_1_or_20_orders(
        self, api: OrdersApi
    ) -> None:
        store = await api.store()
        product = await api.product(store, stock=30)
        one, many = await api.customer(store), await api.customer(store)
        placed = [(await api.place(one, order_body(product))).json()]
        for _ in range(20):
            placed.append((await api.place(many, order_body(product))).json())
        await asyncio.gather(
            *(api.app.container.orders.supervisor.wait(int(o["id"])) for o in placed)
        )
        database = api.app.container.database

        counts = []
        for token, expected in ((one, 1), (many, 20)):
            with count_statements(database.engine, database.read_engine) as counter:
                response = await api.client.get("/api/v1/orders?limit=50", headers=bearer(token))
            assert len(response.json()["items"]) == expected
            counts.append(counter.matching("order"))
        assert len(counts[0]) == len(counts[1]) <= 3


class TestCancel:
    async def test_a_completed_order_cannot_be_cancelled(self, api: OrdersApi) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        order = (await api.place(customer, order_body(product))).json()
        await api.settled(customer, order["id"])

        response = await api.client.post(
            f"/api/v1/orders/{order['id']}/cancel", headers=bearer(customer)
        )

        assert_problem(response, 409, "conflict")

    async def test_a_cancel_while_the_psp_is_down_compensates(
        self, api: OrdersApi, psp: PspHarness
    ) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        await psp.client.put("/v1/admin/faults", json={"latency_ms": 0, "outage": True})
        order = (await api.place(customer, order_body(product, 2))).json()

        response = await api.client.post(
            f"/api/v1/orders/{order['id']}/cancel", headers=bearer(customer)
        )
        assert response.status_code == 202, response.text
        settled = await api.settled(customer, order["id"])

        assert settled["status"] == "cancelled"
        assert settled["failure_reason"] in {"cancelled_by_customer", "payment_unavailable"}
        assert await api.stock(store, product) == {"available": 3, "reserved": 0}


class TestOversell:
    async def test_200_concurrent_orders_for_10_units_complete_exactly_10(
        self, api: OrdersApi
    ) -> None:
        store = await api.store()
        product = await api.product(store, stock=10)
        customers = [await api.customer(store) for _ in range(10)]

        responses = await asyncio.gather(
            *(api.place(customers[n % 10], order_body(product)) for n in range(200))
        )
        assert {r.status_code for r in responses} == {202}
        orders = await asyncio.gather(
            *(api.settled(customers[n % 10], r.json()["id"]) for n, r in enumerate(responses))
        )

        statuses = [o["status"] for o in orders]
        assert statuses.count("completed") == 10
        assert {o["failure_reason"] for o in orders if o["status"] != "completed"} == {
            "out_of_stock"
        }
        assert await api.stock(store, product) == {"available": 0, "reserved": 0}


class TestPspBreakerOpen:
    async def test_checkout_fails_fast_with_503_and_stores_nothing(
        self, api: OrdersApi, psp: PspHarness
    ) -> None:
        store = await api.store()
        product = await api.product(store, stock=3)
        customer = await api.customer(store)
        await psp.client.put("/v1/admin/faults", json={"outage": True})
        for key in ("trip-1", "trip-2"):  # failed payments open the PSP breaker
            await api.client.post(
                "/api/v1/payments",
                json={"amount": {"amount": "1.00", "currency": "EUR"}, "card_token": "tok_ok"},
                headers={**bearer(customer), "idempotency-key": key},
            )
        breaker = await api.app.container.breakers.get_or_create("psp").snapshot()
        assert breaker.state.name == "OPEN"

        refused = await api.place(customer, order_body(product), key="while-open")

        assert_problem(refused, 503, "dependency-unavailable")
        assert int(refused.headers["retry-after"]) >= 1
        listed = await api.client.get("/api/v1/orders", headers=bearer(customer))
        assert listed.json()["items"] == []
        assert await api.stock(store, product) == {"available": 3, "reserved": 0}
