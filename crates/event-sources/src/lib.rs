//! Event source mappings (work in progress).
