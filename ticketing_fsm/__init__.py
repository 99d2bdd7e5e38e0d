"""Ticket and order lifecycles as state machines, stored in the `ticketing` schema.

Will own the order and ticket machines (python-statemachine, strict `StateMachine`, explicit
stored state values, pure guards) and their persistence as compare-and-set transitions with
an audit row. Moves money only through escrow's public API.
"""

from __future__ import annotations
