"""Settings and their checks, typed errors, tag schemes, durable writes, the device: what every layer uses."""
