"""``OrderService``: the orders context's facade — placing, reading and cancelling orders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bazaar.contexts.orders.application.checkout import CHECKOUT
from bazaar.contexts.orders.application.ports import (
    IdGenerator,
    OrderPage,
    OrdersReadModel,
    OrdersUnitOfWork,
    PaymentGateway,
    PriceList,
)
from bazaar.contexts.orders.domain import commands as cmds
from bazaar.contexts.orders.domain import events
from bazaar.contexts.orders.domain.errors import (
    InvalidOrderError,
    OrderNotCancellableError,
    OrderNotFoundError,
    ProductUnavailableError,
)
from bazaar.contexts.orders.domain.model import (
    CANCELLABLE,
    FailureReason,
    Order,
    OrderLine,
    OrderStatus,
)
from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.idempotency import Claim, KeyTicket, StoredResponse
from bazaar.kernel.saga import (
    SagaConflictError,
    SagaRecord,
    SagaRunner,
    SagaState,
    SagaSupervisor,
    request_cancel,
)

__all__ = ["KeyTicket", "OrderDetails", "OrderService", "Render"]

# Reads and writes of a cancel request before a saga that keeps moving wins (a conflict).
_CANCEL_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """An order and its saga, as a reader sees them."""

    order: Order
    saga: SagaRecord | None


Render = Callable[[OrderDetails], StoredResponse]


class OrderService:
    """Facade pattern over the orders context.

    ``place_order`` commits the order, its saga and the Idempotency-Key's response in one
    transaction, then hands the saga to the supervisor, which drives it in the background;
    the caller gets 202 at once and follows the order's status.
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], OrdersUnitOfWork],
        reads: OrdersReadModel,
        prices: PriceList,
        payments: PaymentGateway,
        runner: SagaRunner[OrdersUnitOfWork],
        supervisor: SagaSupervisor,
        ids: IdGenerator,
        clock: Clock,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._reads = reads
        self._prices = prices
        self._payments = payments
        self._runner = runner
        self.supervisor = supervisor
        self._ids = ids
        self._clock = clock

    # --- idempotency keys (bazaar.api.idempotency.KeyClaims) ---

    async def claim_key(self, scope: str, key: str, fingerprint: str) -> Claim:
        async with self._unit_of_work() as uow:
            claim = await uow.idempotency.claim(scope, key, fingerprint, self._clock.now())
            await uow.commit()
        return claim

    async def peek_key(self, scope: str, key: str, fingerprint: str) -> Claim:
        return await self._reads.peek_key(scope, key, fingerprint, self._clock.now())

    async def release_key(self, scope: str, key: str, lock_token: str) -> None:
        async with self._unit_of_work() as uow:
            await uow.idempotency.release(scope, key, lock_token)
            await uow.commit()

    async def fail_fast(self) -> None:
        """Refuse a checkout at once while the PSP's breaker is open (targets R4).

        An order placed then could only wait out its retries and be cancelled as
        ``payment_unavailable``; a 503 with Retry-After tells the customer now, and costs
        no write. A stored answer for the key is still replayed.

        Raises:
            DependencyUnavailableError: the PSP breaker is open.
        """
        await self._payments.fail_fast()

    # --- commands ---

    async def place_order(
        self, cmd: cmds.PlaceOrder, ticket: KeyTicket, render: Render
    ) -> StoredResponse:
        """Record the order and start its checkout saga; answer with the pending order.

        Raises:
            ProductUnavailableError: a line names a product that is not on sale.
            InvalidOrderError: the products are priced in more than one currency.
            IdempotencyLockLostError: another request took the key over (nothing written).
        """
        lines = await self._priced_lines(cmd)
        now = utc_from_timestamp(self._clock.now())
        order = Order(
            id=self._ids.next_id(),
            tenant_id=cmd.tenant_id,
            user_id=cmd.user_id,
            status=OrderStatus.PENDING,
            lines=lines,
            total=Order.total_of(lines),
            shipping_address=dict(cmd.shipping_address),
            failure_reason=None,
            created_at=now,
            updated_at=now,
        )
        async with self._unit_of_work() as uow:
            await uow.orders.add(order)
            # What the PSP steps need travels in the saga's data, so they can run before
            # their transaction touches the database (SQLite has one writer).
            saga = await self._runner.start(
                uow,
                order.id,
                order.tenant_id,
                {
                    "user_id": order.user_id,
                    "total": order.total.to_json(),
                    "card_token": cmd.card_token,
                },
            )
            response = render(OrderDetails(order, saga))
            await uow.idempotency.complete(
                ticket.scope, ticket.key, ticket.lock_token, response, self._clock.now()
            )
            uow.events.append(
                events.OrderPlaced(
                    id=self._ids.next_id(),
                    occurred_at=now,
                    tenant_id=order.tenant_id,
                    order_id=order.id,
                    user_id=order.user_id,
                    total=order.total,
                )
            )
            await uow.commit()
        self.supervisor.launch(CHECKOUT, order.id, started=saga)
        return response

    async def cancel_order(self, cmd: cmds.CancelOrder) -> OrderDetails:
        """Ask the order's saga to compensate (the owner, before shipment). Idempotent.

        Raises:
            OrderNotFoundError: no such order the viewer owns.
            OrderNotCancellableError: a shipment exists, or the order ended otherwise.
        """
        # The saga's runner writes it between our read and our write now and then: read
        # again and decide again (each attempt is one short transaction).
        for _ in range(_CANCEL_ATTEMPTS - 1):
            try:
                return await self._request_cancel(cmd)
            except SagaConflictError:
                continue
        return await self._request_cancel(cmd)

    async def _request_cancel(self, cmd: cmds.CancelOrder) -> OrderDetails:
        viewer = cmd.viewer
        async with self._unit_of_work() as uow:
            order = await uow.orders.get(viewer.tenant_id, cmd.order_id)
            if order is None or order.user_id != viewer.user_id:
                raise OrderNotFoundError(cmd.order_id)
            saga = await uow.sagas.get(order.id)
            if order.status is OrderStatus.CANCELLED or (
                saga is not None and saga.state is SagaState.COMPENSATING
            ):
                return OrderDetails(order, saga)  # already being undone, or undone
            if order.status not in CANCELLABLE or saga is None or saga.state.terminal:
                raise OrderNotCancellableError(order.id, order.status.value)
            now = utc_from_timestamp(self._clock.now())
            # The version moves, so a step in flight fails to record itself, and the
            # runner reads the request on its next decision.
            saga = await uow.sagas.update(
                request_cancel(saga, FailureReason.CANCELLED_BY_CUSTOMER.value, now)
            )
            await uow.commit()
        self.supervisor.launch(CHECKOUT, order.id)
        return OrderDetails(order, saga)

    # --- queries ---

    async def get_order(self, viewer: cmds.Viewer, order_id: int) -> OrderDetails:
        """Raises: OrderNotFoundError (also for another tenant's or customer's order)."""
        found = await self._reads.get(viewer.tenant_id, order_id)
        if found is None or not (viewer.whole_tenant or found[0].user_id == viewer.user_id):
            raise OrderNotFoundError(order_id)
        return OrderDetails(*found)

    async def list_orders(
        self, viewer: cmds.Viewer, *, before: int | None, limit: int
    ) -> tuple[list[OrderDetails], int | None]:
        page: OrderPage = await self._reads.page(
            viewer.tenant_id,
            None if viewer.whole_tenant else viewer.user_id,
            before=before,
            limit=limit,
        )
        return [OrderDetails(order, saga) for order, saga in page.orders], page.next_after

    # --- background work ---

    def start(self) -> None:
        """Resume unfinished sagas now and keep sweeping for abandoned ones."""
        self.supervisor.start()

    async def aclose(self, grace_s: float = 0.0) -> None:
        """Stop the background sagas (after ``grace_s`` for them to finish)."""
        await self.supervisor.aclose(grace_s)

    # --- helpers ---

    async def _priced_lines(self, cmd: cmds.PlaceOrder) -> tuple[OrderLine, ...]:
        wanted: dict[int, int] = {}
        for item in cmd.items:
            wanted[item.product_id] = wanted.get(item.product_id, 0) + item.quantity
        prices = await self._prices.prices(cmd.tenant_id, list(wanted))
        lines: list[OrderLine] = []
        for position, item in enumerate(cmd.items):
            price = prices.get(item.product_id)
            if price is None:
                raise ProductUnavailableError(f"items[{position}].product_id", item.product_id)
            lines.append(OrderLine(item.product_id, item.quantity, price))
        currencies = {line.unit_price.currency for line in lines}
        if len(currencies) > 1:
            raise InvalidOrderError(
                "items", f"all products of an order must share a currency, got {sorted(currencies)}"
            )
        return tuple(lines)
