"""Read models: in-memory projections fed by the bus, rebuilt by replaying the log at start."""
