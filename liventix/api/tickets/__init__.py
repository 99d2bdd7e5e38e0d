"""Events, checkout, orders, tickets, refunds and event cancellation over HTTP: `routes`,
`schemas`, `views`, `read_side` (an event with its ticket types, one ticket).
"""
