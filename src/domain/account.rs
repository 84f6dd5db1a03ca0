//! Rules for usernames, emails and passwords, shared by the API and the admin commands.

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const EMAIL_MAX: usize = 254;
/// The same rule as `valid_email`, for the OpenAPI document.
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9_.-]{3,32}$";
/// Each rule in words, as an error completes it: "username must be ...".
pub const USERNAME_RULE: &str = "must be 3-32 characters of letters, digits, '_', '.' and '-'";
pub const PASSWORD_RULE: &str = "must be 8-128 characters";
pub const EMAIL_RULE: &str = "must be a valid address like name@example.com";

pub fn check_username(username: &str) -> Result<(), String> {
    let valid = (USERNAME_MIN..=USERNAME_MAX).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!("username {USERNAME_RULE}"))
    }
}

/// Counted in characters, as people count them; never truncated before hashing.
pub fn check_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if (PASSWORD_MIN..=PASSWORD_MAX).contains(&chars) {
        Ok(())
    } else {
        Err(format!("password {PASSWORD_RULE}"))
    }
}

/// A deliberately plain address check: what mail servers accept and nothing that could break a
/// header (no spaces, quotes, angle brackets or line breaks).
pub fn check_email(email: &str) -> Result<(), String> {
    if email.len() <= EMAIL_MAX && valid_email(email) {
        Ok(())
    } else {
        Err(format!("email {EMAIL_RULE}"))
    }
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._!#$%&'*+/=?^`{|}~-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            let bytes = label.as_bytes();
            (1..=63).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        });
    local_ok && domain_ok
}

/// Addresses the rule accepts and refuses, for the tests here and of the API's documented pattern.
#[cfg(test)]
pub const GOOD_EMAILS: &[&str] = &["a@b.co", "first.last+tag@mail.example.org", "x@a-b.io"];
#[cfg(test)]
pub const BAD_EMAILS: &[&str] = &[
    "",
    "plain",
    "a@b",
    "a@-b.com",
    "a b@c.com",
    "a@b.com\r\nBcc: x@y.z",
    "<a@b.com>",
    "\"a\"@b.com",
    "a@b..com",
    "a@b-.com",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["bob", "a.b-c_d", "x23456789012345678901234567890ab"] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "bob smith",
            "bøb",
            "x234567890123456789012345678901ab",
            "a@b",
        ] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_in_words_match_the_limits() {
        assert!(USERNAME_RULE.contains(&format!("{USERNAME_MIN}-{USERNAME_MAX}")));
        assert!(PASSWORD_RULE.contains(&format!("{PASSWORD_MIN}-{PASSWORD_MAX}")));
    }

    #[test]
    fn passwords_count_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"é".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn emails() {
        for ok in GOOD_EMAILS {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in BAD_EMAILS {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }
}
