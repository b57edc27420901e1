//! R8: who may talk to whom.
//!
//! A guardian ↔ their linked students; staff ↔ guardians; staff ↔ students. Everything
//! else is refused: students never reach each other, guardians never reach each other or
//! a child they are not linked to, and a disabled account reaches nobody.

use crate::Role;

/// One side of a conversation as the rule sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Party {
    pub role: Role,
    pub disabled: bool,
}

/// Why a pair may not talk. The API answers all of them with 403.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// One side is disabled.
    Disabled,
    /// Someone tried to talk to themselves.
    SameAccount,
    /// A guardian and a student who are not linked by a guardianship.
    NotLinked,
    /// A pair of roles R8 never allows (student–student, guardian–guardian, staff–staff).
    Roles,
}

/// Decides R8 for a pair. `linked` says whether a guardianship joins the two (it only
/// matters for a guardian and a student); `same` whether both sides are one account.
pub fn may_converse(a: Party, b: Party, linked: bool, same: bool) -> Result<(), Denied> {
    if same {
        return Err(Denied::SameAccount);
    }
    if a.disabled || b.disabled {
        return Err(Denied::Disabled);
    }
    use Role::*;
    match (a.role, b.role) {
        (Guardian, Student) | (Student, Guardian) if linked => Ok(()),
        (Guardian, Student) | (Student, Guardian) => Err(Denied::NotLinked),
        (x, y) if x.is_staff() && matches!(y, Guardian | Student) => Ok(()),
        (x, y) if y.is_staff() && matches!(x, Guardian | Student) => Ok(()),
        _ => Err(Denied::Roles),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn p(role: Role) -> Party {
        Party { role, disabled: false }
    }

    const ALL: [Role; 4] = [Admin, Teacher, Student, Guardian];

    #[test]
    fn the_allowed_pairs_of_r8() {
        assert_eq!(may_converse(p(Guardian), p(Student), true, false), Ok(()));
        assert_eq!(may_converse(p(Teacher), p(Guardian), false, false), Ok(()));
        assert_eq!(may_converse(p(Admin), p(Student), false, false), Ok(()));
        assert_eq!(may_converse(p(Student), p(Teacher), false, false), Ok(()));
    }

    #[test]
    fn the_forbidden_pairs_of_r8() {
        assert_eq!(may_converse(p(Student), p(Student), true, false), Err(Denied::Roles));
        assert_eq!(may_converse(p(Guardian), p(Guardian), true, false), Err(Denied::Roles));
        assert_eq!(may_converse(p(Teacher), p(Admin), false, false), Err(Denied::Roles));
        assert_eq!(
            may_converse(p(Guardian), p(Student), false, false),
            Err(Denied::NotLinked)
        );
        assert_eq!(
            may_converse(p(Student), p(Guardian), false, false),
            Err(Denied::NotLinked)
        );
    }

    #[test]
    fn the_rule_is_symmetric_and_disabled_reaches_nobody() {
        for a in ALL {
            for b in ALL {
                for linked in [false, true] {
                    assert_eq!(
                        may_converse(p(a), p(b), linked, false),
                        may_converse(p(b), p(a), linked, false),
                        "{a:?} {b:?}"
                    );
                    let off = Party {
                        role: b,
                        disabled: true,
                    };
                    assert_eq!(may_converse(p(a), off, linked, false), Err(Denied::Disabled));
                    assert_eq!(may_converse(p(a), p(a), linked, true), Err(Denied::SameAccount));
                }
            }
        }
    }

    #[test]
    fn students_never_reach_each_other() {
        for linked in [false, true] {
            assert!(may_converse(p(Student), p(Student), linked, false).is_err());
        }
    }
}
