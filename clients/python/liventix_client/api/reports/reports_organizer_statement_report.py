import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.organizer_statement_report import OrganizerStatementReport
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    org_id: UUID,
    *,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_from_: None | str | Unset
    if isinstance(from_, Unset):
        json_from_ = UNSET
    elif isinstance(from_, datetime.datetime):
        json_from_ = from_.isoformat()
    else:
        json_from_ = from_
    params["from"] = json_from_

    json_to: None | str | Unset
    if isinstance(to, Unset):
        json_to = UNSET
    elif isinstance(to, datetime.datetime):
        json_to = to.isoformat()
    else:
        json_to = to
    params["to"] = json_to

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/reports/organizers/{org_id}/statement".format(
            org_id=quote(str(org_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> OrganizerStatementReport | Problem | None:
    if response.status_code == 200:
        response_200 = OrganizerStatementReport.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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
) -> Response[OrganizerStatementReport | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    org_id: UUID,
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
) -> Response[OrganizerStatementReport | Problem]:
    """Organizer Statement Report

     What the platform owes one organizer over [from, to) by effective date: opening,
    movements by category, the period's sales, closing, each account tied out to the ledger
    (a difference: an account that is not). An organization's key may ask for itself only:
    another organization answers 404, exactly as one that does not exist.

    Args:
        org_id (UUID):
        from_ (datetime.datetime | None | Unset): The period's start, included (default: `to` - 30
            days)
        to (datetime.datetime | None | Unset): The period's end, excluded (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[OrganizerStatementReport | Problem]
    """

    kwargs = _get_kwargs(
        org_id=org_id,
        from_=from_,
        to=to,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    org_id: UUID,
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
) -> OrganizerStatementReport | Problem | None:
    """Organizer Statement Report

     What the platform owes one organizer over [from, to) by effective date: opening,
    movements by category, the period's sales, closing, each account tied out to the ledger
    (a difference: an account that is not). An organization's key may ask for itself only:
    another organization answers 404, exactly as one that does not exist.

    Args:
        org_id (UUID):
        from_ (datetime.datetime | None | Unset): The period's start, included (default: `to` - 30
            days)
        to (datetime.datetime | None | Unset): The period's end, excluded (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        OrganizerStatementReport | Problem
    """

    return sync_detailed(
        org_id=org_id,
        client=client,
        from_=from_,
        to=to,
    ).parsed


async def asyncio_detailed(
    org_id: UUID,
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
) -> Response[OrganizerStatementReport | Problem]:
    """Organizer Statement Report

     What the platform owes one organizer over [from, to) by effective date: opening,
    movements by category, the period's sales, closing, each account tied out to the ledger
    (a difference: an account that is not). An organization's key may ask for itself only:
    another organization answers 404, exactly as one that does not exist.

    Args:
        org_id (UUID):
        from_ (datetime.datetime | None | Unset): The period's start, included (default: `to` - 30
            days)
        to (datetime.datetime | None | Unset): The period's end, excluded (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[OrganizerStatementReport | Problem]
    """

    kwargs = _get_kwargs(
        org_id=org_id,
        from_=from_,
        to=to,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    org_id: UUID,
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime | None | Unset = UNSET,
    to: datetime.datetime | None | Unset = UNSET,
) -> OrganizerStatementReport | Problem | None:
    """Organizer Statement Report

     What the platform owes one organizer over [from, to) by effective date: opening,
    movements by category, the period's sales, closing, each account tied out to the ledger
    (a difference: an account that is not). An organization's key may ask for itself only:
    another organization answers 404, exactly as one that does not exist.

    Args:
        org_id (UUID):
        from_ (datetime.datetime | None | Unset): The period's start, included (default: `to` - 30
            days)
        to (datetime.datetime | None | Unset): The period's end, excluded (default: now)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        OrganizerStatementReport | Problem
    """

    return (
        await asyncio_detailed(
            org_id=org_id,
            client=client,
            from_=from_,
            to=to,
        )
    ).parsed
