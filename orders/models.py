"""Orders and their events arrive with the orders issue; the app is registered now so the
connection registry can refuse to delete a connection that has orders (PROTECT)."""
