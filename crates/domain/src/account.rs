//! The rules of an account's fields: one place, so `POST /api/v1/users`, `PATCH` and
//! the CSV import accept exactly the same accounts (an import once created what the API
//! refused: admins with cards, 5,000-character names, usernames with spaces or U+202E).

use crate::role::Role;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;
/// Longest username, in bytes.
pub const MAX_USERNAME: usize = 64;
/// Longest card UID after [`normalize_card`], in characters.
pub const MAX_CARD: usize = 64;

/// Why a field was refused: a stable snake_case `code` for the API and a sentence for
/// people (the import shows it next to the CSV line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    /// The field that broke the rule, so a face can name it in the reader's language.
    pub field: &'static str,
    /// The limit it broke, where there is one (a length).
    pub max: Option<usize>,
    /// The rule in English, for logs and programs.
    pub message: String,
}

fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        field,
        max: None,
        message: message.into(),
    }
}

/// An account that passed every rule, its fields normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    pub role: Role,
    pub display_name: String,
    pub username: Option<String>,
    /// In clear: the caller hashes it (argon2 is slow; it belongs off the async threads).
    pub password: Option<String>,
    /// Normalised with [`normalize_card`].
    pub card: Option<String>,
}

/// Checks a new account. An empty card counts as no card; an empty username or
/// password is refused like any bad one (the CSV import passes empty cells as `None`).
pub fn check_new_account(
    role: &str,
    display_name: &str,
    username: Option<&str>,
    password: Option<&str>,
    card_uid: Option<&str>,
) -> Result<NewAccount, Invalid> {
    let role = parse_role(role)?;
    let display_name = check_display_name(display_name)?;
    let username = username.map(check_username).transpose()?;
    if let Some(p) = password {
        check_password(p)?;
        if username.is_none() {
            return Err(invalid("missing_field", "username", "a password needs a username"));
        }
    }
    let card = card_uid.map(|c| check_card(role, c)).transpose()?.flatten();
    Ok(NewAccount {
        role,
        display_name,
        username,
        password: password.map(str::to_string),
        card,
    })
}

/// `admin | teacher | student | guardian`.
pub fn parse_role(s: &str) -> Result<Role, Invalid> {
    Role::parse(s.trim()).ok_or_else(|| invalid("bad_role", "role", "role is admin, teacher, student or guardian"))
}

/// Characters that reorder or hide text: a name shown on a doorplate or in a list must
/// read as what it is (U+202E turns "Ann" into something else on screen).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A display name: trimmed, 1–100 characters, no control or bidi-override characters.
pub fn check_display_name(v: &str) -> Result<String, Invalid> {
    let t = v.trim();
    if t.is_empty() {
        return Err(invalid(
            "missing_field",
            "display_name",
            "display_name must not be empty",
        ));
    }
    if t.chars().count() > MAX_DISPLAY_NAME {
        return Err(Invalid {
            max: Some(MAX_DISPLAY_NAME),
            ..invalid(
                "too_long",
                "display_name",
                format!("display_name must be at most {MAX_DISPLAY_NAME} characters"),
            )
        });
    }
    if t.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(invalid(
            "bad_display_name",
            "display_name",
            "display_name must not contain control or text-direction characters",
        ));
    }
    Ok(t.to_string())
}

/// A username: trimmed, 1–64 bytes of letters, digits or `. _ - @`.
pub fn check_username(u: &str) -> Result<String, Invalid> {
    let u = u.trim();
    if u.is_empty() || u.len() > MAX_USERNAME || !u.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c)) {
        return Err(invalid(
            "bad_username",
            "username",
            "a username is 1–64 letters, digits or . _ - @",
        ));
    }
    Ok(u.to_string())
}

/// A password: 6 to 256 characters.
pub fn check_password(p: &str) -> Result<(), Invalid> {
    if p.chars().count() < 6 || p.len() > 256 {
        return Err(invalid(
            "weak_password",
            "password",
            "a password has 6 to 256 characters",
        ));
    }
    Ok(())
}

