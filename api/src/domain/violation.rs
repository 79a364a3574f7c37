//! The vocabulary every rule uses to refuse input: which field, which stable code, why, and —
//! for IIS scoping rules — the symptom IIS would show if the configuration were saved anyway.

use std::fmt;

/// A refusal not yet tied to a field; `at` attaches the field name the caller knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn at(self, field: impl Into<String>) -> Violation {
        Violation { field: field.into(), code: self.code, message: self.message, iis_symptom: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub code: &'static str,
    pub message: String,
    pub iis_symptom: Option<&'static str>,
}

impl Violation {
    pub fn with_symptom(mut self, symptom: &'static str) -> Self {
        self.iis_symptom = Some(symptom);
        self
    }
}

/// One or more violations: a write is refused as a whole when any rule fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<Violation>);

impl Invalid {
    pub fn one(v: Violation) -> Self {
        Self(vec![v])
    }
}

impl From<Violation> for Invalid {
    fn from(v: Violation) -> Self {
        Self::one(v)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<&str> = self.0.iter().map(|v| v.message.as_str()).collect();
        f.write_str(&messages.join("; "))
    }
}

impl std::error::Error for Invalid {}

/// Collects violations while a request body is turned into domain values, so a user sees every
/// mistake in one answer instead of fixing them one round trip at a time.
#[derive(Debug, Default)]
pub struct Collector(Vec<Violation>);

impl Collector {
    pub fn take<T>(&mut self, result: Result<T, Violation>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(v) => {
                self.0.push(v);
                None
            }
        }
    }

    pub fn push(&mut self, v: Violation) {
        self.0.push(v);
    }

    pub fn take_all<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(Invalid(vs)) => {
                self.0.extend(vs);
                None
            }
        }
    }

    /// `value` is only built when nothing was refused, so callers may unwrap the `Option`s they
    /// collected inside it.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Invalid> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(Invalid(self.0))
        }
    }
}
