//! What callers need to know about a failed query, without matching on diesel's internals.

use diesel::result::{DatabaseErrorKind, Error};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbErrorKind {
    NotFound,
    /// A unique index refused the row; carries the constraint (index) name.
    Unique(String),
    ForeignKey(String),
    Check(String),
    /// The server went away or could not be reached: a 503, not the caller's fault.
    Unavailable,
    /// Two transactions collided (deadlock, serialization failure): retrying succeeds.
    Retry,
    /// Text PostgreSQL cannot store (a NUL byte): the caller's input, not our fault.
    InvalidText,
    Other,
}

pub fn classify(error: &Error) -> DbErrorKind {
    match error {
        Error::NotFound => DbErrorKind::NotFound,
        Error::DatabaseError(kind, info) => {
            let constraint = info.constraint_name().unwrap_or_default().to_owned();
            match kind {
                DatabaseErrorKind::UniqueViolation => DbErrorKind::Unique(constraint),
                DatabaseErrorKind::ForeignKeyViolation => DbErrorKind::ForeignKey(constraint),
                DatabaseErrorKind::CheckViolation => DbErrorKind::Check(constraint),
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    DbErrorKind::Unavailable
                }
                DatabaseErrorKind::SerializationFailure => DbErrorKind::Retry,
                _ if info.message().contains("deadlock detected") => DbErrorKind::Retry,
                _ if info.message().contains("invalid byte sequence") => DbErrorKind::InvalidText,
                // libpq reports a dead server on a pooled connection as an unknown error whose
                // message says so; treat those as unavailability too.
                _ if is_connection_message(info.message()) => DbErrorKind::Unavailable,
                _ => DbErrorKind::Other,
            }
        }
        Error::BrokenTransactionManager => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    }
}

fn is_connection_message(message: &str) -> bool {
    [
        "server closed the connection",
        "terminating connection",
        "no connection to the server",
        "could not receive data",
        "SSL SYSCALL error",
    ]
    .iter()
    .any(|m| message.contains(m))
}
