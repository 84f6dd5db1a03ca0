//! Query and path parameter errors in words. poem-openapi says `failed to parse parameter
//! \`page\`: failed to parse "integer(uint64)": invalid digit found in string (occurred while
//! parsing "optional_integer(uint64)")` and names path parameters `param0`; clients are told
//! `page must be a whole number` instead, with the name the documentation uses.

use poem_openapi::error::{ParseParamError, ParsePathError};

use super::alert_types::StatusFilter;
use super::routes::route_of;

/// The message for a parameter error, if `err` is one.
pub fn explain(err: &poem::Error, path: &str) -> Option<String> {
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return Some(format!("{} {}", e.name, rule(e.name, &e.reason)));
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        // Every documented path has at most one parameter: its name is in the pattern.
        let name = route_of(path)
            .and_then(|r| r.pattern.split('{').nth(1))
            .and_then(|rest| rest.split('}').next())
            .unwrap_or("the path parameter");
        return Some(format!("{name} in the path {}", rule(name, &e.reason)));
    }
    None
}

/// What the value must be, from poem-openapi's reason.
fn rule(name: &str, reason: &str) -> String {
    let bound = |key: &str| {
        reason.split(key).nth(1).and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .filter(|n| !n.is_empty())
        })
    };
    if let Some(n) = bound("minimum(") {
        return format!("must be at least {n}");
    }
    if let Some(n) = bound("maximum(") {
        return format!("must be at most {n}");
    }
    if let Some(n) = bound("max_length(") {
        return format!("must be at most {n} characters");
    }
    if reason.contains("enumeration") && name == "status" {
        let names: Vec<&str> = StatusFilter::ALL.iter().map(|s| s.as_str()).collect();
        return format!("must be one of {}", names.join(", "));
    }
    if reason.contains("\"integer") {
        return "must be a whole number".to_string();
    }
    // Our own rules: `failed to parse "string": must be ...`.
    let words = reason
        .split_once("\": ")
        .map_or(reason, |(_, rest)| rest)
        .split(" (occurred while parsing")
        .next()
        .unwrap_or(reason);
    if words.starts_with("must ") {
        words.to_string()
    } else {
        "is not valid".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_become_rules_without_type_names() {
        assert_eq!(
            rule("page", "failed to parse \"integer(uint64)\": invalid digit found in string (occurred while parsing \"optional_integer(uint64)\")"),
            "must be a whole number"
        );
        assert_eq!(
            rule("page", "verification failed. minimum(1, exclusive: false)"),
            "must be at least 1"
        );
        assert_eq!(
            rule(
                "page_size",
                "verification failed. maximum(100, exclusive: false)"
            ),
            "must be at most 100"
        );
        assert_eq!(
            rule("status", "failed to parse \"StatusFilter\": Expect a valid enumeration value. (occurred while parsing \"optional_StatusFilter\")"),
            "must be one of created, active, triggered, expired, deleted"
        );
        assert_eq!(
            rule(
                "symbol",
                "failed to parse \"string\": must be a Binance spot symbol like BTCUSDT"
            ),
            "must be a Binance spot symbol like BTCUSDT"
        );
        assert_eq!(rule("x", "failed to parse \"Weird\": boom"), "is not valid");
    }
}
