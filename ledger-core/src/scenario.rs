//! A deterministic county year of events (to be written).
