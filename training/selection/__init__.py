"""Deployment-time selection: fit the herding selector that ships inside a generator's weights."""
