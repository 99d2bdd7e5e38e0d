"""The ledger over HTTP: accounts, entries (one by one and in batches), holds, balances,
statements, the trial balance. `routes` (the handlers), `schemas` (the bodies), `views`
(from the ledger's values to the bodies), `read_side` (pages of accounts and entries), `batch`.
"""
