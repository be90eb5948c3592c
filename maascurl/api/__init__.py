"""The API description: parsing, caching, fetching, checks, TAB candidates, listings, help.

Imports only the wire and the ground floor. See ARCHITECTURE.md.
"""
