from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.checkout_request import CheckoutRequest
from ...models.checkout_response import CheckoutResponse
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    *,
    body: CheckoutRequest,
    idempotency_key: str,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/checkouts",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CheckoutResponse | Problem | None:
    if response.status_code == 201:
        response_201 = CheckoutResponse.from_dict(response.json())

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
) -> Response[CheckoutResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CheckoutRequest,
    idempotency_key: str,
) -> Response[CheckoutResponse | Problem]:
    """Start Checkout

     Hold the tickets, create the order and its PaymentIntent (pay with `client_secret`).

    Two transactions, so that nothing is locked while Stripe answers: the hold commits with
    its expiry; Stripe is asked with no transaction open; the PaymentIntent is recorded and
    the answer stored under the key. Each is one round trip to the database with the
    authentication (the long way, two: the first checkout of a key in a process, several
    ticket types, the platform's key, a record that finds something unexpected). Stripe
    failing or timing out answers 503 with `Retry-After`: retry with the same key (the hold
    is found again by it). A hold lost in a crash or failover of the database before its
    record (its commit does not wait for the disk) answers 503 `checkout-interrupted` with
    `Retry-After`: a retry with the same key holds the seats again and records the same
    PaymentIntent.

    Args:
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CheckoutRequest): Start a checkout: hold the tickets and create the PaymentIntent.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CheckoutResponse | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: CheckoutRequest,
    idempotency_key: str,
) -> CheckoutResponse | Problem | None:
    """Start Checkout

     Hold the tickets, create the order and its PaymentIntent (pay with `client_secret`).

    Two transactions, so that nothing is locked while Stripe answers: the hold commits with
    its expiry; Stripe is asked with no transaction open; the PaymentIntent is recorded and
    the answer stored under the key. Each is one round trip to the database with the
    authentication (the long way, two: the first checkout of a key in a process, several
    ticket types, the platform's key, a record that finds something unexpected). Stripe
    failing or timing out answers 503 with `Retry-After`: retry with the same key (the hold
    is found again by it). A hold lost in a crash or failover of the database before its
    record (its commit does not wait for the disk) answers 503 `checkout-interrupted` with
    `Retry-After`: a retry with the same key holds the seats again and records the same
    PaymentIntent.

    Args:
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CheckoutRequest): Start a checkout: hold the tickets and create the PaymentIntent.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CheckoutResponse | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CheckoutRequest,
    idempotency_key: str,
) -> Response[CheckoutResponse | Problem]:
    """Start Checkout

     Hold the tickets, create the order and its PaymentIntent (pay with `client_secret`).

    Two transactions, so that nothing is locked while Stripe answers: the hold commits with
    its expiry; Stripe is asked with no transaction open; the PaymentIntent is recorded and
    the answer stored under the key. Each is one round trip to the database with the
    authentication (the long way, two: the first checkout of a key in a process, several
    ticket types, the platform's key, a record that finds something unexpected). Stripe
    failing or timing out answers 503 with `Retry-After`: retry with the same key (the hold
    is found again by it). A hold lost in a crash or failover of the database before its
    record (its commit does not wait for the disk) answers 503 `checkout-interrupted` with
    `Retry-After`: a retry with the same key holds the seats again and records the same
    PaymentIntent.

    Args:
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CheckoutRequest): Start a checkout: hold the tickets and create the PaymentIntent.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CheckoutResponse | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CheckoutRequest,
    idempotency_key: str,
) -> CheckoutResponse | Problem | None:
    """Start Checkout

     Hold the tickets, create the order and its PaymentIntent (pay with `client_secret`).

    Two transactions, so that nothing is locked while Stripe answers: the hold commits with
    its expiry; Stripe is asked with no transaction open; the PaymentIntent is recorded and
    the answer stored under the key. Each is one round trip to the database with the
    authentication (the long way, two: the first checkout of a key in a process, several
    ticket types, the platform's key, a record that finds something unexpected). Stripe
    failing or timing out answers 503 with `Retry-After`: retry with the same key (the hold
    is found again by it). A hold lost in a crash or failover of the database before its
    record (its commit does not wait for the disk) answers 503 `checkout-interrupted` with
    `Retry-After`: a retry with the same key holds the seats again and records the same
    PaymentIntent.

    Args:
        idempotency_key (str): Required on every POST. The same key with the same request replays
            the first answer (`Idempotency-Replayed: true`); with another request it is 409.
        body (CheckoutRequest): Start a checkout: hold the tickets and create the PaymentIntent.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CheckoutResponse | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
