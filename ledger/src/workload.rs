//! A deterministic generator of a realistic sponsor year, shared by tests and benches.
