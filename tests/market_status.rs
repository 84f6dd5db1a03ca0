//! Symbols that change on the exchange: the symbol list is reloaded every
//! `market.symbols_refresh`, and an alert shows where its symbol stands (`market_status`, with a
//! `warning` while it is armed and cannot fire): listed but not trading (`BREAK`), gone from the
//! list, and a symbol accepted while the list was not loaded yet that turns out not to exist.
//! Nothing is deleted.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Waits until the server asked for the symbol list twice more: the first of those answers
/// has then been applied (it reloads one after the other).
async fn reloaded(ex: &FakeExchange) {
    let seen = ex.state(|st| st.info_calls);
    ex.wait_for("two symbol list reloads", Duration::from_secs(10), |st| {
        st.info_calls >= seen + 2
    })
    .await;
}

fn market(a: &Value) -> (&str, Option<&str>) {
    (a["market_status"].as_str().unwrap(), a["warning"].as_str())
}

#[tokio::test]
async fn an_alert_shows_when_its_symbol_stops_trading_or_leaves_the_list() {
    let ex = FakeExchange::start(&["BTCUSDT", "ETHUSDT"]).await;
    ex.with(|st| {
        st.statuses.insert("ETHUSDT".into(), "BREAK".into());
    });
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(
        &ex,
        dir.path(),
        &[("PRICEALERT_MARKET__SYMBOLS_REFRESH", "1s")],
    )
    .await;
    let token = s.user("sam").await;
    reloaded(&ex).await;

    // Listed but not trading: accepted, with a warning that says why it waits.
    let eth = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "ETHUSDT", "target_price": "5000", "condition": "above"}),
        )
        .await;
    let (status, warning) = market(&eth);
    assert_eq!(status, "not_trading", "{eth}");
    assert!(
        warning
            .unwrap()
            .contains("not trading now (exchange status BREAK)"),
        "{eth}"
    );
    let btc = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "90000", "condition": "above"}),
        )
        .await;
    assert_eq!(market(&btc), ("trading", None), "{btc}");

    // BTCUSDT is delisted, ETHUSDT trades again.
    ex.with(|st| {
        st.listed.remove("BTCUSDT");
        st.statuses.clear();
    });
    reloaded(&ex).await;
    let now = s.alert(&token, &btc["id"]).await;
    let (status, warning) = market(&now);
    assert_eq!(
        (status, &now["status"]),
        ("not_listed", &json!("created")),
        "{now}"
    );
    assert!(
        warning.unwrap().contains("not listed by the exchange"),
        "{now}"
    );
    assert_eq!(
        market(&s.alert(&token, &eth["id"]).await),
        ("trading", None)
    );
    // The list shows the same; nothing was deleted.
    let (_, listed) = s.get("/alerts/", &token).await;
    assert_eq!(listed["count"], 2, "{listed}");
    let statuses: Vec<&str> = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["market_status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"not_listed"), "{listed}");
}

#[tokio::test]
async fn a_symbol_accepted_before_the_list_loaded_that_does_not_exist_is_marked() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    ex.with(|st| st.info_status = Some(503));
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(
        &ex,
        dir.path(),
        &[("PRICEALERT_MARKET__SYMBOLS_REFRESH", "1s")],
    )
    .await;
    let token = s.user("una").await;
    ex.wait_for("a failed list load", Duration::from_secs(10), |st| {
        st.info_calls >= 1
    })
    .await;
    let ghost = s
        .create_alert(
            &token,
            json!({"cryptocurrency": "NOSUCHUSDT", "target_price": "1", "condition": "above"}),
        )
        .await;
    assert_eq!(market(&ghost), ("unknown", None), "{ghost}");

    ex.with(|st| st.info_status = None);
    reloaded(&ex).await;
    let now = s.alert(&token, &ghost["id"]).await;
    let (status, warning) = market(&now);
    assert_eq!(status, "not_listed", "{now}");
    assert!(
        warning.unwrap().contains("NOSUCHUSDT is not listed"),
        "{now}"
    );
    // New alerts on it are refused now that the list is known.
    let (status, _) = s
        .create_alert_status(
            &token,
            json!({"cryptocurrency": "NOSUCHUSDT", "target_price": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
