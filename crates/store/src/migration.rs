//! What both adapters' migration runners share: an embedded migration, the digest
//! recorded for it, and the refusal when a landed migration was edited.

use crate::StoreError;
use blake2::Digest;

/// One embedded migration.
pub(crate) struct Migration {
    /// The number its file name starts with.
    pub version: u32,
    /// The file name, for messages.
    pub name: &'static str,
    pub sql: &'static str,
}

/// Declares a [`Migration`] from a file under the adapter's `migrations/` folder.
macro_rules! migration {
    ($version:literal, $file:literal) => {
        $crate::migration::Migration {
            version: $version,
            name: $file,
            sql: include_str!(concat!("migrations/", $file)),
        }
    };
}
pub(crate) use migration;

/// The digest recorded for a migration's text (BLAKE2b-256, hex).
pub(crate) fn digest(sql: &str) -> String {
    type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;
    Blake2b256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares one recorded migration with the embedded ones: unknown (a newer program
/// made the database) or edited since it ran is an error that names the file.
pub(crate) fn check_recorded(
    migrations: &[Migration],
    version: u32,
    name: &str,
    recorded: &str,
) -> Result<(), StoreError> {
    let Some(m) = migrations.iter().find(|m| m.version == version) else {
        return Err(StoreError::Internal(format!(
            "the database has migration {name} applied, which this program does not know: \
             it was made by a newer version; run that version (or restore a backup)"
        )));
    };
    let embedded = digest(m.sql);
    if embedded != recorded {
        return Err(StoreError::Internal(format!(
            "migration {} was edited after it was applied to this database \
             (recorded digest {recorded}, now {embedded}); a landed migration must never \
             change: restore its text and add the change as a new migration",
            m.name
        )));
    }
    Ok(())
}

/// Now, in UTC microseconds (when a migration was applied).
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
