"""`/api/v1/subscriptions`: webhook subscribers, their deliveries, test and replay."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AwareDatetime

from alerts import Filters, Subscription, UnsafeWebhookUrl, check_webhook_url
from gateway.api._deps import AdminKey, GatewayDep, not_found
from gateway.api.schemas import (
    DeliveryOut,
    SecretRotation,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])


def _fields(sub: Subscription) -> dict[str, Any]:
    """Everything but the secrets, which are shown only when made."""
    return {
        "id": sub.id, "url": sub.url, **asdict(sub.filters), "description": sub.description,
        "enabled": sub.enabled, "disabled_reason": sub.disabled_reason,
        "created_at": sub.created_at, "previous_secret_valid_until": sub.previous_secret_until,
    }


def subscription_out(sub: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(_fields(sub))


def subscription_created(sub: Subscription) -> SubscriptionCreated:
    return SubscriptionCreated.model_validate({**_fields(sub), "secret": sub.secret})


def _existing(gateway: GatewayDep, subscription_id: str) -> Subscription:
    sub = gateway.subscriptions.get(subscription_id)
    if sub is None:
        raise not_found("subscription", subscription_id)
    return sub


async def _allowed_url(url: str, gateway: GatewayDep) -> str:
    try:
        await check_webhook_url(url, gateway.url_policy)
    except UnsafeWebhookUrl as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "url"], "msg": str(exc), "type": "value_error"}],
        ) from None
    return url


_FILTERS = ("event_types", "alert_kinds", "severities", "asset_kinds", "flows")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated,
             responses={422: {"description": "a field is invalid, or the URL is not allowed"}})
async def create_subscription(
    body: SubscriptionIn, gateway: GatewayDep, _: AdminKey
) -> SubscriptionCreated:
    url = await _allowed_url(str(body.url), gateway)
    filters = Filters(**{name: tuple(str(v) for v in getattr(body, name)) for name in _FILTERS})
    return subscription_created(gateway.subscriptions.create(url, filters, body.description))


@router.patch("/{subscription_id}", response_model=SubscriptionOut,
              responses={404: {"description": "no subscription"},
                         422: {"description": "a field is invalid, or the URL is not allowed"}})
async def update_subscription(
    subscription_id: str, body: SubscriptionPatch, gateway: GatewayDep, _: AdminKey
) -> SubscriptionOut:
    _existing(gateway, subscription_id)  # 404 before the URL check's 422
    given = body.model_fields_set
    url = None
    if "url" in given and body.url is not None:
        url = await _allowed_url(str(body.url), gateway)
    # Read again after the await, and from here on no await until written: a 410 that
    # disabled it meanwhile, or another change, is not overwritten with older values.
    sub = _existing(gateway, subscription_id)
    if url is not None:
        sub = replace(sub, url=url)
    changed = {name: tuple(str(v) for v in getattr(body, name) or ())
               for name in _FILTERS if name in given}
    sub = replace(sub, filters=replace(sub.filters, **changed))
    if "description" in given and body.description is not None:
        sub = replace(sub, description=body.description)
    if "enabled" in given and body.enabled is not None and body.enabled != sub.enabled:
        sub = replace(sub, enabled=body.enabled,
                      disabled_reason=None if body.enabled else "disabled through the API")
    gateway.subscriptions.update(sub)
    if sub.enabled:
        gateway.dispatcher.wake()  # deliveries held while it was disabled go out now
    return subscription_out(sub)


@router.post("/{subscription_id}/rotate-secret", response_model=SubscriptionCreated,
             responses={404: {"description": "no subscription"}})
async def rotate_secret(
    subscription_id: str, body: SecretRotation, gateway: GatewayDep, _: AdminKey
) -> SubscriptionCreated:
    """A new secret, shown this once; the old one keeps signing beside it for the overlap."""
    overlap = body.overlap_s if body.overlap_s is not None else (
        gateway.settings.webhook_secret_overlap_s)
    sub = gateway.subscriptions.rotate_secret(subscription_id, timedelta(seconds=overlap))
    if sub is None:
        raise not_found("subscription", subscription_id)
    return subscription_created(sub)


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
    deliveries = gateway.outbox.list(subscription_id, limit=limit)
    attempts = gateway.outbox.attempts([d.seq for d in deliveries])
    return [
        DeliveryOut.model_validate({**asdict(d), "body": None,
                                    "attempt_log": [asdict(a) for a in attempts[d.seq]]})
        for d in deliveries
    ]


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
    since: Annotated[AwareDatetime | None, Query(description="events created at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="events created before")] = None,
) -> dict[str, int]:
    """Failed deliveries go back in the queue, in their original order."""
    _existing(gateway, subscription_id)
    count = gateway.outbox.replay(subscription_id, seq, since, until)
    gateway.dispatcher.wake()
    return {"replayed": count}
