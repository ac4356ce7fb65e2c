"""Django-free exchange library: connectors, limits, capabilities and the paper exchange."""
