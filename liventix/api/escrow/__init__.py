"""Escrows over HTTP: read one, its audit trail, list them, release the due ones: `routes`,
`schemas`, `views`, `read_side` (pages of escrows).
"""
