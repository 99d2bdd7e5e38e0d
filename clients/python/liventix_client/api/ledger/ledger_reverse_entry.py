from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.dry_run_response import DryRunResponse
from ...models.entry_response import EntryResponse
from ...models.problem import Problem
from ...models.reverse_entry_request import ReverseEntryRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    entry_id: UUID,
    *,
    body: ReverseEntryRequest,
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
        "url": "/v1/entries/{entry_id}/reverse".format(
            entry_id=quote(str(entry_id), safe=""),
        ),
        "params": params,
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DryRunResponse | EntryResponse | Problem | None:
    if response.status_code == 200:
        response_200 = DryRunResponse.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = EntryResponse.from_dict(response.json())

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
) -> Response[DryRunResponse | EntryResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    entry_id: UUID,
    *,
    client: AuthenticatedClient,
    body: ReverseEntryRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[DryRunResponse | EntryResponse | Problem]:
    """Reverse Entry

     Reverse an entry once: a new entry with the sides swapped that names it.

    Args:
        entry_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (ReverseEntryRequest): Reverse an entry (once).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DryRunResponse | EntryResponse | Problem]
    """

    kwargs = _get_kwargs(
        entry_id=entry_id,
        body=body,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    entry_id: UUID,
    *,
    client: AuthenticatedClient,
    body: ReverseEntryRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> DryRunResponse | EntryResponse | Problem | None:
    """Reverse Entry

     Reverse an entry once: a new entry with the sides swapped that names it.

    Args:
        entry_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (ReverseEntryRequest): Reverse an entry (once).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DryRunResponse | EntryResponse | Problem
    """

    return sync_detailed(
        entry_id=entry_id,
        client=client,
        body=body,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    entry_id: UUID,
    *,
    client: AuthenticatedClient,
    body: ReverseEntryRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[DryRunResponse | EntryResponse | Problem]:
    """Reverse Entry

     Reverse an entry once: a new entry with the sides swapped that names it.

    Args:
        entry_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (ReverseEntryRequest): Reverse an entry (once).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DryRunResponse | EntryResponse | Problem]
    """

    kwargs = _get_kwargs(
        entry_id=entry_id,
        body=body,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    entry_id: UUID,
    *,
    client: AuthenticatedClient,
    body: ReverseEntryRequest,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> DryRunResponse | EntryResponse | Problem | None:
    """Reverse Entry

     Reverse an entry once: a new entry with the sides swapped that names it.

    Args:
        entry_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (ReverseEntryRequest): Reverse an entry (once).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DryRunResponse | EntryResponse | Problem
    """

    return (
        await asyncio_detailed(
            entry_id=entry_id,
            client=client,
            body=body,
            dry_run=dry_run,
            idempotency_key=idempotency_key,
        )
    ).parsed
