"""`liventix serve`'s processes share the API's budget of Stripe calls a second (Review3's M2,
session 39): the setting, or the default for the key, is the API's as a whole, each process
taking its share, as the database connections are shared out (`_pool_share`); one process per
CPU no longer multiplies it past Stripe's per-account limit."""

from __future__ import annotations

import pytest

from liventix.api.server import _stripe_share
from liventix.stripe_gateway import StripeSettings


@pytest.mark.parametrize(
    ("settings", "processes", "each"),
    [
        (StripeSettings(api_key="sk_live_x"), 4, 7.5),  # live default 30/s, shared by 4
        (StripeSettings(api_key="sk_test_x"), 2, 4.0),  # test default 8/s, shared by 2
        (StripeSettings(api_key="sk_live_x", max_rps=40), 4, 10.0),  # the setting, shared
        (StripeSettings(api_key="sk_live_x"), 1, 30.0),  # one process: the whole of it
        (StripeSettings(api_key="sk_live_x", max_rps=0), 4, 0.0),  # 0: none, for each
        (StripeSettings(api_base="http://127.0.0.1:1"), 4, 0.0),  # a stand-in: none
    ],
)
def test_each_process_takes_its_share(
    settings: StripeSettings, processes: int, each: float
) -> None:
    share = _stripe_share(settings, processes)
    assert share.max_rps == each
    budget = share.budget()
    assert (budget is None) == (each == 0)
    assert share.api_key == settings.api_key and share.api_base == settings.api_base
