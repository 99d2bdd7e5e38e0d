import datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.entry_list import EntryList
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    account_id: None | Unset | UUID = UNSET,
    effective_atgte: datetime.datetime | None | Unset = UNSET,
    effective_atlt: datetime.datetime | None | Unset = UNSET,
    external_ref: None | str | Unset = UNSET,
    metadata_key: None | str | Unset = UNSET,
    metadata_value: None | str | Unset = UNSET,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_account_id: None | str | Unset
    if isinstance(account_id, Unset):
        json_account_id = UNSET
    elif isinstance(account_id, UUID):
        json_account_id = str(account_id)
    else:
        json_account_id = account_id
    params["account_id"] = json_account_id

    json_effective_atgte: None | str | Unset
    if isinstance(effective_atgte, Unset):
        json_effective_atgte = UNSET
    elif isinstance(effective_atgte, datetime.datetime):
        json_effective_atgte = effective_atgte.isoformat()
    else:
        json_effective_atgte = effective_atgte
    params["effective_at[gte]"] = json_effective_atgte

    json_effective_atlt: None | str | Unset
    if isinstance(effective_atlt, Unset):
        json_effective_atlt = UNSET
    elif isinstance(effective_atlt, datetime.datetime):
        json_effective_atlt = effective_atlt.isoformat()
    else:
        json_effective_atlt = effective_atlt
    params["effective_at[lt]"] = json_effective_atlt

    json_external_ref: None | str | Unset
    if isinstance(external_ref, Unset):
        json_external_ref = UNSET
    else:
        json_external_ref = external_ref
    params["external_ref"] = json_external_ref

    json_metadata_key: None | str | Unset
    if isinstance(metadata_key, Unset):
        json_metadata_key = UNSET
    else:
        json_metadata_key = metadata_key
    params["metadata_key"] = json_metadata_key

    json_metadata_value: None | str | Unset
    if isinstance(metadata_value, Unset):
        json_metadata_value = UNSET
    else:
        json_metadata_value = metadata_value
    params["metadata_value"] = json_metadata_value

    json_starting_after: None | str | Unset
    if isinstance(starting_after, Unset):
        json_starting_after = UNSET
    else:
        json_starting_after = starting_after
    params["starting_after"] = json_starting_after

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/entries",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> EntryList | Problem | None:
    if response.status_code == 200:
        response_200 = EntryList.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[EntryList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    effective_atgte: datetime.datetime | None | Unset = UNSET,
    effective_atlt: datetime.datetime | None | Unset = UNSET,
    external_ref: None | str | Unset = UNSET,
    metadata_key: None | str | Unset = UNSET,
    metadata_value: None | str | Unset = UNSET,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[EntryList | Problem]:
    """List Entries

     The entries this key can see, oldest first (by recording), filtered by the account
    they touch, their effective date (`effective_at[gte]` <= effective_at <
    `effective_at[lt]`), their external reference and a metadata key (and value).

    Args:
        account_id (None | Unset | UUID): Only entries touching it
        effective_atgte (datetime.datetime | None | Unset): Only entries effective at or after it
        effective_atlt (datetime.datetime | None | Unset): Only entries effective before it
        external_ref (None | str | Unset): Only the entry with it
        metadata_key (None | str | Unset): Only entries whose metadata has this key
        metadata_value (None | str | Unset): With `metadata_key`: only entries whose value under
            it is this (a string as itself, another value as its JSON: `42`, `true`)
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[EntryList | Problem]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        effective_atgte=effective_atgte,
        effective_atlt=effective_atlt,
        external_ref=external_ref,
        metadata_key=metadata_key,
        metadata_value=metadata_value,
        starting_after=starting_after,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    effective_atgte: datetime.datetime | None | Unset = UNSET,
    effective_atlt: datetime.datetime | None | Unset = UNSET,
    external_ref: None | str | Unset = UNSET,
    metadata_key: None | str | Unset = UNSET,
    metadata_value: None | str | Unset = UNSET,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> EntryList | Problem | None:
    """List Entries

     The entries this key can see, oldest first (by recording), filtered by the account
    they touch, their effective date (`effective_at[gte]` <= effective_at <
    `effective_at[lt]`), their external reference and a metadata key (and value).

    Args:
        account_id (None | Unset | UUID): Only entries touching it
        effective_atgte (datetime.datetime | None | Unset): Only entries effective at or after it
        effective_atlt (datetime.datetime | None | Unset): Only entries effective before it
        external_ref (None | str | Unset): Only the entry with it
        metadata_key (None | str | Unset): Only entries whose metadata has this key
        metadata_value (None | str | Unset): With `metadata_key`: only entries whose value under
            it is this (a string as itself, another value as its JSON: `42`, `true`)
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        EntryList | Problem
    """

    return sync_detailed(
        client=client,
        account_id=account_id,
        effective_atgte=effective_atgte,
        effective_atlt=effective_atlt,
        external_ref=external_ref,
        metadata_key=metadata_key,
        metadata_value=metadata_value,
        starting_after=starting_after,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    effective_atgte: datetime.datetime | None | Unset = UNSET,
    effective_atlt: datetime.datetime | None | Unset = UNSET,
    external_ref: None | str | Unset = UNSET,
    metadata_key: None | str | Unset = UNSET,
    metadata_value: None | str | Unset = UNSET,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[EntryList | Problem]:
    """List Entries

     The entries this key can see, oldest first (by recording), filtered by the account
    they touch, their effective date (`effective_at[gte]` <= effective_at <
    `effective_at[lt]`), their external reference and a metadata key (and value).

    Args:
        account_id (None | Unset | UUID): Only entries touching it
        effective_atgte (datetime.datetime | None | Unset): Only entries effective at or after it
        effective_atlt (datetime.datetime | None | Unset): Only entries effective before it
        external_ref (None | str | Unset): Only the entry with it
        metadata_key (None | str | Unset): Only entries whose metadata has this key
        metadata_value (None | str | Unset): With `metadata_key`: only entries whose value under
            it is this (a string as itself, another value as its JSON: `42`, `true`)
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[EntryList | Problem]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        effective_atgte=effective_atgte,
        effective_atlt=effective_atlt,
        external_ref=external_ref,
        metadata_key=metadata_key,
        metadata_value=metadata_value,
        starting_after=starting_after,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    account_id: None | Unset | UUID = UNSET,
    effective_atgte: datetime.datetime | None | Unset = UNSET,
    effective_atlt: datetime.datetime | None | Unset = UNSET,
    external_ref: None | str | Unset = UNSET,
    metadata_key: None | str | Unset = UNSET,
    metadata_value: None | str | Unset = UNSET,
    starting_after: None | str | Unset = UNSET,
    limit: int | Unset = 50,
) -> EntryList | Problem | None:
    """List Entries

     The entries this key can see, oldest first (by recording), filtered by the account
    they touch, their effective date (`effective_at[gte]` <= effective_at <
    `effective_at[lt]`), their external reference and a metadata key (and value).

    Args:
        account_id (None | Unset | UUID): Only entries touching it
        effective_atgte (datetime.datetime | None | Unset): Only entries effective at or after it
        effective_atlt (datetime.datetime | None | Unset): Only entries effective before it
        external_ref (None | str | Unset): Only the entry with it
        metadata_key (None | str | Unset): Only entries whose metadata has this key
        metadata_value (None | str | Unset): With `metadata_key`: only entries whose value under
            it is this (a string as itself, another value as its JSON: `42`, `true`)
        starting_after (None | str | Unset): The cursor: the `id` of the last object of the
            previous page; the page starts right after it
        limit (int | Unset): Objects per page, 1 to 100 Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        EntryList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            account_id=account_id,
            effective_atgte=effective_atgte,
            effective_atlt=effective_atlt,
            external_ref=external_ref,
            metadata_key=metadata_key,
            metadata_value=metadata_value,
            starting_after=starting_after,
            limit=limit,
        )
    ).parsed
