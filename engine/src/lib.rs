//! dizzy
