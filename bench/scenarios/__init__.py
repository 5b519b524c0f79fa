"""One module per scenario (or group); each registers itself with `@scenario`."""
