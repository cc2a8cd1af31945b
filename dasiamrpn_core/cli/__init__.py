"""Console entry points of the core (argument parsing happens inside each ``main``)."""
