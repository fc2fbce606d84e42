//! What the checks report: a problem names the key at fault and what to do about it, and a
//! configuration's problems are gathered so that all of them are reported at once.

use std::fmt;

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

/// Every problem found in a configuration. One problem reads as a [`ValidationError`] does;
/// several are listed one a line.
#[derive(Debug, Default)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.0.as_slice() {
            return write!(f, "{only}");
        }
        write!(f, "{} problems in the configuration:", self.0.len())?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ValidationError> for ValidationErrors {
    fn from(problem: ValidationError) -> ValidationErrors {
        ValidationErrors(vec![problem])
    }
}

impl ValidationErrors {
    pub(super) fn push(&mut self, problem: ValidationError) {
        self.0.push(problem);
    }

    /// The value, or `None` with its problems kept: for a value other checks depend on.
    pub(super) fn keep<T, E: Into<ValidationErrors>>(
        &mut self,
        checked: Result<T, E>,
    ) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(problems) => {
                self.0.extend(problems.into().0);
                None
            }
        }
    }

    /// The value, or a stand-in with its problems kept, so that the other keys are checked too. A
    /// stand-in is never used: with a problem kept, [`ValidationErrors::finish`] fails.
    pub(super) fn or_default<T: Default, E: Into<ValidationErrors>>(
        &mut self,
        checked: Result<T, E>,
    ) -> T {
        self.keep(checked).unwrap_or_default()
    }

    /// `value` when no problem was found.
    pub(super) fn finish<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// The only problem, for tests of one bad key.
    #[cfg(test)]
    pub(super) fn only(mut self) -> ValidationError {
        assert_eq!(self.0.len(), 1, "one problem expected: {self}");
        self.0.remove(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_reads_as_itself_and_several_as_a_list() {
        let mut errors = ValidationErrors::default();
        errors.push(invalid("zone", "wrong"));
        assert_eq!(errors.to_string(), "zone: wrong");
        errors.push(invalid("region", "missing"));
        assert_eq!(
            errors.to_string(),
            "2 problems in the configuration:\n  - zone: wrong\n  - region: missing"
        );
    }
}
