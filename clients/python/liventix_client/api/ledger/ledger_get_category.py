import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.category_response import CategoryResponse
from ...models.ledger_get_category_by import LedgerGetCategoryBy
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    category_id: UUID,
    *,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetCategoryBy | Unset = LedgerGetCategoryBy.RECORDED,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_as_of: None | str | Unset
    if isinstance(as_of, Unset):
        json_as_of = UNSET
    elif isinstance(as_of, datetime.datetime):
        json_as_of = as_of.isoformat()
    else:
        json_as_of = as_of
    params["as_of"] = json_as_of

    json_by: str | Unset = UNSET
    if not isinstance(by, Unset):
        json_by = by.value

    params["by"] = json_by

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/account-categories/{category_id}".format(
            category_id=quote(str(category_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CategoryResponse | Problem | None:
    if response.status_code == 200:
        response_200 = CategoryResponse.from_dict(response.json())

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
) -> Response[CategoryResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    category_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetCategoryBy | Unset = LedgerGetCategoryBy.RECORDED,
) -> Response[CategoryResponse | Problem]:
    """Get Category

     One account category, its direct members and its balances now or as of `as_of`.

    Args:
        category_id (UUID):
        as_of (datetime.datetime | None | Unset): Balances as of this moment (default: now)
        by (LedgerGetCategoryBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetCategoryBy.RECORDED.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CategoryResponse | Problem]
    """

    kwargs = _get_kwargs(
        category_id=category_id,
        as_of=as_of,
        by=by,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    category_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetCategoryBy | Unset = LedgerGetCategoryBy.RECORDED,
) -> CategoryResponse | Problem | None:
    """Get Category

     One account category, its direct members and its balances now or as of `as_of`.

    Args:
        category_id (UUID):
        as_of (datetime.datetime | None | Unset): Balances as of this moment (default: now)
        by (LedgerGetCategoryBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetCategoryBy.RECORDED.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CategoryResponse | Problem
    """

    return sync_detailed(
        category_id=category_id,
        client=client,
        as_of=as_of,
        by=by,
    ).parsed


async def asyncio_detailed(
    category_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetCategoryBy | Unset = LedgerGetCategoryBy.RECORDED,
) -> Response[CategoryResponse | Problem]:
    """Get Category

     One account category, its direct members and its balances now or as of `as_of`.

    Args:
        category_id (UUID):
        as_of (datetime.datetime | None | Unset): Balances as of this moment (default: now)
        by (LedgerGetCategoryBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetCategoryBy.RECORDED.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CategoryResponse | Problem]
    """

    kwargs = _get_kwargs(
        category_id=category_id,
        as_of=as_of,
        by=by,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    category_id: UUID,
    *,
    client: AuthenticatedClient,
    as_of: datetime.datetime | None | Unset = UNSET,
    by: LedgerGetCategoryBy | Unset = LedgerGetCategoryBy.RECORDED,
) -> CategoryResponse | Problem | None:
    """Get Category

     One account category, its direct members and its balances now or as of `as_of`.

    Args:
        category_id (UUID):
        as_of (datetime.datetime | None | Unset): Balances as of this moment (default: now)
        by (LedgerGetCategoryBy | Unset): `as_of` compares with the recording time, or the
            effective date Default: LedgerGetCategoryBy.RECORDED.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CategoryResponse | Problem
    """

    return (
        await asyncio_detailed(
            category_id=category_id,
            client=client,
            as_of=as_of,
            by=by,
        )
    ).parsed
