//! Which school a hosted school is: its slug, name and zone. A leaf: the district lists
//! schools by it, and each hosted school knows its own.

use serde::{Deserialize, Serialize};

/// The slug of a data folder's own school when nothing names it otherwise.
pub const ROOT_SLUG: &str = "main";

/// What a school is, to the district: its address, its name and its zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SchoolInfo {
    /// `[a-z0-9-]{2,32}`: the school's address, `/s/{slug}`.
    pub slug: String,
    pub name: String,
    /// IANA zone, e.g. `Asia/Shanghai`.
    pub timezone: String,
}

impl SchoolInfo {
    /// A school nobody named yet (a data folder's own, before `school.json`).
    pub fn unnamed(timezone: String) -> SchoolInfo {
        SchoolInfo {
            slug: ROOT_SLUG.into(),
            name: "Doorplate".into(),
            timezone,
        }
    }
}
