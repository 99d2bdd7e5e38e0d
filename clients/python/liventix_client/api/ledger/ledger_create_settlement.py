from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_settlement_request import CreateSettlementRequest
from ...models.dry_run_response import DryRunResponse
from ...models.problem import Problem
from ...models.settlement_response import SettlementResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: CreateSettlementRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    params: dict[str, Any] = {}

    params["dry_run"] = dry_run

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/settlements",
        "params": params,
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DryRunResponse | Problem | SettlementResponse | None:
    if response.status_code == 200:
        response_200 = DryRunResponse.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = SettlementResponse.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[DryRunResponse | Problem | SettlementResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[DryRunResponse | Problem | SettlementResponse]:
    """Create Settlement

     Settle an account's entries up to a moment (or the ones named): each entry is settled
    at most once per account.

    Args:
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CreateSettlementRequest): Settle an account: every entry with a line on it recorded
            by `up_to` (default: now)
            and not settled on it yet, or only `entry_ids` (each must be one of those).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DryRunResponse | Problem | SettlementResponse]
    """

    kwargs = _get_kwargs(
        body=body,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> DryRunResponse | Problem | SettlementResponse | None:
    """Create Settlement

     Settle an account's entries up to a moment (or the ones named): each entry is settled
    at most once per account.

    Args:
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CreateSettlementRequest): Settle an account: every entry with a line on it recorded
            by `up_to` (default: now)
            and not settled on it yet, or only `entry_ids` (each must be one of those).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DryRunResponse | Problem | SettlementResponse
    """

    return sync_detailed(
        client=client,
        body=body,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[DryRunResponse | Problem | SettlementResponse]:
    """Create Settlement

     Settle an account's entries up to a moment (or the ones named): each entry is settled
    at most once per account.

    Args:
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CreateSettlementRequest): Settle an account: every entry with a line on it recorded
            by `up_to` (default: now)
            and not settled on it yet, or only `entry_ids` (each must be one of those).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DryRunResponse | Problem | SettlementResponse]
    """

    kwargs = _get_kwargs(
        body=body,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> DryRunResponse | Problem | SettlementResponse | None:
    """Create Settlement

     Settle an account's entries up to a moment (or the ones named): each entry is settled
    at most once per account.

    Args:
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CreateSettlementRequest): Settle an account: every entry with a line on it recorded
            by `up_to` (default: now)
            and not settled on it yet, or only `entry_ids` (each must be one of those).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DryRunResponse | Problem | SettlementResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            dry_run=dry_run,
            idempotency_key=idempotency_key,
        )
    ).parsed
