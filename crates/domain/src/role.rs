//! Who someone is in the school's directory.

use serde::{Deserialize, Serialize};

/// The four kinds of account (PRODUCT.md, "People and devices"). A doorplate is not a
/// role: it is a device with its own virtual account, kept apart from users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Teacher,
    Student,
    Guardian,
}

impl Role {
    /// Internal managing users: they may place and dismiss students and talk to anyone in
    /// the school's directory except other staff.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Teacher)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Teacher => "teacher",
            Role::Student => "student",
            Role::Guardian => "guardian",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "teacher" => Role::Teacher,
            "student" => Role::Student,
            "guardian" => Role::Guardian,
            _ => return None,
        })
    }
}
