"""maascurl: talk to a MAAS server's REST API from a shell."""

__version__ = "0.1.0"
