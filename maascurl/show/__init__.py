"""Showing: writing bodies, colour JSON, fields and tables, progress bars and
the live views of waiting. Imports only the floors below. See ARCHITECTURE.md.
"""
