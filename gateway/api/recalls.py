"""`/api/v1/recalls`."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, status

from gateway.api._deps import GatewayDep, ReadKey, WriteKey, not_found
from gateway.api.schemas import RecallIn, RecallOut
from gateway.domain import Recall

router = APIRouter(prefix="/api/v1/recalls", tags=["recalls"])


def recall_out(recall: Recall) -> RecallOut:
    return RecallOut.model_validate(asdict(recall))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RecallOut)
async def create_recall(body: RecallIn, gateway: GatewayDep, _: WriteKey) -> RecallOut:
    recall = Recall(id="", sku=body.sku, lots=tuple(body.lots), serials=tuple(body.serials),
                    reason=body.reason)
    return recall_out(gateway.create_recall(recall))


@router.get("", response_model=list[RecallOut])
async def list_recalls(gateway: GatewayDep, _: ReadKey) -> list[RecallOut]:
    return [recall_out(r) for r in gateway.registry.recalls()]


@router.get("/{recall_id}", response_model=RecallOut,
            responses={404: {"description": "no recall"}})
async def get_recall(recall_id: str, gateway: GatewayDep, _: ReadKey) -> RecallOut:
    recall = gateway.registry.get_recall(recall_id)
    if recall is None:
        raise not_found("recall", recall_id)
    return recall_out(recall)
