"""Webhook endpoints and their deliveries over HTTP: `routes`, `schemas`, `views`,
`read_side` (deliveries and their attempts).
"""