/// Only students and teachers carry cards and QR badges: a card proves someone at a
/// doorplate, where no admin or guardian has anything to do.
pub fn may_carry_card(role: Role) -> bool {
    matches!(role, Role::Student | Role::Teacher)
}

/// Card UIDs are compared as the reader types them, without spaces, `:`, `-` and case.
pub fn normalize_card(uid: &str) -> String {
    uid.chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '-')
        .collect::<String>()
        .to_uppercase()
}

/// A card for someone of `role`, normalised; `None` when empty (no card).
pub fn check_card(role: Role, uid: &str) -> Result<Option<String>, Invalid> {
    let card = normalize_card(uid);
    if card.is_empty() {
        return Ok(None);
    }
    if !may_carry_card(role) {
        return Err(invalid(
            "bad_card",
            "card_uid",
            "only students and teachers carry cards",
        ));
    }
    if card.chars().count() > MAX_CARD || !card.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Invalid {
            max: Some(MAX_CARD),
            ..invalid(
                "bad_card",
                "card_uid",
                format!("a card UID is 1–{MAX_CARD} letters or digits"),
            )
        });
    }
    Ok(Some(card))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<NewAccount, Invalid>) -> &'static str {
        r.unwrap_err().code
    }

    #[test]
    fn a_valid_account_is_normalised() {
        let a = check_new_account(
            "teacher",
            "  Ms Li ",
            Some(" li "),
            Some("secret1"),
            Some("04:a1-b2 c3"),
        )
        .unwrap();
        assert_eq!(a.role, Role::Teacher);
        assert_eq!(a.display_name, "Ms Li");
        assert_eq!(a.username.as_deref(), Some("li"));
        assert_eq!(a.card.as_deref(), Some("04A1B2C3"));
        let g = check_new_account("guardian", "Gwen", None, None, Some(" ")).unwrap();
        assert_eq!((g.username, g.password, g.card), (None, None, None));
        assert_eq!(
            code(check_new_account("guardian", "G", Some(""), None, None)),
            "bad_username"
        );
        assert_eq!(
            code(check_new_account("guardian", "G", Some("g"), Some(""), None)),
            "weak_password"
        );
    }

    #[test]
    fn what_the_review_found_is_refused() {
        assert_eq!(
            code(check_new_account("admin", "A", Some("a"), None, Some("C1"))),
            "bad_card"
        );
        assert_eq!(
            code(check_new_account("guardian", "G", Some("g"), None, Some("C1"))),
            "bad_card"
        );
        assert_eq!(
            code(check_new_account("student", &"x".repeat(5000), None, None, None)),
            "too_long"
        );
        assert_eq!(
            code(check_new_account("student", "S", Some("a b"), None, None)),
            "bad_username"
        );
        assert_eq!(
            code(check_new_account("student", "S", Some("ab\u{202E}c"), None, None)),
            "bad_username"
        );
        assert_eq!(
            code(check_new_account("student", "Ann\u{202E}", None, None, None)),
            "bad_display_name"
        );
        assert_eq!(
            code(check_new_account("student", "A\nB", None, None, None)),
            "bad_display_name"
        );
        assert_eq!(code(check_new_account("root", "R", None, None, None)), "bad_role");
        assert_eq!(
            code(check_new_account("teacher", "T", Some("t"), Some("12345"), None)),
            "weak_password"
        );
        assert_eq!(
            code(check_new_account("teacher", "T", None, Some("123456"), None)),
            "missing_field"
        );
        assert_eq!(
            code(check_new_account("student", "S", None, None, Some("04<script>"))),
            "bad_card"
        );
        assert_eq!(
            code(check_new_account("student", "S", None, None, Some(&"A".repeat(65)))),
            "bad_card"
        );
    }

    #[test]
    fn names_may_be_any_script() {
        assert!(check_new_account("student", "王小明 (Wáng)", Some("王小明"), None, None).is_ok());
        assert!(check_username(&"a".repeat(64)).is_ok());
        assert!(check_username(&"a".repeat(65)).is_err());
    }
}
