"""isanfarm: smart-farming edge system for Isan cassava growers and Wagyu beef farms.

This package holds what every component shares (the wire contract, the CLI). It must stay
importable with the standard library alone: the edge agent on a Pi imports it.
"""

__version__ = "0.1.0"
