"""The work: one call from start to finish, fleets, batches, waits, events,
uploads and the racks' sync. Imports only the floors below. See ARCHITECTURE.md.
"""
