from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.dry_run_response import DryRunResponse
from ...models.hold_response import HoldResponse
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    hold_id: UUID,
    *,
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
        "url": "/v1/holds/{hold_id}/void".format(
            hold_id=quote(str(hold_id), safe=""),
        ),
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DryRunResponse | HoldResponse | Problem | None:
    if response.status_code == 200:

        def _parse_response_200(data: object) -> DryRunResponse | HoldResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_0 = HoldResponse.from_dict(data)

                return response_200_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_200_type_1 = DryRunResponse.from_dict(data)

            return response_200_type_1

        response_200 = _parse_response_200(response.json())

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
) -> Response[DryRunResponse | HoldResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    hold_id: UUID,
    *,
    client: AuthenticatedClient,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[DryRunResponse | HoldResponse | Problem]:
    """Void Hold

     Void a hold: its whole amount is released.

    Args:
        hold_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DryRunResponse | HoldResponse | Problem]
    """

    kwargs = _get_kwargs(
        hold_id=hold_id,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    hold_id: UUID,
    *,
    client: AuthenticatedClient,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> DryRunResponse | HoldResponse | Problem | None:
    """Void Hold

     Void a hold: its whole amount is released.

    Args:
        hold_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DryRunResponse | HoldResponse | Problem
    """

    return sync_detailed(
        hold_id=hold_id,
        client=client,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    hold_id: UUID,
    *,
    client: AuthenticatedClient,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[DryRunResponse | HoldResponse | Problem]:
    """Void Hold

     Void a hold: its whole amount is released.

    Args:
        hold_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DryRunResponse | HoldResponse | Problem]
    """

    kwargs = _get_kwargs(
        hold_id=hold_id,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    hold_id: UUID,
    *,
    client: AuthenticatedClient,
    dry_run: bool | Unset = False,
    idempotency_key: None | str | Unset = UNSET,
) -> DryRunResponse | HoldResponse | Problem | None:
    """Void Hold

     Void a hold: its whole amount is released.

    Args:
        hold_id (UUID):
        dry_run (bool | Unset):  Default: False.
        idempotency_key (None | str | Unset): Required on every POST but a dry run
            (`?dry_run=true`, which consumes no key). The same key with the same request replays the
            first answer (`Idempotency-Replayed: true`); with another request it is 409.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DryRunResponse | HoldResponse | Problem
    """

    return (
        await asyncio_detailed(
            hold_id=hold_id,
            client=client,
            dry_run=dry_run,
            idempotency_key=idempotency_key,
        )
    ).parsed
