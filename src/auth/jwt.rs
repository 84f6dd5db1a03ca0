//! JWTs, HS256 only. Access and refresh tokens carry a `typ` claim so neither can stand in
//! for the other; refresh tokens also carry their id (`jti`) and login family (`fam`).

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::config::Secret;
use crate::domain::UserId;

pub const ISSUER: &str = "pricealert";
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub typ: TokenKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The login this token belongs to; logging out ends every token of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
    /// The user's token generation when it was issued; a password change or reset bumps the
    /// user's, and every older token stops working. Tokens from before generations were
    /// introduced read as 0.
    #[serde(default)]
    pub gen: i64,
    /// Refused when in the future; our tokens do not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

impl Claims {
    pub fn user_id(&self) -> Result<UserId, AuthError> {
        self.sub
            .parse()
            .map(UserId)
            .map_err(|_| AuthError::InvalidToken)
    }
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &Secret) -> Self {
        let bytes = secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|err| AuthError::Internal(format!("cannot sign token: {err}")))
    }

    /// Checks signature, algorithm, issuer, expiry, not-before, issue time and kind.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, AuthError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::InvalidToken)?;
        let now = crate::clock::now_millis() / 1000;
        if data.claims.typ != kind || data.claims.iat > now + LEEWAY_SECS as i64 {
            return Err(AuthError::InvalidToken);
        }
        Ok(data.claims)
    }
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iat: i64, nbf: Option<i64>) -> Claims {
        Claims {
            sub: "1".into(),
            iss: ISSUER.into(),
            iat,
            exp: iat + 3600,
            typ: TokenKind::Access,
            jti: None,
            fam: None,
            gen: 0,
            nbf,
        }
    }

    #[test]
    fn tokens_from_the_future_are_refused() {
        let keys = TokenKeys::new(&Secret::new("k".repeat(32)));
        let now = crate::clock::now_millis() / 1000;
        let ok = keys.sign(&claims(now, None)).unwrap();
        assert!(keys.verify(&ok, TokenKind::Access).is_ok());
        let issued_later = keys.sign(&claims(now + 600, None)).unwrap();
        assert!(keys.verify(&issued_later, TokenKind::Access).is_err());
        let not_yet = keys.sign(&claims(now, Some(now + 600))).unwrap();
        assert!(keys.verify(&not_yet, TokenKind::Access).is_err());
        assert!(
            keys.verify(&ok, TokenKind::Refresh).is_err(),
            "kinds differ"
        );
    }
}
