//! Integration tests against a live PostgreSQL (`DATABASE_URL`), one binary
//! with a module per area. Every test uses a table of its own.

mod basic;
mod records;
