from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.fx_rate_response import FxRateResponse
from ...models.problem import Problem
from ...models.set_fx_rate_request import SetFxRateRequest
from ...types import Response


def _get_kwargs(
    source_currency: str,
    target_currency: str,
    *,
    body: SetFxRateRequest,
    idempotency_key: str,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/fx-rates/{source_currency}/{target_currency}".format(
            source_currency=quote(str(source_currency), safe=""),
            target_currency=quote(str(target_currency), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> FxRateResponse | Problem | None:
    if response.status_code == 200:
        response_200 = FxRateResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

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
) -> Response[FxRateResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    source_currency: str,
    target_currency: str,
    *,
    client: AuthenticatedClient,
    body: SetFxRateRequest,
    idempotency_key: str,
) -> Response[FxRateResponse | Problem]:
    """Put Fx Rate

     Set the pair's exchange rate, in force from now (platform key).

    Args:
        source_currency (str):
        target_currency (str):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (SetFxRateRequest): The pair's new rate, in force from now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FxRateResponse | Problem]
    """

    kwargs = _get_kwargs(
        source_currency=source_currency,
        target_currency=target_currency,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    source_currency: str,
    target_currency: str,
    *,
    client: AuthenticatedClient,
    body: SetFxRateRequest,
    idempotency_key: str,
) -> FxRateResponse | Problem | None:
    """Put Fx Rate

     Set the pair's exchange rate, in force from now (platform key).

    Args:
        source_currency (str):
        target_currency (str):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (SetFxRateRequest): The pair's new rate, in force from now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FxRateResponse | Problem
    """

    return sync_detailed(
        source_currency=source_currency,
        target_currency=target_currency,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    source_currency: str,
    target_currency: str,
    *,
    client: AuthenticatedClient,
    body: SetFxRateRequest,
    idempotency_key: str,
) -> Response[FxRateResponse | Problem]:
    """Put Fx Rate

     Set the pair's exchange rate, in force from now (platform key).

    Args:
        source_currency (str):
        target_currency (str):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (SetFxRateRequest): The pair's new rate, in force from now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FxRateResponse | Problem]
    """

    kwargs = _get_kwargs(
        source_currency=source_currency,
        target_currency=target_currency,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    source_currency: str,
    target_currency: str,
    *,
    client: AuthenticatedClient,
    body: SetFxRateRequest,
    idempotency_key: str,
) -> FxRateResponse | Problem | None:
    """Put Fx Rate

     Set the pair's exchange rate, in force from now (platform key).

    Args:
        source_currency (str):
        target_currency (str):
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (SetFxRateRequest): The pair's new rate, in force from now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FxRateResponse | Problem
    """

    return (
        await asyncio_detailed(
            source_currency=source_currency,
            target_currency=target_currency,
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
