"""The wire: signing, building requests, multipart bodies, bounded reading, the HTTP client.

The lowest floor above errors.py: it imports nothing of maascurl's but the
ground floor (errors, termsafe, dirs). See ARCHITECTURE.md.
"""
