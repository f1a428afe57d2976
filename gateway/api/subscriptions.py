"""`/api/v1/subscriptions`: webhook subscribers, their deliveries, test and replay."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from alerts import Subscription, UnsafeWebhookUrl, check_webhook_url
from gateway.api._deps import AdminKey, GatewayDep, not_found
from gateway.api.schemas import DeliveryOut, SubscriptionCreated, SubscriptionIn, SubscriptionOut

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])


def subscription_out(sub: Subscription) -> SubscriptionOut:
    fields = asdict(sub)
    fields.pop("secret")
    return SubscriptionOut.model_validate(fields)


def _existing(gateway: GatewayDep, subscription_id: str) -> Subscription:
    sub = gateway.subscriptions.get(subscription_id)
    if sub is None:
        raise not_found("subscription", subscription_id)
    return sub


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated,
             responses={422: {"description": "a field is invalid, or the URL is not allowed"}})
async def create_subscription(
    body: SubscriptionIn, gateway: GatewayDep, _: AdminKey
) -> SubscriptionCreated:
    url = str(body.url)
    try:
        await check_webhook_url(url, gateway.settings.webhook_allow_private)
    except UnsafeWebhookUrl as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "url"], "msg": str(exc), "type": "value_error"}],
        ) from None
    sub = gateway.subscriptions.create(
        url, tuple(body.event_types), tuple(str(k) for k in body.alert_kinds), body.description
    )
    return SubscriptionCreated.model_validate({**asdict(sub)})


@router.get("", response_model=list[SubscriptionOut])
async def list_subscriptions(gateway: GatewayDep, _: AdminKey) -> list[SubscriptionOut]:
    return [subscription_out(s) for s in gateway.subscriptions.all()]


@router.get("/{subscription_id}", response_model=SubscriptionOut,
            responses={404: {"description": "no subscription"}})
async def get_subscription(
    subscription_id: str, gateway: GatewayDep, _: AdminKey
) -> SubscriptionOut:
    return subscription_out(_existing(gateway, subscription_id))


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no subscription"}})
async def delete_subscription(subscription_id: str, gateway: GatewayDep, _: AdminKey) -> Response:
    if not gateway.subscriptions.delete(subscription_id):
        raise not_found("subscription", subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{subscription_id}/deliveries", response_model=list[DeliveryOut],
            responses={404: {"description": "no subscription"}})
async def list_deliveries(
    subscription_id: str,
    gateway: GatewayDep,
    _: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    _existing(gateway, subscription_id)
    return [DeliveryOut.model_validate(asdict(d))
            for d in gateway.outbox.list(subscription_id, limit=limit)]


@router.post("/{subscription_id}/test", status_code=status.HTTP_202_ACCEPTED,
             responses={404: {"description": "no subscription"}})
async def send_test(subscription_id: str, gateway: GatewayDep, _: AdminKey) -> dict[str, str]:
    gateway.dispatcher.send_test(_existing(gateway, subscription_id))
    return {"status": "queued"}


@router.post("/{subscription_id}/replay", responses={404: {"description": "no subscription"}})
async def replay(
    subscription_id: str,
    gateway: GatewayDep,
    _: AdminKey,
    seq: Annotated[int | None, Query(description="one delivery; all failed ones if absent")] = None,
) -> dict[str, int]:
    _existing(gateway, subscription_id)
    count = gateway.outbox.replay(subscription_id, seq)
    gateway.dispatcher.wake()
    return {"replayed": count}
