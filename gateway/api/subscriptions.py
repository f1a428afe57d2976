"""`/api/v1/subscriptions`: webhook subscribers, their deliveries, test and replay."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from alerts import Filters, Subscription
from gateway.api._deps import AdminKey, ServicesDep
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


_FILTERS = ("event_types", "alert_kinds", "severities", "asset_kinds", "flows")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated,
             responses={422: {"description": "a field is invalid, or the URL is not allowed"}})
async def create_subscription(
    body: SubscriptionIn, services: ServicesDep, _: AdminKey
) -> SubscriptionCreated:
    filters = Filters(**{name: tuple(str(v) for v in getattr(body, name)) for name in _FILTERS})
    return subscription_created(
        await services.subscriptions.create(str(body.url), filters, body.description))


@router.patch("/{subscription_id}", response_model=SubscriptionOut,
              responses={404: {"description": "no subscription"},
                         422: {"description": "a field is invalid, or the URL is not allowed"}})
async def update_subscription(
    subscription_id: str, body: SubscriptionPatch, services: ServicesDep, _: AdminKey
) -> SubscriptionOut:
    given = body.model_fields_set
    return subscription_out(await services.subscriptions.update(
        subscription_id,
        url=str(body.url) if "url" in given and body.url is not None else None,
        filters={name: tuple(str(v) for v in getattr(body, name) or ())
                 for name in _FILTERS if name in given},
        description=body.description if "description" in given else None,
        enabled=body.enabled if "enabled" in given else None,
    ))


@router.post("/{subscription_id}/rotate-secret", response_model=SubscriptionCreated,
             responses={404: {"description": "no subscription"}})
async def rotate_secret(
    subscription_id: str, body: SecretRotation, services: ServicesDep, _: AdminKey
) -> SubscriptionCreated:
    """A new secret, shown this once; the old one keeps signing beside it for the overlap."""
    overlap = timedelta(seconds=body.overlap_s) if body.overlap_s is not None else None
    return subscription_created(
        await services.subscriptions.rotate_secret(subscription_id, overlap))


@router.get("", response_model=list[SubscriptionOut])
async def list_subscriptions(services: ServicesDep, _: AdminKey) -> list[SubscriptionOut]:
    return [subscription_out(s) for s in await services.subscriptions.all()]


@router.get("/{subscription_id}", response_model=SubscriptionOut,
            responses={404: {"description": "no subscription"}})
async def get_subscription(
    subscription_id: str, services: ServicesDep, _: AdminKey
) -> SubscriptionOut:
    return subscription_out(await services.subscriptions.get(subscription_id))


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no subscription"}})
async def delete_subscription(subscription_id: str, services: ServicesDep, _: AdminKey
                              ) -> Response:
    await services.subscriptions.delete(subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{subscription_id}/deliveries", response_model=list[DeliveryOut],
            responses={404: {"description": "no subscription"}})
async def list_deliveries(
    subscription_id: str,
    services: ServicesDep,
    _: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    return [
        DeliveryOut.model_validate({**asdict(delivery), "body": None,
                                    "attempt_log": [asdict(a) for a in attempts]})
        for delivery, attempts in await services.subscriptions.deliveries(subscription_id,
                                                                          limit)
    ]


@router.post("/{subscription_id}/test", status_code=status.HTTP_202_ACCEPTED,
             responses={404: {"description": "no subscription"}})
async def send_test(subscription_id: str, services: ServicesDep, _: AdminKey
                    ) -> dict[str, str]:
    await services.subscriptions.send_test(subscription_id)
    return {"status": "queued"}


@router.post("/{subscription_id}/replay", responses={404: {"description": "no subscription"}})
async def replay(
    subscription_id: str,
    services: ServicesDep,
    _: AdminKey,
    # Bounded to what the outbox's numbers hold: a bigger number is a 422, not a server error.
    seq: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="one delivery; all "
                                     "failed ones if absent")] = None,
    since: Annotated[AwareDatetime | None, Query(description="events created at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="events created before")] = None,
) -> dict[str, int]:
    """Failed deliveries go back in the queue, in their original order."""
    return {"replayed": await services.subscriptions.replay(subscription_id, seq, since, until)}
