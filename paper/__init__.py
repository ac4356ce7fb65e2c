"""The paper exchange: one aiohttp server speaking all six exchanges' wire protocols."""
