"""The paper exchange: one aiohttp server speaking all six exchanges' wire protocols.

A dev and test tool, run from the checkout (``python -m paper``); not part of the connector
library in ``exchanges/`` and not shipped in the package or the image.
"""
