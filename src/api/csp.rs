//! The Content-Security-Policy: scripts only from the server's own files, never inline. The one
//! page with inline scripts, Swagger UI (`/docs`), is allowed exactly its own two scripts by
//! their SHA-256 hashes, computed once from the page the binary serves.

use std::sync::OnceLock;

use base64::Engine;
use sha2::{Digest, Sha256};

const REST: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
    style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

/// The policy for a response to `path`.
pub fn policy(path: &str) -> &'static str {
    static PAGES: OnceLock<String> = OnceLock::new();
    static DOCS: OnceLock<String> = OnceLock::new();
    if path == "/docs" || path == "/docs/" {
        DOCS.get_or_init(|| {
            let hashes: Vec<String> = inline_scripts(&super::service().swagger_ui_html())
                .map(|script| {
                    let digest = Sha256::digest(script.as_bytes());
                    format!(
                        "'sha256-{}'",
                        base64::engine::general_purpose::STANDARD.encode(digest)
                    )
                })
                .collect();
            format!("{REST}; script-src 'self' {}", hashes.join(" "))
        })
    } else {
        PAGES.get_or_init(|| format!("{REST}; script-src 'self'"))
    }
}

/// The text of each inline `<script>` element (those without `src`).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (tag, body) = rest.split_once('>')?;
        if tag.contains("src=") {
            return None;
        }
        body.split_once("</script>").map(|(script, _)| script)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_page_may_run_inline_scripts_but_swagger_its_own() {
        assert!(
            !policy("/").contains("unsafe-inline'; script")
                && !policy("/").contains("script-src 'self' 'unsafe-inline'")
        );
        assert!(policy("/").ends_with("script-src 'self'"));
        let docs = policy("/docs");
        assert_eq!(docs.matches("'sha256-").count(), 2, "{docs}");
        assert!(!docs.contains("script-src 'self' 'unsafe-inline'"));
    }

    #[test]
    fn finds_inline_scripts_only() {
        let html = r#"<script src="/a.js"></script><script charset="UTF-8">one()</script><script>two()</script>"#;
        assert_eq!(inline_scripts(html).collect::<Vec<_>>(), ["one()", "two()"]);
    }
}
