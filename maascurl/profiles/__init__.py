"""Profiles: the config file, small state, and login, password and import as
stores of credentials. Imports only the API, the wire and the ground floor.
See ARCHITECTURE.md.
"""
