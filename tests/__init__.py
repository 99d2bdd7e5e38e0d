"""The test suite: real PostgreSQL, real processes, hypothesis for the invariants."""
