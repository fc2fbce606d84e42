//! The error every check reports: the key at fault and what to do about it.

/// A configuration problem found before touching AWS: the field, what is wrong, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: String,
    pub problem: String,
}

pub(super) fn invalid(field: &str, problem: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_string(),
        problem: problem.into(),
    }
}
