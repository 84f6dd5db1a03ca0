//! A connection that keeps answering pings while its data stops ("connected but no data"):
//! told from a quiet market by the ticker and by asking the REST API, replaced make-before-
//! break, and the crossing inside the stall recovered and fired. A market that is simply quiet
//! causes no reconnect.

mod common;

use std::time::Duration;

use common::exchange::FakeExchange;
use common::{Events, TestServer};
use pricealert::clock::now_millis;
use serde_json::json;

/// An alert above 100, and a first trade at 90 matched (a sentinel below 95 fired on it).
async fn armed(s: &TestServer, ex: &FakeExchange, events: &mut Events, token: &str) -> i64 {
    let id = s
        .create_alert(
            token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "100", "condition": "above"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let sentinel = s
        .create_alert(
            token,
            json!({"cryptocurrency": "BTCUSDT", "target_price": "95", "condition": "below"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    ex.wait_subscribed("BTCUSDT").await;
    ex.trade("BTCUSDT", "90");
    TestServer::wait_triggered(events, sentinel).await;
    id
}

#[tokio::test]
async fn trades_that_stop_while_the_ticker_moves_are_caught_and_recovered() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(
        &ex,
        dir.path(),
        &[("PRICEALERT_MARKET__STALL_TIMEOUT", "2s")],
    )
    .await;
    let token = s.user("tia").await;
    let mut events = s.events();
    let id = armed(&s, &ex, &mut events, &token).await;
    let opened = ex.state(|st| st.opened);

    // The connection keeps its pings and tickers, but its trades stop; the crossing is lost
    // on it. The ticker then shows BTCUSDT at 101, well past the last trade the server has.
    ex.mute_trades_all();
    let crossing = ex.trade("BTCUSDT", "101");
    ex.tickers_at(&[("BTCUSDT", "101")], now_millis() + 10_000);
    let fired = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(
        (fired.price.to_string(), fired.trade),
        ("101".into(), crossing)
    );
    assert!(
        ex.state(|st| st.opened) > opened,
        "a new connection replaced the stalled one"
    );
}

#[tokio::test]
async fn a_connection_silent_but_pinging_while_the_market_trades_is_replaced() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(
        &ex,
        dir.path(),
        &[("PRICEALERT_MARKET__STALL_TIMEOUT", "2s")],
    )
    .await;
    let token = s.user("sid").await;
    let mut events = s.events();
    let id = armed(&s, &ex, &mut events, &token).await;
    let opened = ex.state(|st| st.opened);

    // No data at all, pings as usual; meanwhile the market trades through the target.
    ex.mute_data_all();
    let crossing = ex.trade("BTCUSDT", "101");
    let fired = TestServer::wait_triggered(&mut events, id).await;
    assert_eq!(
        (fired.price.to_string(), fired.trade),
        ("101".into(), crossing)
    );
    assert!(
        ex.state(|st| st.opened) > opened,
        "a new connection replaced the silent one"
    );
}

#[tokio::test]
async fn a_quiet_market_causes_no_reconnect() {
    let ex = FakeExchange::start(&["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::on_exchange(
        &ex,
        dir.path(),
        &[("PRICEALERT_MARKET__STALL_TIMEOUT", "2s")],
    )
    .await;
    let token = s.user("quincy").await;
    let mut events = s.events();
    let id = armed(&s, &ex, &mut events, &token).await;
    let (opened, asked) = ex.state(|st| (st.opened, st.agg_calls));

    // Nothing trades. Twice the server finds the connection silent and asks the exchange,
    // which has no new trades: it stays connected.
    ex.wait_for("two REST checks", Duration::from_secs(15), |st| {
        st.agg_calls >= asked + 2
    })
    .await;
    assert_eq!(
        ex.state(|st| st.opened),
        opened,
        "no reconnect for a quiet market"
    );
    assert_eq!(ex.state(|st| st.live()), 1);
    // And it still fires on the next trade.
    ex.trade("BTCUSDT", "100");
    TestServer::wait_triggered(&mut events, id).await;
}
