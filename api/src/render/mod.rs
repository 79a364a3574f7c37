//! Renderers: pure functions from a [`SiteSnapshot`] to the text a server accepts (IIS
//! applicationHost.config, PowerShell, nginx, HAProxy, Apache). No HTTP, SQL or async here.

pub mod snapshot;

pub use snapshot::{ManyToOne, OneToOne, SiteSnapshot};
