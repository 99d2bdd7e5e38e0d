from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.balance_transaction_list_request import BalanceTransactionListRequest
from ...models.balance_transaction_request import BalanceTransactionRequest
from ...models.problem import Problem
from ...models.stripe_reconciliation_report import StripeReconciliationReport
from ...types import Response


def _get_kwargs(
    *,
    body: BalanceTransactionListRequest | list[BalanceTransactionRequest],
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/reports/stripe-reconciliation",
    }

    if isinstance(body, list):
        _kwargs["json"] = []
        for body_type_0_item_data in body:
            body_type_0_item = body_type_0_item_data.to_dict()
            _kwargs["json"].append(body_type_0_item)

    else:
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | StripeReconciliationReport | None:
    if response.status_code == 200:
        response_200 = StripeReconciliationReport.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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
) -> Response[Problem | StripeReconciliationReport]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: BalanceTransactionListRequest | list[BalanceTransactionRequest],
) -> Response[Problem | StripeReconciliationReport]:
    """Stripe Reconciliation Report

     Match Stripe's balance transactions to the ledger's entries on the platform's Stripe
    balance, and compare the balances per currency (platform key). A read: it writes
    nothing, so it takes no Idempotency-Key; send it again to reconcile again.

    Args:
        body (BalanceTransactionListRequest | list[BalanceTransactionRequest]): Stripe's balance
            transactions: a JSON list of BalanceTransaction objects, or Stripe's list object
            `{"object": "list", "data": [...]}`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | StripeReconciliationReport]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: BalanceTransactionListRequest | list[BalanceTransactionRequest],
) -> Problem | StripeReconciliationReport | None:
    """Stripe Reconciliation Report

     Match Stripe's balance transactions to the ledger's entries on the platform's Stripe
    balance, and compare the balances per currency (platform key). A read: it writes
    nothing, so it takes no Idempotency-Key; send it again to reconcile again.

    Args:
        body (BalanceTransactionListRequest | list[BalanceTransactionRequest]): Stripe's balance
            transactions: a JSON list of BalanceTransaction objects, or Stripe's list object
            `{"object": "list", "data": [...]}`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | StripeReconciliationReport
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: BalanceTransactionListRequest | list[BalanceTransactionRequest],
) -> Response[Problem | StripeReconciliationReport]:
    """Stripe Reconciliation Report

     Match Stripe's balance transactions to the ledger's entries on the platform's Stripe
    balance, and compare the balances per currency (platform key). A read: it writes
    nothing, so it takes no Idempotency-Key; send it again to reconcile again.

    Args:
        body (BalanceTransactionListRequest | list[BalanceTransactionRequest]): Stripe's balance
            transactions: a JSON list of BalanceTransaction objects, or Stripe's list object
            `{"object": "list", "data": [...]}`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | StripeReconciliationReport]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: BalanceTransactionListRequest | list[BalanceTransactionRequest],
) -> Problem | StripeReconciliationReport | None:
    """Stripe Reconciliation Report

     Match Stripe's balance transactions to the ledger's entries on the platform's Stripe
    balance, and compare the balances per currency (platform key). A read: it writes
    nothing, so it takes no Idempotency-Key; send it again to reconcile again.

    Args:
        body (BalanceTransactionListRequest | list[BalanceTransactionRequest]): Stripe's balance
            transactions: a JSON list of BalanceTransaction objects, or Stripe's list object
            `{"object": "list", "data": [...]}`

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | StripeReconciliationReport
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
