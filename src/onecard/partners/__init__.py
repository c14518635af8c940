"""Partners (R-I3): other systems — another city's platform, a bank's e-meal card — that
call the open API with their own signed credentials, within the scopes their agreement
allows."""
