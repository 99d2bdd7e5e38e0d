from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.monitor_response import MonitorResponse
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    monitor_id: UUID,
    *,
    idempotency_key: str,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/balance-monitors/{monitor_id}".format(
            monitor_id=quote(str(monitor_id), safe=""),
        ),
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> MonitorResponse | Problem | None:
    if response.status_code == 200:
        response_200 = MonitorResponse.from_dict(response.json())

        return response_200

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
) -> Response[MonitorResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    monitor_id: UUID,
    *,
    client: AuthenticatedClient,
    idempotency_key: str,
) -> Response[MonitorResponse | Problem]:
    """Delete Monitor

     Delete a balance monitor: it publishes nothing more.

    Args:
        monitor_id (UUID):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MonitorResponse | Problem]
    """

    kwargs = _get_kwargs(
        monitor_id=monitor_id,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    monitor_id: UUID,
    *,
    client: AuthenticatedClient,
    idempotency_key: str,
) -> MonitorResponse | Problem | None:
    """Delete Monitor

     Delete a balance monitor: it publishes nothing more.

    Args:
        monitor_id (UUID):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MonitorResponse | Problem
    """

    return sync_detailed(
        monitor_id=monitor_id,
        client=client,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    monitor_id: UUID,
    *,
    client: AuthenticatedClient,
    idempotency_key: str,
) -> Response[MonitorResponse | Problem]:
    """Delete Monitor

     Delete a balance monitor: it publishes nothing more.

    Args:
        monitor_id (UUID):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MonitorResponse | Problem]
    """

    kwargs = _get_kwargs(
        monitor_id=monitor_id,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    monitor_id: UUID,
    *,
    client: AuthenticatedClient,
    idempotency_key: str,
) -> MonitorResponse | Problem | None:
    """Delete Monitor

     Delete a balance monitor: it publishes nothing more.

    Args:
        monitor_id (UUID):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MonitorResponse | Problem
    """

    return (
        await asyncio_detailed(
            monitor_id=monitor_id,
            client=client,
            idempotency_key=idempotency_key,
        )
    ).parsed
