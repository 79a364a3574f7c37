//! Cursor pagination in id order: stable under concurrent inserts, cheap at any depth.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::violation::{Invalid, Rejection};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

pub struct Page {
    pub after: Option<i64>,
    pub limit: i64,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, Invalid> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Invalid::one(
                Rejection::new("invalid-limit", format!("limit must be between 1 and {MAX_LIMIT}")).at("limit"),
            ));
        }
        let after = match &self.cursor {
            None => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Invalid::one(
                    Rejection::new("invalid-cursor", "cursor must be a next_cursor value from a previous page")
                        .at("cursor"),
                )
            })?),
        };
        Ok(Page { after, limit })
    }
}

/// A page of items; `next_cursor` is null on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Paginated<T> {
    /// `items` were fetched with `limit` as the cap; a full page may have a successor.
    pub fn new(items: Vec<T>, limit: i64, id_of: impl Fn(&T) -> i64) -> Self {
        let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(|i| id_of(i).to_string())).flatten();
        Self { items, next_cursor }
    }
}
