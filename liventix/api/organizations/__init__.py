"""Organizations over HTTP, for the platform's key only: register, list, read (`routes`,
`schemas`, `read_side`: the organizations table, which the ledger owns, read here)."""
